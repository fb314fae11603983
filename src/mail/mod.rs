//! Sending the invitation email: the [`Mailer`] trait, the development mailers
//! ([`CaptureMailer`], [`LogMailer`]) and, with the `smtp` feature, the SMTP mailer
//! (`SmtpMailer`) and its templates (`InvitationTemplates`).

mod capture;
mod log;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(feature = "smtp")]
pub mod template;

pub use capture::CaptureMailer;
pub use log::LogMailer;
#[cfg(feature = "smtp")]
pub use smtp::{RetryPolicy, Security, SmtpConfigError, SmtpMailer, SmtpMailerBuilder};
#[cfg(feature = "smtp")]
pub use template::{InvitationTemplates, RenderedInvitation, SupportContact};

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::MailError;
use crate::ids::{CustomerId, EmailAddress, TenantId};
use crate::invitation::InvitationCode;
use crate::secret::InvitationLink;

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

/// The id a mailer gives an accepted message (an SMTP `Message-ID`, a provider's id, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sends invitation emails.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends the invitation and returns the message id once the mail server has accepted it.
    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError>;
}
