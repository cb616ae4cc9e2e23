//! The writer thread: the only read-write connection, committing queued writes in
//! groups (one transaction and one fsync per group, one savepoint per write).

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::failure_of;

/// Most writes committed by one transaction (one fsync).
pub(super) const MAX_GROUP: usize = 512;
/// Most queued writes before callers wait for room (back-pressure, bounded memory).
pub(super) const QUEUE: usize = 4096;

/// Outcome of a group commit, shared by every write in the group.
pub(super) type CommitOutcome = Result<(), (bool, String)>;
/// Sends one write's result once its group's commit outcome is known.
pub(super) type Delivery = Box<dyn FnOnce(CommitOutcome) + Send>;
/// A write: runs inside the group's transaction (or learns the group could not start).
pub(super) type Job = Box<dyn FnOnce(Option<&Connection>) -> Delivery + Send>;

/// The writer thread: take every waiting write, run them in one transaction, commit
/// once, then answer each caller. Ends when every sender is gone.
pub(super) fn write_loop(conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
            let failure = failure_of(&error);
            for job in group {
                job(None)(Err(failure.clone()));
            }
            continue;
        }
        let deliveries: Vec<Delivery> = group.into_iter().map(|job| job(Some(&conn))).collect();
        let outcome = match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(failure_of(&error))
            }
        };
        for deliver in deliveries {
            deliver(outcome.clone());
        }
    }
}

pub(super) fn in_savepoint<T>(
    conn: &Connection,
    statement: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("SAVEPOINT write")?;
    match statement(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE write")?;
            Ok(value)
        }
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
            Err(error)
        }
    }
}
