//! Shared set-up for the integration tests: an engine on the mock provider, a memory store,
//! a capture mailer and a manual clock.
#![allow(dead_code)]

#[cfg(feature = "testing")]
pub mod fake_world;

use tenant_access::journey::{Claimed, DeviceCodeIssued, InvitationSent, Validated};
use tenant_access::model::Actor;
use tenant_access::store::MemoryStore;
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::ManualClock;
use tenant_access::testing::mock::MockProvider;
use tenant_access::{AnyOnboarding, Config, NewCustomer, Onboarding, PollOutcome, TenantAccess};
use time::macros::datetime;

pub const REDIRECT: &str = "https://portal.example.com/authenticate/OAuth2Callback";
pub const SIGN_IN_REDIRECT: &str = "https://portal.example.com/authenticate/SignInCallback";
pub const CONSENT_CLIENT: &str = "11111111-2222-3333-4444-555555555555";

pub struct Harness {
    pub ta: TenantAccess,
    pub mock: MockProvider,
    pub mailer: CaptureMailer,
    pub clock: ManualClock,
    pub store: MemoryStore,
}

pub fn harness() -> Harness {
    harness_with(|config| config)
}

/// [`harness`] with more settings on its configuration.
pub fn harness_with(
    configure: impl FnOnce(tenant_access::config::ConfigBuilder) -> tenant_access::config::ConfigBuilder,
) -> Harness {
    let mock = MockProvider::new();
    let mailer = CaptureMailer::new();
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let store = MemoryStore::new();
    let ta = TenantAccess::builder()
        .config(
            configure(
                Config::builder("https://portal.example.com")
                    .msp_name("Northwind IT")
                    .consent_client_id(CONSENT_CLIENT)
                    .consent_redirect_url(REDIRECT)
                    .sign_in_redirect_url(SIGN_IN_REDIRECT),
            )
            .build()
            .unwrap(),
        )
        .store(store.clone())
        .mailer(mailer.clone())
        .provider(mock.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let ta = ta.acting_as(Actor::Operator("alice@msp.example".into()));
    Harness {
        ta,
        mock,
        mailer,
        clock,
        store,
    }
}

/// A certificate for the test RSA key `tests/fixtures/certificates/rsa-a.key.pem`, valid
/// from `not_before` to `not_after` (made now with rcgen).
pub fn certificate(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> tenant_access::model::ClientCertificate {
    let key = rcgen::KeyPair::from_pem(include_str!("../fixtures/certificates/rsa-a.key.pem"))
        .expect("the test key");
    let mut params = rcgen::CertificateParams::new(vec!["app.customer.example".into()]).unwrap();
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).unwrap();
    tenant_access::model::ClientCertificate::from_pem(&cert.pem(), &key.serialize_pem())
        .expect("a certificate for the test key")
}

pub fn customer(id: &str) -> NewCustomer {
    NewCustomer::new(
        id,
        format!("{id}.onmicrosoft.com"),
        format!("admin@{id}.com"),
    )
    .unwrap()
}

impl Harness {
    /// Another engine on this harness's mailer, provider and clock, with its own `config`
    /// and `store` (another portal replica, or a store wrapped for a test).
    pub fn engine(
        &self,
        config: Config,
        store: impl tenant_access::store::Store + 'static,
    ) -> TenantAccess {
        TenantAccess::builder()
            .config(config)
            .store(store)
            .mailer(self.mailer.clone())
            .provider(self.mock.clone())
            .clock(self.clock.clone())
            .build()
            .unwrap()
    }

    /// Invites and sends; returns the journey and the code the customer received.
    pub async fn sent(&self, id: &str) -> (Onboarding<InvitationSent>, String) {
        let sent = self
            .ta
            .invite(customer(id))
            .await
            .unwrap()
            .send(&self.ta)
            .await
            .unwrap();
        let code = self
            .mailer
            .last_code_to(&format!("admin@{id}.com"))
            .unwrap();
        (sent, code)
    }

    /// Opens the link and claims it.
    pub async fn claimed(&self, id: &str) -> Onboarding<Claimed> {
        let (_, code) = self.sent(id).await;
        match self.ta.open_invitation(&code).await.unwrap() {
            AnyOnboarding::InvitationSent(sent) => sent.claim(&self.ta).await.unwrap(),
            other => panic!("unexpected {:?}", other.kind()),
        }
    }

    pub async fn device(&self, id: &str) -> Onboarding<DeviceCodeIssued> {
        self.claimed(id)
            .await
            .start_device_code(&self.ta)
            .await
            .unwrap()
    }

    /// A customer all the way to Validated through the device-code journey.
    pub async fn validated(&self, id: &str) -> Onboarding<Validated> {
        let device = self.device(id).await;
        match device.poll_until_done(&self.ta).await.unwrap() {
            PollOutcome::Authenticated(token) => token.validate(&self.ta).await.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }
}
