//! Exponential backoff with jitter, for retries of handlers and of broker connections.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// Delays that double from `initial` at every attempt, up to `max`, each drawn at random
/// from the upper half of its range (so concurrent retries spread out, but no retry comes
/// sooner than half its step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The step of the first attempt.
    pub initial: Duration,
    /// No delay is longer than this.
    pub max: Duration,
}

impl Backoff {
    /// Backoff from `initial` to `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The delay after attempt `attempt` (1 for the first) failed: between half and all of
    /// `min(initial × 2^(attempt-1), max)`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self.initial.saturating_mul(1 << attempt.saturating_sub(1).min(20)).min(self.max);
        let jitter = RandomState::new().hash_one((attempt, std::time::Instant::now())) % 1000;
        step / 2 + step / 2 * jitter as u32 / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_band_and_stop_at_the_cap() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for (attempt, step) in [(1, 100), (2, 200), (4, 800), (8, 10_000), (60, 10_000)] {
            let step = Duration::from_millis(step);
            let delays: Vec<_> = (0..50).map(|_| backoff.delay(attempt)).collect();
            assert!(delays.iter().all(|d| *d >= step / 2 && *d <= step), "attempt {attempt}: {delays:?}");
            assert!(delays.iter().any(|d| *d != delays[0]), "attempt {attempt}: jittered");
        }
        assert_eq!(Backoff::new(Duration::ZERO, Duration::ZERO).delay(3), Duration::ZERO);
    }
}
