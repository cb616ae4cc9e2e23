//! The SQLite store's own tests: group commits, savepoints, closing.

use super::*;
use crate::{
    domain::{ItemName, NewItem, Price},
    store::{ImageMetaStore, ItemStore},
};

fn new_item(name: &str) -> NewItem {
    NewItem {
        name: ItemName::parse(name).unwrap(),
        description: None,
        price: Price::from_cents(1999),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_grouped_and_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let db = SqliteDatabase::connect(&path, 4).await.unwrap();
    db.migrate().await.unwrap();
    let writes = (0..500).map(|n| {
        let db = db.clone();
        tokio::spawn(async move { db.create(&new_item(&format!("n{n}"))).await })
    });
    let created = futures::future::join_all(writes).await;
    let mut ids: Vec<i64> = created
        .into_iter()
        .map(|r| r.unwrap().unwrap().id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 500);
    db.close().await;
    // Everything acknowledged is in the file, as seen by a fresh connection.
    let reopened = SqliteDatabase::connect(&path, 1).await.unwrap();
    assert_eq!(
        ItemStore::list(&reopened, None, 1000).await.unwrap().len(),
        500
    );
}

#[tokio::test]
async fn one_failing_write_does_not_fail_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDatabase::connect(&dir.path().join("t.db"), 2)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let bad = db.write(|conn| conn.execute("INSERT INTO no_such_table VALUES (1)", []));
    let kept = new_item("kept");
    let good = db.create(&kept);
    let (bad, good) = tokio::join!(bad, good);
    assert!(bad.is_err());
    assert!(good.is_ok());
    assert_eq!(ItemStore::list(&db, None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn migrations_are_idempotent_and_refuse_a_newer_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let db = SqliteDatabase::connect(&path, 1).await.unwrap();
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO pier_migrations VALUES (999, 'from the future', 0)",
        [],
    )
    .unwrap();
    let error = db.migrate().await.unwrap_err().to_string();
    assert!(error.contains("newer"), "{error}");
}

#[tokio::test]
async fn a_closed_database_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDatabase::connect(&dir.path().join("t.db"), 1)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    assert!(matches!(
        ItemStore::get(&db, 1).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        db.create(&new_item("x")).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        db.reachable().await,
        Err(StoreError::Unavailable(_))
    ));
}
