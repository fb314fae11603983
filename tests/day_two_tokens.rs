//! Issue 17, items 10, 13 and 14, over HTTP against FakeEntra with the real Entra provider:
//! refresh-ahead that keeps short-lived tokens cached, verification that renews an expired
//! token first and a refused one once, and the typed "token rejected". Requests are counted
//! from FakeEntra's own counters; time is a ManualClock shared by the engine and the fake, so
//! nothing sleeps.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use support::fake_world::{World, connected, world};
use tenant_access::error::{Action, Error, FlowError, ProviderError};
use tenant_access::journey::StageKind;
use tenant_access::model::{AccessToken, VerificationStatus};
use tenant_access::ports::Clock;
use tenant_access::store::{Filter, Store};
use tenant_access::testing::fake_entra::{FakeEndpoint, FakeRequest, Fault};
use tenant_access::{CustomerId, Scopes};

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn counts(w: &World) -> (u64, u64) {
    (
        w.fake.requests(FakeRequest::Refresh),
        w.fake.requests(FakeRequest::Organization),
    )
}

async fn stored_token(w: &World, customer: &str) -> String {
    let record = Store::load(&w.store, &id(customer)).await.unwrap().unwrap();
    let token = record.customer.token.unwrap().access_token;
    token.expose_secret().to_owned()
}

fn rejected(error: &Error) -> bool {
    matches!(error, Error::Provider(ProviderError::TokenRejected(d)) if d.error == "InvalidAuthenticationToken")
}

// ---------------------------------------------------------------------------------------------
// Item 13: refresh-ahead never defeats the cache

/// A server issuing 60 s tokens against the default 5-minute margin: each token is served
/// from the cache for its first half (30 s), then refreshed once, and the new one again for
/// 30 s. Before, every call refreshed.
#[tokio::test]
async fn a_sixty_second_token_is_served_from_cache_for_half_its_life() {
    let w = world().await;
    w.fake.scenario("contoso.com", |s| {
        s.access_token_lifetime = Some(Duration::from_secs(60));
    });
    let connection = connected(&w, "contoso", "contoso.com").await;
    let issued = connection.customer().token.clone().unwrap();
    assert_eq!(
        issued.expires_at - issued.obtained_at,
        time::Duration::seconds(60)
    );
    let before = w.fake.requests(FakeRequest::Refresh);
    let first = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(first.expose_secret(), issued.access_token.expose_secret());
    // Behind the engine's back, the store now holds another (equally fresh) token: a call
    // that reads the store instead of the cache would hand that one out.
    let mut record = Store::load(&w.store, &id("contoso"))
        .await
        .unwrap()
        .unwrap();
    record.customer.token.as_mut().unwrap().access_token = AccessToken::new("only-in-the-store");
    Store::update(&w.store, &record, None, &[]).await.unwrap();
    for _ in 0..29 {
        w.clock.advance(Duration::from_secs(1));
        for _ in 0..10 {
            let again = w.ta.access_token(&id("contoso")).await.unwrap();
            assert_eq!(again.expose_secret(), first.expose_secret());
        }
    }
    assert_eq!(
        w.fake.requests(FakeRequest::Refresh),
        before,
        "29 s: cached"
    );
    // Half-way: refreshed once.
    w.clock.advance(Duration::from_secs(1));
    let second = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_ne!(second.expose_secret(), first.expose_secret());
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 1);
    // The new 60 s token is cached for its own first half.
    for _ in 0..29 {
        w.clock.advance(Duration::from_secs(1));
        let again = w.ta.access_token(&id("contoso")).await.unwrap();
        assert_eq!(again.expose_secret(), second.expose_secret());
    }
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 1);
    w.clock.advance(Duration::from_secs(1));
    w.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 2);
}

/// The margin still rules long-lived tokens: an hour-long token is refreshed 5 minutes
/// before expiry, not half-way.
#[tokio::test]
async fn an_hour_long_token_is_refreshed_five_minutes_ahead() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    let before = w.fake.requests(FakeRequest::Refresh);
    let first = w.ta.access_token(&id("contoso")).await.unwrap();
    // 3599 s tokens: due at 3299 s.
    w.clock.advance(Duration::from_secs(3298));
    let same = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(same.expose_secret(), first.expose_secret());
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before);
    w.clock.advance(Duration::from_secs(1));
    let next = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_ne!(next.expose_secret(), first.expose_secret());
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 1);
}

/// Tokens for another resource follow the same rule.
#[tokio::test]
async fn a_short_token_for_another_resource_is_cached_for_half_its_life() {
    let w = world().await;
    w.fake.scenario("contoso.com", |s| {
        s.access_token_lifetime = Some(Duration::from_secs(60));
    });
    connected(&w, "contoso", "contoso.com").await;
    let arm = Scopes::new(["https://management.azure.com/.default"]).unwrap();
    let before = w.fake.requests(FakeRequest::Refresh);
    let first = w.ta.access_token_for(&id("contoso"), &arm).await.unwrap();
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 1);
    for _ in 0..29 {
        w.clock.advance(Duration::from_secs(1));
        let again = w.ta.access_token_for(&id("contoso"), &arm).await.unwrap();
        assert_eq!(again.expose_secret(), first.expose_secret());
    }
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 1);
    w.clock.advance(Duration::from_secs(1));
    let next = w.ta.access_token_for(&id("contoso"), &arm).await.unwrap();
    assert_ne!(next.expose_secret(), first.expose_secret());
    assert_eq!(w.fake.requests(FakeRequest::Refresh), before + 2);
}

/// FakeEntra's short-lived tokens say so and expire then (the scenario applies to every
/// grant, here the password grant and the refresh).
#[tokio::test]
async fn fake_entra_issues_short_lived_tokens_that_graph_refuses_after_expiry() {
    use tenant_access::model::{Password, TenantId};
    use tenant_access::provider::{IdentityProvider, Target};

    let w = world().await;
    w.fake.scenario("contoso.com", |s| {
        s.access_token_lifetime = Some(Duration::from_secs(60));
    });
    w.fake.add_user("contoso.com", "admin@contoso.com", "pw");
    w.fake
        .grant_admin_consent("contoso.com", &w.fake.client_id());
    let entra = w.fake.provider().unwrap();
    let target = Target {
        customer: id("contoso"),
        tenant: TenantId::new("contoso.com").unwrap(),
    };
    let issued = entra
        .password_grant(&target, "admin@contoso.com", &Password::new("pw"))
        .await
        .unwrap();
    assert_eq!(issued.expires_in, Duration::from_secs(60));
    entra.validate(&target, &issued.access_token).await.unwrap();
    w.clock.advance(Duration::from_secs(60));
    let error = entra
        .validate(&target, &issued.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::TokenRejected(d) if d.error == "InvalidAuthenticationToken"),
        "{error:?}"
    );
    assert_eq!(Error::from(error).action(), Action::AskCustomer);
    // Another tenant keeps the default lifetime.
    let seeded = w.fake.issue_signed_in_tokens("fabrikam.com").unwrap();
    assert_eq!(seeded.expires_in, Duration::from_secs(3599));
    let seeded = w.fake.issue_signed_in_tokens("contoso.com").unwrap();
    assert_eq!(seeded.expires_in, Duration::from_secs(60));
}

// ---------------------------------------------------------------------------------------------
// Item 14: verify after expiry refreshes, then validates

/// One second after expiry, with a live refresh token: one refresh, one Graph call with the
/// new token (none with the expired one), a successful verification recorded, and the new
/// token served by `access_token` without another refresh.
#[tokio::test]
async fn verify_after_expiry_refreshes_and_validates() {
    let w = world().await;
    let connection = connected(&w, "contoso", "contoso.com").await;
    let old = connection.customer().token.clone().unwrap();
    w.clock.advance(Duration::from_secs(3600));
    let (refreshes, calls) = counts(&w);
    let verified = w.ta.verify(&id("contoso")).await.unwrap();
    assert_eq!(counts(&w), (refreshes + 1, calls + 1));
    let token = verified.customer().token.clone().unwrap();
    assert_ne!(
        token.access_token.expose_secret(),
        old.access_token.expose_secret()
    );
    assert_eq!(token.obtained_at, w.clock.now());
    assert_eq!(
        stored_token(&w, "contoso").await,
        token.access_token.expose_secret()
    );
    let last = verified.customer().last_verification.clone().unwrap();
    assert_eq!(
        (last.at, last.status),
        (w.clock.now(), VerificationStatus::Ok)
    );
    let served = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(served.expose_secret(), token.access_token.expose_secret());
    assert_eq!(counts(&w), (refreshes + 1, calls + 1));
}

/// The journey's own `verify` does the same through the engine.
#[tokio::test]
async fn onboarding_verify_after_expiry_refreshes_and_validates() {
    let w = world().await;
    let connection = connected(&w, "contoso", "contoso.com").await;
    w.clock.advance(Duration::from_secs(3601));
    let (refreshes, calls) = counts(&w);
    let verified = connection.verify(&w.ta).await.unwrap();
    assert_eq!(counts(&w), (refreshes + 1, calls + 1));
    assert!(verified.customer().token.as_ref().unwrap().expires_at > w.clock.now());
}

/// A fresh token is verified as before: no refresh, one Graph call.
#[tokio::test]
async fn verify_with_a_valid_token_makes_no_refresh() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    w.clock.advance(Duration::from_secs(3000));
    let (refreshes, calls) = counts(&w);
    w.ta.verify(&id("contoso")).await.unwrap();
    assert_eq!(counts(&w), (refreshes, calls + 1));
}

/// verify_all renews each expired token and proves it.
#[tokio::test]
async fn verify_all_after_expiry_refreshes_each_and_validates() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    connected(&w, "fabrikam", "fabrikam.com").await;
    w.clock.advance(Duration::from_secs(2 * 3600));
    let (refreshes, calls) = counts(&w);
    let outcomes: Vec<_> = w.ta.verify_all(Filter::default(), 2).collect().await;
    assert_eq!(outcomes.len(), 2);
    for outcome in &outcomes {
        let outcome = outcome.as_ref().unwrap();
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    }
    assert_eq!(counts(&w), (refreshes + 2, calls + 2));
    for customer in ["contoso", "fabrikam"] {
        let record = w.ta.load(&id(customer)).await.unwrap();
        let token = record.customer().token.as_ref().unwrap();
        assert!(token.expires_at > w.clock.now(), "{customer}");
        let last = record.customer().last_verification.clone().unwrap();
        assert_eq!(last.status, VerificationStatus::Ok, "{customer}");
    }
}

/// Verification and `access_token` after expiry share one refresh (the single flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_and_access_token_after_expiry_share_one_refresh() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    w.clock.advance(Duration::from_secs(3700));
    let before = w.fake.requests(FakeRequest::Refresh);
    let ta = Arc::new(w.ta.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let ta = Arc::clone(&ta);
        tasks.spawn(async move {
            let contoso = CustomerId::new("contoso").unwrap();
            // One verification (two racing ones would race for the record's write, as
            // they always did), many token callers.
            if i == 0 {
                ta.verify(&contoso).await.map(|_| ())
            } else {
                ta.access_token(&contoso).await.map(|_| ())
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(w.fake.requests(FakeRequest::Refresh) - before, 1);
}

/// A refresh failing transiently while the token is expired is reported, recorded as a
/// transient failure, and retryable; nothing is proven with the expired token.
#[tokio::test]
async fn a_transient_refresh_failure_in_verify_is_reported_as_transient() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    w.clock.advance(Duration::from_secs(3600));
    let calls = w.fake.requests(FakeRequest::Organization);
    // Every attempt of the refresh within its deadline fails.
    for _ in 0..8 {
        w.fake.inject(FakeEndpoint::Token, Fault::Status(503));
    }
    let error = w.ta.verify(&id("contoso")).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(w.fake.requests(FakeRequest::Organization), calls);
    let record = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(record.kind(), StageKind::Validated);
    let last = record.customer().last_verification.clone().unwrap();
    assert_eq!(last.status, VerificationStatus::Transient);
    assert!(record.customer().refresh_lease.is_none(), "the lease ended");
}

/// A dead refresh token found by a verification after expiry: re-authentication, as
/// `access_token` does, and no Graph call.
#[tokio::test]
async fn verify_after_expiry_with_a_dead_refresh_token_requires_reauthentication() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    assert_eq!(w.fake.revoke_refresh_tokens("contoso.com"), 1);
    w.clock.advance(Duration::from_secs(3600));
    let calls = w.fake.requests(FakeRequest::Organization);
    let error = w.ta.verify(&id("contoso")).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Flow(FlowError::NotConnected {
                stage: StageKind::ReauthRequired,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(w.fake.requests(FakeRequest::Organization), calls);
    let record = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(record.kind(), StageKind::ReauthRequired);
}

// ---------------------------------------------------------------------------------------------
// Items 10 and 14: a refused token is refreshed once and retried, then reported typed

/// Graph refuses the (unexpired) token once it is revoked; the verification refreshes once
/// and proves the new token.
#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_retried() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    let old = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(w.fake.revoke_access_tokens("contoso.com"), 1);
    let (refreshes, calls) = counts(&w);
    let verified = w.ta.verify(&id("contoso")).await.unwrap();
    // Refused, refreshed, proven.
    assert_eq!(counts(&w), (refreshes + 1, calls + 2));
    let token = verified.customer().token.clone().unwrap();
    assert_ne!(token.access_token.expose_secret(), old.expose_secret());
    // The cache serves the new token.
    let served = w.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(served.expose_secret(), token.access_token.expose_secret());
}

/// The same in a verify_all run.
#[tokio::test]
async fn verify_all_refreshes_a_rejected_token_once_and_retries() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    connected(&w, "fabrikam", "fabrikam.com").await;
    w.fake.revoke_access_tokens("contoso.com");
    let (refreshes, calls) = counts(&w);
    let outcomes: Vec<_> = w.ta.verify_all(Filter::default(), 2).collect().await;
    for outcome in &outcomes {
        let outcome = outcome.as_ref().unwrap();
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    }
    // contoso: refused, refreshed, proven; fabrikam: proven.
    assert_eq!(counts(&w), (refreshes + 1, calls + 3));
}

/// A tenant whose every token is refused: one refresh, one retry, then the typed error,
/// recorded as a failed verification (not transient), asking the customer.
#[tokio::test]
async fn a_token_still_rejected_after_one_refresh_is_reported_typed() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    w.fake.scenario("contoso.com", |s| s.inactive_tokens = true);
    let (refreshes, calls) = counts(&w);
    let error = w.ta.verify(&id("contoso")).await.unwrap_err();
    assert!(rejected(&error), "{error:?}");
    assert_eq!(error.action(), Action::AskCustomer);
    assert!(!error.is_retryable());
    assert_eq!(counts(&w), (refreshes + 1, calls + 2));
    let record = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(record.kind(), StageKind::Validated);
    let last = record.customer().last_verification.clone().unwrap();
    assert_eq!(last.status, VerificationStatus::Failed);
    assert!(
        record
            .customer()
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("InvalidAuthenticationToken")),
        "{:?}",
        record.customer().last_error
    );
}

/// The same in a verify_all run, for one customer of two.
#[tokio::test]
async fn verify_all_reports_a_token_still_rejected_after_one_refresh() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    connected(&w, "fabrikam", "fabrikam.com").await;
    w.fake.scenario("contoso.com", |s| s.inactive_tokens = true);
    let (refreshes, calls) = counts(&w);
    let outcomes: Vec<_> = w.ta.verify_all(Filter::default(), 2).collect().await;
    let mut failed = 0;
    for outcome in outcomes {
        let outcome = outcome.unwrap();
        match outcome.customer.as_str() {
            "contoso" => {
                let error = outcome.result.unwrap_err();
                assert!(rejected(&error), "{error:?}");
                failed += 1;
            }
            _ => outcome.result.unwrap(),
        }
    }
    assert_eq!(failed, 1);
    assert_eq!(counts(&w), (refreshes + 1, calls + 3));
    let record = w.ta.load(&id("contoso")).await.unwrap();
    let last = record.customer().last_verification.clone().unwrap();
    assert_eq!(last.status, VerificationStatus::Failed);
}

/// Without the engine (a bare `Ports`, no single flight to share) the journey's `verify`
/// renews with a plain refresh: after expiry, and once for a refused token.
#[tokio::test]
async fn verify_with_bare_ports_refreshes_too() {
    use tenant_access::Config;
    use tenant_access::ports::Ports;

    let w = world().await;
    let connection = connected(&w, "contoso", "contoso.com").await;
    let ports = Ports::new(
        Arc::new(w.store.clone()),
        Arc::new(w.fake.provider().unwrap()),
        Arc::new(w.mailer.clone()),
        Arc::new(w.clock.clone()),
        Config::new("https://portal.example.com").unwrap(),
    );
    w.clock.advance(Duration::from_secs(3600));
    let (refreshes, calls) = counts(&w);
    let connection = connection.verify(&ports).await.unwrap();
    assert_eq!(counts(&w), (refreshes + 1, calls + 1));
    w.fake.revoke_access_tokens("contoso.com");
    let connection = connection.verify(&ports).await.unwrap();
    assert_eq!(counts(&w), (refreshes + 2, calls + 3));
    // Still refused after the one refresh: reported, typed, recorded.
    w.fake.scenario("contoso.com", |s| s.inactive_tokens = true);
    let failed = connection.verify(&ports).await.unwrap_err();
    assert!(rejected(failed.error()), "{:?}", failed.error());
    assert_eq!(counts(&w), (refreshes + 3, calls + 5));
    let last = failed
        .into_onboarding()
        .customer()
        .last_verification
        .clone();
    assert_eq!(last.unwrap().status, VerificationStatus::Failed);
}
