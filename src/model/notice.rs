//! [`Notice`]: a change of a customer's attention reasons, as the outbox keeps it.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::customer::Customer;
use super::health::{Attention, Change, Remedy};
use super::ids::CustomerId;

/// A random id for a notice: 128 bits, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NoticeId(String);

impl NoticeId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// An id as stored.
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change of a customer's attention reasons, for one notification channel: what the
/// outbox keeps and a [`Notifier`](crate::ports::Notifier) delivers. Carries no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// This notice's id (the webhook's idempotency key).
    pub id: NoticeId,
    /// The channel it is for ([`Config::notify_channels`](crate::Config::notify_channels)).
    pub channel: String,
    /// The customer.
    pub customer: CustomerId,
    /// The customer's tenant, as invited.
    pub tenant: String,
    /// Gained or cleared.
    pub change: Change,
    /// The reason, since when, and what showed it.
    pub attention: Attention,
    /// What clears it.
    pub remedy: Remedy,
    /// When the change was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Notice {
    /// One notice per channel for each change of `customer`'s reasons, recorded at `at`.
    pub fn for_changes(
        customer: &Customer,
        changes: &[(Change, Attention)],
        channels: &[String],
        at: OffsetDateTime,
    ) -> Vec<Notice> {
        let mut out = Vec::with_capacity(changes.len() * channels.len());
        for (change, attention) in changes {
            for channel in channels {
                out.push(Notice {
                    id: NoticeId::generate(),
                    channel: channel.clone(),
                    customer: customer.id.clone(),
                    tenant: customer.tenant.as_str().to_owned(),
                    change: *change,
                    attention: attention.clone(),
                    remedy: attention.reason.remedy(),
                    at,
                });
            }
        }
        out
    }

    /// One line for an operator: `contoso: gained consent_revoked (send the admin-consent
    /// link)`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} {} ({})",
            self.customer,
            self.change.as_str(),
            self.attention.reason,
            match self.change {
                Change::Gained => self.remedy.describe(),
                Change::Cleared => "nothing to do",
            }
        )
    }
}
