//! Abuse resistance before a request reaches a handler: per-client rate limits (separate
//! budgets for reads and writes, `governor`'s GCRA over a concurrent map keyed by client
//! address) and the client address itself, taken from `X-Forwarded-For` only when the TCP
//! peer is a trusted proxy.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use axum::http::HeaderMap;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::config::TrustedProxies;

/// The two budgets and whom to believe about client addresses.
pub struct RateLimits {
    reads: Option<DefaultKeyedRateLimiter<IpAddr>>,
    writes: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: TrustedProxies,
    clock: DefaultClock,
}

impl RateLimits {
    /// `0` per minute turns that budget off. Bursts are a tenth of the minute's budget
    /// (at least 1), so a client cannot spend the whole minute in one second.
    pub fn new(reads_per_minute: u32, writes_per_minute: u32, trusted: TrustedProxies) -> Self {
        let limiter = |per_minute: u32| {
            let rate = NonZeroU32::new(per_minute)?;
            let burst = NonZeroU32::new((per_minute / 10).max(1))?;
            Some(RateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst),
            ))
        };
        Self {
            reads: limiter(reads_per_minute),
            writes: limiter(writes_per_minute),
            trusted,
            clock: DefaultClock::default(),
        }
    }

    /// Whether any budget is on (otherwise the client address is not even computed).
    pub fn enabled(&self) -> bool {
        self.reads.is_some() || self.writes.is_some()
    }

    /// Spends one request of `client`'s budget; `Err(wait)` when it is exhausted.
    pub fn check(&self, write: bool, client: IpAddr) -> Result<(), Duration> {
        let limiter = if write { &self.writes } else { &self.reads };
        match limiter {
            Some(limiter) => limiter
                .check_key(&client)
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
            None => Ok(()),
        }
    }

    /// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
    /// its left were written by the client and prove nothing).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(addr) if self.trusted.contains(&addr) => continue,
                Ok(addr) => return addr,
                // A malformed entry: what is left of it is the client's own writing.
                Err(_) => return peer,
            }
        }
        peer
    }

    /// Forgets clients whose budget is full again, so the map does not grow with every
    /// address ever seen.
    pub fn forget_idle(&self) {
        for limiter in [&self.reads, &self.writes].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", forwarded.parse().unwrap());
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies(vec!["10.0.0.0/16".parse().unwrap()]);
        let limits = RateLimits::new(60, 60, trusted);
        // An untrusted peer: its header is ignored.
        assert_eq!(
            limits.client(ip("203.0.113.7"), &headers("1.2.3.4")),
            ip("203.0.113.7")
        );
        // A trusted proxy: the right-most untrusted entry is the client.
        assert_eq!(
            limits.client(ip("10.0.1.5"), &headers("1.2.3.4, 198.51.100.9")),
            ip("198.51.100.9")
        );
        assert_eq!(
            limits.client(ip("10.0.1.5"), &headers("198.51.100.9, 10.0.2.2")),
            ip("198.51.100.9")
        );
        // Nothing usable: the proxy itself.
        assert_eq!(
            limits.client(ip("10.0.1.5"), &HeaderMap::new()),
            ip("10.0.1.5")
        );
        assert_eq!(
            limits.client(ip("10.0.1.5"), &headers("nonsense")),
            ip("10.0.1.5")
        );
    }

    #[test]
    fn budgets_are_separate_and_refill() {
        let limits = RateLimits::new(0, 10, TrustedProxies::default());
        let client = ip("192.0.2.1");
        assert!(limits.check(true, client).is_ok(), "a burst of 1");
        let wait = limits.check(true, client).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(limits.check(true, ip("192.0.2.2")).is_ok(), "per client");
        for _ in 0..100 {
            assert!(
                limits.check(false, client).is_ok(),
                "reads are unlimited here"
            );
        }
        assert!(limits.enabled());
        assert!(!RateLimits::new(0, 0, TrustedProxies::default()).enabled());
        limits.forget_idle();
    }
}
