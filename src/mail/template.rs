//! The invitation email's text: a subject, a plain-text part and an HTML part, rendered from
//! [minijinja](https://docs.rs/minijinja) templates the integrator can replace.
//!
//! # Variables
//!
//! Every template sees the same variables:
//!
//! | variable             | value |
//! |----------------------|-------|
//! | `msp_name`           | the MSP's name ([`Config::msp_name`](crate::Config::msp_name)) |
//! | `link`               | the invitation link (the only secret in the message) |
//! | `expires_at`         | when the link stops working, e.g. `30 November 2026, 23:10 UTC` |
//! | `expires_at_rfc3339` | the same moment as RFC 3339, e.g. `2026-11-30T23:10:00Z` |
//! | `customer`           | the MSP's id for the customer |
//! | `tenant`             | the customer's tenant (GUID or domain) |
//! | `recipient`          | the recipient's address |
//! | `support_name`       | the support contact's name |
//! | `support_email`      | the support contact's address, or none |
//!
//! The HTML template is rendered with HTML auto-escaping, so every value (the customer id,
//! the MSP name, the addresses, even the link) arrives escaped; the subject and the text part
//! are not HTML and are not escaped. The HTML escaping covers `&`, `<`, `>`, `"` and `'`
//! (enough for element text and quoted attribute values; always quote attributes). Undefined variables are errors, and [`InvitationTemplates::new`]
//! renders every template once with sample values, so a typo fails when the mailer is built,
//! not when the first customer is invited.

use std::fmt;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::smtp_error::SmtpConfigError;
use crate::error::MailError;
use crate::model::EmailAddress;
use crate::ports::InvitationMessage;

const SUBJECT: &str = "invitation.subject";
const TEXT: &str = "invitation.txt";
const HTML: &str = "invitation.html";

/// The built-in subject template.
pub const DEFAULT_SUBJECT: &str = include_str!("templates/invitation.subject.txt");
/// The built-in plain-text template.
pub const DEFAULT_TEXT: &str = include_str!("templates/invitation.txt");
/// The built-in HTML template.
pub const DEFAULT_HTML: &str = include_str!("templates/invitation.html");

/// Who customers can ask about the invitation: a name, and an address if there is one.
///
/// ```
/// use tenant_access::mail::SupportContact;
/// let support = SupportContact::new("Northwind IT service desk", Some("help@northwind.example"))?;
/// assert_eq!(support.name(), "Northwind IT service desk");
/// assert!(SupportContact::new("Evil\r\nBcc: x@evil.example", None).is_err());
/// # Ok::<(), tenant_access::mail::SmtpConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportContact {
    name: String,
    email: Option<EmailAddress>,
}

impl SupportContact {
    /// Checks and wraps a contact. The name must be 1 to 200 characters without control
    /// characters (no CR/LF); the address must be a valid [`EmailAddress`].
    pub fn new(name: impl Into<String>, email: Option<&str>) -> Result<Self, SmtpConfigError> {
        let name = name.into();
        check_name("support contact name", &name)?;
        let email = email
            .map(|e| EmailAddress::new(e).map_err(|e| SmtpConfigError::Address(e.to_string())))
            .transpose()?;
        Ok(Self { name, email })
    }

    /// The contact's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contact's address, if any.
    pub fn email(&self) -> Option<&EmailAddress> {
        self.email.as_ref()
    }
}

/// Refuses names that could break a header or a line: empty, too long, or holding control
/// characters (CR and LF among them).
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), SmtpConfigError> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(SmtpConfigError::Name {
            what,
            problem: "must be 1 to 200 characters",
        });
    }
    if name.chars().any(char::is_control) {
        return Err(SmtpConfigError::Name {
            what,
            problem: "must not contain control characters (CR, LF, tab, ...)",
        });
    }
    Ok(())
}

/// An invitation rendered to text: what goes into the email.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedInvitation {
    /// The subject line (one line, no control characters).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

impl fmt::Debug for RenderedInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The parts hold the link, which is a secret.
        f.debug_struct("RenderedInvitation")
            .field("subject", &self.subject)
            .field("text", &"[REDACTED]")
            .field("html", &"[REDACTED]")
            .finish()
    }
}

/// The three templates of the invitation email (subject, plain text, HTML).
///
/// [`Default`] gives the built-in English templates; [`new`](Self::new) takes your own. See
/// the [module documentation](self) for the variables.
///
/// ```
/// use tenant_access::mail::InvitationTemplates;
/// let templates = InvitationTemplates::new(
///     "{{ msp_name }} needs your consent",
///     "Open {{ link }} before {{ expires_at }}. Help: {{ support_name }}",
///     "<p><a href=\"{{ link }}\">Open</a> before {{ expires_at }}. Help: {{ support_name }}</p>",
/// )?;
/// // A misspelt variable is caught here, not when the first customer is invited.
/// assert!(InvitationTemplates::new("{{ msp_nmae }}", "x", "y").is_err());
/// # Ok::<(), tenant_access::mail::SmtpConfigError>(())
/// ```
pub struct InvitationTemplates {
    env: Environment<'static>,
}

impl fmt::Debug for InvitationTemplates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvitationTemplates")
            .finish_non_exhaustive()
    }
}

impl Default for InvitationTemplates {
    fn default() -> Self {
        Self::new(DEFAULT_SUBJECT, DEFAULT_TEXT, DEFAULT_HTML)
            .expect("the built-in templates are valid")
    }
}

impl InvitationTemplates {
    /// Compiles your own templates and renders each once with sample values, so syntax errors
    /// and unknown variables are reported now, as [`SmtpConfigError::Template`].
    pub fn new(
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
    ) -> Result<Self, SmtpConfigError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name == HTML {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
                out.write_str(&crate::html::escape_html(&value.to_string()))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        for (name, source) in [
            (SUBJECT, subject.into()),
            (TEXT, text.into()),
            (HTML, html.into()),
        ] {
            env.add_template_owned(name, source)
                .map_err(|e| template_error(name, &e))?;
        }
        let templates = Self { env };
        let sample = Sample::new();
        templates
            .render_with(&sample.message, &sample.support)
            .map_err(|e| SmtpConfigError::Template(e.to_string()))?;
        Ok(templates)
    }

    /// Renders the invitation. Fails with [`MailError::Misconfigured`] if a template fails or
    /// the subject would not be a single clean header line (e.g. an MSP name with a line
    /// break).
    pub fn render(
        &self,
        message: &InvitationMessage,
        support: &SupportContact,
    ) -> Result<RenderedInvitation, MailError> {
        self.render_with(message, support)
    }

    fn render_with(
        &self,
        message: &InvitationMessage,
        support: &SupportContact,
    ) -> Result<RenderedInvitation, MailError> {
        check_name("MSP name (Config::msp_name)", &message.msp_name)
            .map_err(|e| MailError::Misconfigured(e.to_string()))?;
        let ctx = context! {
            msp_name => &message.msp_name,
            link => message.link.expose_secret(),
            expires_at => human_time(message.expires_at),
            expires_at_rfc3339 => message
                .expires_at
                .to_offset(time::UtcOffset::UTC)
                .format(&Rfc3339)
                .unwrap_or_default(),
            customer => message.customer.as_str(),
            tenant => message.tenant.as_str(),
            recipient => message.to.as_str(),
            support_name => support.name(),
            support_email => support.email().map(EmailAddress::as_str),
        };
        let render = |name: &'static str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| MailError::Misconfigured(template_error(name, &e).to_string()))
        };
        let subject = render(SUBJECT)?.trim().to_owned();
        if subject.is_empty() || subject.chars().any(char::is_control) {
            return Err(MailError::Misconfigured(
                "the rendered subject is empty or holds control characters (CR, LF, ...)".into(),
            ));
        }
        Ok(RenderedInvitation {
            subject,
            text: render(TEXT)?,
            html: render(HTML)?,
        })
    }
}

fn template_error(name: &str, error: &minijinja::Error) -> SmtpConfigError {
    SmtpConfigError::Template(format!("{name}: {error}"))
}

/// `30 November 2026, 23:10 UTC`.
fn human_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
        ))
        .unwrap_or_else(|_| at.to_string())
}

/// Values for the trial render in [`InvitationTemplates::new`].
struct Sample {
    message: InvitationMessage,
    support: SupportContact,
}

impl Sample {
    fn new() -> Self {
        use crate::model::InvitationCode;
        use crate::model::InvitationLink;
        use crate::model::{CustomerId, TenantId};
        let code = InvitationCode::from_received("sample");
        Self {
            message: InvitationMessage {
                customer: CustomerId::new("sample").expect("valid"),
                tenant: TenantId::new("sample.onmicrosoft.com").expect("valid"),
                to: EmailAddress::new("admin@sample.example").expect("valid"),
                link: InvitationLink::new("https://portal.example/invitation/sample".to_owned()),
                code,
                expires_at: OffsetDateTime::UNIX_EPOCH,
                msp_name: "Sample MSP".to_owned(),
            },
            support: SupportContact {
                name: "Sample support".to_owned(),
                email: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_templates_render_every_fact() {
        let mut sample = Sample::new();
        sample.message.expires_at = time::macros::datetime!(2026-11-30 23:10 UTC);
        sample.support = SupportContact::new("Desk", Some("help@msp.example")).unwrap();
        let r = InvitationTemplates::default()
            .render(&sample.message, &sample.support)
            .unwrap();
        assert_eq!(r.subject, "Sample MSP: connect your Microsoft 365 tenant");
        for part in [&r.text, &r.html] {
            assert!(part.contains("Sample MSP"));
            assert!(part.contains("30 November 2026, 23:10 UTC"));
            assert!(part.contains("sample.onmicrosoft.com"));
            assert!(part.contains("help@msp.example"));
            assert!(part.contains("Desk"));
        }
        assert!(
            r.text
                .contains("\nhttps://portal.example/invitation/sample\n")
        );
        assert!(
            r.html
                .contains("href=\"https://portal.example/invitation/sample\"")
        );
        assert!(!format!("{r:?}").contains("invitation/sample"));
    }

    #[test]
    fn html_escapes_and_text_does_not() {
        let mut sample = Sample::new();
        sample.message.msp_name = "<b>A&B</b>".into();
        sample.message.customer = crate::model::CustomerId::new("<script>x</script>").unwrap();
        let r = InvitationTemplates::default()
            .render(&sample.message, &sample.support)
            .unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(!r.html.contains("<b>A&B"));
        assert!(r.html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(r.html.contains("&lt;b&gt;A&amp;B&lt;/b&gt;"));
        assert!(r.text.contains("<script>x</script>"));
    }

    #[test]
    fn bad_templates_and_names_are_refused() {
        assert!(matches!(
            InvitationTemplates::new("{{ msp_name }", "x", "y"),
            Err(SmtpConfigError::Template(_))
        ));
        assert!(matches!(
            InvitationTemplates::new("s", "{{ secret_code }}", "y"),
            Err(SmtpConfigError::Template(_))
        ));
        let mut sample = Sample::new();
        sample.message.msp_name = "MSP\r\nBcc: victim@example.com".into();
        assert!(matches!(
            InvitationTemplates::default().render(&sample.message, &sample.support),
            Err(MailError::Misconfigured(_))
        ));
        // A subject template that produces a line break on its own is caught too.
        let t = InvitationTemplates::new("a{{ '\\n' }}b", "x", "y");
        assert!(matches!(t, Err(SmtpConfigError::Template(_))), "{t:?}");
        assert!(SupportContact::new("", None).is_err());
        assert!(SupportContact::new("Desk\n", None).is_err());
        assert!(SupportContact::new("Desk", Some("not an address")).is_err());
    }
}
