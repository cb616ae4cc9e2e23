//! A minimum data rate for request bodies that hold a scarce slot (uploads).
//!
//! An upload slot is taken before its body is read, so a client that sends headers and
//! a few bytes, then nothing, would hold the slot until the request deadline — and 16
//! such connections hold every slot. [`RateGuard`] wraps the body: when nothing arrives
//! for the idle timeout, or a whole window brings fewer bytes than the minimum rate
//! allows, the body ends with an error and the guard remembers why, so the handler
//! answers 408 and the slot is free again within seconds.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// The window the minimum rate is averaged over.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Why a guarded body was cut off; set once, read by the handler to answer 408.
#[derive(Clone, Default)]
pub struct Tripped(Arc<OnceLock<String>>);

impl Tripped {
    /// The reason, if the guard cut the body off.
    pub fn reason(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The rules a guarded body is held to.
#[derive(Debug, Clone, Copy)]
pub struct RateRules {
    /// Longest gap between two chunks.
    pub idle: Duration,
    /// Fewest bytes per second over each [`RATE_WINDOW`]; 0 for none.
    pub min_rate: u64,
}

/// A body stream held to [`RateRules`]; see the module documentation.
pub struct RateGuard<S> {
    inner: S,
    rules: RateRules,
    idle_timer: Pin<Box<Sleep>>,
    window_timer: Pin<Box<Sleep>>,
    window_bytes: u64,
    tripped: Tripped,
    done: bool,
}

impl<S> RateGuard<S> {
    /// Guards `inner` from now on (call it once the slot is taken: time spent waiting
    /// for a slot is not the client's fault).
    pub fn new(inner: S, rules: RateRules) -> (Self, Tripped) {
        let now = Instant::now();
        let tripped = Tripped::default();
        (
            Self {
                inner,
                rules,
                idle_timer: Box::pin(tokio::time::sleep_until(now + rules.idle)),
                window_timer: Box::pin(tokio::time::sleep_until(now + RATE_WINDOW)),
                window_bytes: 0,
                tripped: tripped.clone(),
                done: false,
            },
            tripped,
        )
    }

    fn trip(&mut self, reason: String) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let _ = self.tripped.0.set(reason.clone());
        self.done = true;
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            reason,
        ))))
    }

    /// Ends a window: enough bytes start the next one, too few trip the guard.
    fn close_window(&mut self, now: Instant) -> Option<String> {
        let needed = self.rules.min_rate.saturating_mul(RATE_WINDOW.as_secs());
        if self.rules.min_rate > 0 && self.window_bytes < needed {
            return Some(format!(
                "the upload arrived at {} bytes/s over {} s, slower than the minimum of {} bytes/s (PIER_UPLOAD_MIN_RATE)",
                self.window_bytes / RATE_WINDOW.as_secs(),
                RATE_WINDOW.as_secs(),
                self.rules.min_rate
            ));
        }
        self.window_bytes = 0;
        self.window_timer.as_mut().reset(now + RATE_WINDOW);
        None
    }
}

impl<S, E> Stream for RateGuard<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let now = Instant::now();
                self.window_bytes += chunk.len() as u64;
                let idle = self.rules.idle;
                self.idle_timer.as_mut().reset(now + idle);
                if now >= self.window_timer.deadline()
                    && let Some(reason) = self.close_window(now)
                {
                    return self.trip(reason);
                }
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(Some(Err(error))) => {
                self.done = true;
                return Poll::Ready(Some(Err(std::io::Error::other(error.into()))));
            }
            Poll::Ready(None) => {
                self.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if self.idle_timer.as_mut().poll(cx).is_ready() {
            let reason = format!(
                "the upload sent nothing for {} s (PIER_UPLOAD_IDLE_TIMEOUT)",
                self.rules.idle.as_secs_f32()
            );
            return self.trip(reason);
        }
        while self.rules.min_rate > 0 && self.window_timer.as_mut().poll(cx).is_ready() {
            if let Some(reason) = self.close_window(Instant::now()) {
                return self.trip(reason);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn chunks(
        gaps: Vec<(u64, usize)>,
    ) -> Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>> {
        Box::pin(
            futures::stream::iter(gaps).then(|(wait_ms, size)| async move {
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                Ok(Bytes::from(vec![0u8; size]))
            }),
        )
    }

    async fn outcome(gaps: Vec<(u64, usize)>, rules: RateRules) -> (u64, Option<String>) {
        let (mut guard, tripped) = RateGuard::new(chunks(gaps), rules);
        let mut received = 0;
        while let Some(Ok(chunk)) = guard.next().await {
            received += chunk.len() as u64;
        }
        (received, tripped.reason().map(str::to_owned))
    }

    const RULES: RateRules = RateRules {
        idle: Duration::from_secs(10),
        min_rate: 1000,
    };

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_passes() {
        // 2 KB every second for 30 s: twice the minimum rate, never idle.
        let (received, tripped) = outcome(vec![(1000, 2000); 30], RULES).await;
        assert_eq!((received, tripped), (60_000, None));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_cut_off_after_the_idle_timeout() {
        let start = Instant::now();
        let (received, tripped) = outcome(vec![(0, 8), (3_600_000, 8)], RULES).await;
        assert_eq!(received, 8);
        assert!(tripped.unwrap().contains("sent nothing"));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_at_the_end_of_its_window() {
        // 100 bytes every 2 s: never idle, but 50 bytes/s against a minimum of 1000.
        let start = Instant::now();
        let (_, tripped) = outcome(vec![(2000, 100); 100], RULES).await;
        assert!(tripped.unwrap().contains("slower than the minimum"));
        assert!(start.elapsed() <= RATE_WINDOW + Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn no_minimum_rate_means_only_the_idle_timeout() {
        let rules = RateRules {
            min_rate: 0,
            ..RULES
        };
        let (received, tripped) = outcome(vec![(2000, 1); 20], rules).await;
        assert_eq!((received, tripped), (20, None));
    }
}
