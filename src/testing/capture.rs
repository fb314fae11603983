//! A mailer that keeps every message in memory, for tests and demos.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::MailError;
use crate::model::MessageId;
use crate::ports::{InvitationMessage, Mailer, OperatorMessage};

/// Keeps every invitation it is asked to send, so tests can read the link. Cheap to clone;
/// clones share the same messages.
///
/// [`fail_next`](Self::fail_next) makes the next sends fail, to test what a refused email does.
#[derive(Debug, Clone, Default)]
pub struct CaptureMailer {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    sent: Vec<InvitationMessage>,
    to_operators: Vec<OperatorMessage>,
    failures: VecDeque<MailError>,
    attempts: usize,
}

impl CaptureMailer {
    /// A mailer with no messages.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every accepted message, oldest first.
    pub fn messages(&self) -> Vec<InvitationMessage> {
        self.lock().sent.clone()
    }

    /// The newest accepted message to `address`.
    pub fn last_to(&self, address: &str) -> Option<InvitationMessage> {
        self.lock()
            .sent
            .iter()
            .rev()
            .find(|m| m.to.as_str().eq_ignore_ascii_case(address))
            .cloned()
    }

    /// The invitation code of the newest message to `address`, as the customer's browser
    /// would send it back.
    pub fn last_code_to(&self, address: &str) -> Option<String> {
        self.last_to(address)
            .map(|m| m.code.expose_secret().to_owned())
    }

    /// Makes the next send fail with `error` (queue several for several failures).
    pub fn fail_next(&self, error: MailError) {
        self.lock().failures.push_back(error);
    }

    /// Every accepted message to the MSP's operators, oldest first.
    pub fn operator_messages(&self) -> Vec<OperatorMessage> {
        self.lock().to_operators.clone()
    }

    /// How many sends were attempted, failed ones included.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }
}

#[async_trait]
impl Mailer for CaptureMailer {
    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError> {
        let mut inner = self.lock();
        inner.attempts += 1;
        if let Some(error) = inner.failures.pop_front() {
            return Err(error);
        }
        inner.sent.push(message.clone());
        Ok(MessageId(format!(
            "<capture-{}@tenant-access.invalid>",
            inner.sent.len()
        )))
    }

    async fn send_to_operators(&self, message: &OperatorMessage) -> Result<MessageId, MailError> {
        let mut inner = self.lock();
        inner.attempts += 1;
        if let Some(error) = inner.failures.pop_front() {
            return Err(error);
        }
        inner.to_operators.push(message.clone());
        Ok(MessageId(format!(
            "<capture-operators-{}@tenant-access.invalid>",
            inner.to_operators.len()
        )))
    }
}
