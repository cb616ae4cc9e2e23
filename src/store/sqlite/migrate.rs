//! Numbered migrations, embedded in the binary and applied in order, each in its own
//! transaction, recorded in `pier_migrations`.

use rusqlite::{Connection, params};

use super::now_micros;

/// Numbered migrations, embedded in the binary and applied in order, each in its own
/// transaction, recorded in `pier_migrations`.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "items_and_images",
        include_str!("../../../migrations/sqlite/0001_items_and_images.sql"),
    ),
    (
        2,
        "image_placeholders",
        include_str!("../../../migrations/sqlite/0002_image_placeholders.sql"),
    ),
    (
        3,
        "objects",
        include_str!("../../../migrations/sqlite/0003_objects.sql"),
    ),
];

/// Applies what is pending; refuses a database a newer pier migrated further.
pub(super) fn run(conn: &mut Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS pier_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let newest_known = MIGRATIONS.last().map_or(0, |m| m.0);
    let newest_applied: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM pier_migrations",
        [],
        |r| r.get(0),
    )?;
    anyhow::ensure!(
        newest_applied <= newest_known,
        "the database is at migration {newest_applied}, newer than this pier knows ({newest_known}); run a newer pier"
    );
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction()?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM pier_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)
                .map_err(|e| anyhow::anyhow!("migration {version} ({name}) failed: {e}"))?;
            tx.execute(
                "INSERT INTO pier_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, now_micros()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}
