//! The [`Mailer`] port: sending the invitation email.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::MailError;
use crate::model::{CustomerId, EmailAddress, InvitationCode, InvitationLink, MessageId, TenantId};

/// An invitation email to send. The link is the only secret in it.
#[derive(Debug, Clone)]
pub struct InvitationMessage {
    /// The customer it is for.
    pub customer: CustomerId,
    /// The customer's tenant.
    pub tenant: TenantId,
    /// The recipient.
    pub to: EmailAddress,
    /// The link that opens the invitation wizard (contains the code).
    pub link: InvitationLink,
    /// The code inside the link, for mailers and tests that need it alone.
    pub code: InvitationCode,
    /// When the link stops working.
    pub expires_at: OffsetDateTime,
    /// The MSP's name, for the greeting.
    pub msp_name: String,
}

/// A plain-text message to the MSP's own operators (a digest of attention notices, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorMessage {
    /// The recipients.
    pub to: Vec<EmailAddress>,
    /// The subject line.
    pub subject: String,
    /// The body, plain text.
    pub text: String,
}

/// Sends invitation emails, and messages to the MSP's operators.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends the invitation and returns the message id once the mail server has accepted it.
    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError>;

    /// Sends a message to the MSP's operators and returns its id once accepted. The default
    /// refuses ([`MailError::Misconfigured`]): a mailer written before operator messages
    /// existed sends invitations only.
    async fn send_to_operators(&self, message: &OperatorMessage) -> Result<MessageId, MailError> {
        let _ = message;
        Err(MailError::Misconfigured(
            "this mailer does not send operator messages".into(),
        ))
    }
}
