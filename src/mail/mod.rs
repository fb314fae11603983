//! The [`Mailer`] adapters: [`LogMailer`] for development and, with the `smtp` feature, the
//! SMTP mailer (`SmtpMailer`) and its templates (`InvitationTemplates`).
//!
//! The port itself lives in [`ports`](crate::ports); it is re-exported here. The capturing
//! mailer tests use is [`testing::CaptureMailer`](crate::testing::CaptureMailer).

mod log;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub mod smtp;
#[cfg(feature = "smtp")]
mod smtp_error;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub mod template;

pub use log::LogMailer;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use smtp::{RetryPolicy, Security, SmtpMailer, SmtpMailerBuilder};
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use smtp_error::SmtpConfigError;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use template::{InvitationTemplates, RenderedInvitation, SupportContact};

pub use crate::model::MessageId;
pub use crate::ports::{InvitationMessage, Mailer};
