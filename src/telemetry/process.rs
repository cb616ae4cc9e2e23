//! Process metrics (CPU seconds, resident memory, open fds, start time, …), the
//! resource limits the process runs under, and build info — refreshed at each scrape
//! of `/metrics`, so alerts can compare usage with the limit (SPEC §4).

use std::sync::OnceLock;

/// The cgroup (v2) files the limits come from; a container's own view under Docker,
/// ECS and Swarm.
const CGROUP_CPU_MAX: &str = "/sys/fs/cgroup/cpu.max";
const CGROUP_MEMORY_MAX: &str = "/sys/fs/cgroup/memory.max";

/// The git commit the binary was built from (`PIER_GIT_SHA` at build time, else `git`,
/// else `unknown`; see build.rs).
pub const GIT_SHA: &str = env!("PIER_GIT_SHA");

fn collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Describes the metrics once and publishes `pier_build_info{version,git_sha} 1`.
pub fn install() {
    collector().describe();
    metrics::describe_gauge!(
        "pier_build_info",
        "Always 1; the labels say which build is running"
    );
    metrics::gauge!(
        "pier_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "git_sha" => GIT_SHA
    )
    .set(1.0);
    metrics::describe_gauge!(
        crate::telemetry::names::PIER_CPU_LIMIT_CORES,
        "CPU cores this process may use (its cgroup quota, else the machine's cores)"
    );
    metrics::describe_gauge!(
        crate::telemetry::names::PIER_MEMORY_LIMIT_BYTES,
        metrics::Unit::Bytes,
        "Memory this process may use (its cgroup limit, else the machine's memory)"
    );
    metrics::describe_gauge!(
        crate::telemetry::names::PIER_READY,
        "1 while /health/ready would answer 200, else 0 (refreshed at each scrape)"
    );
}

/// Refreshes the process metrics and the limits (cheap: a few reads under /proc and
/// /sys/fs/cgroup).
pub fn refresh() {
    collector().collect();
    metrics::gauge!(crate::telemetry::names::PIER_CPU_LIMIT_CORES).set(cpu_limit_cores());
    if let Some(bytes) = memory_limit_bytes() {
        metrics::gauge!(crate::telemetry::names::PIER_MEMORY_LIMIT_BYTES).set(bytes as f64);
    }
}

fn cpu_limit_cores() -> f64 {
    std::fs::read_to_string(CGROUP_CPU_MAX)
        .ok()
        .and_then(|text| parse_cpu_max(&text))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64))
}

fn memory_limit_bytes() -> Option<u64> {
    std::fs::read_to_string(CGROUP_MEMORY_MAX)
        .ok()
        .and_then(|text| parse_memory_max(&text))
        .or_else(|| {
            std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| parse_mem_total(&text))
        })
}

/// `cpu.max` is `QUOTA PERIOD` (microseconds) or `max PERIOD` when unlimited.
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// `memory.max` is a byte count, or `max` when unlimited.
fn parse_memory_max(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|&bytes| bytes > 0)
}

/// `MemTotal:  16318412 kB` from /proc/meminfo.
fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_limits_parse() {
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max(""), None);
        assert_eq!(parse_memory_max("268435456\n"), Some(268_435_456));
        assert_eq!(parse_memory_max("max\n"), None);
        assert_eq!(
            parse_mem_total("MemTotal:       16318412 kB\nMemFree: 1 kB\n"),
            Some(16_318_412 * 1024)
        );
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn limits_are_positive_here() {
        assert!(cpu_limit_cores() > 0.0);
        assert!(memory_limit_bytes().is_some_and(|bytes| bytes > 0));
    }
}
