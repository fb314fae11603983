//! The engine and the real Entra provider over HTTP against FakeEntra, on one ManualClock
//! shared by the engine, the provider's retries and the fake, so nothing sleeps.

use std::sync::Arc;

use tenant_access::journey::{Claimed, DeviceCodeIssued, Validated};
use tenant_access::store::MemoryStore;
use tenant_access::testing::fake_entra::{FakeEntra, SignIn};
use tenant_access::testing::{CaptureMailer, ManualClock};
use tenant_access::{AnyOnboarding, Config, NewCustomer, Onboarding, PollOutcome, TenantAccess};
use time::macros::datetime;

/// The portal's browser sign-in callback, registered for the fake's application.
pub const SIGN_IN_REDIRECT: &str = "https://portal.example.com/authenticate/SignInCallback";

pub struct World {
    pub fake: FakeEntra,
    pub clock: ManualClock,
    pub ta: TenantAccess,
    pub mailer: CaptureMailer,
    pub store: MemoryStore,
}

/// FakeEntra and an engine on it (memory store, capture mailer, the default refresh-ahead
/// margin, admin consent configured for the fake's client id, the browser sign-in callback
/// registered).
pub async fn world() -> World {
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let fake = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .sign_in_redirect_uri(url::Url::parse(SIGN_IN_REDIRECT).unwrap())
        .start()
        .await
        .unwrap();
    let mailer = CaptureMailer::new();
    let store = MemoryStore::new();
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .consent_client_id(fake.client_id())
                .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")
                .sign_in_redirect_url(SIGN_IN_REDIRECT)
                .build()
                .unwrap(),
        )
        .store(store.clone())
        .mailer(mailer.clone())
        .provider(fake.provider().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    World {
        fake,
        clock,
        ta,
        mailer,
        store,
    }
}

/// Invitation sent, link opened, "Start authentication" pressed.
pub async fn claimed(w: &World, id: &str, tenant: &str) -> Onboarding<Claimed> {
    let admin = format!("admin@{tenant}");
    let new = NewCustomer::new(id, tenant, admin.as_str()).unwrap();
    w.ta.invite(new).await.unwrap().send(&w.ta).await.unwrap();
    let code = w.mailer.last_code_to(&admin).unwrap();
    let AnyOnboarding::InvitationSent(sent) = w.ta.open_invitation(&code).await.unwrap() else {
        panic!("a fresh invitation is in InvitationSent")
    };
    sent.claim(&w.ta).await.unwrap()
}

pub async fn device(w: &World, id: &str, tenant: &str) -> Onboarding<DeviceCodeIssued> {
    claimed(w, id, tenant)
        .await
        .start_device_code(&w.ta)
        .await
        .unwrap()
}

/// A customer connected through the device-code journey, validated.
pub async fn connected(w: &World, id: &str, tenant: &str) -> Onboarding<Validated> {
    let d = device(w, id, tenant).await;
    assert_eq!(w.fake.sign_in(d.stage().user_code()), SignIn::SignedIn);
    let PollOutcome::Authenticated(token) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("signed in")
    };
    token.validate(&w.ta).await.unwrap()
}
