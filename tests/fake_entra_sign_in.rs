//! The browser sign-in (authorization code with PKCE) through the real engine and the real
//! Entra provider, over HTTP, against FakeEntra's sign-in page and token endpoint. The page's
//! form is read and posted as a browser would. Time is a ManualClock shared by the engine, the
//! provider and the fake, so nothing sleeps.

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use support::fake_world::{SIGN_IN_REDIRECT, World, claimed, device, world};
use tenant_access::error::{CodeRefusal, Error, FlowError, ProviderError};
use tenant_access::journey::{BrowserSignIn, Consented, SignInOutcome, StageKind};
use tenant_access::model::{PkceVerifier, SignInState};
use tenant_access::ports::Clock;
use tenant_access::ports::{AuthorizationRequest, CodeRedemption, SignInCallback};
use tenant_access::provider::{ConsentCallback, IdentityProvider, Target};
use tenant_access::testing::fake_entra::{
    AUTHORIZATION_CODE_LIFETIME, FakeEntra, FakeRequest, SignInAnswer,
};
use tenant_access::{Onboarding, PollOutcome};
use url::Url;

/// Claimed, then "Sign in with Microsoft".
async fn browser(w: &World, id: &str, tenant: &str) -> Onboarding<BrowserSignIn> {
    claimed(w, id, tenant)
        .await
        .start_browser_sign_in(&w.ta)
        .await
        .unwrap()
}

/// The customer's browser at the stage's URL, pressing `answer`; the callback it brings back.
async fn press(
    w: &World,
    pending: &Onboarding<BrowserSignIn>,
    answer: SignInAnswer,
) -> SignInCallback {
    let back = w
        .fake
        .signs_in(&pending.stage().authorize_url, answer)
        .await
        .unwrap();
    assert!(back.as_str().starts_with(SIGN_IN_REDIRECT), "{back}");
    SignInCallback::from_url(&back).unwrap()
}

#[tokio::test]
async fn accept_on_the_page_authenticates_and_validates() {
    let w = world().await;
    let pending = browser(&w, "contoso", "contoso.com").await;
    let url = &pending.stage().authorize_url;
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        url.path(),
        "/contoso.com/oauth2/v2.0/authorize",
        "the customer's tenant"
    );
    let verifier = pending.stage().verifier.expose_secret();
    assert_eq!(
        query["code_challenge"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    );
    assert_eq!(query["login_hint"], "admin@contoso.com");
    assert_eq!(query["redirect_uri"], SIGN_IN_REDIRECT);

    let callback = press(&w, &pending, SignInAnswer::Approve).await;
    assert!(callback.code.is_some() && callback.error.is_none());
    assert_eq!(
        w.fake.requests(FakeRequest::Authorize),
        2,
        "GET page, POST form"
    );
    let SignInOutcome::Authenticated(token) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 1);
    assert!(
        token
            .customer()
            .token
            .as_ref()
            .unwrap()
            .refresh_token
            .is_some()
    );
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        w.fake.tenant_id("contoso.com")
    );
    assert_eq!(connected.kind(), StageKind::Validated);
}

#[tokio::test]
async fn the_page_escapes_what_it_echoes_and_has_no_external_assets() {
    let w = world().await;
    let pending = browser(&w, "contoso", "contoso.com").await;
    let mut url = pending.stage().authorize_url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| match k.as_str() {
            "login_hint" => (k, "<script>alert(1)</script>\"@x".to_owned()),
            _ => (k, v),
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;@x"));
    assert!(!html.contains("src=") && !html.contains("href="));
    assert!(html.contains(">Accept</button>") && html.contains(">Cancel</button>"));
}

#[tokio::test]
async fn cancel_on_the_page_goes_back_to_claimed_and_a_new_attempt_works() {
    let w = world().await;
    let pending = browser(&w, "contoso", "contoso.com").await;
    let callback = press(&w, &pending, SignInAnswer::Cancel).await;
    assert_eq!(callback.error.as_deref(), Some("access_denied"));
    assert!(
        callback
            .error_description
            .as_deref()
            .unwrap()
            .starts_with("AADSTS65004")
    );
    let SignInOutcome::Cancelled(claimed) = w.ta.complete_sign_in(&callback).await.unwrap() else {
        panic!("cancelled")
    };
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 0);
    assert_eq!(
        w.ta.load(claimed.id()).await.unwrap().kind(),
        StageKind::Claimed
    );

    let again = claimed.start_browser_sign_in(&w.ta).await.unwrap();
    let callback = press(&w, &again, SignInAnswer::Approve).await;
    let SignInOutcome::Authenticated(token) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("the second attempt signs in")
    };
    token.validate(&w.ta).await.unwrap();
}

#[tokio::test]
async fn request_approval_waits_for_the_reviewer_then_a_new_sign_in_succeeds() {
    let w = world().await;
    w.fake.require_admin_approval("fabrikam.com");
    let pending = browser(&w, "fabrikam", "fabrikam.com").await;
    // Only "Request approval" is offered: Accept is not on the page.
    let refused = w
        .fake
        .signs_in(&pending.stage().authorize_url, SignInAnswer::Approve)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("\"accept\""), "{refused}");
    let callback = press(&w, &pending, SignInAnswer::RequestApproval).await;
    assert!(
        callback
            .error_description
            .as_deref()
            .unwrap()
            .starts_with("AADSTS90095")
    );
    assert_eq!(w.fake.admin_consent_requests("fabrikam.com"), 1);
    let SignInOutcome::ApprovalRequested(waiting) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("approval requested")
    };
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 0);

    assert_eq!(w.fake.approve_admin_consent_requests("fabrikam.com"), 1);
    // Scripted this time: the page redirects at once.
    w.fake
        .scenario("fabrikam.com", |s| s.sign_in(SignInAnswer::Approve));
    let again = waiting.start_browser_sign_in(&w.ta).await.unwrap();
    let callback = press(&w, &again, SignInAnswer::Cancel).await;
    let SignInOutcome::Authenticated(token) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("approved now")
    };
    token.validate(&w.ta).await.unwrap();
}

#[tokio::test]
async fn consent_missing_at_redemption_offers_admin_consent_then_signs_in_again() {
    let w = world().await;
    w.fake
        .scenario("litware.com", |s| s.consent_required_on_poll = true);
    let pending = browser(&w, "litware", "litware.com").await;
    let callback = press(&w, &pending, SignInAnswer::Approve).await;
    assert!(
        callback.code.is_some(),
        "the code comes; the token endpoint refuses it"
    );
    let SignInOutcome::ConsentRequired(waiting) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("65001 at the token endpoint is consent required")
    };
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 1);
    let redirect = w
        .fake
        .admin_consents(waiting.stage().admin_consent_url())
        .await
        .unwrap();
    let Consented::SignInAgain(claimed) =
        w.ta.accept_consent(&ConsentCallback::from_url(&redirect).unwrap())
            .await
            .unwrap()
    else {
        panic!("a device-code customer signs in again")
    };
    let again = claimed.start_browser_sign_in(&w.ta).await.unwrap();
    let callback = press(&w, &again, SignInAnswer::Approve).await;
    let SignInOutcome::Authenticated(token) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("consented now")
    };
    token.validate(&w.ta).await.unwrap();
}

#[tokio::test]
async fn a_conditional_access_block_shows_on_the_page_and_ends_blocked() {
    let w = world().await;
    w.fake
        .scenario("tailspin.com", |s| s.conditional_access_blocks_sign_in());
    let pending = browser(&w, "tailspin", "tailspin.com").await;
    let html = reqwest::get(pending.stage().authorize_url.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("AADSTS53003") && html.contains(">Back to the app</button>"));
    assert!(!html.contains(">Accept</button>"));
    let callback = press(&w, &pending, SignInAnswer::Blocked).await;
    assert!(
        callback
            .error_description
            .as_deref()
            .unwrap()
            .starts_with("AADSTS53003")
    );
    let SignInOutcome::Blocked(claimed) = w.ta.complete_sign_in(&callback).await.unwrap() else {
        panic!("blocked")
    };
    assert!(
        claimed
            .customer()
            .last_error
            .as_deref()
            .unwrap()
            .contains("53003")
    );
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 0);
}

#[tokio::test]
async fn a_scripted_block_redirects_at_once() {
    let w = world().await;
    w.fake
        .scenario("tailspin.com", |s| s.sign_in(SignInAnswer::Blocked));
    let pending = browser(&w, "tailspin", "tailspin.com").await;
    let callback = press(&w, &pending, SignInAnswer::Approve).await;
    assert_eq!(
        w.fake.requests(FakeRequest::Authorize),
        1,
        "no page, a redirect"
    );
    assert!(matches!(
        w.ta.complete_sign_in(&callback).await.unwrap(),
        SignInOutcome::Blocked(_)
    ));
}

#[tokio::test]
async fn a_device_code_blocked_by_conditional_access_moves_to_the_browser() {
    let w = world().await;
    w.fake.scenario("tailspin.com", |s| {
        s.conditional_access_blocks_device_code()
    });
    let d = device(&w, "tailspin", "tailspin.com").await;
    w.clock.sleep_until(d.stage().next_poll_at).await;
    // The poll's AADSTS53003 ends the device code: back to the start, the reason kept.
    let claimed = match d.poll(&w.ta).await {
        Ok(PollOutcome::Blocked(claimed)) => claimed,
        other => panic!("{other:?}"),
    };
    let reason = claimed.customer().last_error.clone().unwrap();
    assert!(reason.contains("AADSTS53003"), "{reason}");
    let pending = claimed.start_browser_sign_in(&w.ta).await.unwrap();
    let callback = press(&w, &pending, SignInAnswer::Approve).await;
    assert!(matches!(
        w.ta.complete_sign_in(&callback).await.unwrap(),
        SignInOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn a_replayed_or_forged_callback_changes_nothing_and_sends_nothing() {
    let w = world().await;
    let pending = browser(&w, "contoso", "contoso.com").await;
    let id = pending.id().clone();
    let callback = press(&w, &pending, SignInAnswer::Approve).await;

    // A forged state, for this customer, before the real callback: refused, nothing sent.
    let mut forged = callback.clone();
    forged.state = Some(SignInState::new(format!(
        "{}x",
        callback.state.as_ref().unwrap().expose_secret()
    )));
    let before = w.ta.load(&id).await.unwrap().version();
    let e = w.ta.complete_sign_in(&forged).await.unwrap_err();
    assert!(matches!(e, Error::Flow(FlowError::SignInStateMismatch)));
    assert_eq!(w.ta.load(&id).await.unwrap().version(), before);
    assert_eq!(
        w.ta.load(&id).await.unwrap().kind(),
        StageKind::BrowserSignIn
    );
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 0);

    let SignInOutcome::Authenticated(_) = w.ta.complete_sign_in(&callback).await.unwrap() else {
        panic!("the real callback signs in")
    };
    let after = w.ta.load(&id).await.unwrap();
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 1);

    // The same callback again (a reload, a second tab): the state was used.
    let e = w.ta.complete_sign_in(&callback).await.unwrap_err();
    assert!(matches!(e, Error::Flow(FlowError::SignInStateMismatch)));
    let again = w.ta.load(&id).await.unwrap();
    assert_eq!(again.version(), after.version());
    assert_eq!(again.kind(), StageKind::TokenAcquired);
    assert_eq!(
        w.fake.requests(FakeRequest::AuthorizationCode),
        1,
        "no token request"
    );
}

#[tokio::test]
async fn an_expired_sign_in_state_is_refused_before_anything_is_written() {
    let w = world().await;
    let pending = browser(&w, "contoso", "contoso.com").await;
    let id = pending.id().clone();
    let callback = press(&w, &pending, SignInAnswer::Approve).await;
    let before = w.ta.load(&id).await.unwrap().version();
    w.clock
        .advance(w.ta.config().browser_sign_in_lifetime() + Duration::from_secs(1));
    let e = w.ta.complete_sign_in(&callback).await.unwrap_err();
    assert!(
        matches!(e, Error::Flow(FlowError::SignInExpired { .. })),
        "{e:?}"
    );
    let stored = w.ta.load(&id).await.unwrap();
    assert_eq!(stored.version(), before);
    assert_eq!(stored.kind(), StageKind::BrowserSignIn);
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 0);
}

/// A code straight from the page, redeemed through the provider (no engine).
struct Direct {
    target: Target,
    verifier: PkceVerifier,
    redirect: Url,
    code: tenant_access::model::AuthorizationCode,
}

async fn direct_code(fake: &FakeEntra) -> Direct {
    fake.scenario("contoso.com", |s| s.sign_in(SignInAnswer::Approve));
    let entra = fake.provider().unwrap();
    let target = Target {
        customer: tenant_access::CustomerId::new("contoso").unwrap(),
        tenant: tenant_access::TenantId::new("contoso.com").unwrap(),
    };
    let verifier = PkceVerifier::generate();
    let redirect = Url::parse(SIGN_IN_REDIRECT).unwrap();
    let url = entra
        .authorization_url(
            &target,
            &AuthorizationRequest {
                redirect_uri: redirect.clone(),
                state: SignInState::new("s"),
                code_challenge: verifier.challenge(),
                login_hint: None,
            },
        )
        .unwrap();
    let back = fake.signs_in(&url, SignInAnswer::Approve).await.unwrap();
    let code = SignInCallback::from_url(&back).unwrap().code.unwrap();
    Direct {
        target,
        verifier,
        redirect,
        code,
    }
}

async fn redeem(
    fake: &FakeEntra,
    d: &Direct,
    verifier: &PkceVerifier,
) -> Result<(), ProviderError> {
    let redemption = CodeRedemption {
        code: &d.code,
        redirect_uri: &d.redirect,
        verifier,
    };
    fake.provider()
        .unwrap()
        .redeem_code(&d.target, redemption)
        .await
        .map(|_| ())
}

fn refusal(e: ProviderError) -> CodeRefusal {
    match e {
        ProviderError::CodeRefused { reason, .. } => reason,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_code_redeemed_twice_is_already_redeemed() {
    let w = world().await;
    let d = direct_code(&w.fake).await;
    redeem(&w.fake, &d, &d.verifier).await.unwrap();
    let e = redeem(&w.fake, &d, &d.verifier).await.unwrap_err();
    assert_eq!(
        Error::from(e.clone()).action(),
        tenant_access::Action::Reload
    );
    assert_eq!(refusal(e), CodeRefusal::AlreadyRedeemed);
    assert_eq!(w.fake.requests(FakeRequest::AuthorizationCode), 2);
}

#[tokio::test]
async fn a_code_past_its_ten_minutes_is_expired() {
    let w = world().await;
    let d = direct_code(&w.fake).await;
    w.clock.advance(AUTHORIZATION_CODE_LIFETIME);
    let e = redeem(&w.fake, &d, &d.verifier).await.unwrap_err();
    assert_eq!(
        Error::from(e.clone()).action(),
        tenant_access::Action::AskCustomer
    );
    assert_eq!(refusal(e), CodeRefusal::Expired);
}

#[tokio::test]
async fn a_code_with_another_verifier_is_a_verifier_mismatch_and_stays_unredeemed() {
    let w = world().await;
    let d = direct_code(&w.fake).await;
    let e = redeem(&w.fake, &d, &PkceVerifier::generate())
        .await
        .unwrap_err();
    assert_eq!(refusal(e), CodeRefusal::VerifierMismatch);
    assert_eq!(w.fake.unredeemed_codes(), 1);
    redeem(&w.fake, &d, &d.verifier).await.unwrap();
    assert_eq!(w.fake.unredeemed_codes(), 0);
}

#[tokio::test]
async fn bad_authorization_requests_get_an_error_page_never_a_redirect() {
    let w = world().await;
    let pending = browser(&w, "contoso", "contoso.com").await;
    let good = pending.stage().authorize_url.clone();
    let with = |key: &str, value: Option<&str>| {
        let mut url = good.clone();
        let pairs: Vec<(String, String)> = good
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != key)
            .chain(value.map(|v| (key.to_owned(), v.to_owned())))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    };
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cases = [
        (
            with("client_id", Some("00000000-0000-0000-0000-000000000000")),
            "AADSTS700016",
        ),
        (
            with("redirect_uri", Some("https://evil.example/cb")),
            "AADSTS50011",
        ),
        (with("code_challenge_method", None), "AADSTS900144"),
        (with("code_challenge_method", Some("plain")), "S256"),
        (with("code_challenge", None), "AADSTS900144"),
    ];
    for (url, says) in cases {
        let answer = browser.get(url.clone()).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{url}");
        assert!(answer.headers().get("location").is_none(), "{url}");
        assert!(answer.text().await.unwrap().contains(says), "{url}: {says}");
    }
    // The same checks hold for a posted form.
    let mut fields: Vec<(String, String)> = with("redirect_uri", Some("https://evil.example/cb"))
        .query_pairs()
        .into_owned()
        .collect();
    fields.push(("decision".into(), "accept".into()));
    let mut action = good.clone();
    action.set_query(None);
    let answer = browser.post(action).form(&fields).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(w.fake.unredeemed_codes(), 0, "no code was handed out");
}

#[tokio::test]
async fn the_msps_client_secret_is_checked_when_it_has_one() {
    let clock =
        tenant_access::testing::ManualClock::new(time::macros::datetime!(2026-11-23 10:00 UTC));
    let fake = FakeEntra::builder()
        .clock(std::sync::Arc::new(clock))
        .client_secret("msp-secret")
        .sign_in_redirect_uri(Url::parse(SIGN_IN_REDIRECT).unwrap())
        .start()
        .await
        .unwrap();
    let d = direct_code(&fake).await;
    // Without the secret: the MSP's configuration, whatever the customer does.
    let without = tenant_access::provider::entra::EntraProvider::new(
        tenant_access::provider::entra::EntraConfig::new(fake.client_id())
            .authority(fake.url().as_str())
            .unwrap(),
    )
    .unwrap();
    let redemption = CodeRedemption {
        code: &d.code,
        redirect_uri: &d.redirect,
        verifier: &d.verifier,
    };
    let e = without
        .redeem_code(&d.target, redemption)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Misconfigured(_)), "{e:?}");
    assert_eq!(
        Error::from(e.clone()).action(),
        tenant_access::Action::FixConfiguration
    );
    // With it (FakeEntra's own config sends it): redeemed.
    redeem(&fake, &d, &d.verifier).await.unwrap();
}

#[tokio::test]
async fn a_scripted_approval_request_is_recorded_like_the_device_workflow() {
    let w = world().await;
    w.fake.require_admin_approval("fabrikam.com");
    w.fake
        .scenario("fabrikam.com", |s| s.sign_in(SignInAnswer::RequestApproval));
    let pending = browser(&w, "fabrikam", "fabrikam.com").await;
    let callback = press(&w, &pending, SignInAnswer::Approve).await;
    let SignInOutcome::ApprovalRequested(waiting) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("approval requested")
    };
    assert_eq!(w.fake.admin_consent_requests("fabrikam.com"), 1);
    // The device-code way after approval works too.
    w.fake.approve_admin_consent_requests("fabrikam.com");
    let d = waiting.continue_authentication(&w.ta).await.unwrap();
    assert_eq!(
        w.fake.sign_in(d.stage().user_code()),
        tenant_access::testing::fake_entra::SignIn::SignedIn
    );
    assert!(matches!(
        d.poll_until_done(&w.ta).await.unwrap(),
        PollOutcome::Authenticated(_)
    ));
}
