//! Connection health on the mock provider, memory store and manual clock: every attention
//! reason appears, is reported once (one outbox notice per channel), clears, and its clearing
//! is reported once; the health pass raises the reasons time alone brings; reasons are kept
//! without channels and selected by `Filter::attention`.

mod support;

use std::time::Duration;

use support::{Harness, customer, harness_with};
use tenant_access::error::{ProviderDetail, ProviderError};
use tenant_access::journey::StageKind;
use tenant_access::model::{AppCredential, Change, ClientSecret, HealthPolicy, Reason, Remedy};
use tenant_access::ports::{OutboxQuery, OutboxState};
use tenant_access::provider::ConsentCallback;
use tenant_access::store::{AttentionFilter, Filter};
use tenant_access::testing::mock::{Operation, Script};
use tenant_access::{AnyOnboarding, CustomerId, PollOutcome};

const DAY: Duration = Duration::from_secs(86_400);

fn id(name: &str) -> CustomerId {
    CustomerId::new(name).unwrap()
}

/// A harness whose changes go to the `ops` channel, requiring `Directory.Read.All` of
/// delegated tokens and `Directory.Read.All` of app-only ones, failing verification after 3.
fn world() -> Harness {
    harness_with(|config| {
        config.notify_channels(["ops"]).health(HealthPolicy {
            delegated_permissions: vec!["Directory.Read.All".into()],
            application_permissions: vec!["Directory.Read.All".into()],
            ..HealthPolicy::default()
        })
    })
}

/// Every notice in the outbox, oldest first, as (customer, change, reason).
async fn notices(h: &Harness) -> Vec<(String, Change, Reason)> {
    let mut all =
        h.ta.outbox(&OutboxQuery {
            state: OutboxState::Pending,
            limit: 10_000,
        })
        .await
        .unwrap();
    all.reverse();
    all.into_iter()
        .map(|e| {
            (
                e.notice.customer.to_string(),
                e.notice.change,
                e.notice.attention.reason,
            )
        })
        .collect()
}

/// The stored reasons of `name`.
async fn reasons(h: &Harness, name: &str) -> Vec<Reason> {
    h.ta.load(&id(name))
        .await
        .unwrap()
        .customer()
        .health
        .attention
        .iter()
        .map(|a| a.reason)
        .collect()
}

fn gained(name: &str, reason: Reason) -> (String, Change, Reason) {
    (name.to_owned(), Change::Gained, reason)
}

fn cleared(name: &str, reason: Reason) -> (String, Change, Reason) {
    (name.to_owned(), Change::Cleared, reason)
}

/// A health pass that must change nothing (every reason already reported).
async fn quiet_pass(h: &Harness) {
    let before = notices(h).await.len();
    let report = h.ta.health_pass().await.unwrap();
    assert_eq!(report.changed, 0, "{report:?}");
    assert_eq!(
        notices(h).await.len(),
        before,
        "a reason was reported twice"
    );
}

/// A customer connected through its app registration with `credential`.
async fn app_connected(h: &Harness, name: &str, credential: impl Into<AppCredential>) {
    let pending =
        h.ta.connect_app_registration(customer(name), "customer-app", credential)
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
}

fn full_scopes(h: &Harness, name: &str) {
    h.mock.script(&id(name), |s| {
        s.grants_scopes("User.Read Directory.Read.All");
    });
}

#[tokio::test]
async fn a_dead_refresh_token_is_reported_once_and_cleared_by_reinviting() {
    let h = world();
    full_scopes(&h, "contoso");
    h.validated("contoso").await;
    assert!(notices(&h).await.is_empty());
    h.mock.revoke_refresh_tokens(&id("contoso"));
    let AnyOnboarding::ReauthRequired(dead) = h.ta.refresh_now(&id("contoso")).await.unwrap()
    else {
        panic!("the refresh token was revoked");
    };
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::RefreshTokenDead)]
    );
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    let attention = &stored.customer().health.attention[0];
    assert_eq!(attention.remedy(), Remedy::Reinvite);
    assert_eq!(attention.since, h.ta.clock().now());
    quiet_pass(&h).await;
    h.clock.advance(DAY);
    quiet_pass(&h).await;
    dead.reinvite(&h.ta).await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::RefreshTokenDead),
            cleared("contoso", Reason::RefreshTokenDead)
        ]
    );
    assert!(reasons(&h, "contoso").await.is_empty());
    quiet_pass(&h).await;
}

#[tokio::test]
async fn revoked_consent_at_verify_is_reported_with_its_code_and_cleared_by_a_good_verify() {
    let h = world();
    full_scopes(&h, "contoso");
    h.validated("contoso").await;
    h.mock.script(&id("contoso"), |s| {
        s.fail(
            Operation::Validate,
            ProviderError::ConsentRequired(
                ProviderDetail::new("invalid_grant", "AADSTS65001: no consent").with_code(65001),
            ),
        );
    });
    h.ta.verify(&id("contoso")).await.unwrap_err();
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::ConsentRevoked)]
    );
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    let attention = &stored.customer().health.attention[0];
    assert_eq!(attention.evidence.codes, [65001]);
    assert_eq!(attention.remedy(), Remedy::Reconsent);
    quiet_pass(&h).await;
    // Consent restored: the next verification works, and the pass reports the clearing.
    h.ta.verify(&id("contoso")).await.unwrap();
    h.ta.health_pass().await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::ConsentRevoked),
            cleared("contoso", Reason::ConsentRevoked)
        ]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn a_conditional_access_block_is_reported_and_cleared_by_a_sign_in_that_works() {
    let h = world();
    full_scopes(&h, "contoso");
    h.mock.script(&id("contoso"), |s| {
        s.device_code_blocked();
    });
    let device = h.device("contoso").await;
    let PollOutcome::Blocked(claimed) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!("the device code was blocked");
    };
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::BlockedByPolicy)]
    );
    quiet_pass(&h).await;
    // The policy is fixed: a new sign-in goes through.
    h.mock.script(&id("contoso"), |s| {
        *s = Script::default();
        s.grants_scopes("User.Read Directory.Read.All");
    });
    let device = claimed.start_device_code(&h.ta).await.unwrap();
    let PollOutcome::Authenticated(token) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!("the sign-in worked");
    };
    token.validate(&h.ta).await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::BlockedByPolicy),
            cleared("contoso", Reason::BlockedByPolicy)
        ]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn a_credential_is_reported_expiring_then_expired_and_cleared_by_a_new_one() {
    let h = world();
    h.mock.script(&id("contoso"), |s| {
        s.grants_roles(["Directory.Read.All"]);
    });
    let end = h.ta.clock().now() + 40 * DAY;
    app_connected(
        &h,
        "contoso",
        AppCredential::secret_expiring(ClientSecret::new("s3cret"), end),
    )
    .await;
    quiet_pass(&h).await;
    assert!(notices(&h).await.is_empty());
    // Inside the 30-day window: the health pass raises it, time alone having moved.
    h.clock.advance(11 * DAY);
    let report = h.ta.health_pass().await.unwrap();
    assert_eq!((report.changed, report.notices), (1, 1));
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::CredentialExpiring)]
    );
    quiet_pass(&h).await;
    // Past its end: expired replaces expiring.
    h.clock.advance(30 * DAY);
    h.ta.health_pass().await.unwrap();
    assert_eq!(
        notices(&h).await[1..],
        [
            gained("contoso", Reason::CredentialExpired),
            cleared("contoso", Reason::CredentialExpiring)
        ]
    );
    assert_eq!(
        h.ta.load(&id("contoso"))
            .await
            .unwrap()
            .customer()
            .health
            .attention[0]
            .remedy(),
        Remedy::NewCredential
    );
    quiet_pass(&h).await;
    // A new secret: the switch takes over and the reason clears in that write.
    let switch =
        h.ta.switch_to_app_registration(
            &id("contoso"),
            "customer-app",
            AppCredential::secret_expiring(
                ClientSecret::new("n3w"),
                h.ta.clock().now() + 365 * DAY,
            ),
        )
        .await
        .unwrap();
    let url = switch.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    h.ta.complete_consent(&callback)
        .await
        .unwrap()
        .validate(&h.ta)
        .await
        .unwrap();
    assert_eq!(
        notices(&h).await[3..],
        [cleared("contoso", Reason::CredentialExpired)]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn missing_permissions_are_read_from_scp_reported_and_cleared_by_a_token_that_has_them() {
    let h = world();
    h.mock.script(&id("contoso"), |s| {
        s.grants_scopes("User.Read openid");
    });
    h.validated("contoso").await;
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::PermissionsMissing)]
    );
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    let attention = &stored.customer().health.attention[0];
    assert_eq!(attention.evidence.missing, ["Directory.Read.All"]);
    assert_eq!(attention.remedy(), Remedy::Reconsent);
    quiet_pass(&h).await;
    // Consent granted for the missing permission: the next token carries it.
    full_scopes(&h, "contoso");
    h.ta.refresh_now(&id("contoso")).await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::PermissionsMissing),
            cleared("contoso", Reason::PermissionsMissing)
        ]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn app_only_tokens_are_checked_against_roles() {
    let h = world();
    h.mock.script(&id("fabrikam"), |s| {
        s.grants_roles(["User.Read.All"]);
    });
    app_connected(&h, "fabrikam", ClientSecret::new("s3cret")).await;
    assert_eq!(
        notices(&h).await,
        [gained("fabrikam", Reason::PermissionsMissing)]
    );
    assert_eq!(
        h.ta.load(&id("fabrikam"))
            .await
            .unwrap()
            .customer()
            .health
            .attention[0]
            .evidence
            .missing,
        ["Directory.Read.All"]
    );
}

#[tokio::test]
async fn verification_failing_three_times_in_a_row_is_reported_once_and_cleared_by_success() {
    let h = world();
    full_scopes(&h, "contoso");
    h.validated("contoso").await;
    h.mock.script(&id("contoso"), |s| {
        for _ in 0..3 {
            s.transient_failure(Operation::Validate, 503);
        }
    });
    for n in 1..=3 {
        h.ta.verify(&id("contoso")).await.unwrap_err();
        let expected = match n {
            3 => vec![gained("contoso", Reason::VerificationFailing)],
            _ => vec![],
        };
        assert_eq!(notices(&h).await, expected, "after {n} failures");
    }
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    let attention = &stored.customer().health.attention[0];
    assert_eq!(attention.evidence.count, 3);
    assert_eq!(attention.remedy(), Remedy::Wait);
    quiet_pass(&h).await;
    h.ta.verify(&id("contoso")).await.unwrap();
    h.ta.health_pass().await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::VerificationFailing),
            cleared("contoso", Reason::VerificationFailing)
        ]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn an_unanswered_invitation_is_raised_by_the_pass_and_cleared_by_resending() {
    let h = world();
    h.sent("contoso").await;
    h.clock.advance(6 * DAY);
    quiet_pass(&h).await;
    h.clock.advance(DAY + Duration::from_secs(60));
    h.ta.health_pass().await.unwrap();
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::InvitationUnanswered)]
    );
    assert_eq!(
        h.ta.load(&id("contoso"))
            .await
            .unwrap()
            .customer()
            .health
            .attention[0]
            .remedy(),
        Remedy::ResendInvitation
    );
    quiet_pass(&h).await;
    h.ta.resend_invitation(&id("contoso")).await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::InvitationUnanswered),
            cleared("contoso", Reason::InvitationUnanswered)
        ]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn a_stalled_method_switch_is_raised_by_the_pass_and_cleared_by_cancelling_it() {
    let h = world();
    full_scopes(&h, "contoso");
    h.validated("contoso").await;
    h.ta.switch_to_device_code(&id("contoso"), None)
        .await
        .unwrap();
    h.clock.advance(7 * DAY + Duration::from_secs(1));
    // The connection keeps serving meanwhile (its token is renewed).
    h.ta.health_pass().await.unwrap();
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::SwitchStalled)]
    );
    assert_eq!(
        h.ta.load(&id("contoso"))
            .await
            .unwrap()
            .customer()
            .health
            .attention[0]
            .remedy(),
        Remedy::FinishOrCancelSwitch
    );
    quiet_pass(&h).await;
    h.ta.cancel_switch(&id("contoso")).await.unwrap();
    assert_eq!(
        notices(&h).await,
        [
            gained("contoso", Reason::SwitchStalled),
            cleared("contoso", Reason::SwitchStalled)
        ]
    );
    quiet_pass(&h).await;
}

#[tokio::test]
async fn each_channel_gets_its_notice_and_no_channel_keeps_reasons_without_notices() {
    let h = harness_with(|c| c.notify_channels(["webhook", "operators"]));
    h.sent("contoso").await;
    h.clock.advance(8 * DAY);
    h.ta.health_pass().await.unwrap();
    let all =
        h.ta.outbox(&OutboxQuery {
            state: OutboxState::Pending,
            limit: 10,
        })
        .await
        .unwrap();
    let mut channels: Vec<&str> = all.iter().map(|e| e.notice.channel.as_str()).collect();
    channels.sort();
    assert_eq!(channels, ["operators", "webhook"]);
    assert_ne!(all[0].notice.id, all[1].notice.id);

    let quiet = harness_with(|c| c);
    quiet.sent("contoso").await;
    quiet.sent("fabrikam").await;
    quiet.clock.advance(8 * DAY);
    let report = quiet.ta.health_pass().await.unwrap();
    assert_eq!(
        (report.changed, report.notices, report.needing_attention),
        (2, 0, 2)
    );
    assert!(notices(&quiet).await.is_empty());
    assert_eq!(
        reasons(&quiet, "contoso").await,
        [Reason::InvitationUnanswered]
    );
    // Filter::attention selects them.
    quiet.ta.resend_invitation(&id("fabrikam")).await.unwrap();
    let needing = quiet.ta.count(&Filter::needs_attention()).await.unwrap();
    let none = quiet
        .ta
        .count(&Filter {
            attention: Some(AttentionFilter::None),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!((needing, none), (1, 1));
    let stage = quiet.ta.load(&id("contoso")).await.unwrap().kind();
    assert_eq!(stage, StageKind::InvitationSent);
}

#[tokio::test]
async fn a_maintenance_pass_ends_with_the_health_pass() {
    use tenant_access::ops::MaintenancePolicy;
    let h = world();
    h.sent("contoso").await;
    h.clock.advance(8 * DAY);
    let report =
        h.ta.maintenance_pass(&MaintenancePolicy::default())
            .await
            .unwrap();
    assert_eq!(report.health.notices, 1);
    assert_eq!(
        notices(&h).await,
        [gained("contoso", Reason::InvitationUnanswered)]
    );
}
