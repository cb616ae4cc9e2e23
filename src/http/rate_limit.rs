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

/// One client's budget for a kind of request, as the settings write it (SPEC §2):
/// `RATE/s,burst=N` or `RATE/m,burst=N`, e.g. `20/s,burst=100`. Without `burst=` a client
/// may spend one second's worth at once (`RATE` for `/s`, a tenth of `RATE` for `/m`),
/// so a budget never lets a whole minute go in one second. `off` (or empty) is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    /// Requests allowed per period.
    pub rate: NonZeroU32,
    /// Whether the period is a minute (`/m`) rather than a second (`/s`).
    pub per_minute: bool,
    /// Requests a client may send back to back before the rate applies.
    pub burst: NonZeroU32,
}

/// Highest rate a budget may name: beyond it the limiter is no limit at all.
const MAX_RATE: u32 = 10_000_000;

impl RateBudget {
    /// Parses `RATE/s[,burst=N]` or `RATE/m[,burst=N]`; `None` for `off` or empty.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let error = |why: &str| {
            format!(
                "`{text}` is not a rate limit ({why}); write RATE/s,burst=N or RATE/m,burst=N, e.g. 20/s,burst=100, or off"
            )
        };
        let (rate_part, burst_part) = match text.split_once(',') {
            Some((rate, burst)) => (rate.trim(), Some(burst.trim())),
            None => (text, None),
        };
        let (rate, period) = rate_part
            .split_once('/')
            .ok_or_else(|| error("no /s or /m"))?;
        let per_minute = match period.trim() {
            "s" => false,
            "m" => true,
            _ => return Err(error("the period is /s or /m")),
        };
        let count = |digits: &str, what: &str| {
            digits
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_RATE).contains(n))
                .and_then(NonZeroU32::new)
                .ok_or_else(|| error(&format!("{what} is a whole number from 1 to {MAX_RATE}")))
        };
        let rate = count(rate, "the rate")?;
        let burst = match burst_part {
            Some(part) => {
                let value = part
                    .strip_prefix("burst=")
                    .ok_or_else(|| error("the second part is burst=N"))?;
                count(value, "the burst")?
            }
            None if per_minute => NonZeroU32::new((rate.get() / 10).max(1)).unwrap_or(rate),
            None => rate,
        };
        Ok(Some(Self {
            rate,
            per_minute,
            burst,
        }))
    }

    fn quota(self) -> Quota {
        let quota = if self.per_minute {
            Quota::per_minute(self.rate)
        } else {
            Quota::per_second(self.rate)
        };
        quota.allow_burst(self.burst)
    }
}

impl std::fmt::Display for RateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let period = if self.per_minute { "m" } else { "s" };
        write!(f, "{}/{period},burst={}", self.rate, self.burst)
    }
}

/// The two budgets and whom to believe about client addresses.
pub struct RateLimits {
    reads: Option<DefaultKeyedRateLimiter<IpAddr>>,
    writes: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: TrustedProxies,
    clock: DefaultClock,
}

impl RateLimits {
    /// A budget of `None` is no limit for that kind of request.
    pub fn new(
        reads: Option<RateBudget>,
        writes: Option<RateBudget>,
        trusted: TrustedProxies,
    ) -> Self {
        let limiter = |budget: Option<RateBudget>| Some(RateLimiter::keyed(budget?.quota()));
        Self {
            reads: limiter(reads),
            writes: limiter(writes),
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
        let limits = RateLimits::new(budget("60/m"), budget("60/m"), trusted);
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
        let limits = RateLimits::new(None, budget("10/m"), TrustedProxies::default());
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
        assert!(!RateLimits::new(None, None, TrustedProxies::default()).enabled());
        limits.forget_idle();
    }

    fn budget(text: &str) -> Option<RateBudget> {
        RateBudget::parse(text).unwrap()
    }

    #[test]
    fn budgets_parse_as_the_spec_writes_them() {
        let parsed = budget("20/s,burst=100").unwrap();
        assert_eq!(
            (parsed.rate.get(), parsed.per_minute, parsed.burst.get()),
            (20, false, 100)
        );
        assert_eq!(parsed.to_string(), "20/s,burst=100");
        let parsed = budget(" 600/m , burst=5 ").unwrap();
        assert_eq!(
            (parsed.rate.get(), parsed.per_minute, parsed.burst.get()),
            (600, true, 5)
        );
        // Without a burst: one second's worth.
        assert_eq!(budget("20/s").unwrap().burst.get(), 20);
        assert_eq!(budget("600/m").unwrap().burst.get(), 60);
        assert_eq!(budget("5/m").unwrap().burst.get(), 1);
        for off in ["", "off", "OFF", "  "] {
            assert_eq!(RateBudget::parse(off), Ok(None), "{off:?}");
        }
        for bad in [
            "20",
            "20/h",
            "0/s",
            "-1/s",
            "x/s",
            "20/s,burst=0",
            "20/s,bust=3",
            "20/s,burst=",
            "99999999999/s",
            "20/s,burst=100000000",
        ] {
            let error = RateBudget::parse(bad).unwrap_err();
            assert!(error.contains("RATE/s,burst=N"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_per_second_budget_refills_within_a_second() {
        let limits = RateLimits::new(budget("2/s,burst=2"), None, TrustedProxies::default());
        let client = ip("192.0.2.9");
        assert!(limits.check(false, client).is_ok());
        assert!(limits.check(false, client).is_ok());
        let wait = limits.check(false, client).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
    }
}
