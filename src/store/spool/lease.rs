//! Leases: which replica owns which spool directory.
//!
//! The protocol, chosen to be correct on NFSv4.1 (EFS) with close-to-open consistency,
//! using nothing but whole-file replacement by `rename` and directory `rename`:
//!
//! - **Owning.** A replica creates its directory complete (`replicas/.new-RID` with its
//!   lease inside) and renames it to `replicas/RID`, so no directory exists without a
//!   lease. The replica id is new at every process start. It renews the lease every
//!   quarter of the lease time by writing `lease.tmp` and renaming it over `lease`; the
//!   content (an ever-growing renewal count) is what proves liveness. No clocks are
//!   compared across machines: an observer times, with its own monotonic clock, how
//!   long the content has stayed the same.
//! - **Adopting.** A lease unchanged for the whole lease time (four missed renewals), or
//!   marked released at a graceful stop, or written by a process that is provably gone
//!   (same kernel boot and pid namespace, and that pid no longer runs the process that
//!   wrote it), is expired. The observer renames the whole directory into its own
//!   (`replicas/ME/adopted/RID`): one atomic rename, so of several adopters racing for it
//!   exactly one succeeds and the others get "not found".
//! - **Fencing.** Every write of the owner goes by path through `replicas/RID/…`. Once
//!   the directory has been renamed away, those paths no longer exist: a renewal, a new
//!   data file, an fsync or a batch record of a stalled owner fails with "not found"
//!   instead of landing in the adopter's directory. The owner then starts a new
//!   directory under a new id (`spool_lease_lost_total`) and never writes to the old one
//!   again. Before it makes an upload durable, an owner whose last renewal is older than
//!   half the lease time renews first, so a replica back from a pause notices the loss
//!   before it acknowledges anything.

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

/// The shortest lease time accepted (tests use short leases; production 30 s).
pub const MIN_LEASE: std::time::Duration = std::time::Duration::from_millis(200);

/// What a lease file holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(super) struct LeaseRecord {
    /// The owner's replica id (the directory's name).
    pub replica: String,
    /// Renewals so far: the content changes at every renewal.
    pub renewals: u64,
    /// Set by a graceful stop: adopt at once.
    pub released: bool,
    /// The process that wrote it, to recognise a dead one on the same machine.
    pub process: Option<ProcessIdentity>,
    /// The owner's lease time in milliseconds: observers judge expiry by the owner's
    /// promise (renewal every quarter of it), not by their own setting, so replicas
    /// configured with different leases never adopt a live one.
    #[serde(default)]
    pub lease_ms: Option<u64>,
}

impl LeaseRecord {
    /// The lease of `replica` after `renewals` renewals, written by this process with
    /// its lease time.
    pub fn new(
        replica: String,
        renewals: u64,
        released: bool,
        process: Option<ProcessIdentity>,
        lease: std::time::Duration,
    ) -> Self {
        Self {
            replica,
            renewals,
            released,
            process,
            lease_ms: Some(lease.as_millis() as u64),
        }
    }
}

/// A process, as far as another process on the same kernel can check it is gone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(super) struct ProcessIdentity {
    boot_id: String,
    pid_namespace: String,
    pid: u32,
    start_ticks: u64,
}

impl ProcessIdentity {
    /// This process; `None` where `/proc` cannot tell (then only the timer applies).
    pub fn current() -> Option<Self> {
        let pid = std::process::id();
        Some(Self {
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()?
                .trim()
                .to_owned(),
            pid_namespace: pid_namespace()?,
            pid,
            start_ticks: start_ticks(pid)?,
        })
    }

    /// Whether the process is certainly gone, as seen from `me`: only a process on the
    /// same kernel boot and in the same pid namespace can be checked at all (a container
    /// on the same host has its own namespace: its pids mean nothing here).
    pub fn is_gone(&self, me: &ProcessIdentity) -> bool {
        self.boot_id == me.boot_id
            && self.pid_namespace == me.pid_namespace
            && start_ticks(self.pid) != Some(self.start_ticks)
    }
}

fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|link| link.display().to_string())
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks since boot.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// A new replica id: time-ordered (directory listings read oldest first) and unique.
pub(super) fn new_replica_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Whether `name` is a replica directory (not one being created).
pub(super) fn is_replica_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Reads a lease file: `Ok(None)` when there is none; the raw bytes beside the parsed
/// record (the bytes are what an observer compares).
pub(super) fn read_lease(dir: &Path) -> std::io::Result<Option<(Vec<u8>, Option<LeaseRecord>)>> {
    match std::fs::read(dir.join("lease")) {
        Ok(bytes) => {
            let record = serde_json::from_slice(&bytes).ok();
            Ok(Some((bytes, record)))
        }
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Replaces the lease file of `dir` by rename. Fails with "not found" once `dir` has
/// been renamed away (adopted): that failure is the fence.
pub(super) fn write_lease(dir: &Path, record: &LeaseRecord) -> std::io::Result<()> {
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    let temporary = dir.join("lease.tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, dir.join("lease"))
}

/// Creates a replica directory complete with its lease, then renames it into place.
pub(super) fn create_replica_dir(
    replicas: &Path,
    record: &LeaseRecord,
) -> std::io::Result<PathBuf> {
    let staging = replicas.join(format!(".new-{}", record.replica));
    for sub in ["data", "batches", "adopted"] {
        std::fs::create_dir_all(staging.join(sub))?;
    }
    write_lease(&staging, record)?;
    let dir = replicas.join(&record.replica);
    std::fs::rename(&staging, &dir)?;
    super::sync_dir(replicas)?;
    Ok(dir)
}

/// Whether an I/O error says a path no longer exists (the fence tripped).
pub(super) fn is_gone(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_pid_with_another_start_is_gone() {
        let me = ProcessIdentity::current().expect("/proc is mounted");
        assert!(!me.is_gone(&me));
        let mut restarted = me.clone();
        restarted.start_ticks += 1;
        assert!(restarted.is_gone(&me));
        let mut elsewhere = restarted.clone();
        elsewhere.pid_namespace = "pid:[1]".into();
        assert!(
            !elsewhere.is_gone(&me),
            "another pid namespace cannot be judged"
        );
    }

    #[test]
    fn replica_ids_are_unique_and_directory_names() {
        let (a, b) = (new_replica_id(), new_replica_id());
        assert_ne!(a, b);
        assert!(is_replica_name(&a) && !is_replica_name(&format!(".new-{a}")));
    }
}
