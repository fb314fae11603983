//! The background maintainer: refreshes tokens before they expire (due-time order, with
//! jitter), re-verifies connections and reassesses every customer's attention reasons on a
//! schedule, with graceful shutdown.

use std::hash::{Hash, Hasher};

use futures_util::StreamExt;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::DayTwo;
use super::health::HealthReport;
use crate::error::Error;
use crate::journey::{AnyOnboarding, StageKind};
use crate::model::{CustomerId, ExpiryState};
use crate::ports::{Filter, Pager};

/// What the maintainer does and how often.
#[derive(Debug, Clone)]
pub struct MaintenancePolicy {
    /// Time between two passes (default 1 minute).
    pub tick: Duration,
    /// Refresh tokens that expire within this window (default 10 minutes).
    pub refresh_within: Duration,
    /// Spread refreshes: each customer's window grows by a stable share of this (default
    /// 2 minutes), so tokens issued together are not all refreshed in the same pass.
    pub jitter: Duration,
    /// Verify connections not verified for this long (default 1 day).
    pub verify_every: Duration,
    /// At most this many provider calls at once (default 8).
    pub concurrency: usize,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(60),
            refresh_within: Duration::from_secs(10 * 60),
            jitter: Duration::from_secs(2 * 60),
            verify_every: Duration::from_secs(86_400),
            concurrency: 8,
        }
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Where the MSP's own client credential stands, when its end is known (logged when it
    /// expires soon or has expired).
    pub client_credential: Option<ExpiryState>,
    /// Tokens refreshed.
    pub refreshed: usize,
    /// Customers whose refresh token was dead (now re-authentication required).
    pub reauth_required: usize,
    /// Refreshes that failed for another reason (kept for the next pass).
    pub refresh_failed: usize,
    /// Connections verified and working.
    pub verified: usize,
    /// Connections verified and failing.
    pub verify_failed: usize,
    /// The health pass that ended the maintenance pass: every customer's attention reasons
    /// reassessed, changes queued as notices.
    pub health: HealthReport,
}

/// A stable share of `jitter` for one customer.
fn jitter_for(customer: &CustomerId, jitter: Duration) -> Duration {
    let millis = jitter.as_millis();
    if millis == 0 {
        return Duration::ZERO;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    customer.hash(&mut hasher);
    Duration::from_millis(hasher.finish() % millis as u64)
}

impl DayTwo {
    /// [`TenantAccess::maintenance_pass`](crate::TenantAccess::maintenance_pass).
    pub(crate) async fn maintenance_pass(
        &self,
        policy: &MaintenancePolicy,
    ) -> Result<PassReport, Error> {
        let mut report = PassReport {
            client_credential: self.warn_about_client_credential().map(|s| s.state),
            ..PassReport::default()
        };
        let now = self.clock().now();
        let due = self.due_for_refresh(policy, now).await?;
        let concurrency = policy.concurrency.max(1);
        let mut refreshes = futures_util::stream::iter(due)
            .map(|(customer, _)| async move { self.refresh_now(&customer).await })
            .buffered(concurrency);
        while let Some(result) = refreshes.next().await {
            match result {
                Ok(AnyOnboarding::Validated(_)) => report.refreshed += 1,
                Ok(_) => report.reauth_required += 1,
                Err(error) => {
                    tracing::warn!(%error, "maintenance refresh failed");
                    report.refresh_failed += 1;
                }
            }
        }
        let stale = Filter {
            stages: Some(vec![StageKind::Validated]),
            not_verified_since: Some(self.clock().now() - policy.verify_every),
            ..Filter::default()
        };
        let mut verifies = std::pin::pin!(self.verify_all(stale, concurrency));
        while let Some(outcome) = verifies.next().await {
            match outcome?.result {
                Ok(()) => report.verified += 1,
                Err(_) => report.verify_failed += 1,
            }
        }
        report.health = self.health_pass().await?;
        Ok(report)
    }

    /// Validated customers whose token is due, earliest expiry first.
    async fn due_for_refresh(
        &self,
        policy: &MaintenancePolicy,
        now: OffsetDateTime,
    ) -> Result<Vec<(CustomerId, OffsetDateTime)>, Error> {
        let filter = Filter {
            stages: Some(vec![StageKind::Validated]),
            token_expires_before: Some(now + policy.refresh_within + policy.jitter),
            ..Filter::default()
        };
        let mut due = Vec::new();
        let mut pager = Pager::new(self.store(), filter, 500);
        while let Some(records) = pager.next_page().await? {
            for record in &records {
                let Some(expires_at) = record.customer.token.as_ref().map(|t| t.expires_at) else {
                    continue;
                };
                let window = policy.refresh_within + jitter_for(record.id(), policy.jitter);
                if expires_at < now + window {
                    due.push((record.id().clone(), expires_at));
                }
            }
        }
        due.sort_by_key(|(_, expires_at)| *expires_at);
        Ok(due)
    }

    /// [`TenantAccess::spawn_maintainer`](crate::TenantAccess::spawn_maintainer).
    pub(crate) fn spawn_maintainer(&self, policy: MaintenancePolicy) -> Maintainer {
        let ta = self.clone();
        let tick = policy.tick;
        self.spawn_every(tick, move || {
            let ta = ta.clone();
            let policy = policy.clone();
            async move {
                match ta.maintenance_pass(&policy).await {
                    Ok(report) => tracing::debug!(?report, "maintenance pass"),
                    Err(error) => tracing::warn!(%error, "maintenance pass failed"),
                }
                false
            }
        })
    }

    /// Runs `job` on a tokio task, then again `tick` later on the clock (at once when it
    /// answers `true`: more work is waiting), until the handle shuts it down.
    pub(super) fn spawn_every<F, Fut>(&self, tick: Duration, mut job: F) -> Maintainer
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        let (stop, mut stopped) = watch::channel(false);
        let (passes_tx, passes) = watch::channel(0u64);
        let ta = self.clone();
        let task = tokio::spawn(async move {
            let mut count = 0u64;
            loop {
                let more = job().await;
                count += 1;
                let _ = passes_tx.send(count);
                // Stay cooperative even when the clock never makes us wait (a manual clock).
                tokio::task::yield_now().await;
                if *stopped.borrow() {
                    return;
                }
                if more {
                    continue;
                }
                let next = ta.clock().now() + tick;
                let stop = tokio::select! {
                    _ = ta.clock().sleep_until(next) => false,
                    // A closed channel (the handle was dropped) stops too.
                    changed = stopped.changed() => changed.is_err() || *stopped.borrow(),
                };
                if stop || *stopped.borrow() {
                    return;
                }
            }
        });
        Maintainer { stop, passes, task }
    }
}

/// A running background task: the maintainer, or a notice dispatcher. Dropping it without
/// [`shutdown`](Self::shutdown) stops it after its current pass.
#[derive(Debug)]
pub struct Maintainer {
    stop: watch::Sender<bool>,
    passes: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Maintainer {
    /// How many passes have finished.
    pub fn passes(&self) -> u64 {
        *self.passes.borrow()
    }

    /// Waits until at least `n` passes have finished.
    pub async fn wait_for_passes(&mut self, n: u64) {
        while *self.passes.borrow_and_update() < n {
            if self.passes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops after the current pass (a pass is never cut in half) and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
