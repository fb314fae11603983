//! [`ManualClock`]: a clock that moves only when a test says so.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use std::time::Duration;

use time::OffsetDateTime;

use crate::ports::Clock;

/// A clock that moves only when told to. Cheap to clone; clones share one time.
///
/// [`sleep_until`](Clock::sleep_until) does not wait: it moves the clock forward to the
/// deadline and returns, so code that waits for a poll interval or an expiry runs instantly
/// and deterministically in tests.
///
/// ```
/// use tenant_access::{ports::Clock, testing::ManualClock};
/// use std::time::Duration;
/// use time::macros::datetime;
///
/// let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
/// clock.advance(Duration::from_secs(15 * 60));
/// assert_eq!(clock.now(), datetime!(2026-11-23 10:15 UTC));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock that reads `start` until it is moved.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// A clock that starts at the current wall-clock time, to the second.
    pub fn starting_now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self::new(now.replace_nanosecond(0).unwrap_or(now))
    }

    /// Moves the clock forward by `by` (use [`set`](Self::set) to move it anywhere else).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sleep_until(&self, deadline: OffsetDateTime) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        if *now < deadline {
            *now = deadline;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[tokio::test]
    async fn manual_clock_jumps_to_the_deadline_without_waiting() {
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        clock.sleep_until(datetime!(2026-01-01 0:05 UTC)).await;
        assert_eq!(clock.now(), datetime!(2026-01-01 0:05 UTC));
        // A deadline in the past leaves the clock alone.
        clock.sleep_until(datetime!(2026-01-01 0:01 UTC)).await;
        assert_eq!(clock.now(), datetime!(2026-01-01 0:05 UTC));
    }

    #[tokio::test]
    async fn clones_share_one_time() {
        let a = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let b = a.clone();
        a.advance(Duration::from_secs(3600));
        assert_eq!(b.now(), datetime!(2026-01-01 1:00 UTC));
    }
}
