//! The SMTP mailer against a real SMTP server (aiosmtpd, started by the tests on 127.0.0.1),
//! driven through the real engine with the mock provider, the memory store and a manual clock.
//!
//! Needs `python3 -m pip install 'aiosmtpd==1.4.6'`; without it these tests fail and say so.

mod smtp_support;

use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};
use smtp_support::SmtpServer;
use tenant_access::error::{InputError, MailError};
use tenant_access::journey::StageKind;
use tenant_access::mail::{InvitationMessage, Mailer, MessageId};
use tenant_access::mail::{
    InvitationTemplates, RetryPolicy, Security, SmtpConfigError, SmtpMailer, SmtpMailerBuilder,
    SupportContact,
};
use tenant_access::model::Password;
use tenant_access::ops::StatusRow;
use tenant_access::store::{Filter, MemoryStore};
use tenant_access::testing::mock::MockProvider;
use tenant_access::{Action, AnyOnboarding, Config, CustomerId, Error, NewCustomer, TenantAccess};
use tenant_access::{ports::Clock, testing::ManualClock};
use time::macros::datetime;

const MSP: &str = "Northwind IT";

/// A mailer for `server`: plain SMTP on loopback, tiny retry delays.
fn mailer(server: &SmtpServer) -> SmtpMailerBuilder {
    SmtpMailer::builder("127.0.0.1")
        .port(server.port)
        .security(Security::Plain)
        .from("invitations@northwind.example", Some(MSP))
        .support_contact(
            SupportContact::new("Northwind service desk", Some("help@northwind.example")).unwrap(),
        )
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy {
            attempts: 3,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        })
}

fn engine_with(mailer: SmtpMailer, msp_name: &str) -> (TenantAccess, ManualClock) {
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .msp_name(msp_name)
                .invitation_lifetime(std::time::Duration::from_secs(3 * 86_400))
                .build()
                .unwrap(),
        )
        .store(MemoryStore::new())
        .mailer(mailer)
        .provider(MockProvider::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    (ta, clock)
}

fn engine(mailer: SmtpMailer) -> (TenantAccess, ManualClock) {
    engine_with(mailer, MSP)
}

fn contoso() -> NewCustomer {
    NewCustomer::new("contoso", "contoso.onmicrosoft.com", "admin@contoso.com").unwrap()
}

/// Reverses the templates' HTML escaping.
fn html_unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The received message, parsed: (text part, HTML part, header block).
struct Received {
    raw: Vec<u8>,
}

impl Received {
    fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(&self.raw)
            .expect("a parsable MIME message")
    }

    fn header_block(&self) -> String {
        let raw = String::from_utf8_lossy(&self.raw);
        raw.split("\r\n\r\n").next().unwrap().to_owned()
    }

    /// The decoded text/plain and text/html parts; panics unless there is exactly one of each.
    fn parts(&self) -> (String, String) {
        let message = self.parsed();
        let of = |sub: &str| {
            let found: Vec<String> = message
                .parts
                .iter()
                .filter(|p| p.is_content_type("text", sub))
                .map(|p| p.text_contents().expect("a text part").to_owned())
                .collect();
            assert_eq!(found.len(), 1, "one text/{sub} part");
            found.into_iter().next().unwrap()
        };
        (of("plain"), of("html"))
    }
}

fn stored_customer(
    ta: &TenantAccess,
    id: &str,
) -> impl std::future::Future<Output = AnyOnboarding> {
    let ta = ta.clone();
    let id = CustomerId::new(id).unwrap();
    async move { ta.load(&id).await.unwrap() }
}

#[tokio::test]
async fn accepted_invitation_is_a_multipart_email_with_the_link_and_is_tracked() {
    let server = SmtpServer::start("accept", &[]);
    let (ta, clock) = engine(mailer(&server).build().unwrap());

    let sent = ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    assert_eq!(sent.kind(), StageKind::InvitationSent);

    // The server has the message, for the right envelope.
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let envelope = server.envelope(1);
    assert!(
        envelope.contains("\"mail_from\": \"invitations@northwind.example\""),
        "{envelope}"
    );
    assert!(
        envelope.contains("\"rcpt_tos\": [\"admin@contoso.com\"]"),
        "{envelope}"
    );
    let received = Received {
        raw: messages[0].clone(),
    };
    let message = received.parsed();

    // Headers.
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some(MSP));
    assert_eq!(from.address(), Some("invitations@northwind.example"));
    let to: Vec<_> = message.to().unwrap().iter().collect();
    assert_eq!(to.len(), 1);
    assert_eq!(to[0].address(), Some("admin@contoso.com"));
    let reply_to = message.reply_to().unwrap().first().unwrap();
    assert_eq!(reply_to.address(), Some("help@northwind.example"));
    assert_eq!(
        message.subject(),
        Some("Northwind IT: connect your Microsoft 365 tenant")
    );
    assert!(message.date().is_some());
    assert!(message.bcc().is_none() && message.header_raw("Cc").is_none());
    let content_type = message.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );

    // The delivery kept by the engine is this message's id, accepted now.
    let delivery = sent
        .customer()
        .invitation
        .as_ref()
        .unwrap()
        .delivery
        .clone()
        .unwrap();
    assert_eq!(
        delivery.message_id.0,
        format!("<{}>", message.message_id().unwrap())
    );
    assert!(delivery.message_id.0.ends_with("@northwind.example>"));
    assert_eq!(delivery.sent_at, clock.now());

    // Both parts: the link, the expiry, the MSP and the support contact.
    let (text, html) = received.parts();
    let link = text
        .lines()
        .find(|l| l.starts_with("https://portal.example.com/invitation/"))
        .expect("the link on a line of its own")
        .trim()
        .to_owned();
    let code = link.rsplit('/').next().unwrap().to_owned();
    assert_eq!(code.len(), 43);
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    let html_plain = html_unescape(&html);
    for part in [&text, &html_plain] {
        assert!(part.contains("26 November 2026, 10:00 UTC"), "{part}");
        assert!(part.contains(MSP));
        assert!(part.contains("Northwind service desk"));
        assert!(part.contains("help@northwind.example"));
        assert!(part.contains("contoso.onmicrosoft.com"));
    }
    // The link is the only secret, and it is in the bodies only, never in a header.
    assert!(!received.header_block().contains(&code));

    // The emailed link opens the journey.
    let AnyOnboarding::InvitationSent(opened) = ta.open_invitation(&code).await.unwrap() else {
        panic!("the link should open the sent invitation");
    };
    assert_eq!(opened.id().as_str(), "contoso");

    // The status report says the email went out.
    let rows = ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].email_sent);
    assert_eq!(rows[0].last_error, None);
    assert_eq!(email_sent_cell(&rows), "yes");
}

/// The "email sent" cell of the first row of the status table.
fn email_sent_cell(rows: &[StatusRow]) -> String {
    let table = StatusRow::table(rows);
    let mut lines = table.lines();
    let header: Vec<&str> = columns(lines.next().unwrap());
    let row: Vec<&str> = columns(lines.next().unwrap());
    let at = header.iter().position(|h| *h == "email sent").unwrap();
    row[at].to_owned()
}

/// Splits a table line on runs of two or more spaces.
fn columns(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[tokio::test]
async fn pooled_connection_carries_several_invitations() {
    let server = SmtpServer::start("accept", &[]);
    let (ta, _) = engine(mailer(&server).build().unwrap());
    for (id, email) in [("a", "admin@a.example"), ("b", "admin@b.example")] {
        let new = NewCustomer::new(id, format!("{id}.onmicrosoft.com"), email).unwrap();
        ta.invite(new).await.unwrap().send(&ta).await.unwrap();
        // lettre hands a used connection back to the pool in a task of its own: let it run.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.messages().len(), 2);
    assert_eq!(server.count("connect"), 1, "{:?}", server.events());
}

/// Sends to a server that will not take the message and checks the journey stays unsent,
/// with the SMTP error recorded. Returns the error.
async fn failed_send(ta: &TenantAccess) -> Error {
    let rejected = ta
        .invite(contoso())
        .await
        .unwrap()
        .send(ta)
        .await
        .unwrap_err();
    assert_eq!(rejected.onboarding().kind(), StageKind::Invited);
    let (_, error) = rejected.into_parts();

    let stored = stored_customer(ta, "contoso").await;
    assert_eq!(stored.kind(), StageKind::Invited);
    let customer = stored.customer();
    assert!(
        customer
            .invitation
            .as_ref()
            .is_none_or(|i| i.delivery.is_none())
    );
    assert_eq!(customer.last_error.as_deref(), Some(&*error.to_string()));

    let rows = ta.status_report(&Filter::all()).await.unwrap();
    assert!(!rows[0].email_sent);
    assert_eq!(email_sent_cell(&rows), "no");
    assert_eq!(rows[0].last_error.as_deref(), Some(&*error.to_string()));
    error
}

#[tokio::test]
async fn refused_recipient_leaves_the_invitation_unsent() {
    let server = SmtpServer::start("refuse", &[]);
    let (ta, _) = engine(mailer(&server).build().unwrap());
    let error = failed_send(&ta).await;
    let Error::Mail(MailError::Refused(reason)) = &error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(reason.contains("550"), "{reason}");
    assert!(reason.contains("mailbox unavailable"), "{reason}");
    assert_eq!(error.action(), Action::FixInput);
    // A permanent refusal is not retried.
    assert_eq!(server.count("rcpt"), 1);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn refused_sender_is_a_configuration_error() {
    let server = SmtpServer::start("bad-sender", &[]);
    let (ta, _) = engine(mailer(&server).build().unwrap());
    let error = failed_send(&ta).await;
    assert!(
        matches!(&error, Error::Mail(MailError::Misconfigured(r)) if r.contains("553")),
        "{error:?}"
    );
    assert_eq!(error.action(), Action::FixConfiguration);
    assert_eq!(server.count("mail"), 1);
}

#[tokio::test]
async fn dropped_connection_is_retried_a_bounded_number_of_times() {
    let server = SmtpServer::start("drop", &[]);
    let (ta, _) = engine(mailer(&server).build().unwrap());
    let error = failed_send(&ta).await;
    assert!(
        matches!(&error, Error::Mail(MailError::Transient(r)) if r.contains("after 3 attempts")),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(server.count("connect"), 3);
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = SmtpServer::start("hang", &[]);
    let mailer = mailer(&server)
        .timeout(Duration::from_millis(300))
        .retry(RetryPolicy {
            attempts: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        })
        .build()
        .unwrap();
    let (ta, _) = engine(mailer);
    let started = Instant::now();
    let error = failed_send(&ta).await;
    let took = started.elapsed();
    assert!(
        matches!(&error, Error::Mail(MailError::Transient(r)) if r.contains("no answer")),
        "{error:?}"
    );
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(server.count("connect"), 2);
}

#[tokio::test]
async fn temporary_failures_are_retried_until_accepted() {
    let server = SmtpServer::start("tempfail", &["--fail", "2"]);
    let (ta, _) = engine(mailer(&server).build().unwrap());
    let sent = ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    assert_eq!(sent.kind(), StageKind::InvitationSent);
    assert_eq!(server.count("data"), 3);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_failed_send_can_be_sent_again() {
    let server = SmtpServer::start("tempfail", &["--fail", "1"]);
    let (ta, clock) = engine(mailer(&server).retry(RetryPolicy::none()).build().unwrap());
    let rejected = ta
        .invite(contoso())
        .await
        .unwrap()
        .send(&ta)
        .await
        .unwrap_err();
    assert!(
        matches!(rejected.error(), Error::Mail(MailError::Transient(r)) if r.contains("451")),
        "{:?}",
        rejected.error()
    );
    let invited = rejected.into_onboarding();
    assert!(invited.customer().last_error.is_some());

    clock.advance(std::time::Duration::from_secs(5 * 60));
    let sent = invited.send(&ta).await.unwrap();
    assert_eq!(sent.customer().last_error, None);
    let delivery = sent
        .customer()
        .invitation
        .clone()
        .unwrap()
        .delivery
        .unwrap();
    assert_eq!(delivery.sent_at, clock.now());
    assert_eq!(server.messages().len(), 1);
    assert!(ta.status_report(&Filter::all()).await.unwrap()[0].email_sent);
}

#[tokio::test]
async fn authentication_is_used_and_a_bad_password_is_a_configuration_error() {
    let server = SmtpServer::start("accept", &["--auth", "portal:s3cret-pass"]);

    let good = mailer(&server)
        .credentials("portal", Password::new("s3cret-pass"))
        .build()
        .unwrap();
    let (ta, _) = engine(good);
    ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    assert_eq!(server.count("auth-ok"), 1);
    assert_eq!(server.messages().len(), 1);

    let bad = mailer(&server)
        .credentials("portal", Password::new("wrong"))
        .build()
        .unwrap();
    let (ta, _) = engine(bad);
    let error = failed_send(&ta).await;
    assert!(
        matches!(&error, Error::Mail(MailError::Misconfigured(r)) if r.contains("535")),
        "{error:?}"
    );
    assert!(!error.to_string().contains("wrong"));
    assert_eq!(error.action(), Action::FixConfiguration);
    assert_eq!(server.messages().len(), 1);

    // No credentials at all: the server wants AUTH before MAIL.
    let (ta, _) = engine(mailer(&server).build().unwrap());
    let error = failed_send(&ta).await;
    assert_eq!(error.action(), Action::FixConfiguration, "{error:?}");
}

#[tokio::test]
async fn customer_and_msp_values_arrive_escaped_in_html() {
    let server = SmtpServer::start("accept", &[]);
    let hostile_msp = "<b>Evil & Co</b> \"quoted\" 'single' \u{dc}n\u{ef}c\u{f8}d\u{e9} \u{2014}";
    let mailer = mailer(&server)
        .from(
            "invitations@northwind.example",
            Some("Northwind <IT> & \"Co\""),
        )
        .support_contact(
            SupportContact::new(
                "<img src=x onerror=alert(1)>",
                Some("help@northwind.example"),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let (ta, _) = engine_with(mailer, hostile_msp);
    let new = NewCustomer::new(
        "<script>alert('id')</script> & co",
        "contoso.onmicrosoft.com",
        "o'brien&co+it@contoso.com",
    )
    .unwrap();
    ta.invite(new).await.unwrap().send(&ta).await.unwrap();

    let received = Received {
        raw: server.messages().remove(0),
    };
    let message = received.parsed();
    let (text, html) = received.parts();

    // No markup from any supplied value survives in the HTML part...
    for raw in ["<script", "<b>", "<img", "& co", "Evil & Co", "o'brien&co"] {
        assert!(!html.contains(raw), "{raw:?} unescaped in {html}");
    }
    for escaped in [
        "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt; &amp; co",
        "&lt;b&gt;Evil &amp; Co&lt;/b&gt; &quot;quoted&quot; &#x27;single&#x27;",
        "&lt;img src=x onerror=alert(1)&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped:?} missing from {html}");
    }
    // ...while the text part and the headers carry them verbatim.
    assert!(text.contains("<script>alert('id')</script> & co"));
    assert!(text.contains(hostile_msp));
    assert_eq!(
        message.subject().unwrap(),
        format!("{hostile_msp}: connect your Microsoft 365 tenant")
    );
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Northwind <IT> & \"Co\""));
    assert_eq!(from.address(), Some("invitations@northwind.example"));
    let to: Vec<_> = message.to().unwrap().iter().collect();
    assert_eq!(to.len(), 1);
    assert_eq!(to[0].address(), Some("o'brien&co+it@contoso.com"));
    assert!(server.envelope(1).contains("o'brien&co+it@contoso.com"));
}

#[tokio::test]
async fn line_breaks_never_reach_a_header() {
    // Customer-supplied values with CR/LF are refused before anything is stored.
    let injected = "contoso\r\nBcc: victim@evil.example";
    assert!(matches!(
        NewCustomer::new(injected, "contoso.onmicrosoft.com", "admin@contoso.com"),
        Err(InputError::CustomerId(_))
    ));
    assert!(matches!(
        NewCustomer::new("contoso", injected, "admin@contoso.com"),
        Err(InputError::Tenant(_))
    ));
    for email in [
        "admin@contoso.com\r\nBcc: victim@evil.example",
        "admin@contoso.com\nBcc: victim@evil.example",
        "admin@contoso.com>, victim@evil.example",
    ] {
        assert!(
            matches!(
                NewCustomer::new("contoso", "contoso.onmicrosoft.com", email),
                Err(InputError::Email(_))
            ),
            "{email:?}"
        );
    }

    // Mailer configuration with CR/LF is refused when the mailer is built.
    let server = SmtpServer::start("accept", &[]);
    assert!(matches!(
        mailer(&server)
            .from(
                "invitations@northwind.example",
                Some("MSP\r\nBcc: victim@evil.example")
            )
            .build(),
        Err(SmtpConfigError::Name { .. })
    ));
    assert!(matches!(
        SupportContact::new("Desk\r\nBcc: victim@evil.example", None),
        Err(SmtpConfigError::Name { .. })
    ));
    assert!(matches!(
        mailer(&server)
            .from(
                "invitations@northwind.example\r\nBcc: victim@evil.example",
                None
            )
            .build(),
        Err(SmtpConfigError::Address(_))
    ));

    // An MSP name with CR/LF (it goes into the subject) fails the send, typed, and nothing is
    // submitted to the server.
    let (ta, _) = engine_with(
        mailer(&server).build().unwrap(),
        "Northwind\r\nBcc: victim@evil.example",
    );
    let error = failed_send(&ta).await;
    assert!(
        matches!(&error, Error::Mail(MailError::Misconfigured(r)) if r.contains("MSP name")),
        "{error:?}"
    );
    assert!(server.events().is_empty(), "{:?}", server.events());
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn bad_addresses_are_refused_before_anything_is_stored() {
    let (ta, _) = engine(
        SmtpMailer::builder("127.0.0.1")
            .security(Security::Plain)
            .from("invitations@northwind.example", None)
            .build()
            .unwrap(),
    );
    for email in [
        "admin..x@contoso.com",
        "\"quoted\"@contoso.com",
        "admin(x)@contoso.com",
        "admin@contoso",
        "admin@-contoso.com",
        "j\u{f6}rg@contoso.com",
    ] {
        let result = NewCustomer::new("contoso", "contoso.onmicrosoft.com", email);
        assert!(matches!(result, Err(InputError::Email(_))), "{email:?}");
    }
    assert!(ta.status_report(&Filter::all()).await.unwrap().is_empty());
}

#[tokio::test]
async fn replaced_templates_are_used() {
    let server = SmtpServer::start("accept", &[]);
    let templates = InvitationTemplates::new(
        "Action needed for {{ tenant }}",
        "Go to {{ link }} (until {{ expires_at_rfc3339 }}) -- {{ msp_name }}",
        "<p>Go <a href=\"{{ link }}\">here</a> -- {{ recipient }}</p>",
    )
    .unwrap();
    let (ta, _) = engine(mailer(&server).templates(templates).build().unwrap());
    ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    let received = Received {
        raw: server.messages().remove(0),
    };
    assert_eq!(
        received.parsed().subject(),
        Some("Action needed for contoso.onmicrosoft.com")
    );
    let (text, html) = received.parts();
    assert!(
        text.starts_with("Go to https://portal.example.com/invitation/"),
        "{text}"
    );
    assert!(text.ends_with("(until 2026-11-26T10:00:00Z) -- Northwind IT"));
    assert!(html.contains("admin@contoso.com"));
    assert!(html_unescape(&html).contains("href=\"https://portal.example.com/invitation/"));
}

/// A server speaking TLS (`starttls` or `implicit`) with a certificate from a private CA.
fn tls_server(tls: &str) -> (SmtpServer, String) {
    let (ca, dir) = smtp_support::test_pki();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let server = SmtpServer::start(
        "accept",
        &[
            "--tls",
            tls,
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    (server, ca)
}

fn tls_mailer(server: &SmtpServer, security: Security) -> SmtpMailerBuilder {
    mailer(server)
        .security(security)
        .retry(RetryPolicy::none())
        .hello_name("portal.test")
}

#[tokio::test]
async fn starttls_with_a_trusted_certificate_delivers() {
    let (server, ca) = tls_server("starttls");
    let mailer = tls_mailer(&server, Security::StartTls)
        .add_root_certificate_pem(ca)
        .build()
        .unwrap();
    let (ta, _) = engine(mailer);
    let sent = ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    assert_eq!(sent.kind(), StageKind::InvitationSent);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn implicit_tls_with_a_trusted_certificate_delivers() {
    let (server, ca) = tls_server("implicit");
    let mailer = tls_mailer(&server, Security::Tls)
        .add_root_certificate_pem(ca)
        .build()
        .unwrap();
    let (ta, _) = engine(mailer);
    ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn untrusted_certificate_is_a_configuration_error() {
    let (server, _ca) = tls_server("starttls");
    // Only the public roots: the private CA is unknown, so the handshake must fail.
    let (ta, _) = engine(tls_mailer(&server, Security::StartTls).build().unwrap());
    let error = failed_send(&ta).await;
    assert!(
        matches!(&error, Error::Mail(MailError::Misconfigured(r)) if r.contains("UnknownIssuer")),
        "{error:?}"
    );
    assert_eq!(error.action(), Action::FixConfiguration);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn starttls_is_required_when_asked_for() {
    // A server that does not offer STARTTLS: the mailer must not fall back to plain text.
    let server = SmtpServer::start("accept", &[]);
    let (ta, _) = engine(tls_mailer(&server, Security::StartTls).build().unwrap());
    let error = failed_send(&ta).await;
    assert!(
        matches!(&error, Error::Mail(MailError::Misconfigured(r)) if r.contains("STARTTLS")),
        "{error:?}"
    );
    assert_eq!(server.count("mail"), 0);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_refused_resend_keeps_the_previous_link_and_records_the_error() {
    let good = SmtpServer::start("accept", &[]);
    let refusing = SmtpServer::start("refuse", &[]);
    let store = MemoryStore::new();
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let engine = |server: &SmtpServer| {
        TenantAccess::builder()
            .config(
                Config::builder("https://portal.example.com")
                    .msp_name(MSP)
                    .build()
                    .unwrap(),
            )
            .store(store.clone())
            .mailer(mailer(server).build().unwrap())
            .provider(MockProvider::new())
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let (ta, ta_refused) = (engine(&good), engine(&refusing));

    let sent = ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    let first = sent.customer().invitation.clone().unwrap();
    let raw = good.messages().remove(0);
    let (text, _) = Received { raw }.parts();
    let code = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("https://portal.example.com/invitation/")
        })
        .unwrap()
        .to_owned();

    clock.advance(std::time::Duration::from_secs(3600));
    let rejected = sent.resend(&ta_refused).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Mail(MailError::Refused(_))
    ));
    let stored = stored_customer(&ta, "contoso").await;
    assert_eq!(stored.kind(), StageKind::InvitationSent);
    let customer = stored.customer();
    assert_eq!(customer.invitation.as_ref(), Some(&first));
    assert!(customer.last_error.as_deref().unwrap().contains("550"));
    // The first email's link still works.
    assert!(matches!(
        ta.open_invitation(&code).await.unwrap(),
        AnyOnboarding::InvitationSent(_)
    ));
    assert_eq!(good.messages().len(), 1);
    assert!(refusing.messages().is_empty());
}

/// A mailer that takes `delay` of (manual) time to get the message accepted, as retries do.
#[derive(Debug)]
struct Slow {
    inner: SmtpMailer,
    clock: ManualClock,
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl Mailer for Slow {
    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError> {
        self.clock.advance(self.delay);
        self.inner.send_invitation(message).await
    }
}

#[tokio::test]
async fn accepted_at_is_when_the_server_accepted_not_when_the_send_began() {
    let server = SmtpServer::start("accept", &[]);
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let ta = TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .store(MemoryStore::new())
        .mailer(Slow {
            inner: mailer(&server).build().unwrap(),
            clock: clock.clone(),
            delay: std::time::Duration::from_secs(2 * 60),
        })
        .provider(MockProvider::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    let sent = ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    let invitation = sent.customer().invitation.clone().unwrap();
    assert_eq!(invitation.issued_at, datetime!(2026-11-23 10:00 UTC));
    assert_eq!(
        invitation.delivery.unwrap().sent_at,
        datetime!(2026-11-23 10:02 UTC)
    );
}

#[tokio::test]
async fn a_try_cut_off_mid_conversation_never_reuses_its_connection() {
    // The first DATA is answered only after 2 s; the mailer gives up after 300 ms and must
    // retry on a fresh connection, not on the one still waiting for that answer.
    let server = SmtpServer::start("slow-data", &["--delay", "2"]);
    let mailer = mailer(&server)
        .timeout(Duration::from_millis(300))
        .retry(RetryPolicy {
            attempts: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        })
        .build()
        .unwrap();
    let (ta, _) = engine(mailer);
    let sent = ta.invite(contoso()).await.unwrap().send(&ta).await.unwrap();
    assert_eq!(sent.kind(), StageKind::InvitationSent);
    assert_eq!(server.count("connect"), 2, "{:?}", server.events());
    assert_eq!(server.count("data"), 2);
    // The second try was answered at once, so its message is already saved. (The first may
    // still arrive later: a cut-off try can mean a duplicate email, never a lost one.)
    assert!(!server.messages().is_empty());
}

#[tokio::test]
async fn the_operators_digest_goes_through_the_smtp_server() {
    use std::sync::Arc;
    use tenant_access::EmailAddress;
    use tenant_access::notify::EmailDigestNotifier;
    use tenant_access::ports::DispatchPolicy;

    let server = SmtpServer::start("accept", &[]);
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .msp_name(MSP)
                .notify_channels(["operators"])
                .build()
                .unwrap(),
        )
        .store(MemoryStore::new())
        .mailer(mailer(&server).build().unwrap())
        .provider(MockProvider::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    for id in ["contoso", "fabrikam"] {
        let new = NewCustomer::new(
            id,
            format!("{id}.onmicrosoft.com"),
            format!("admin@{id}.com"),
        )
        .unwrap();
        ta.invite(new).await.unwrap().send(&ta).await.unwrap();
    }
    clock.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(ta.health_pass().await.unwrap().notices, 2);

    let digest = EmailDigestNotifier::new(
        Arc::new(mailer(&server).build().unwrap()),
        vec![
            EmailAddress::new("noc@northwind.example").unwrap(),
            EmailAddress::new("oncall@northwind.example").unwrap(),
        ],
    )
    .msp_name(MSP);
    let report = ta
        .dispatch_notices(&digest, &DispatchPolicy::channel("operators"))
        .await
        .unwrap();
    assert_eq!(report.delivered, 2);

    // Two invitations, then one digest to both operators.
    let messages = server.messages();
    assert_eq!(messages.len(), 3);
    let envelope = server.envelope(3);
    assert!(
        envelope
            .contains("\"rcpt_tos\": [\"noc@northwind.example\", \"oncall@northwind.example\"]"),
        "{envelope}"
    );
    let message = MessageParser::default().parse(&messages[2]).unwrap();
    assert_eq!(
        message.subject(),
        Some("[Northwind IT] 2 connection(s) need attention, 0 recovered")
    );
    let text = message.body_text(0).unwrap();
    assert!(
        text.contains("contoso: gained invitation_unanswered (resend the invitation)"),
        "{text}"
    );
    assert!(
        text.contains("fabrikam: gained invitation_unanswered"),
        "{text}"
    );
}
