//! No secret (token, password, client secret, device code, invitation code, consent state)
//! appears in any `Debug` output, error message or log line. The test plants known secrets,
//! runs every journey with logging at TRACE, and scans everything it can print.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use std::time::Duration;
use support::{customer, harness};
use tenant_access::error::Error;
use tenant_access::journey::StageKind;
use tenant_access::model::{ClientSecret, Password};
use tenant_access::ops::StatusRow;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::{Filter, PageRequest, Store};
use tenant_access::testing::mock::Operation;
use tenant_access::{AnyOnboarding, PollOutcome};

fn id(name: &str) -> tenant_access::CustomerId {
    tenant_access::CustomerId::new(name).unwrap()
}

const PASSWORD: &str = "Planted-Password-6f1e";
const CLIENT_SECRET: &str = "Planted-ClientSecret-93ab";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_debug_output_errors_or_logs() {
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = harness();
    let mut printed = String::new();
    let mut secrets: Vec<String> = vec![PASSWORD.into(), CLIENT_SECRET.into()];

    // Device code, with pending polls, a throttle and the approval workflow.
    h.mock.script(&id("contoso"), |s| {
        s.pending(1)
            .throttle(Operation::PollDeviceCode, Duration::from_secs(1))
            .approval_workflow();
    });
    let (sent, code) = h.sent("contoso").await;
    secrets.push(code.clone());
    printed += &format!("{sent:?}\n");
    let AnyOnboarding::InvitationSent(sent) = h.ta.open_invitation(&code).await.unwrap() else {
        panic!()
    };
    let device = sent
        .claim(&h.ta)
        .await
        .unwrap()
        .start_device_code(&h.ta)
        .await
        .unwrap();
    secrets.push(device.stage().device_code.expose_secret().into());
    printed += &format!("{device:?}\n{:?}\n", h.ta.load(device.id()).await.unwrap());
    let rejected = device.poll_until_done(&h.ta).await.unwrap_err();
    printed += &format!("{rejected:?}\n{rejected}\n{:?}\n", rejected.error());
    let PollOutcome::ApprovalRequested(waiting) = rejected
        .into_onboarding()
        .poll_until_done(&h.ta)
        .await
        .unwrap()
    else {
        panic!()
    };
    h.mock.approve(&id("contoso"));
    let device = waiting.continue_authentication(&h.ta).await.unwrap();
    secrets.push(device.stage().device_code.expose_secret().into());
    let outcome = device.poll_until_done(&h.ta).await.unwrap();
    printed += &format!("{outcome:?}\n");
    let PollOutcome::Authenticated(token) = outcome else {
        panic!()
    };
    let t = token.customer().token.clone().unwrap();
    secrets.push(t.access_token.expose_secret().into());
    secrets.push(t.refresh_token.unwrap().expose_secret().into());
    let validated = token.validate(&h.ta).await.unwrap();
    let tenant_access::RefreshOutcome::Refreshed(validated) =
        validated.refresh(&h.ta).await.unwrap()
    else {
        panic!()
    };
    let t = validated.customer().token.clone().unwrap();
    secrets.push(t.access_token.expose_secret().into());
    secrets.push(t.refresh_token.unwrap().expose_secret().into());
    printed += &format!("{validated:?}\n");

    // Password journey with MFA, then consent.
    h.mock.script(&id("fabrikam"), |s| {
        s.mfa_required();
    });
    let consent =
        h.ta.connect_with_password(
            customer("fabrikam"),
            "admin@fabrikam.com",
            Password::new(PASSWORD),
        )
        .await
        .unwrap();
    secrets.push(consent.stage().state.expose_secret().into());
    printed += &format!("{consent:?}\n");
    let rejected = consent.acquire_token(&h.ta).await.unwrap_err();
    printed += &format!("{rejected:?}\n{rejected}\n");
    let err: Error = rejected.into();
    printed += &format!("{err:?}\n{err}\n");

    // App registration.
    let consent =
        h.ta.connect_app_registration(
            customer("woodgrove"),
            "app-id",
            ClientSecret::new(CLIENT_SECRET),
        )
        .await
        .unwrap();
    secrets.push(consent.stage().state.expose_secret().into());
    let callback =
        ConsentCallback::from_url(&h.mock.admin_consents(consent.stage().admin_consent_url()))
            .unwrap();
    printed += &format!("{callback:?}\n");
    let token = h.ta.complete_consent(&callback).await.unwrap();
    secrets.push(
        token
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret()
            .into(),
    );
    printed += &format!("{token:?}\n");

    // Everything printable: stored records, events, mails, provider calls, the engine, the report.
    let page = h
        .store
        .list(&Filter::all(), &PageRequest::first(100))
        .await
        .unwrap();
    for record in &page.records {
        printed += &format!(
            "{record:?}\n{:?}\n",
            h.store.events(record.id()).await.unwrap()
        );
    }
    printed += &format!(
        "{:?}\n{:?}\n{:?}\n",
        h.mailer.messages(),
        h.mock.calls(),
        h.ta
    );
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    printed += &format!("{rows:?}\n{}", StatusRow::table(&rows));
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();

    // The scan must have something to scan: records, logs and a transition per stage.
    assert!(page.records.len() == 3, "{}", page.records.len());
    assert!(logs.contains("transition"), "no log lines captured");
    assert!(logs.contains(StageKind::Validated.as_str()));
    assert!(printed.contains("[REDACTED]"));
    assert!(secrets.len() >= 12);
    for secret in &secrets {
        assert!(
            secret.len() >= 8,
            "planted secret too short to scan for: {secret:?}"
        );
        assert!(
            !printed.contains(secret.as_str()),
            "secret {secret:?} in Debug output"
        );
        assert!(
            !logs.contains(secret.as_str()),
            "secret {secret:?} in the logs"
        );
    }
}

/// Forwards to the log mailer and keeps the message, so the test knows which link to look for.
#[derive(Debug, Default)]
struct Tee {
    log: tenant_access::mail::LogMailer,
    seen: Mutex<Vec<tenant_access::mail::InvitationMessage>>,
}

#[async_trait::async_trait]
impl tenant_access::mail::Mailer for Tee {
    async fn send_invitation(
        &self,
        message: &tenant_access::mail::InvitationMessage,
    ) -> Result<tenant_access::mail::MessageId, tenant_access::error::MailError> {
        self.seen.lock().unwrap().push(message.clone());
        self.log.send_invitation(message).await
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_log_mailer_never_logs_the_link() {
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let tee = Arc::new(Tee::default());
    let ta = tenant_access::TenantAccess::builder()
        .config(tenant_access::Config::new("https://portal.example.com").unwrap())
        .store(tenant_access::store::MemoryStore::new())
        .mailer(SharedTee(Arc::clone(&tee)))
        .provider(tenant_access::testing::mock::MockProvider::new())
        .build()
        .unwrap();
    ta.invite(customer("contoso"))
        .await
        .unwrap()
        .send(&ta)
        .await
        .unwrap();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let message = tee.seen.lock().unwrap()[0].clone();
    assert!(logs.contains("invitation email"), "{logs}");
    assert!(logs.contains("admin@contoso.com"));
    assert!(!logs.contains(message.code.expose_secret()));
    assert!(!logs.contains(message.link.expose_secret()));
}

#[derive(Debug)]
struct SharedTee(Arc<Tee>);

#[async_trait::async_trait]
impl tenant_access::mail::Mailer for SharedTee {
    async fn send_invitation(
        &self,
        message: &tenant_access::mail::InvitationMessage,
    ) -> Result<tenant_access::mail::MessageId, tenant_access::error::MailError> {
        self.0.send_invitation(message).await
    }
}
