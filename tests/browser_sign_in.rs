//! The browser sign-in journey (authorization code + PKCE) on the mock provider, memory store
//! and manual clock: every outcome of the redirect back, and every refusal, with what is
//! stored (or not) after each.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{Harness, SIGN_IN_REDIRECT, customer, harness};
use tenant_access::error::{
    Action, CodeRefusal, ConfigError, Error, FlowError, ProviderDetail, ProviderError,
};
use tenant_access::journey::{BrowserSignIn, Claimed, Consented, SignInOutcome, StageKind, Step};
use tenant_access::model::{EmailAddress, Password, PkceVerifier, SignInState};
use tenant_access::ports::SignInCallback;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::Store;
use tenant_access::testing::mock::Operation;
use tenant_access::{AnyOnboarding, Config, CustomerId, Method, Onboarding};

fn id(name: &str) -> CustomerId {
    CustomerId::new(name).unwrap()
}

fn query(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// A customer who opened the invitation link and chose "Sign in with Microsoft".
async fn browser(h: &Harness, name: &str) -> Onboarding<BrowserSignIn> {
    h.claimed(name)
        .await
        .start_browser_sign_in(&h.ta)
        .await
        .unwrap()
}

/// The redirect back after the customer signed in at the stage's URL.
fn signed_in(h: &Harness, pending: &Onboarding<BrowserSignIn>) -> SignInCallback {
    SignInCallback::from_url(&h.mock.signs_in(pending.stage().authorize_url())).unwrap()
}

/// The stored record's version and stage, to show a refusal wrote nothing.
async fn stored(h: &Harness, name: &str) -> (u64, StageKind, Option<String>) {
    let record = h.store.load(&id(name)).await.unwrap().unwrap();
    (
        record.version.0,
        record.stage.kind(),
        record.customer.last_error.clone(),
    )
}

fn provider_error(error: &Error) -> &ProviderError {
    match error {
        Error::Provider(e) => e,
        other => panic!("not a provider error: {other:?}"),
    }
}

// ---- start ------------------------------------------------------------------------------

#[tokio::test]
async fn the_authorize_url_carries_an_s256_challenge_of_the_sealed_verifier_and_a_fresh_state() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let stage = pending.stage().clone();
    let stage = &stage;
    let q = query(stage.authorize_url());
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"], stage.verifier.challenge());
    assert_eq!(q["state"], stage.state.expose_secret());
    assert_eq!(q["redirect_uri"], SIGN_IN_REDIRECT);
    assert_eq!(q["login_hint"], "admin@contoso.com");
    assert_eq!(stage.redirect_uri.as_str(), SIGN_IN_REDIRECT);
    // RFC 7636 §4.1: 43 to 128 unreserved characters.
    let verifier = stage.verifier.expose_secret();
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert!(
        verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    );
    assert_eq!(
        stage.expires_at - stage.started_at,
        Duration::from_secs(15 * 60)
    );
    // Nothing secret in Debug: the URL's query (state, challenge) and the verifier are out.
    let debug = format!("{pending:?}");
    assert!(!debug.contains(stage.state.expose_secret()), "{debug}");
    assert!(!debug.contains(verifier), "{debug}");

    // Stored and resumable as it is.
    match h.ta.load(&id("contoso")).await.unwrap() {
        AnyOnboarding::BrowserSignIn(loaded) => {
            assert!(loaded.stage().state.ct_eq(&stage.state));
            assert!(loaded.stage().verifier.ct_eq(&stage.verifier));
            assert_eq!(loaded.stage().authorize_url(), stage.authorize_url());
        }
        other => panic!("{:?}", other.kind()),
    }

    // Starting again makes a new state and verifier: the first attempt no longer counts.
    let again = pending.start_browser_sign_in(&h.ta).await.unwrap();
    assert!(!again.stage().state.ct_eq(&stage.state));
    assert!(!again.stage().verifier.ct_eq(&stage.verifier));
    assert_eq!(h.mock.count(Operation::AuthorizationUrl), 2);
}

#[tokio::test]
async fn without_a_redirect_uri_the_sign_in_is_refused_and_nothing_is_written() {
    let h = harness();
    let claimed = h.claimed("contoso").await;
    let ta = h.engine(
        Config::builder("https://portal.example.com")
            .build()
            .unwrap(),
        h.store.clone(),
    );
    let before = stored(&h, "contoso").await;
    let rejected = claimed.start_browser_sign_in(&ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Config(ConfigError::MissingSignInRedirectUrl)
    ));
    assert_eq!(rejected.error().action(), Action::FixConfiguration);
    assert_eq!(rejected.onboarding().kind(), StageKind::Claimed);
    assert_eq!(stored(&h, "contoso").await, before);
    assert_eq!(h.mock.count(Operation::AuthorizationUrl), 0);
}

#[tokio::test]
async fn a_device_code_can_give_way_to_the_browser_and_back() {
    let h = harness();
    let device = h.device("contoso").await;
    let pending = device.start_browser_sign_in(&h.ta).await.unwrap();
    assert_eq!(pending.kind(), StageKind::BrowserSignIn);
    let device = pending.start_device_code(&h.ta).await.unwrap();
    assert_eq!(device.kind(), StageKind::DeviceCodeIssued);
    let events: Vec<_> = h.ta.events(&id("contoso")).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.to).collect();
    assert!(kinds.ends_with(&[
        StageKind::DeviceCodeIssued,
        StageKind::BrowserSignIn,
        StageKind::DeviceCodeIssued
    ]));
}

// ---- outcomes ---------------------------------------------------------------------------

#[tokio::test]
async fn signing_in_redeems_the_code_once_and_validates() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let callback = signed_in(&h, &pending);
    let outcome = h.ta.complete_sign_in(&callback).await.unwrap();
    let SignInOutcome::Authenticated(token) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(token.customer().token.is_some());
    assert!(token.customer().device_authenticated_at.is_some());
    assert_eq!(h.mock.count(Operation::RedeemCode), 1);
    let connected = token.validate(&h.ta).await.unwrap();
    assert_eq!(connected.kind(), StageKind::Validated);
    let notes: Vec<_> =
        h.ta.events(&id("contoso"))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.note)
            .collect();
    assert!(notes.contains(&"browser sign-in started".to_owned()));
    assert!(notes.contains(&"signed in with the browser".to_owned()));
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_writes_and_sends_nothing() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let callback = signed_in(&h, &pending);
    h.ta.complete_sign_in(&callback).await.unwrap();
    let before = stored(&h, "contoso").await;
    let err = h.ta.complete_sign_in(&callback).await.unwrap_err();
    assert!(
        matches!(err, Error::Flow(FlowError::SignInStateMismatch)),
        "{err}"
    );
    assert_eq!(err.action(), Action::AskCustomer);
    assert_eq!(stored(&h, "contoso").await, before);
    assert_eq!(h.mock.count(Operation::RedeemCode), 1);
}

#[tokio::test]
async fn forged_and_foreign_states_are_refused_before_anything_is_sent_or_written() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let other = browser(&h, "fabrikam").await;
    let real = signed_in(&h, &pending);
    let before = stored(&h, "contoso").await;

    // The customer id part of a real state with other random bits.
    let (prefix, _) = real
        .state
        .as_ref()
        .unwrap()
        .expose_secret()
        .split_once('.')
        .unwrap();
    let forged = SignInCallback {
        state: Some(SignInState::new(format!(
            "{prefix}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ))),
        ..real.clone()
    };
    // Another customer's live state, with this customer's code.
    let foreign = SignInCallback {
        state: Some(other.stage().state.clone()),
        ..real.clone()
    };
    // Garbage, and no state at all.
    let garbage = SignInCallback {
        state: Some(SignInState::new("not-a-state")),
        ..real.clone()
    };
    let stateless = SignInCallback {
        state: None,
        ..real.clone()
    };
    for callback in [&forged, &garbage, &stateless] {
        let err = h.ta.complete_sign_in(callback).await.unwrap_err();
        assert!(
            matches!(err, Error::Flow(FlowError::SignInStateMismatch)),
            "{err}"
        );
    }
    // The foreign state finds fabrikam's sign-in, whose verifier the code was not issued for.
    let err = h.ta.complete_sign_in(&foreign).await.unwrap_err();
    assert!(
        matches!(
            provider_error(&err),
            ProviderError::CodeRefused {
                reason: CodeRefusal::VerifierMismatch,
                ..
            }
        ),
        "{err}"
    );
    // Given straight to contoso's journey, a foreign state is refused before any request.
    let redeemed = h.mock.count(Operation::RedeemCode);
    let rejected = pending.complete(&h.ta, &foreign).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::SignInStateMismatch)
    ));
    assert_eq!(h.mock.count(Operation::RedeemCode), redeemed);
    assert_eq!(stored(&h, "contoso").await, before);

    // The real callback still works after all that.
    let outcome = h.ta.complete_sign_in(&real).await.unwrap();
    assert!(matches!(outcome, SignInOutcome::Authenticated(_)));
}

#[tokio::test]
async fn an_expired_state_is_refused_and_advance_takes_the_journey_back_to_the_start() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let callback = signed_in(&h, &pending);
    let expires_at = pending.stage().expires_at;
    h.clock.advance(Duration::from_secs(15 * 60));
    let before = stored(&h, "contoso").await;
    let err = h.ta.complete_sign_in(&callback).await.unwrap_err();
    assert!(
        matches!(err, Error::Flow(FlowError::SignInExpired { expired_at }) if expired_at == expires_at),
        "{err}"
    );
    assert_eq!(err.action(), Action::AskCustomer);
    assert_eq!(stored(&h, "contoso").await, before);
    assert_eq!(h.mock.count(Operation::RedeemCode), 0);

    let advanced = h.ta.advance(&id("contoso")).await.unwrap();
    assert_eq!(advanced.step, Step::SignInExpired);
    assert_eq!(advanced.journey.kind(), StageKind::Claimed);
}

#[tokio::test]
async fn advance_waits_for_the_browser_until_the_state_expires() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let expires_at = pending.stage().expires_at;
    let advanced = h.ta.advance(&id("contoso")).await.unwrap();
    assert_eq!(advanced.step, Step::Nothing);
    assert_eq!(advanced.next, tenant_access::journey::Next::At(expires_at));
    assert_eq!(advanced.journey.kind(), StageKind::BrowserSignIn);
}

#[tokio::test]
async fn cancelling_goes_back_to_the_start_and_a_new_attempt_works() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let cancelled =
        SignInCallback::from_url(&h.mock.cancels_sign_in(pending.stage().authorize_url())).unwrap();
    let outcome = h.ta.complete_sign_in(&cancelled).await.unwrap();
    let SignInOutcome::Cancelled(claimed) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(claimed.kind(), StageKind::Claimed);
    assert_eq!(h.mock.count(Operation::RedeemCode), 0);
    let again = claimed.start_browser_sign_in(&h.ta).await.unwrap();
    let callback = signed_in(&h, &again);
    assert!(matches!(
        h.ta.complete_sign_in(&callback).await.unwrap(),
        SignInOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn an_approval_request_waits_for_the_reviewer_then_a_new_sign_in_succeeds() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.approval_workflow();
    });
    let pending = browser(&h, "contoso").await;
    let outcome =
        h.ta.complete_sign_in(&signed_in(&h, &pending))
            .await
            .unwrap();
    let SignInOutcome::ApprovalRequested(waiting) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(h.mock.count(Operation::RedeemCode), 0);
    h.mock.approve(&id("contoso"));
    let again = waiting.start_browser_sign_in(&h.ta).await.unwrap();
    let outcome = h.ta.complete_sign_in(&signed_in(&h, &again)).await.unwrap();
    assert!(matches!(outcome, SignInOutcome::Authenticated(_)));
}

#[tokio::test]
async fn consent_required_at_the_token_endpoint_offers_admin_consent_then_a_new_sign_in() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.consent_required();
    });
    let pending = browser(&h, "contoso").await;
    let outcome =
        h.ta.complete_sign_in(&signed_in(&h, &pending))
            .await
            .unwrap();
    let SignInOutcome::ConsentRequired(waiting) = outcome else {
        panic!("{outcome:?}")
    };
    let url = waiting.stage().admin_consent_url().clone();
    let consent = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let Consented::SignInAgain(claimed) = h.ta.accept_consent(&consent).await.unwrap() else {
        panic!("the browser journey has no credentials: the customer signs in again")
    };
    let again = claimed.start_browser_sign_in(&h.ta).await.unwrap();
    let outcome = h.ta.complete_sign_in(&signed_in(&h, &again)).await.unwrap();
    let SignInOutcome::Authenticated(token) = outcome else {
        panic!("{outcome:?}")
    };
    token.validate(&h.ta).await.unwrap();
}

#[tokio::test]
async fn a_conditional_access_block_goes_back_to_the_start_with_the_reason_kept() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.conditional_access_blocks();
    });
    let pending = browser(&h, "contoso").await;
    let outcome =
        h.ta.complete_sign_in(&signed_in(&h, &pending))
            .await
            .unwrap();
    let SignInOutcome::Blocked(claimed) = outcome else {
        panic!("{outcome:?}")
    };
    let reason = claimed.customer().last_error.clone().unwrap();
    assert!(reason.contains("Conditional Access"), "{reason}");
    assert!(reason.contains("53003"), "{reason}");
    assert_eq!(h.mock.count(Operation::RedeemCode), 0);
    assert_eq!(stored(&h, "contoso").await.1, StageKind::Claimed);
}

// ---- code redemption refusals ------------------------------------------------------------

#[tokio::test]
async fn a_code_from_an_earlier_attempt_fails_the_verifier_and_the_stage_stays() {
    let h = harness();
    let first = browser(&h, "contoso").await;
    let old = signed_in(&h, &first);
    let second = first.start_browser_sign_in(&h.ta).await.unwrap();
    // The old code, smuggled in with the live state.
    let injected = SignInCallback {
        state: Some(second.stage().state.clone()),
        ..old
    };
    let rejected = second.complete(&h.ta, &injected).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::CodeRefused {
            reason: CodeRefusal::VerifierMismatch,
            ..
        }
    ));
    assert_eq!(rejected.error().action(), Action::AskCustomer);
    let (_, kind, last_error) = stored(&h, "contoso").await;
    assert_eq!(kind, StageKind::BrowserSignIn);
    assert!(last_error.unwrap().contains("50148"));
    // The stage handed back is the stored one, and its own code still works.
    let second = rejected.into_onboarding();
    let callback = signed_in(&h, &second);
    assert!(matches!(
        second.complete(&h.ta, &callback).await.unwrap(),
        SignInOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn two_tabs_with_one_callback_get_one_token_and_a_reload() {
    let h = harness();
    let pending = browser(&h, "contoso").await;
    let callback = signed_in(&h, &pending);
    // Both tabs read the journey before either finished.
    let tab_a = h.ta.load(&id("contoso")).await.unwrap();
    let tab_b = h.ta.load(&id("contoso")).await.unwrap();
    let (AnyOnboarding::BrowserSignIn(a), AnyOnboarding::BrowserSignIn(b)) = (tab_a, tab_b) else {
        panic!("both in the browser sign-in")
    };
    assert!(matches!(
        a.complete(&h.ta, &callback).await.unwrap(),
        SignInOutcome::Authenticated(_)
    ));
    let rejected = b.complete(&h.ta, &callback).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::CodeRefused {
            reason: CodeRefusal::AlreadyRedeemed,
            ..
        }
    ));
    assert_eq!(rejected.error().action(), Action::Reload);
    // The winner's token is what is stored.
    assert_eq!(stored(&h, "contoso").await.1, StageKind::TokenAcquired);
}

#[tokio::test]
async fn an_expired_code_asks_the_customer_to_sign_in_again() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.fail(
            Operation::RedeemCode,
            ProviderError::CodeRefused {
                reason: CodeRefusal::Expired,
                detail: ProviderDetail::new("invalid_grant", "AADSTS70008: expired")
                    .with_code(70008),
            },
        );
    });
    let pending = browser(&h, "contoso").await;
    let err =
        h.ta.complete_sign_in(&signed_in(&h, &pending))
            .await
            .unwrap_err();
    assert_eq!(err.action(), Action::AskCustomer);
    let (_, kind, last_error) = stored(&h, "contoso").await;
    assert_eq!(kind, StageKind::BrowserSignIn);
    assert!(last_error.unwrap().contains("70008"));
}

#[tokio::test]
async fn a_passing_fault_at_the_token_endpoint_keeps_the_stage_for_a_retry() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::RedeemCode, 503);
    });
    let pending = browser(&h, "contoso").await;
    let callback = signed_in(&h, &pending);
    let rejected = pending.complete(&h.ta, &callback).await.unwrap_err();
    assert!(rejected.error().is_retryable());
    let pending = rejected.into_onboarding();
    assert!(matches!(
        pending.complete(&h.ta, &callback).await.unwrap(),
        SignInOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn a_token_of_another_tenant_is_not_stored() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.token_tenant("00000000-0000-0000-0000-00000000dead");
    });
    let pending = browser(&h, "contoso").await;
    let callback = signed_in(&h, &pending);
    let rejected = pending.complete(&h.ta, &callback).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::TenantMismatch { .. })
    ));
    let record = h.store.load(&id("contoso")).await.unwrap().unwrap();
    assert!(record.customer.token.is_none());
    assert_eq!(record.stage.kind(), StageKind::BrowserSignIn);
}

// ---- method switch ------------------------------------------------------------------------

#[tokio::test]
async fn a_device_code_switch_can_sign_in_with_the_browser() {
    let h = harness();
    let pending =
        h.ta.connect_with_password(
            customer("fabrikam"),
            "svc@fabrikam.com",
            Password::new("pw"),
        )
        .await
        .unwrap();
    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    h.ta.complete_consent(&callback)
        .await
        .unwrap()
        .validate(&h.ta)
        .await
        .unwrap();

    let admin = EmailAddress::new("it-lead@fabrikam.com").unwrap();
    let invited =
        h.ta.switch_to_device_code(&id("fabrikam"), Some(admin))
            .await
            .unwrap();
    invited.send(&h.ta).await.unwrap();
    let code = h.mailer.last_code_to("it-lead@fabrikam.com").unwrap();
    let claimed: Onboarding<Claimed> = match h.ta.open_invitation(&code).await.unwrap() {
        AnyOnboarding::InvitationSent(sent) => sent.claim(&h.ta).await.unwrap(),
        other => panic!("{:?}", other.kind()),
    };
    assert!(claimed.is_switch());
    let switch = claimed.start_browser_sign_in(&h.ta).await.unwrap();
    assert_eq!(
        query(switch.stage().authorize_url())["login_hint"],
        "it-lead@fabrikam.com"
    );
    // The connection beside it is untouched while the switch signs in.
    assert_eq!(stored(&h, "fabrikam").await.1, StageKind::Validated);

    let outcome =
        h.ta.complete_sign_in(&signed_in(&h, &switch))
            .await
            .unwrap();
    let SignInOutcome::Authenticated(token) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(token.is_switch());
    let taken = token.validate(&h.ta).await.unwrap();
    assert_eq!(taken.customer().method, Method::DeviceCode);
    assert!(!taken.is_switch());
}

#[test]
fn the_verifier_challenge_is_rfc_7636_s256() {
    let verifier = PkceVerifier::generate();
    assert_eq!(verifier.expose_secret().len(), 43);
    assert_ne!(
        PkceVerifier::generate().expose_secret(),
        verifier.expose_secret()
    );
}

#[tokio::test]
async fn a_device_code_blocked_by_conditional_access_gives_way_to_the_browser_sign_in() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.device_code_blocked();
    });
    let device = h.device("contoso").await;
    h.clock.advance(Duration::from_secs(5));
    let advanced = h.ta.advance(&id("contoso")).await.unwrap();
    assert_eq!(advanced.step, Step::Blocked);
    let AnyOnboarding::Claimed(claimed) = advanced.journey else {
        panic!("{:?}", advanced.journey.kind())
    };
    assert!(
        claimed
            .customer()
            .last_error
            .as_deref()
            .unwrap()
            .contains("53003")
    );
    drop(device);
    let pending = claimed.start_browser_sign_in(&h.ta).await.unwrap();
    let outcome =
        h.ta.complete_sign_in(&signed_in(&h, &pending))
            .await
            .unwrap();
    let SignInOutcome::Authenticated(token) = outcome else {
        panic!("{outcome:?}")
    };
    let connected = token.validate(&h.ta).await.unwrap();
    assert_eq!(connected.customer().last_error, None);
}

#[tokio::test]
async fn the_invitation_still_rules_a_browser_sign_in_expiry_resend_and_revoke() {
    let h = harness();
    browser(&h, "contoso").await;
    let sent = h.ta.resend_invitation(&id("contoso")).await.unwrap();
    assert_eq!(sent.kind(), StageKind::InvitationSent);

    browser(&h, "fabrikam").await;
    h.clock.advance(Duration::from_secs(8 * 86_400));
    let advanced = h.ta.advance(&id("fabrikam")).await.unwrap();
    assert_eq!(advanced.step, Step::InvitationExpired);
    assert_eq!(advanced.journey.kind(), StageKind::Expired);

    let revoked = browser(&h, "litware").await.revoke(&h.ta).await.unwrap();
    assert_eq!(revoked.kind(), StageKind::Revoked);
}
