//! Notifiers: where the outbox's notices go ([`Notifier`] implementations).
//!
//! - [`LogNotifier`]: one `tracing` line per notice.
//! - [`EmailDigestNotifier`]: one email to the MSP's operators per dispatcher run, listing
//!   every notice of the run, through the engine's [`Mailer`].
//! - `webhook::WebhookNotifier` (feature `webhook`): one signed JSON `POST` per notice, and
//!   `webhook::WebhookVerifier` for the receiving end.
//!
//! A dispatcher ([`TenantAccess::dispatch_notices`](crate::TenantAccess::dispatch_notices))
//! claims notices, hands them to one notifier and settles them; give each notifier its own
//! channel ([`Config::notify_channels`](crate::Config::notify_channels)).

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{Change, EmailAddress, Notice};
use crate::ports::{Mailer, Notifier, NotifyError, OperatorMessage};

#[cfg(feature = "webhook")]
pub mod webhook;

/// Logs each notice at `warn` (gained) or `info` (cleared). Never fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn deliver(&self, notices: &[Notice]) -> Result<(), NotifyError> {
        for n in notices {
            match n.change {
                Change::Gained => tracing::warn!(
                    notice = %n.id,
                    customer = %n.customer,
                    reason = %n.attention.reason,
                    remedy = %n.remedy,
                    "customer needs attention"
                ),
                Change::Cleared => tracing::info!(
                    notice = %n.id,
                    customer = %n.customer,
                    reason = %n.attention.reason,
                    "customer's attention reason cleared"
                ),
            }
        }
        Ok(())
    }

    fn max_batch(&self) -> usize {
        100
    }
}

/// Mails the MSP's operators one digest per dispatcher run (up to
/// [`max_batch`](Notifier::max_batch) notices): what changed, for whom, and what to do.
#[derive(Debug, Clone)]
pub struct EmailDigestNotifier {
    mailer: Arc<dyn Mailer>,
    operators: Vec<EmailAddress>,
    msp_name: String,
    max_batch: usize,
}

impl EmailDigestNotifier {
    /// Mails `operators` through `mailer`, in digests of at most 500 notices.
    pub fn new(mailer: Arc<dyn Mailer>, operators: Vec<EmailAddress>) -> Self {
        Self {
            mailer,
            operators,
            msp_name: "tenant-access".to_owned(),
            max_batch: 500,
        }
    }

    /// The name in the subject line (default `tenant-access`).
    pub fn msp_name(mut self, name: impl Into<String>) -> Self {
        self.msp_name = name.into();
        self
    }

    /// At most this many notices per digest (default 500; at least 1). Set it at least as
    /// large as the dispatcher's batch for one mail per run.
    pub fn max_notices(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// The digest of `notices` as mailed.
    pub fn compose(&self, notices: &[Notice]) -> OperatorMessage {
        let gained = notices
            .iter()
            .filter(|n| n.change == Change::Gained)
            .count();
        let cleared = notices.len() - gained;
        let mut text =
            format!("{gained} customer connection(s) need attention, {cleared} recovered.\n\n");
        for n in notices {
            let _ = write!(text, "- {}", n.summary());
            if !n.attention.evidence.codes.is_empty() {
                let codes: Vec<String> = n
                    .attention
                    .evidence
                    .codes
                    .iter()
                    .map(|c| format!("AADSTS{c}"))
                    .collect();
                let _ = write!(text, " [{}]", codes.join(", "));
            }
            if !n.attention.evidence.missing.is_empty() {
                let _ = write!(
                    text,
                    " [missing: {}]",
                    n.attention.evidence.missing.join(", ")
                );
            }
            let _ = writeln!(text, " (tenant {}, since {})", n.tenant, n.attention.since);
        }
        OperatorMessage {
            to: self.operators.clone(),
            subject: format!(
                "[{}] {gained} connection(s) need attention, {cleared} recovered",
                self.msp_name
            ),
            text,
        }
    }
}

#[async_trait]
impl Notifier for EmailDigestNotifier {
    async fn deliver(&self, notices: &[Notice]) -> Result<(), NotifyError> {
        self.mailer
            .send_to_operators(&self.compose(notices))
            .await
            .map(|_| ())
            .map_err(|e| NotifyError(e.to_string()))
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }
}
