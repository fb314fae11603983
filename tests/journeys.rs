//! Every transition of every journey on the mock provider, memory store and manual clock.

mod support;

use std::time::Duration;
use support::{Harness, customer, harness};
use tenant_access::error::{
    Action, ConfigError, Error, FlowError, MailError, ProviderDetail, ProviderError, StoreError,
};
use tenant_access::journey::{
    ApprovalRequested, Claimed, ConsentRequired, DeviceCodeIssued, StageKind, TokenAcquired,
    Validated,
};
use tenant_access::model::Actor;
use tenant_access::model::{ClientSecret, Password};
use tenant_access::model::{TenantInfo, VerificationStatus};
use tenant_access::ops::PendingSwitchStatus;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::{Filter, MemoryStore, PageRequest, Store};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::mock::{MockProvider, Operation};
use tenant_access::{
    AnyOnboarding, Config, Method, NewCustomer, PollOutcome, RefreshOutcome, TenantAccess,
};

fn id(name: &str) -> tenant_access::CustomerId {
    tenant_access::CustomerId::new(name).unwrap()
}

// ---- invitation -------------------------------------------------------------------------

#[tokio::test]
async fn invite_then_send_stores_each_stage_and_mails_a_link() {
    let h = harness();
    let invited = h.ta.invite(customer("contoso")).await.unwrap();
    assert_eq!(invited.kind(), StageKind::Invited);
    assert_eq!(invited.version().0, 1);
    assert!(invited.customer().invitation.is_none());
    assert!(h.mailer.messages().is_empty());

    let sent = invited.send(&h.ta).await.unwrap();
    assert_eq!(sent.version().0, 2);
    let message = h.mailer.last_to("admin@contoso.com").unwrap();
    let link = message.link.expose_secret();
    assert!(
        link.starts_with("https://portal.example.com/invitation/"),
        "{link}"
    );
    assert!(link.ends_with(message.code.expose_secret()));
    assert_eq!(message.msp_name, "Northwind IT");
    let invitation = sent.customer().invitation.as_ref().unwrap();
    assert_eq!(
        invitation.expires_at - invitation.issued_at,
        Duration::from_secs(7 * 86_400)
    );
    assert_eq!(invitation.code_hash, Some(message.code.hash()));
    assert!(invitation.delivery.is_some());

    let stored = h.ta.load(sent.id()).await.unwrap();
    assert_eq!(stored.kind(), StageKind::InvitationSent);
    assert_eq!(stored.version(), sent.version());
}

#[tokio::test]
async fn a_taken_customer_id_is_a_typed_error() {
    let h = harness();
    h.ta.invite(customer("contoso")).await.unwrap();
    let err = h.ta.invite(customer("contoso")).await.unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::AlreadyExists(_))),
        "{err}"
    );
    assert_eq!(err.action(), Action::FixInput);
}

#[tokio::test]
async fn a_refused_email_keeps_the_invitation_unsent_with_the_error_recorded() {
    let h = harness();
    let invited = h.ta.invite(customer("contoso")).await.unwrap();
    h.mailer
        .fail_next(MailError::Refused("550 5.1.1 no such user".into()));
    let rejected = invited.send(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Mail(MailError::Refused(_))
    ));
    let invited = rejected.into_onboarding();
    assert_eq!(invited.kind(), StageKind::Invited);
    assert!(invited.customer().invitation.is_none());
    assert!(
        invited
            .customer()
            .last_error
            .as_deref()
            .unwrap()
            .contains("550")
    );
    // The handed-back stage is the stored one: sending again works without reloading.
    let sent = invited.send(&h.ta).await.unwrap();
    assert_eq!(sent.kind(), StageKind::InvitationSent);
    assert_eq!(sent.customer().last_error, None);
    assert_eq!(h.mailer.attempts(), 2);
}

#[tokio::test]
async fn opening_the_link_returns_the_journey_and_claim_records_it() {
    let h = harness();
    let (_, code) = h.sent("contoso").await;
    h.clock.advance(Duration::from_secs(3600));
    let AnyOnboarding::InvitationSent(sent) = h.ta.open_invitation(&code).await.unwrap() else {
        panic!("expected InvitationSent");
    };
    let claimed = sent.claim(&h.ta).await.unwrap();
    let opened = claimed.customer().invitation.as_ref().unwrap().opened_at;
    assert_eq!(opened, Some(h.clock_now()));
    // Reopening the link mid-journey resumes it.
    assert_eq!(
        h.ta.open_invitation(&code).await.unwrap().kind(),
        StageKind::Claimed
    );
}

impl Harness {
    fn clock_now(&self) -> time::OffsetDateTime {
        use tenant_access::ports::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn unknown_expired_revoked_and_superseded_codes_get_the_same_error() {
    let h = harness();
    // Unknown, malformed.
    for bad in ["", "short", &"A".repeat(43), &"x".repeat(500)] {
        let err = h.ta.open_invitation(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInvitation), "{bad}");
    }
    // Superseded by a resend.
    let (sent, old_code) = h.sent("superseded").await;
    let resent = sent.resend(&h.ta).await.unwrap();
    assert_eq!(
        resent.customer().invitation.as_ref().unwrap().codes_issued,
        2
    );
    let new_code = h.mailer.last_code_to("admin@superseded.com").unwrap();
    assert_ne!(old_code, new_code);
    assert!(matches!(
        h.ta.open_invitation(&old_code).await.unwrap_err(),
        Error::InvalidInvitation
    ));
    assert!(h.ta.open_invitation(&new_code).await.is_ok());

    // Revoked.
    let (sent, code) = h.sent("revoked").await;
    sent.revoke(&h.ta).await.unwrap();
    assert!(matches!(
        h.ta.open_invitation(&code).await.unwrap_err(),
        Error::InvalidInvitation
    ));

    // Expired: the journey moves to Expired, then the code stays dead.
    let (_, code) = h.sent("expired").await;
    h.clock.advance(Duration::from_secs(7 * 86_400));
    let err = h.ta.open_invitation(&code).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInvitation));
    assert_eq!(
        err.to_string(),
        "this invitation link is not valid or has expired"
    );
    let stored = h.ta.load(&"expired".try_into().unwrap()).await.unwrap();
    assert_eq!(stored.kind(), StageKind::Expired);
    assert!(matches!(
        h.ta.open_invitation(&code).await.unwrap_err(),
        Error::InvalidInvitation
    ));
}

/// Mails `id` an invitation and lets it expire (a month passes; opening the link finds it
/// expired, which moves the journey to [`StageKind::Expired`]). Returns the dead code.
async fn expired(h: &Harness, id: &str) -> String {
    let (_, code) = h.sent(id).await;
    h.clock.advance(Duration::from_secs(30 * 86_400));
    h.ta.open_invitation(&code).await.unwrap_err();
    code
}

#[tokio::test]
async fn an_expired_journey_can_be_reinvited_with_a_new_code() {
    let h = harness();
    let code = expired(&h, "contoso").await;
    let expired =
        h.ta.load(&"contoso".try_into().unwrap())
            .await
            .unwrap()
            .try_into_stage::<tenant_access::journey::Expired>()
            .unwrap();
    let sent = expired
        .reinvite(&h.ta)
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
    let new_code = h.mailer.last_code_to("admin@contoso.com").unwrap();
    assert_ne!(new_code, code);
    assert_eq!(sent.customer().invitation.as_ref().unwrap().codes_issued, 2);
    assert!(h.ta.open_invitation(&new_code).await.is_ok());
}

#[tokio::test]
async fn a_used_up_link_no_longer_opens_the_journey() {
    let h = harness();
    let (_, code) = h.sent("contoso").await;
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
    let PollOutcome::Authenticated(_) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!()
    };
    assert!(matches!(
        h.ta.open_invitation(&code).await.unwrap_err(),
        Error::InvalidInvitation
    ));
}

// ---- device code ------------------------------------------------------------------------

#[tokio::test]
async fn device_code_stage_carries_absolute_times() {
    let h = harness();
    let device = h.device("contoso").await;
    let s = device.stage();
    assert_eq!(s.expires_at - s.issued_at, Duration::from_secs(15 * 60));
    assert_eq!(s.interval, Duration::from_secs(5));
    assert_eq!(s.next_poll_at, s.issued_at + s.interval);
    assert_eq!(
        s.verification_uri().as_str(),
        "https://microsoft.com/devicelogin"
    );
    assert_eq!(s.user_code().len(), 9);
}

#[tokio::test]
async fn polling_before_the_interval_is_refused_without_a_request() {
    let h = harness();
    let device = h.device("contoso").await;
    h.clock.advance(Duration::from_secs(2));
    let next_poll_at = device.stage().next_poll_at;
    let rejected = device.poll(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::PollTooEarly { next_poll_at: at, .. }) if *at == next_poll_at
    ));
    // The refusal says when: the time left until the next poll, by the engine's clock.
    assert_eq!(
        rejected.error().action(),
        Action::Retry {
            after: Duration::from_secs(3)
        }
    );
    assert!(rejected.error().is_retryable());
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 0);
    let device = rejected.into_onboarding();
    h.clock.advance(Duration::from_secs(3));
    let outcome = device.poll(&h.ta).await.unwrap();
    assert!(matches!(outcome, PollOutcome::Authenticated(_)));
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 1);
}

#[tokio::test]
async fn pending_then_slow_down_then_authenticated_one_request_per_poll() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.pending(2).slow_down();
    });
    let mut device = h.device("contoso").await;
    h.clock.advance(Duration::from_secs(5));
    device = match device.poll(&h.ta).await.unwrap() {
        PollOutcome::Pending(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        device.stage().next_poll_at,
        h.clock_now() + Duration::from_secs(5)
    );
    h.clock.advance(Duration::from_secs(5));
    device = match device.poll(&h.ta).await.unwrap() {
        PollOutcome::Pending(d) => d,
        other => panic!("{other:?}"),
    };
    h.clock.advance(Duration::from_secs(5));
    device = match device.poll(&h.ta).await.unwrap() {
        PollOutcome::SlowDown(d) => d,
        other => panic!("{other:?}"),
    };
    // RFC 8628: slow_down widens the interval by 5 s for every later poll.
    assert_eq!(device.stage().interval, Duration::from_secs(10));
    assert_eq!(
        device.stage().next_poll_at,
        h.clock_now() + Duration::from_secs(10)
    );
    h.clock.advance(Duration::from_secs(5));
    let device = device.poll(&h.ta).await.unwrap_err().into_onboarding();
    h.clock.advance(Duration::from_secs(5));
    let PollOutcome::Authenticated(token) = device.poll(&h.ta).await.unwrap() else {
        panic!()
    };
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 4);
    let c = token.customer();
    assert!(c.device_authenticated_at.is_some());
    let t = c.token.as_ref().unwrap();
    assert_eq!(t.expires_at - t.obtained_at, Duration::from_secs(3599));
    assert!(t.refresh_token.is_some());
    // Every poll was stored: the stored version matches.
    assert_eq!(
        h.ta.load(token.id()).await.unwrap().version(),
        token.version()
    );
}

#[tokio::test]
async fn poll_until_done_waits_on_the_clock_not_the_wall() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.pending(100);
    });
    let device = h.device("contoso").await;
    let started = std::time::Instant::now();
    let before = h.clock_now();
    let outcome = device.poll_until_done(&h.ta).await.unwrap();
    assert!(matches!(outcome, PollOutcome::Authenticated(_)));
    assert_eq!(h.clock_now() - before, Duration::from_secs(5 * 101));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn declined_and_expired_codes_return_to_claimed_and_can_start_again() {
    let h = harness();
    h.mock.script(&id("declines"), |s| {
        s.decline();
    });
    let device = h.device("declines").await;
    let PollOutcome::Declined(claimed) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!()
    };
    let again = claimed.start_device_code(&h.ta).await.unwrap();
    assert!(matches!(
        again.poll_until_done(&h.ta).await.unwrap(),
        PollOutcome::Authenticated(_)
    ));

    h.mock.script(&id("expires"), |s| {
        s.expire_code();
    });
    let device = h.device("expires").await;
    assert!(matches!(
        device.poll_until_done(&h.ta).await.unwrap(),
        PollOutcome::Expired(_)
    ));
    let events = h.ta.events(&"expires".try_into().unwrap()).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.from, last.to),
        (Some(StageKind::DeviceCodeIssued), StageKind::Claimed)
    );
    assert_eq!(last.note.as_deref(), Some("device code expired"));
}

#[tokio::test]
async fn a_device_code_past_its_expiry_is_expired_without_a_request() {
    let h = harness();
    let device = h.device("contoso").await;
    h.clock.advance(Duration::from_secs(16 * 60));
    let outcome = device.poll(&h.ta).await.unwrap();
    assert!(matches!(outcome, PollOutcome::Expired(_)));
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 0);
}

#[tokio::test]
async fn approval_workflow_waits_then_continues_after_a_reviewer_approves() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.pending(1).approval_workflow();
    });
    let device = h.device("contoso").await;
    let PollOutcome::ApprovalRequested(waiting) = device.poll_until_done(&h.ta).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(waiting.stage().requested_at, h.clock_now());
    // Continuing before approval gets a new code, and polling finds approval still pending.
    let device = waiting.continue_authentication(&h.ta).await.unwrap();
    let PollOutcome::ApprovalRequested(waiting) = device.poll_until_done(&h.ta).await.unwrap()
    else {
        panic!()
    };
    // Days pass; the request is approved; the customer continues.
    h.clock.advance(Duration::from_secs(3 * 86_400));
    h.mock.approve(&id("contoso"));
    let device = waiting.continue_authentication(&h.ta).await.unwrap();
    let PollOutcome::Authenticated(token) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!()
    };
    let validated = token.validate(&h.ta).await.unwrap();
    assert_eq!(h.mock.count(Operation::DeviceAuthorization), 3);
    let kinds: Vec<_> =
        h.ta.events(validated.id())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.to)
            .collect();
    assert_eq!(
        kinds,
        [
            StageKind::Invited,
            StageKind::InvitationSent,
            StageKind::Claimed,
            StageKind::DeviceCodeIssued,
            StageKind::ApprovalRequested,
            StageKind::DeviceCodeIssued,
            StageKind::ApprovalRequested,
            StageKind::DeviceCodeIssued,
            StageKind::TokenAcquired,
            StageKind::Validated,
        ]
    );
}

#[tokio::test]
async fn throttled_and_transient_polls_move_the_next_poll_on_and_store_it() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.throttle(Operation::PollDeviceCode, Duration::from_secs(30))
            .transient_failure(Operation::PollDeviceCode, 503);
    });
    let device = h.device("contoso").await;
    h.clock.advance(Duration::from_secs(5));
    let rejected = device.poll(&h.ta).await.unwrap_err();
    // Retry-After (30 s) is later than the interval (5 s): the next poll waits for it.
    let next = h.clock_now() + Duration::from_secs(30);
    assert_eq!(
        rejected.error().action(),
        Action::Retry {
            after: Duration::from_secs(30)
        }
    );
    let Error::Flow(FlowError::PollFailed {
        next_poll_at,
        source,
        ..
    }) = rejected.error()
    else {
        panic!("{:?}", rejected.error())
    };
    assert_eq!(*next_poll_at, next);
    assert!(matches!(**source, ProviderError::Throttled { .. }));
    let device = rejected.into_onboarding();
    assert_eq!(device.kind(), StageKind::DeviceCodeIssued);
    assert_eq!(device.stage().next_poll_at, next);
    assert!(
        device
            .customer()
            .last_error
            .as_deref()
            .unwrap()
            .contains("throttled")
    );
    // The stage handed back is the stored one, at its new version.
    let stored = h.ta.load(device.id()).await.unwrap();
    assert_eq!(stored.version(), device.version());
    let AnyOnboarding::DeviceCodeIssued(stored) = stored else {
        panic!("still polling")
    };
    assert_eq!(stored.stage().next_poll_at, next);

    // Polling again before it is refused without a request.
    h.clock.advance(Duration::from_secs(29));
    let rejected = device.poll(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::PollTooEarly { next_poll_at, .. }) if *next_poll_at == next
    ));
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 1);

    // A 503 without Retry-After moves it on by the interval.
    h.clock.advance(Duration::from_secs(1));
    let rejected = rejected.into_onboarding().poll(&h.ta).await.unwrap_err();
    let Error::Flow(FlowError::PollFailed { source, .. }) = rejected.error() else {
        panic!("{:?}", rejected.error())
    };
    assert!(matches!(
        **source,
        ProviderError::Unavailable { status: 503, .. }
    ));
    assert!(rejected.error().is_retryable());
    let device = rejected.into_onboarding();
    assert_eq!(
        device.stage().next_poll_at,
        h.clock_now() + Duration::from_secs(5)
    );
    h.clock.advance(Duration::from_secs(5));
    let outcome = device.poll(&h.ta).await.unwrap();
    assert!(matches!(outcome, PollOutcome::Authenticated(_)));
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 3);
}

#[tokio::test]
async fn a_failed_device_authorization_keeps_the_claim() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::DeviceAuthorization, 500);
    });
    let claimed = h.claimed("contoso").await;
    let rejected = claimed.start_device_code(&h.ta).await.unwrap_err();
    let claimed = rejected.into_onboarding();
    assert_eq!(claimed.kind(), StageKind::Claimed);
    assert!(claimed.start_device_code(&h.ta).await.is_ok());
}

// ---- validation -------------------------------------------------------------------------

#[tokio::test]
async fn validation_proves_the_invited_tenant() {
    let h = harness();
    let validated = h.validated("contoso").await;
    let c = validated.customer();
    let info = c.tenant_info.as_ref().unwrap();
    assert_eq!(info.domains, ["contoso.onmicrosoft.com"]);
    let v = c.last_verification.as_ref().unwrap();
    assert_eq!(v.status, VerificationStatus::Ok);
    assert_eq!(validated.stage().validated_at, v.at);
}

#[tokio::test]
async fn a_token_for_another_tenant_is_rejected_and_recorded() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.validates_as(TenantInfo {
            id: "00000000-0000-0000-0000-0000000000ff".into(),
            display_name: "Evil".into(),
            domains: vec!["evil.example".into()],
        });
    });
    let device = h.device("contoso").await;
    let PollOutcome::Authenticated(token) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!()
    };
    let rejected = token.validate(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::TenantMismatch { .. })
    ));
    let token = rejected.into_onboarding();
    assert_eq!(token.kind(), StageKind::TokenAcquired);
    assert_eq!(
        token.customer().last_verification.as_ref().unwrap().status,
        VerificationStatus::Failed
    );
}

#[tokio::test]
async fn verify_records_success_and_failure() {
    let h = harness();
    let validated = h.validated("contoso").await;
    h.clock.advance(Duration::from_secs(86_400));
    let validated = validated.verify(&h.ta).await.unwrap();
    assert_eq!(validated.stage().validated_at, h.clock_now());
    h.mock.script(&id("contoso"), |s| {
        s.throttle(Operation::Validate, Duration::from_secs(2));
    });
    h.clock.advance(Duration::from_secs(86_400));
    let rejected = validated.verify(&h.ta).await.unwrap_err();
    let validated = rejected.into_onboarding();
    let v = validated.customer().last_verification.as_ref().unwrap();
    assert_eq!(
        (v.status, v.at),
        (VerificationStatus::Transient, h.clock_now())
    );
    let stored = h.ta.load(validated.id()).await.unwrap();
    assert_eq!(
        stored.customer().last_verification.as_ref().unwrap().status,
        VerificationStatus::Transient
    );
}

// ---- refresh and re-authentication --------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_tokens_and_a_dead_refresh_token_requires_reauthentication() {
    let h = harness();
    let validated = h.validated("contoso").await;
    let old = validated.customer().token.clone().unwrap();
    h.clock.advance(Duration::from_secs(50 * 60));
    let RefreshOutcome::Refreshed(validated) = validated.refresh(&h.ta).await.unwrap() else {
        panic!()
    };
    let new = validated.customer().token.clone().unwrap();
    assert_ne!(
        old.access_token.expose_secret(),
        new.access_token.expose_secret()
    );
    assert_ne!(
        old.refresh_token.unwrap().expose_secret(),
        new.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert_eq!(new.obtained_at, h.clock_now());

    h.mock.revoke_refresh_tokens(&id("contoso"));
    let RefreshOutcome::ReauthRequired(dead) = validated.refresh(&h.ta).await.unwrap() else {
        panic!()
    };
    assert!(
        dead.stage().reason.contains("700082"),
        "{}",
        dead.stage().reason
    );
    let invited = dead.reinvite(&h.ta).await.unwrap();
    assert_eq!(invited.customer().method, Method::DeviceCode);
    invited.send(&h.ta).await.unwrap();
}

#[tokio::test]
async fn a_transient_refresh_failure_keeps_the_connection() {
    let h = harness();
    let validated = h.validated("contoso").await;
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::Refresh, 502);
    });
    let rejected = validated.refresh(&h.ta).await.unwrap_err();
    assert!(rejected.error().is_retryable());
    let validated = rejected.into_onboarding();
    assert_eq!(validated.kind(), StageKind::Validated);
    assert!(matches!(
        validated.refresh(&h.ta).await.unwrap(),
        RefreshOutcome::Refreshed(_)
    ));
}

// ---- password journey --------------------------------------------------------------------

async fn password_consent(h: &Harness, id: &str) -> tenant_access::Onboarding<ConsentRequired> {
    h.ta.connect_with_password(
        customer(id),
        format!("admin@{id}.com"),
        Password::new("pw-1"),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn password_journey_with_admin_consent_callback() {
    let h = harness();
    h.mock.script(&id("fabrikam"), |s| {
        s.consent_required();
    });
    let consent = password_consent(&h, "fabrikam").await;
    let url = consent.stage().admin_consent_url().clone();
    assert!(
        url.path()
            .ends_with("/fabrikam.onmicrosoft.com/v2.0/adminconsent")
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], support::CONSENT_CLIENT);
    assert_eq!(q["redirect_uri"], support::REDIRECT);
    assert_eq!(q["scope"], "https://graph.microsoft.com/.default");

    // Before consent the grant fails and the stage stays.
    let rejected = consent.acquire_token(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Provider(ProviderError::ConsentRequired(_))
    ));
    let _consent = rejected.into_onboarding();

    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let token = h.ta.complete_consent(&callback).await.unwrap();
    assert_eq!(token.customer().method, Method::Password);
    assert!(token.customer().device_authenticated_at.is_none());
    let validated = token.validate(&h.ta).await.unwrap();
    assert_eq!(validated.kind(), StageKind::Validated);

    // The same callback again matches no pending consent.
    let err = h.ta.complete_consent(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Flow(FlowError::ConsentStateMismatch)));
}

/// Issue 17 item 8 with the mock: a device-code sign-in that needs consent waits with the
/// admin-consent URL; through `advance` the step says so; after the callback the customer
/// signs in again; a failed or forged callback leaves the stage as stored.
#[tokio::test]
async fn device_code_consent_required_waits_for_the_callback_then_signs_in_again() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.consent_required();
    });
    let device = h.device("contoso").await;
    h.clock.advance(Duration::from_secs(5));
    let advanced = h.ta.advance(device.id()).await.unwrap();
    assert_eq!(advanced.step, tenant_access::journey::Step::ConsentRequired);
    assert_eq!(advanced.next, tenant_access::journey::Next::Waiting);
    let AnyOnboarding::ConsentRequired(waiting) = advanced.journey else {
        panic!("waits for consent")
    };
    let url = waiting.stage().admin_consent_url().clone();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], support::CONSENT_CLIENT);

    let forged = ConsentCallback::from_query("admin_consent=True&tenant=x&state=forged").unwrap();
    assert!(h.ta.accept_consent(&forged).await.is_err());
    assert_eq!(
        h.ta.load(waiting.id()).await.unwrap().kind(),
        StageKind::ConsentRequired
    );

    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let tenant_access::journey::Consented::SignInAgain(claimed) =
        waiting.consent_given(&h.ta, &callback).await.unwrap()
    else {
        panic!("the device code signs in again")
    };
    let device = claimed.start_device_code(&h.ta).await.unwrap();
    let PollOutcome::Authenticated(token) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!("consented now")
    };
    token.validate(&h.ta).await.unwrap();
}

#[tokio::test]
async fn password_journey_with_mfa_points_at_the_device_code_journey() {
    let h = harness();
    h.mock.script(&id("tailspin"), |s| {
        s.mfa_required();
    });
    let consent = password_consent(&h, "tailspin").await;
    let url = consent.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let rejected = consent
        .complete_consent(&h.ta, &callback)
        .await
        .unwrap_err();
    match rejected.error() {
        Error::Provider(ProviderError::MfaRequired(d)) => assert_eq!(d.codes, [50076]),
        other => panic!("{other}"),
    }
    assert!(rejected.error().to_string().contains("device-code journey"));
    assert_eq!(rejected.error().action(), Action::AskCustomer);
    assert_eq!(
        rejected.into_onboarding().kind(),
        StageKind::ConsentRequired
    );
}

#[tokio::test]
async fn bad_credentials_and_declined_or_forged_consent_are_typed() {
    let h = harness();
    h.mock.script(&id("woodgrove"), |s| {
        s.invalid_credentials();
    });
    let consent = password_consent(&h, "woodgrove").await;
    let rejected = consent.acquire_token(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Provider(ProviderError::InvalidCredentials(_))
    ));
    let consent = rejected.into_onboarding();
    let url = consent.stage().admin_consent_url().clone();

    let declined = ConsentCallback::from_url(&h.mock.admin_declines(&url)).unwrap();
    let rejected = consent
        .complete_consent(&h.ta, &declined)
        .await
        .unwrap_err();
    match rejected.error() {
        Error::Provider(ProviderError::ConsentDeclined(d)) => assert_eq!(d.codes, [65004]),
        other => panic!("{other}"),
    }
    let consent = rejected.into_onboarding();

    let mut forged = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    forged.state = Some("d29vZGdyb3Zl.forged".into());
    // A state that is not the journey's is refused before anything else (issue 18 item 2).
    let rejected = consent.complete_consent(&h.ta, &forged).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::ConsentStateMismatch)
    ));
    let err = h.ta.complete_consent(&forged).await.unwrap_err();
    assert!(
        matches!(err, Error::Flow(FlowError::ConsentStateMismatch)),
        "{err}"
    );
    let no_state = ConsentCallback::from_query("admin_consent=True");
    assert!(no_state.is_err());
}

#[tokio::test]
async fn consent_journeys_need_their_configuration() {
    let mock = MockProvider::new();
    let ta = TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .store(MemoryStore::new())
        .mailer(CaptureMailer::new())
        .provider(mock)
        .build()
        .unwrap();
    let err = ta
        .connect_with_password(customer("a"), "admin@a.com", Password::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Config(ConfigError::MissingConsentClientId)
    ));
    let err = ta
        .connect_app_registration(customer("a"), "client", ClientSecret::new("s"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Config(ConfigError::MissingConsentRedirectUrl)
    ));
    assert_eq!(err.action(), Action::FixConfiguration);
    // Nothing was stored.
    assert!(matches!(
        ta.load(&"a".try_into().unwrap()).await.unwrap_err(),
        Error::Flow(FlowError::NotFound(_))
    ));
    let err = ta
        .connect_app_registration(customer("a"), "", ClientSecret::new("s"))
        .await
        .unwrap_err();
    assert_eq!(err.action(), Action::FixInput);
}

#[test]
fn the_builder_names_what_is_missing() {
    let config = || Config::new("https://portal.example.com").unwrap();
    assert_eq!(
        TenantAccess::builder().build().unwrap_err(),
        ConfigError::Missing("config")
    );
    assert_eq!(
        TenantAccess::builder()
            .config(config())
            .store(MemoryStore::new())
            .build()
            .unwrap_err(),
        ConfigError::Missing("mailer")
    );
    assert_eq!(
        TenantAccess::builder()
            .config(config())
            .store(MemoryStore::new())
            .mailer(CaptureMailer::new())
            .build()
            .unwrap_err(),
        ConfigError::Missing("identity provider")
    );
    assert_eq!(
        Config::builder("https://portal.example.com")
            .invitation_lifetime(Duration::ZERO)
            .build()
            .unwrap_err(),
        ConfigError::NotPositive("the invitation lifetime")
    );
    assert!(Config::new("ftp://x").is_err());
    assert!(Config::new("not a url").is_err());
    assert!(Config::new("https://p.example.com/?q=1").is_err());
    assert_eq!(
        Config::new("https://p.example.com/msp")
            .unwrap()
            .invitation_links_at()
            .as_str(),
        "https://p.example.com/msp/invitation/"
    );
}

// ---- app registration -------------------------------------------------------------------

#[tokio::test]
async fn app_registration_journey() {
    let h = harness();
    h.mock.script(&id("woodgrove"), |s| {
        s.consent_required();
    });
    let consent =
        h.ta.connect_app_registration(
            customer("woodgrove"),
            "99999999-8888-7777-6666-555555555555",
            ClientSecret::new("app-secret"),
        )
        .await
        .unwrap();
    let url = consent.stage().admin_consent_url().clone();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "99999999-8888-7777-6666-555555555555");
    // Without consent the app is not in the tenant.
    let rejected = consent.acquire_token(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Provider(ProviderError::AppNotInTenant(_))
    ));
    let consent = rejected.into_onboarding();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let token = consent.complete_consent(&h.ta, &callback).await.unwrap();
    assert!(
        token
            .customer()
            .token
            .as_ref()
            .unwrap()
            .refresh_token
            .is_none()
    );
    let validated = token.validate(&h.ta).await.unwrap();
    // Refreshing an app registration uses client credentials again.
    let RefreshOutcome::Refreshed(_) = validated.refresh(&h.ta).await.unwrap() else {
        panic!()
    };
    assert_eq!(h.mock.count(Operation::ClientCredentials), 3);
    assert_eq!(h.mock.count(Operation::Refresh), 0);
}

// ---- revoke, audit, resume, list ---------------------------------------------------------

#[tokio::test]
async fn revoke_drops_every_secret() {
    let h = harness();
    let validated = h.validated("contoso").await;
    // The provider cannot revoke right now: nothing changes, the error says retry.
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::RevokeTokens, 503);
    });
    let rejected = validated.revoke(&h.ta).await.unwrap_err();
    assert!(rejected.error().is_retryable());
    let validated = rejected.into_onboarding();
    assert!(validated.customer().token.is_some());
    let revoked = validated.revoke(&h.ta).await.unwrap();
    assert_eq!(h.mock.count(Operation::RevokeTokens), 2);
    let c = revoked.customer();
    assert!(c.token.is_none() && c.credentials.is_none());
    assert!(c.invitation.as_ref().unwrap().code_hash.is_none());
    let consent = password_consent(&h, "fabrikam").await;
    let revoked = consent.revoke(&h.ta).await.unwrap();
    assert!(revoked.customer().credentials.is_none());
    // No token, nothing to revoke at the provider.
    assert_eq!(h.mock.count(Operation::RevokeTokens), 2);
    assert_eq!(
        h.ta.load(revoked.id()).await.unwrap().kind(),
        StageKind::Revoked
    );
}

#[tokio::test]
async fn every_transition_is_an_audit_event_with_its_actor() {
    let h = harness();
    let (sent, code) = h.sent("contoso").await;
    drop(sent);
    let customer_side = h.ta.acting_as(Actor::Customer);
    let AnyOnboarding::InvitationSent(sent) = customer_side.open_invitation(&code).await.unwrap()
    else {
        panic!()
    };
    let device = sent
        .claim(&customer_side)
        .await
        .unwrap()
        .start_device_code(&customer_side)
        .await
        .unwrap();
    let PollOutcome::Authenticated(token) = device.poll_until_done(&customer_side).await.unwrap()
    else {
        panic!()
    };
    token
        .validate(&h.ta.acting_as(Actor::System))
        .await
        .unwrap();
    let events = h.ta.events(&"contoso".try_into().unwrap()).await.unwrap();
    let trail: Vec<_> = events
        .iter()
        .map(|e| (e.from, e.to, e.actor.to_string()))
        .collect();
    let op = "operator:alice@msp.example".to_string();
    assert_eq!(
        trail,
        [
            (None, StageKind::Invited, op.clone()),
            (Some(StageKind::Invited), StageKind::InvitationSent, op),
            (
                Some(StageKind::InvitationSent),
                StageKind::Claimed,
                "customer".into()
            ),
            (
                Some(StageKind::Claimed),
                StageKind::DeviceCodeIssued,
                "customer".into()
            ),
            (
                Some(StageKind::DeviceCodeIssued),
                StageKind::TokenAcquired,
                "customer".into()
            ),
            (
                Some(StageKind::TokenAcquired),
                StageKind::Validated,
                "system".into()
            ),
        ]
    );
}

/// The customer [`each_stage_but_expired`] (or [`expired`]) drives into `stage`:
/// `{prefix}-invited`, `-sent`, `-claimed`, `-device`, `-approval`, `-consent`, `-token`,
/// `-validated`, `-reauth`, `-revoked` or `-expired`.
fn in_stage(prefix: &str, stage: StageKind) -> String {
    let suffix = match stage {
        StageKind::Invited => "invited",
        StageKind::InvitationSent => "sent",
        StageKind::Claimed => "claimed",
        StageKind::DeviceCodeIssued => "device",
        StageKind::BrowserSignIn => "browser",
        StageKind::ApprovalRequested => "approval",
        StageKind::ConsentRequired => "consent",
        StageKind::TokenAcquired => "token",
        StageKind::Validated => "validated",
        StageKind::ReauthRequired => "reauth",
        StageKind::Revoked => "revoked",
        StageKind::Expired => "expired",
        other => panic!("no customer for {other:?}"),
    };
    format!("{prefix}-{suffix}")
}

/// Drives one customer into each stage but [`StageKind::Expired`] (see [`in_stage`]).
async fn each_stage_but_expired(h: &Harness, prefix: &str) {
    let name = |stage: &str| format!("{prefix}-{stage}");
    h.ta.invite(customer(&name("invited"))).await.unwrap();
    h.sent(&name("sent")).await;
    h.claimed(&name("claimed")).await;
    h.device(&name("device")).await;
    h.claimed(&name("browser"))
        .await
        .start_browser_sign_in(&h.ta)
        .await
        .unwrap();
    h.mock.script(&id(&name("approval")), |s| {
        s.approval_workflow();
    });
    h.device(&name("approval"))
        .await
        .poll_until_done(&h.ta)
        .await
        .unwrap();
    password_consent(h, &name("consent")).await;
    let PollOutcome::Authenticated(_) = h
        .device(&name("token"))
        .await
        .poll_until_done(&h.ta)
        .await
        .unwrap()
    else {
        panic!()
    };
    h.validated(&name("validated")).await;
    h.mock.revoke_refresh_tokens(&id(&name("reauth")));
    h.validated(&name("reauth"))
        .await
        .refresh(&h.ta)
        .await
        .unwrap();
    h.ta.invite(customer(&name("revoked")))
        .await
        .unwrap()
        .revoke(&h.ta)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_stage_round_trips_through_the_store_and_resumes() {
    let h = harness();
    // Drive one customer into each stage.
    each_stage_but_expired(&h, "s").await;
    expired(&h, "s-expired").await;

    let page =
        h.ta.list(&Filter::all(), &PageRequest::first(100))
            .await
            .unwrap();
    let mut kinds: Vec<StageKind> = page.items.iter().map(AnyOnboarding::kind).collect();
    kinds.sort();
    assert_eq!(kinds, StageKind::ALL);

    // Resume each one as a new process would: load and continue where it stands.
    for any in page.items {
        let id = any.id().clone();
        let version = any.version();
        let record = any.into_record();
        assert_eq!(record.version, version);
        match h.ta.load(&id).await.unwrap() {
            AnyOnboarding::Invited(o) => {
                o.send(&h.ta).await.unwrap();
            }
            AnyOnboarding::InvitationSent(o) => {
                o.claim(&h.ta).await.unwrap();
            }
            AnyOnboarding::Claimed(o) => {
                o.start_device_code(&h.ta).await.unwrap();
            }
            AnyOnboarding::DeviceCodeIssued(o) => {
                assert!(matches!(
                    o.poll(&h.ta).await.unwrap(),
                    PollOutcome::Expired(_)
                ));
            }
            AnyOnboarding::BrowserSignIn(o) => {
                // Resumed with its sealed state and verifier: the customer's redirect back is
                // recognised, but a week later (the clock jump) it is refused as expired.
                let callback = tenant_access::ports::SignInCallback::from_url(
                    &h.mock.signs_in(o.stage().authorize_url()),
                )
                .unwrap();
                let rejected = o.complete(&h.ta, &callback).await.unwrap_err();
                assert!(matches!(
                    rejected.error(),
                    Error::Flow(FlowError::SignInExpired { .. })
                ));
                rejected.into_onboarding().abandon(&h.ta).await.unwrap();
            }
            AnyOnboarding::ApprovalRequested(o) => {
                h.mock
                    .approve(&tenant_access::CustomerId::new("s-approval").unwrap());
                o.continue_authentication(&h.ta).await.unwrap();
            }
            AnyOnboarding::ConsentRequired(o) => {
                h.mock
                    .grant_consent(&tenant_access::CustomerId::new("s-consent").unwrap());
                o.acquire_token(&h.ta).await.unwrap();
            }
            AnyOnboarding::TokenAcquired(o) => {
                o.validate(&h.ta).await.unwrap();
            }
            AnyOnboarding::Validated(o) => {
                o.verify(&h.ta).await.unwrap();
            }
            AnyOnboarding::ReauthRequired(o) => {
                o.reinvite(&h.ta).await.unwrap();
            }
            AnyOnboarding::Expired(o) => {
                o.reinvite(&h.ta).await.unwrap();
            }
            AnyOnboarding::Revoked(o) => assert!(o.customer().token.is_none()),
            other => panic!("unexpected stage {:?}", other.kind()),
        }
    }
}

#[tokio::test]
async fn try_into_stage_hands_the_journey_back_when_the_stage_differs() {
    let h = harness();
    h.ta.invite(customer("contoso")).await.unwrap();
    let any = h.ta.load(&"contoso".try_into().unwrap()).await.unwrap();
    let wrong = any.try_into_stage::<Validated>().unwrap_err();
    assert_eq!(wrong.found.kind(), StageKind::Invited);
    let err: Error = wrong.into();
    assert!(matches!(
        err,
        Error::Flow(FlowError::UnexpectedStage {
            expected: StageKind::Validated,
            actual: StageKind::Invited
        })
    ));
    assert!(
        h.ta.load(&"contoso".try_into().unwrap())
            .await
            .unwrap()
            .try_into_stage::<tenant_access::journey::Invited>()
            .is_ok()
    );
}

#[tokio::test]
async fn two_replicas_racing_on_one_customer_never_both_win() {
    let h = harness();
    h.sent("contoso").await;
    let id = "contoso".try_into().unwrap();
    let a = h.ta.load(&id).await.unwrap().try_into_stage().unwrap();
    let b = h.ta.load(&id).await.unwrap().try_into_stage().unwrap();
    let (ra, rb) = tokio::join!(
        tenant_access::Onboarding::<tenant_access::journey::InvitationSent>::claim(a, &h.ta),
        tenant_access::Onboarding::<tenant_access::journey::InvitationSent>::claim(b, &h.ta)
    );
    assert_eq!(ra.is_ok() as u8 + rb.is_ok() as u8, 1);
    let loser = ra.err().or(rb.err()).unwrap();
    assert!(matches!(
        loser.error(),
        Error::Store(StoreError::Conflict { .. })
    ));
    assert_eq!(loser.error().action(), Action::Reload);
    assert_eq!(loser.into_onboarding().kind(), StageKind::InvitationSent);
    assert_eq!(h.ta.load(&id).await.unwrap().kind(), StageKind::Claimed);
    assert_eq!(h.store.events(&id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn status_report_has_one_row_per_customer() {
    let h = harness();
    h.validated("a-validated").await;
    h.ta.invite(customer("b-invited")).await.unwrap();
    password_consent(&h, "c-password").await;
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(rows.len(), 3);
    let a = &rows[0];
    assert_eq!(a.customer.as_str(), "a-validated");
    assert_eq!(a.stage, StageKind::Validated);
    assert!(a.email_sent && a.device_authenticated);
    assert!(a.token_expires_at.is_some() && a.last_verified_at.is_some());
    assert_eq!(a.last_verification, Some(VerificationStatus::Ok));
    assert!(!rows[1].email_sent && rows[1].token_created_at.is_none());
    assert_eq!(rows[2].method, Method::Password);
    assert!(rows.iter().all(|r| r.switch.is_none()));
    let table = tenant_access::ops::StatusRow::table(&rows);
    assert_eq!(table.lines().count(), 4);
    assert!(table.starts_with("customer"));
    assert!(!table.contains("mock-at-"), "no token in the report");

    // A method switch under way is folded into its customer's row.
    h.ta.switch_to_device_code(&"a-validated".try_into().unwrap(), None)
        .await
        .unwrap();
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].customer.as_str(), "a-validated");
    assert_eq!(rows[0].stage, StageKind::Validated);
    assert_eq!(
        rows[0].switch,
        Some(PendingSwitchStatus {
            method: Method::DeviceCode,
            stage: StageKind::Invited,
        })
    );
    assert!(rows[1..].iter().all(|r| r.switch.is_none()));
    let table = tenant_access::ops::StatusRow::table(&rows);
    assert_eq!(table.lines().count(), 4);
    assert!(table.contains("device_code (invited)"), "{table}");
    assert!(!table.contains("#switch"), "{table}");
}

#[tokio::test]
async fn status_report_shows_a_switch_in_its_customers_row_on_any_page() {
    let h = harness();
    // 499 customers before `z`, so `z` ends the report's first page of 500; its switch is in
    // its own record, not a journey of its own on the next page.
    for n in 0..499 {
        h.ta.invite(customer(&format!("c{n:03}"))).await.unwrap();
    }
    h.validated("z").await;
    h.ta.invite(customer("zz")).await.unwrap();
    let z: tenant_access::CustomerId = "z".try_into().unwrap();
    h.ta.switch_to_device_code(&z, None)
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
    let first =
        h.ta.list(&Filter::all(), &PageRequest::first(500))
            .await
            .unwrap();
    assert_eq!(first.items.last().unwrap().id(), &z);
    assert!(first.items.last().unwrap().pending_switch().is_some());
    let second =
        h.ta.list(&Filter::all(), &first.next.unwrap())
            .await
            .unwrap();
    assert_eq!(
        second.items.len(),
        1,
        "only zz: a switch is no journey of its own"
    );
    assert_eq!(second.items[0].id().as_str(), "zz");

    let pending = Some(PendingSwitchStatus {
        method: Method::DeviceCode,
        stage: StageKind::InvitationSent,
    });
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(rows.len(), 501);
    assert_eq!(rows[499].customer, z);
    assert_eq!(rows[499].switch, pending);
    assert_eq!(rows.iter().filter(|r| r.switch.is_some()).count(), 1);

    // A filter on the connection's stage keeps the switch in the row, whatever its stage.
    let rows =
        h.ta.status_report(&Filter::stages([StageKind::Invited, StageKind::Validated]))
            .await
            .unwrap();
    assert_eq!(rows.len(), 501);
    assert_eq!(rows[499].customer, z);
    assert_eq!(rows[499].switch, pending);
    assert_eq!(rows.iter().filter(|r| r.switch.is_some()).count(), 1);
    // Only the switch's stage matches: the filter is on the connection, so no row.
    let rows =
        h.ta.status_report(&Filter::stages([StageKind::InvitationSent]))
            .await
            .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

// ---- resending an invitation --------------------------------------------------------------

/// The latest invitation code mailed to `id`'s admin, if any.
fn last_code(h: &Harness, id: &str) -> Option<String> {
    h.mailer.last_code_to(&format!("admin@{id}.com"))
}

#[tokio::test]
async fn resend_invitation_mails_a_new_link_wherever_the_customer_is_awaited() {
    let h = harness();
    // Expired first: the clock jump must not expire the others.
    expired(&h, &in_stage("r", StageKind::Expired)).await;
    each_stage_but_expired(&h, "r").await;

    for stage in StageKind::ALL
        .into_iter()
        .filter(|s| s.can_resend_invitation())
    {
        let name = in_stage("r", stage);
        let name = name.as_str();
        let id: tenant_access::CustomerId = name.try_into().unwrap();
        assert_eq!(h.ta.load(&id).await.unwrap().kind(), stage, "{name}");
        let old = last_code(&h, name);
        let sent = h.ta.resend_invitation(&id).await.unwrap();
        assert_eq!(sent.id(), &id);
        assert_eq!(sent.customer().method, Method::DeviceCode, "{name}");
        let new = last_code(&h, name).expect("a new link mailed");
        assert_ne!(Some(&new), old.as_ref(), "{name}");
        match h.ta.open_invitation(&new).await.unwrap() {
            AnyOnboarding::InvitationSent(o) => assert_eq!(o.id(), &id),
            other => panic!("{name}: unexpected {:?}", other.kind()),
        }
        if let Some(old) = old {
            assert!(
                matches!(
                    h.ta.open_invitation(&old).await.unwrap_err(),
                    Error::InvalidInvitation
                ),
                "{name}: the old link still works"
            );
        }
    }
}

#[tokio::test]
async fn resend_invitation_refuses_stages_without_an_invitation_and_changes_nothing() {
    let h = harness();
    each_stage_but_expired(&h, "n").await;
    let refused: Vec<StageKind> = StageKind::ALL
        .into_iter()
        .filter(|s| !s.can_resend_invitation())
        .collect();
    assert_eq!(
        refused,
        [
            StageKind::ConsentRequired,
            StageKind::TokenAcquired,
            StageKind::Validated,
            StageKind::Revoked
        ]
    );
    for stage in refused {
        let name = in_stage("n", stage);
        let name = name.as_str();
        let id: tenant_access::CustomerId = name.try_into().unwrap();
        let before = h.ta.load(&id).await.unwrap();
        assert_eq!(before.kind(), stage, "{name}");
        let mails = h.mailer.attempts();
        let events = h.store.events(&id).await.unwrap().len();
        let err = h.ta.resend_invitation(&id).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Flow(FlowError::NothingToResend { customer, stage: s })
                    if customer == &id && *s == stage
            ),
            "{name}: {err}"
        );
        assert_eq!(err.action(), Action::FixInput);
        let after = h.ta.load(&id).await.unwrap();
        assert_eq!(after.kind(), stage, "{name}");
        assert_eq!(after.version(), before.version(), "{name}");
        assert_eq!(h.mailer.attempts(), mails, "{name}");
        assert_eq!(h.store.events(&id).await.unwrap().len(), events, "{name}");
    }
    let unknown: tenant_access::CustomerId = "nobody".try_into().unwrap();
    assert!(matches!(
        h.ta.resend_invitation(&unknown).await.unwrap_err(),
        Error::Flow(FlowError::NotFound(_))
    ));
}

#[test]
fn bad_customer_input_is_a_typed_error() {
    assert!(NewCustomer::new("", "contoso.com", "a@contoso.com").is_err());
    assert!(NewCustomer::new("x", "common", "a@contoso.com").is_err());
    assert!(NewCustomer::new("x", "contoso.com", "a\r\n@contoso.com").is_err());
    let err: Error = NewCustomer::new("x", "contoso.com", "nope")
        .unwrap_err()
        .into();
    assert_eq!(err.action(), Action::FixInput);
}

#[tokio::test]
async fn provider_details_keep_unknown_codes() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.fail(
            Operation::DeviceAuthorization,
            ProviderError::Other(
                ProviderDetail::new("weird_error", "AADSTS999999: something new").with_code(999999),
            ),
        );
    });
    let claimed = h.claimed("contoso").await;
    let rejected = claimed.start_device_code(&h.ta).await.unwrap_err();
    assert!(rejected.error().to_string().contains("AADSTS999999"));
    let _: tenant_access::Onboarding<Claimed> = rejected.into_onboarding();
    let _unused: Option<(ApprovalRequested, DeviceCodeIssued, TokenAcquired)> = None;
}

/// Issue 18 item 2: a callback whose `state` does not verify changes nothing (no write, no
/// version bump, no `last_error`), gets one answer for every kind of mismatch, and forged
/// callbacks racing the real one never make it fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_consent_callbacks_change_nothing_and_never_beat_the_real_one() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let h = harness();
    h.mock.script(&id("fabrikam"), |s| {
        s.consent_required();
    });
    let consent = password_consent(&h, "fabrikam").await;
    let before = h.store.load(consent.id()).await.unwrap().unwrap();
    let forged = |who: &str, n: u32| {
        let state = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(who),
            URL_SAFE_NO_PAD.encode(format!("guess-{n}"))
        );
        ConsentCallback::from_query(&format!("admin_consent=True&tenant=t&state={state}")).unwrap()
    };

    // Wrong state for a pending customer, unknown customer, garbage, no state: one answer.
    let kinds = [
        forged("fabrikam", 0),
        forged("nobody-here", 0),
        ConsentCallback::from_query("admin_consent=True&state=garbage").unwrap(),
    ];
    let mut answers = Vec::new();
    for callback in &kinds {
        let err = h.ta.accept_consent(callback).await.unwrap_err();
        assert!(
            matches!(err, Error::Flow(FlowError::ConsentStateMismatch)),
            "{err:?}"
        );
        answers.push((err.to_string(), err.action()));
        let err = h.ta.complete_consent(callback).await.unwrap_err();
        answers.push((err.to_string(), err.action()));
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "{answers:?}");
    // The typed API refuses a wrong state the same way, handing the stage back.
    let rejected = consent
        .complete_consent(&h.ta, &forged("fabrikam", 1))
        .await
        .unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::ConsentStateMismatch)
    ));
    let consent = rejected.into_onboarding();
    let after = h.store.load(consent.id()).await.unwrap().unwrap();
    assert_eq!(after.version, before.version);
    assert_eq!(after.customer.last_error, before.customer.last_error);

    // Four attackers race the administrator's real callback.
    let url = consent.stage().admin_consent_url().clone();
    let real = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let attackers: Vec<_> = (0..4u32)
        .map(|a| {
            let ta = h.ta.clone();
            let callbacks: Vec<_> = (0..25).map(|n| forged("fabrikam", 100 * a + n)).collect();
            tokio::spawn(async move {
                for callback in callbacks {
                    assert!(ta.accept_consent(&callback).await.is_err());
                }
            })
        })
        .collect();
    let token = h.ta.complete_consent(&real).await.unwrap();
    for attacker in attackers {
        attacker.await.unwrap();
    }
    // One write, the real one's.
    assert_eq!(token.version(), before.version.next());
    let stored = h.store.load(consent.id()).await.unwrap().unwrap();
    assert_eq!(stored.version, token.version());
    assert_eq!(stored.stage.kind(), StageKind::TokenAcquired);
}
