//! Connection health on a schedule: the health pass reassesses every customer's attention
//! reasons (so time alone, a credential nearing its end or an invitation left unanswered,
//! raises them), and the dispatcher delivers the outbox's notices through a [`Notifier`].

use super::DayTwo;
use crate::error::{Error, StoreError};
use crate::model::Notice;
use crate::ports::{Claim, DispatchPolicy, Filter, Notifier, Pager, Settlement};

/// What one health pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Customers assessed.
    pub assessed: usize,
    /// Customers whose reasons changed (and were written, with their notices).
    pub changed: usize,
    /// Notices queued.
    pub notices: usize,
    /// Customers that need attention after the pass.
    pub needing_attention: usize,
    /// Customers skipped because their record moved while being assessed (the writer
    /// reassessed them) or could not be read.
    pub skipped: usize,
}

/// What one dispatcher run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Notices claimed.
    pub claimed: usize,
    /// Notices delivered.
    pub delivered: usize,
    /// Notices that failed and wait for another try.
    pub retried: usize,
    /// Notices dead-lettered.
    pub dead: usize,
    /// Notices whose claim lapsed and was taken over before they were settled (another
    /// dispatcher settles them).
    pub lost: usize,
}

/// Records listed per page by the health pass: memory stays flat whatever the store's size.
const PAGE: usize = 500;

impl DayTwo {
    /// [`TenantAccess::health_pass`](crate::TenantAccess::health_pass).
    pub(crate) async fn health_pass(&self) -> Result<HealthReport, Error> {
        let mut report = HealthReport::default();
        let mut pager = Pager::new(self.store(), Filter::all(), PAGE);
        while let Some(records) = pager.next_page().await? {
            report.skipped += pager.take_unreadable().len();
            for mut record in records {
                report.assessed += 1;
                let changed = self.reassess(&mut record);
                if !record.customer.health.attention.is_empty() {
                    report.needing_attention += 1;
                }
                let Some(notices) = changed else {
                    continue;
                };
                match self.store().update(&record, None, &notices).await {
                    Ok(_) => {
                        report.changed += 1;
                        report.notices += notices.len();
                    }
                    // The record moved: its writer reassessed it in the same write.
                    Err(StoreError::Conflict { .. }) => report.skipped += 1,
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(report)
    }

    /// [`TenantAccess::dispatch_notices`](crate::TenantAccess::dispatch_notices).
    pub(crate) async fn dispatch_notices(
        &self,
        notifier: &dyn Notifier,
        policy: &DispatchPolicy,
    ) -> Result<DispatchReport, Error> {
        let now = self.clock().now();
        let until = now + policy.claim_for;
        let holder = self.instance_id();
        let claimed = self
            .store()
            .claim_notices(&Claim {
                channel: &policy.channel,
                holder,
                now,
                until,
                limit: policy.batch.max(1),
            })
            .await?;
        let mut report = DispatchReport {
            claimed: claimed.len(),
            ..DispatchReport::default()
        };
        for chunk in claimed.chunks(notifier.max_batch().max(1)) {
            let notices: Vec<Notice> = chunk.iter().map(|e| e.notice.clone()).collect();
            let result = notifier.deliver(&notices).await;
            let at = self.clock().now();
            for entry in chunk {
                let settlement = match &result {
                    Ok(()) => Settlement::Delivered { at },
                    Err(error) if entry.attempts >= policy.max_attempts => Settlement::Dead {
                        at,
                        error: error.to_string(),
                    },
                    Err(error) => Settlement::Retry {
                        at: at + policy.backoff_after(entry.attempts),
                        error: error.to_string(),
                    },
                };
                let settled = self
                    .store()
                    .settle_notice(&entry.notice.id, holder, &settlement)
                    .await?;
                match (settled, &settlement) {
                    (false, _) => report.lost += 1,
                    (true, Settlement::Delivered { .. }) => report.delivered += 1,
                    (true, Settlement::Retry { .. }) => report.retried += 1,
                    (true, Settlement::Dead { error, .. }) => {
                        tracing::error!(
                            notice = %entry.notice.id,
                            customer = %entry.notice.customer,
                            attempts = entry.attempts,
                            %error,
                            "notice dead-lettered"
                        );
                        report.dead += 1;
                    }
                }
            }
            if let Err(error) = &result {
                tracing::warn!(%error, channel = %policy.channel, "notices not delivered; retrying later");
            }
        }
        Ok(report)
    }
}

impl DayTwo {
    /// [`TenantAccess::spawn_dispatcher`](crate::TenantAccess::spawn_dispatcher).
    pub(crate) fn spawn_dispatcher(
        &self,
        notifier: std::sync::Arc<dyn Notifier>,
        policy: DispatchPolicy,
        tick: std::time::Duration,
    ) -> super::Maintainer {
        let ta = self.clone();
        self.spawn_every(tick, move || {
            let (ta, notifier, policy) = (ta.clone(), notifier.clone(), policy.clone());
            async move {
                match ta.dispatch_notices(&*notifier, &policy).await {
                    // A full batch: more may be waiting.
                    Ok(report) => report.claimed >= policy.batch.max(1),
                    Err(error) => {
                        tracing::warn!(%error, channel = %policy.channel, "dispatching notices failed");
                        false
                    }
                }
            }
        })
    }
}
