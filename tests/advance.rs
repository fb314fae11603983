//! `advance`: the one step for stateless handlers. A whole device-code journey, the admin
//! consent workflow included, driven by `advance` alone (the customer's button presses are
//! the only other calls), across a restart: a second engine on the same store takes over
//! half way. `advance` never polls before the journey says, and never does anything when
//! nothing is due.

mod support;

use std::time::Duration;
use support::{customer, harness};
use tenant_access::journey::{AnyOnboarding, Next, Step};
use tenant_access::model::{JourneyId, StageKind};
use tenant_access::testing::mock::Operation;
use tenant_access::{Config, CustomerId, Error, TenantAccess};

fn id(text: &str) -> CustomerId {
    CustomerId::new(text).unwrap()
}

#[tokio::test]
async fn a_device_code_journey_with_approval_runs_on_advance_alone_across_a_restart() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.pending(1).approval_workflow();
    });
    let contoso = id("contoso");
    h.ta.invite(customer("contoso"))
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
    // Nothing is due while the invitation waits for the customer.
    let idle = h.ta.advance(&contoso).await.unwrap();
    assert_eq!((idle.step, idle.next), (Step::Nothing, Next::Waiting));
    assert_eq!(idle.journey.kind(), StageKind::InvitationSent);

    // The customer opens the link and presses "Start authentication".
    let code = h.mailer.last_code_to("admin@contoso.com").unwrap();
    let AnyOnboarding::InvitationSent(sent) = h.ta.open_invitation(&code).await.unwrap() else {
        panic!("the link opens the journey")
    };
    let device = sent
        .claim(&h.ta)
        .await
        .unwrap()
        .start_device_code(&h.ta)
        .await
        .unwrap();
    let first_poll = device.stage().next_poll_at;

    // Before the interval has passed: no request, and the time to come back.
    let early = h.ta.advance(&contoso).await.unwrap();
    assert_eq!(early.step, Step::Nothing);
    assert_eq!(early.next, Next::At(first_poll));
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 0);

    // One poll once it has: still pending.
    h.clock.set(first_poll);
    let pending = h.ta.advance(&contoso).await.unwrap();
    assert_eq!(pending.step, Step::Polled);
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 1);
    let Next::At(second_poll) = pending.next else {
        panic!("poll again later: {:?}", pending.next)
    };
    assert!(second_poll > first_poll);
    // Called again at once, it sends nothing.
    let again = h.ta.advance(&contoso).await.unwrap();
    assert_eq!(again.step, Step::Nothing);
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 1);

    // The portal restarts: a second engine on the same store carries on.
    let restarted: TenantAccess = h.engine(config(), h.store.clone());
    h.clock.set(second_poll);
    let waiting = restarted.advance(&contoso).await.unwrap();
    assert_eq!(waiting.step, Step::ApprovalRequested);
    assert_eq!(waiting.next, Next::Waiting);
    assert_eq!(waiting.journey.kind(), StageKind::ApprovalRequested);
    // Days pass with nothing due; then a reviewer approves and the customer continues.
    h.clock.advance(Duration::from_secs(2 * 86_400));
    let idle = restarted.advance(&contoso).await.unwrap();
    assert_eq!(idle.step, Step::Nothing);
    h.mock.approve(&id("contoso"));
    let AnyOnboarding::ApprovalRequested(approved) = idle.journey else {
        panic!("still waiting for approval")
    };
    let device = approved.continue_authentication(&restarted).await.unwrap();
    h.clock.set(device.stage().next_poll_at);
    let signed_in = restarted.advance(&contoso).await.unwrap();
    assert_eq!(signed_in.step, Step::Authenticated);
    assert_eq!(signed_in.next, Next::Now);
    let done = restarted.advance(&contoso).await.unwrap();
    assert_eq!(done.step, Step::Validated);
    assert_eq!(done.next, Next::Waiting);
    assert_eq!(done.journey.kind(), StageKind::Validated);
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 3);
    // The first engine sees the same journey.
    assert_eq!(
        h.ta.load(&contoso).await.unwrap().kind(),
        StageKind::Validated
    );
}

#[tokio::test]
async fn advance_expires_an_invitation_whose_time_ran_out() {
    let h = harness();
    let contoso = id("contoso");
    h.ta.invite(customer("contoso"))
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(8 * 86_400));
    let expired = h.ta.advance(&contoso).await.unwrap();
    assert_eq!(expired.step, Step::InvitationExpired);
    assert_eq!(expired.journey.kind(), StageKind::Expired);
    let code = h.mailer.last_code_to("admin@contoso.com").unwrap();
    assert!(matches!(
        h.ta.open_invitation(&code).await,
        Err(Error::InvalidInvitation)
    ));
}

#[tokio::test]
async fn a_device_code_expired_before_sign_in_goes_back_to_the_start() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.pending(1_000);
    });
    let device = h.device("contoso").await;
    h.clock.set(device.stage().expires_at);
    let expired = h.ta.advance(&id("contoso")).await.unwrap();
    assert_eq!(expired.step, Step::DeviceCodeExpired);
    assert_eq!(expired.journey.kind(), StageKind::Claimed);
    assert_eq!(expired.next, Next::Waiting);
}

#[tokio::test]
async fn advance_on_a_switch_follows_that_switch_and_refuses_it_once_cancelled() {
    let h = harness();
    h.validated("contoso").await;
    let contoso = id("contoso");
    let switch = h.ta.switch_to_device_code(&contoso, None).await.unwrap();
    let journey: JourneyId = switch.switch_journey().unwrap().clone();
    let advanced = h.ta.advance_switch(&contoso, &journey).await.unwrap();
    assert!(advanced.journey.is_switch());
    assert_eq!(advanced.journey.kind(), StageKind::Invited);
    h.ta.cancel_switch(&contoso).await.unwrap();
    // A new switch has a new id: the old one stays refused.
    h.ta.switch_to_device_code(&contoso, None).await.unwrap();
    assert!(matches!(
        h.ta.advance_switch(&contoso, &journey).await,
        Err(Error::Flow(
            tenant_access::error::FlowError::NoSwitchInProgress(_)
        ))
    ));
}

#[tokio::test]
async fn an_unknown_customer_is_not_found() {
    let h = harness();
    let err = h.ta.advance(&id("nobody")).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Flow(tenant_access::error::FlowError::NotFound(_))
    ));
}

fn config() -> Config {
    Config::builder("https://portal.example.com")
        .consent_client_id(support::CONSENT_CLIENT)
        .consent_redirect_url(support::REDIRECT)
        .build()
        .unwrap()
}

/// A poll that met a passing fault surfaces from `advance` as a retryable error whose
/// Action says when; the stored journey then waits for that moment (nothing is sent
/// before it).
#[tokio::test]
async fn a_failed_poll_through_advance_says_when_to_come_back() {
    let h = harness();
    h.mock.script(&id("contoso"), |s| {
        s.fail(
            Operation::PollDeviceCode,
            tenant_access::error::ProviderError::Transport("connection reset".into()),
        );
    });
    let contoso = id("contoso");
    let device = h.device("contoso").await;
    h.clock.set(device.stage().next_poll_at);
    let error: Error = h.ta.advance(&contoso).await.unwrap_err();
    let after = device.stage().interval;
    assert_eq!(
        error.action(),
        tenant_access::error::Action::Retry { after }
    );
    assert!(error.is_retryable());
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 1);
    let waiting = h.ta.advance(&contoso).await.unwrap();
    assert_eq!(waiting.step, Step::Nothing);
    assert_eq!(waiting.next, Next::At(device.stage().next_poll_at + after));
    assert_eq!(h.mock.count(Operation::PollDeviceCode), 1);
}
