//! A mailer that writes a line to the log instead of sending mail.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::error::MailError;
use crate::model::MessageId;
use crate::ports::{InvitationMessage, Mailer, OperatorMessage};

/// Logs each invitation (recipient, customer, expiry) at `info` through `tracing`, and accepts
/// it. The link is a secret and is never logged: use [`CaptureMailer`](crate::testing::CaptureMailer)
/// when you need to read it.
#[derive(Debug, Default)]
pub struct LogMailer {
    sent: AtomicU64,
}

impl LogMailer {
    /// A new log mailer.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let id = MessageId(format!("<log-{n}@tenant-access.invalid>"));
        tracing::info!(
            customer = %message.customer,
            to = %message.to,
            expires_at = %message.expires_at,
            message_id = %id,
            "invitation email (not sent: log mailer; link withheld)"
        );
        Ok(id)
    }

    async fn send_to_operators(&self, message: &OperatorMessage) -> Result<MessageId, MailError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let id = MessageId(format!("<log-{n}@tenant-access.invalid>"));
        tracing::info!(
            to = message.to.len(),
            subject = %message.subject,
            message_id = %id,
            "operator email (not sent: log mailer)\n{}",
            message.text
        );
        Ok(id)
    }
}
