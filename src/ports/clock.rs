//! Where time comes from.
//!
//! Every expiry, poll interval and timestamp in the crate is read from a [`Clock`], so tests
//! drive time with a [`ManualClock`](crate::testing::ManualClock) instead of sleeping.

use async_trait::async_trait;
use time::OffsetDateTime;

/// A source of the current time and a way to wait for a moment.
#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The same instant as [`now`](Self::now), as nanoseconds since the Unix epoch, for hot
    /// paths that only compare instants (the cached
    /// [`access_token`](crate::TenantAccess::access_token)). The default converts `now()`;
    /// [`SystemClock`] reads the system time without building a calendar date.
    fn now_unix_nanos(&self) -> i128 {
        self.now().unix_timestamp_nanos()
    }

    /// Waits until `deadline` (returns at once if it has passed).
    async fn sleep_until(&self, deadline: OffsetDateTime);
}

/// The real wall clock; waiting uses tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn now_unix_nanos(&self) -> i128 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => after.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        }
    }

    async fn sleep_until(&self, deadline: OffsetDateTime) {
        let wait = deadline - self.now();
        if wait.is_positive() {
            tokio::time::sleep(wait.unsigned_abs()).await;
        }
    }
}
