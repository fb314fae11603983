//! [`SmtpConfigError`]: a wrong SMTP mailer configuration.

/// A wrong SMTP mailer configuration, reported by [`SmtpMailerBuilder::build`](super::SmtpMailerBuilder::build) (or by
/// [`InvitationTemplates::new`](super::InvitationTemplates::new) and [`SupportContact::new`](super::SupportContact::new)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpConfigError {
    /// The host name is empty or malformed.
    #[error("SMTP host {0:?} is not a host name or IP address")]
    Host(String),
    /// The `EHLO` name is not a plain domain name (letters, digits, dots and hyphens).
    #[error("EHLO name {0:?} is not a domain name")]
    HelloName(String),
    /// [`Security::Plain`](super::Security::Plain) was asked for a host that is not on this machine. Plain SMTP would
    /// send the invitation link (and any password) in clear across the network.
    #[error(
        "plain (unencrypted) SMTP is only allowed to a loopback host (localhost, 127.0.0.0/8, ::1), not {0:?}: use Security::StartTls or Security::Tls"
    )]
    PlainNotLoopback(String),
    /// No sender address was given.
    #[error("no sender address: call SmtpMailerBuilder::from")]
    MissingFrom,
    /// An address (sender, support contact) is malformed.
    #[error("address {0}")]
    Address(String),
    /// A display name would break a header: empty, too long, or holding CR/LF or other
    /// control characters.
    #[error("{what} {problem}")]
    Name {
        /// Which name.
        what: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A template does not compile or uses an unknown variable.
    #[error("invitation template: {0}")]
    Template(String),
    /// A timeout, retry count or pool size is zero.
    #[error("{0} must be positive")]
    NotPositive(&'static str),
    /// The TLS settings are unusable (e.g. a root certificate that does not parse).
    #[error("TLS: {0}")]
    Tls(String),
}
