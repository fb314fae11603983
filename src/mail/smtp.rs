//! The SMTP mailer: invitation emails through a real mail server, over rustls (feature `smtp`).
//!
//! [`SmtpMailer`] renders the [`InvitationTemplates`] into a `multipart/alternative` message
//! (plain text and HTML), submits it with [lettre](https://docs.rs/lettre) over a pooled
//! connection, retries passing failures with a bounded backoff, and returns the message's
//! `Message-ID` once the server accepted it. Every failure is a [`MailError`]:
//!
//! | what happened | error | what to do |
//! |---------------|-------|------------|
//! | permanent `5xx` (recipient or message refused) | [`MailError::Refused`] | fix the address |
//! | `4xx`, connection refused or dropped, timeout (after every retry) | [`MailError::Transient`] | resend later |
//! | authentication failed, sender refused, TLS handshake or certificate failed, no STARTTLS, broken template | [`MailError::Misconfigured`] | fix the mailer |

use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{self, PoolConfig};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub use super::smtp_error::SmtpConfigError;
use super::template::{InvitationTemplates, SupportContact, check_name};
use crate::error::MailError;
use crate::model::EmailAddress;
use crate::model::MessageId;
use crate::model::Password;
use crate::ports::{InvitationMessage, Mailer, OperatorMessage};

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// Connect in plain text, then upgrade with `STARTTLS`, which is required (port 587).
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS, port 465).
    Tls,
    /// No encryption at all. Allowed only to a loopback host (a local relay).
    Plain,
}

impl Security {
    /// The usual port: 587, 465 or 25.
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        }
    }
}

/// How transient failures are retried inside one [`SmtpMailer::send_invitation`] call:
/// at most `attempts` tries, waiting `initial_delay`, then twice as long each time, never
/// more than `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many tries in all (1 = no retry).
    pub attempts: u32,
    /// The wait before the second try.
    pub initial_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three tries, 1 s then 2 s apart.
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retry: one try only.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The wait after the `failed`-th failed try (1-based).
    fn delay(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Builds an [`SmtpMailer`]; start with [`SmtpMailer::builder`].
#[derive(Debug)]
pub struct SmtpMailerBuilder {
    host: String,
    port: Option<u16>,
    security: Security,
    credentials: Option<(String, Password)>,
    from: Option<(String, Option<String>)>,
    support: Option<SupportContact>,
    templates: Option<InvitationTemplates>,
    timeout: Duration,
    retry: RetryPolicy,
    pool_max_size: u32,
    pool_idle_timeout: Duration,
    root_certificates: Vec<Vec<u8>>,
    hello_name: Option<String>,
}

impl SmtpMailerBuilder {
    /// The server's port (default: [`Security::default_port`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// How the connection is protected (default: [`Security::StartTls`]).
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Authenticates with this user name and password (`AUTH PLAIN` or `LOGIN`).
    pub fn credentials(mut self, username: impl Into<String>, password: Password) -> Self {
        self.credentials = Some((username.into(), password));
        self
    }

    /// The sender: an address and an optional display name (e.g. the MSP's name). Required.
    pub fn from(mut self, address: impl Into<String>, display_name: Option<&str>) -> Self {
        self.from = Some((address.into(), display_name.map(str::to_owned)));
        self
    }

    /// Who customers can ask (default: the sender's display name or address). Shown in the
    /// message and set as its `Reply-To` when it has an address.
    pub fn support_contact(mut self, support: SupportContact) -> Self {
        self.support = Some(support);
        self
    }

    /// Your own templates (default: [`InvitationTemplates::default`]).
    pub fn templates(mut self, templates: InvitationTemplates) -> Self {
        self.templates = Some(templates);
        self
    }

    /// How long one try may take, from connecting to the server's final answer
    /// (default 30 s). Also the TCP connect timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How passing failures are retried (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// At most `max_size` pooled connections, each closed after `idle_timeout` unused
    /// (default 4 and 60 s).
    pub fn pool(mut self, max_size: u32, idle_timeout: Duration) -> Self {
        self.pool_max_size = max_size;
        self.pool_idle_timeout = idle_timeout;
        self
    }

    /// Trusts this PEM root certificate too (for a relay with a private CA). The built-in
    /// roots are Mozilla's (webpki-roots).
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// The name sent in `EHLO` (default: this machine's host name).
    pub fn hello_name(mut self, name: impl Into<String>) -> Self {
        self.hello_name = Some(name.into());
        self
    }

    /// Checks the configuration. Nothing connects yet: the connection pool starts with the
    /// first send (inside the Tokio runtime).
    pub fn build(self) -> Result<SmtpMailer, SmtpConfigError> {
        let trimmed = self.host.trim();
        // `[::1]` is written as `::1` to connect and to check the certificate.
        let host = trimmed
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(trimmed)
            .to_owned();
        let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if host.is_empty() || !host.chars().all(host_char) {
            return Err(SmtpConfigError::Host(self.host));
        }
        if let Some(name) = &self.hello_name {
            let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-');
            if name.is_empty() || name.len() > 253 || !name.chars().all(name_char) {
                return Err(SmtpConfigError::HelloName(name.clone()));
            }
        }
        if self.security == Security::Plain && !is_loopback(&host) {
            return Err(SmtpConfigError::PlainNotLoopback(host));
        }
        let (address, name) = self.from.ok_or(SmtpConfigError::MissingFrom)?;
        let core = EmailAddress::new(address.trim())
            .map_err(|e| SmtpConfigError::Address(format!("of the sender: {e}")))?;
        let address: Address = core
            .as_str()
            .parse()
            .map_err(|e| SmtpConfigError::Address(format!("of the sender: {e}")))?;
        if let Some(name) = &name {
            check_name("sender display name", name)?;
        }
        let support = match self.support {
            Some(s) => s,
            None => SupportContact::new(
                name.clone().unwrap_or_else(|| core.as_str().to_owned()),
                Some(core.as_str()),
            )?,
        };
        let reply_to = support
            .email()
            .map(|e| e.as_str().parse::<Address>())
            .transpose()
            .map_err(|e| SmtpConfigError::Address(format!("of the support contact: {e}")))?
            .map(|a| Mailbox::new(Some(support.name().to_owned()), a));
        if self.timeout.is_zero() {
            return Err(SmtpConfigError::NotPositive("the SMTP timeout"));
        }
        if self.retry.attempts == 0 {
            return Err(SmtpConfigError::NotPositive("the number of SMTP attempts"));
        }
        if self.pool_max_size == 0 {
            return Err(SmtpConfigError::NotPositive("the SMTP pool size"));
        }
        let port = self.port.unwrap_or(self.security.default_port());
        let tls = match self.security {
            Security::Plain => Tls::None,
            Security::StartTls | Security::Tls => {
                let mut params = TlsParameters::builder(host.clone());
                for pem in &self.root_certificates {
                    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                        return Err(SmtpConfigError::Tls(
                            "a root certificate is not a PEM certificate".into(),
                        ));
                    }
                    let cert = lettre::transport::smtp::client::Certificate::from_pem(pem)
                        .map_err(|e| SmtpConfigError::Tls(e.to_string()))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| SmtpConfigError::Tls(e.to_string()))?;
                if self.security == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(self.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(self.pool_max_size)
                    .idle_timeout(self.pool_idle_timeout),
            );
        if let Some((user, password)) = &self.credentials {
            transport = transport.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        if let Some(name) = self.hello_name {
            transport = transport.hello_name(smtp::extension::ClientId::Domain(name));
        }
        Ok(SmtpMailer {
            host,
            port,
            security: self.security,
            from: Mailbox::new(name, address),
            reply_to,
            support,
            templates: self.templates.unwrap_or_default(),
            timeout: self.timeout,
            retry: self.retry,
            transport_builder: transport,
            transport: Mutex::new(None),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Sends invitation emails through an SMTP server (feature `smtp`).
///
/// Built with [`SmtpMailer::builder`]; the engine keeps it behind an `Arc`. Connections are
/// pooled and opened on first use, inside the Tokio runtime.
///
/// Delivery is at-least-once: a try cut off by the timeout after the server already took
/// the message may be retried, so a customer can get the same email twice, never none. A
/// cut-off try also discards the pool, so a connection still waiting for a reply is never
/// reused.
///
/// ```
/// use std::time::Duration;
/// use tenant_access::mail::{RetryPolicy, Security, SmtpMailer, SupportContact};
/// use tenant_access::model::Password;
///
/// let mailer = SmtpMailer::builder("smtp.example.com")
///     .security(Security::StartTls) // port 587
///     .credentials("portal@msp.example", Password::new("app-password"))
///     .from("invitations@msp.example", Some("Northwind IT"))
///     .support_contact(SupportContact::new("Northwind service desk", Some("help@msp.example"))?)
///     .timeout(Duration::from_secs(20))
///     .retry(RetryPolicy { attempts: 4, ..RetryPolicy::default() })
///     .build()?;
/// # drop(mailer);
///
/// // Plain SMTP is for a relay on this machine only.
/// let remote_plain = SmtpMailer::builder("smtp.example.com")
///     .security(tenant_access::mail::Security::Plain)
///     .from("invitations@msp.example", None)
///     .build();
/// assert!(remote_plain.is_err());
/// # Ok::<(), tenant_access::mail::SmtpConfigError>(())
/// ```
pub struct SmtpMailer {
    host: String,
    port: u16,
    security: Security,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    support: SupportContact,
    templates: InvitationTemplates,
    timeout: Duration,
    retry: RetryPolicy,
    transport_builder: smtp::AsyncSmtpTransportBuilder,
    transport: Mutex<Option<AsyncSmtpTransport<Tokio1Executor>>>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No credentials here: lettre's builder holds them, and it is left out.
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Starts configuring a mailer for the server at `host` (a name or an IP address).
    pub fn builder(host: impl Into<String>) -> SmtpMailerBuilder {
        SmtpMailerBuilder {
            host: host.into(),
            port: None,
            security: Security::StartTls,
            credentials: None,
            from: None,
            support: None,
            templates: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            pool_max_size: 4,
            pool_idle_timeout: Duration::from_secs(60),
            root_certificates: Vec::new(),
            hello_name: None,
        }
    }

    /// Builds the MIME message for an invitation: `multipart/alternative` with the text and
    /// HTML parts, and the `Message-ID` it carries.
    fn compose(&self, message: &InvitationMessage) -> Result<(Composed, MessageId), MailError> {
        let rendered = self.templates.render(message, &self.support)?;
        let to: Address = message
            .to
            .as_str()
            .parse()
            .map_err(|e| MailError::Refused(format!("recipient address: {e}")))?;
        let id = MessageId(format!("<{}@{}>", random_hex(), self.from.email.domain()));
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(rendered.subject)
            .message_id(Some(id.0.clone()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(rendered.text),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(rendered.html),
            );
        let email = builder
            .multipart(body)
            .map_err(|e| MailError::Misconfigured(format!("building the message: {e}")))?;
        let composed = Composed {
            envelope: email.envelope().clone(),
            bytes: email.formatted(),
        };
        Ok((composed, id))
    }

    /// The pooled transport, built on first use: lettre's pool spawns its clean-up task when
    /// built, so it must be built inside the runtime.
    fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        let mut slot = self.transport.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| self.transport_builder.clone().build())
            .clone()
    }

    /// Forgets the pool after a try was cut off mid-conversation: the connection it used may
    /// still be waiting for a reply, so it must never be reused. The old pool closes its
    /// connections once the last user lets go of it.
    fn discard_pool(&self) {
        self.transport
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    async fn try_once(&self, email: &Composed) -> Result<(), MailError> {
        let transport = self.transport();
        let send = transport.send_raw(&email.envelope, &email.bytes);
        let outcome = tokio::time::timeout(self.timeout, send).await;
        if outcome.is_err() {
            self.discard_pool();
        }
        match outcome {
            Ok(Ok(response)) => {
                tracing::debug!(
                    code = %response.code(),
                    reply = %response.message().collect::<Vec<_>>().join(" "),
                    "SMTP server accepted the message"
                );
                Ok(())
            }
            Ok(Err(error)) => Err(classify(&error)),
            Err(_) => Err(MailError::Transient(format!(
                "no answer from {}:{} within {:?}",
                self.host, self.port, self.timeout
            ))),
        }
    }
}

impl SmtpMailer {
    /// A plain-text message to the MSP's operators, from the invitations' sender.
    fn compose_plain(&self, message: &OperatorMessage) -> Result<(Composed, MessageId), MailError> {
        let id = MessageId(format!("<{}@{}>", random_hex(), self.from.email.domain()));
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(message.subject.clone())
            .message_id(Some(id.0.clone()));
        if message.to.is_empty() {
            return Err(MailError::Misconfigured("no operator to write to".into()));
        }
        for to in &message.to {
            let address: Address = to
                .as_str()
                .parse()
                .map_err(|e| MailError::Refused(format!("recipient address: {e}")))?;
            builder = builder.to(Mailbox::new(None, address));
        }
        let email = builder
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.text.clone()),
            )
            .map_err(|e| MailError::Misconfigured(format!("building the message: {e}")))?;
        let composed = Composed {
            envelope: email.envelope().clone(),
            bytes: email.formatted(),
        };
        Ok((composed, id))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send_to_operators(&self, message: &OperatorMessage) -> Result<MessageId, MailError> {
        let (email, id) = self.compose_plain(message)?;
        let mut failed = 0;
        loop {
            match self.try_once(&email).await {
                Ok(()) => return Ok(id),
                Err(MailError::Transient(_)) if failed + 1 < self.retry.attempts => {
                    failed += 1;
                    tokio::time::sleep(self.retry.delay(failed)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError> {
        let (email, id) = self.compose(message)?;
        let mut failed = 0;
        loop {
            match self.try_once(&email).await {
                Ok(()) => {
                    tracing::info!(
                        customer = %message.customer,
                        to = %message.to,
                        message_id = %id,
                        attempts = failed + 1,
                        "invitation email accepted by the SMTP server"
                    );
                    return Ok(id);
                }
                Err(MailError::Transient(reason)) if failed + 1 < self.retry.attempts => {
                    failed += 1;
                    let wait = self.retry.delay(failed);
                    tracing::warn!(
                        customer = %message.customer,
                        attempt = failed,
                        %reason,
                        ?wait,
                        "invitation email not accepted yet; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    tracing::warn!(
                        customer = %message.customer,
                        attempts = failed + 1,
                        %error,
                        "invitation email not sent"
                    );
                    return Err(match error {
                        MailError::Transient(reason) if failed > 0 => MailError::Transient(
                            format!("{reason} (after {} attempts)", failed + 1),
                        ),
                        other => other,
                    });
                }
            }
        }
    }
}

/// Maps lettre's SMTP error onto what the portal can act on.
fn classify(error: &smtp::Error) -> MailError {
    let text = error.to_string();
    if let Some(code) = error.status() {
        let code: u16 = code.to_string().parse().unwrap_or(0);
        if error.is_transient() {
            return MailError::Transient(text);
        }
        // 530 authentication required, 534 mechanism too weak, 535 bad credentials,
        // 538 encryption required; enhanced codes 5.7.8 (bad credentials), 5.1.7/5.1.8 (bad
        // sender address or domain).
        let sender_or_auth = [
            " 5.7.8", " 5.1.7", " 5.1.8", ": 5.7.8", ": 5.1.7", ": 5.1.8",
        ];
        if matches!(code, 530 | 534 | 535 | 538) || sender_or_auth.iter().any(|c| text.contains(c))
        {
            return MailError::Misconfigured(text);
        }
        return MailError::Refused(text);
    }
    if error.is_tls() || error.is_client() || is_tls_handshake_failure(error) {
        // Untrusted or mismatched certificate, no STARTTLS, TLS spoken to a plain port (or the
        // reverse), no common authentication mechanism: retrying will not help.
        return MailError::Misconfigured(text);
    }
    // Connection refused or dropped, timeouts, garbled answers, pool shut down.
    MailError::Transient(text)
}

/// Whether the connection failed because the TLS handshake did: rustls reports every
/// handshake failure (bad certificate, garbled record) as an I/O error of kind `InvalidData`,
/// whereas a dropped or refused connection has another kind.
fn is_tls_handshake_failure(error: &smtp::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::InvalidData;
        }
        source = e.source();
    }
    false
}

/// A message ready for the wire.
struct Composed {
    envelope: lettre::address::Envelope,
    bytes: Vec<u8>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(host: &str) -> SmtpMailerBuilder {
        SmtpMailer::builder(host).from("invitations@msp.example", Some("Northwind IT"))
    }

    #[test]
    fn plain_only_to_loopback() {
        for host in [
            "127.0.0.1",
            "localhost",
            "::1",
            "[::1]",
            "127.0.0.53",
            "a.localhost",
        ] {
            assert!(
                builder(host).security(Security::Plain).build().is_ok(),
                "{host}"
            );
        }
        for host in [
            "smtp.example.com",
            "10.0.0.1",
            "192.168.1.5",
            "localhost.evil.com",
        ] {
            assert_eq!(
                builder(host).security(Security::Plain).build().unwrap_err(),
                SmtpConfigError::PlainNotLoopback(host.to_owned())
            );
            assert!(builder(host).build().is_ok(), "{host}");
        }
        assert!(builder("smtp.example.com").build().is_ok());
        assert!(
            builder("smtp.example.com")
                .security(Security::Tls)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn config_errors_are_typed() {
        assert_eq!(
            SmtpMailer::builder("smtp.example.com").build().unwrap_err(),
            SmtpConfigError::MissingFrom
        );
        assert!(matches!(
            SmtpMailer::builder("smtp.example.com")
                .from("not-an-address", None)
                .build(),
            Err(SmtpConfigError::Address(_))
        ));
        assert!(matches!(
            builder("smtp.example.com")
                .from("a@msp.example", Some("MSP\r\nBcc: victim@example.com"))
                .build(),
            Err(SmtpConfigError::Name { .. })
        ));
        assert!(matches!(builder("").build(), Err(SmtpConfigError::Host(_))));
        for host in ["smtp example.com", "smtp.example.com\r\nRCPT", "a/b", "a@b"] {
            assert!(
                matches!(builder(host).build(), Err(SmtpConfigError::Host(_))),
                "{host:?}"
            );
        }
        assert_eq!(
            builder("smtp.example.com")
                .hello_name("portal.example\r\nRCPT TO:<x@evil.example>")
                .build()
                .unwrap_err(),
            SmtpConfigError::HelloName("portal.example\r\nRCPT TO:<x@evil.example>".into())
        );
        assert!(
            builder("smtp.example.com")
                .hello_name("portal.example")
                .build()
                .is_ok()
        );
        assert_eq!(
            builder("smtp.example.com")
                .timeout(Duration::ZERO)
                .build()
                .unwrap_err(),
            SmtpConfigError::NotPositive("the SMTP timeout")
        );
        assert_eq!(
            builder("smtp.example.com")
                .retry(RetryPolicy {
                    attempts: 0,
                    ..RetryPolicy::default()
                })
                .build()
                .unwrap_err(),
            SmtpConfigError::NotPositive("the number of SMTP attempts")
        );
        assert!(matches!(
            builder("smtp.example.com")
                .add_root_certificate_pem("not a pem")
                .build(),
            Err(SmtpConfigError::Tls(_))
        ));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 6,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        let waits: Vec<_> = (1..=4).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
        assert_eq!(RetryPolicy::none().attempts, 1);
    }

    #[test]
    fn debug_shows_no_credentials() {
        let mailer = builder("smtp.example.com")
            .credentials("user", Password::new("hunter2-secret"))
            .build()
            .unwrap();
        let printed = format!("{mailer:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("smtp.example.com"));
    }
}
