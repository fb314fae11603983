//! Dispatching the outbox in one process, with the manual clock: a webhook receiver on
//! 127.0.0.1 that checks the HMAC signature gets each notice once; one that fails three times
//! gets it on the fourth try, after the backoff; one that always fails dead-letters it; a
//! forged signature is refused; the email digest is one mail per run; a failing notifier
//! never stops a journey.

mod notify_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify_support::{Receiver, SECRET};
use support::{Harness, harness_with};
use tenant_access::EmailAddress;
use tenant_access::model::{Change, Notice, Reason};
use tenant_access::notify::webhook::WebhookNotifier;
use tenant_access::notify::{EmailDigestNotifier, LogNotifier};
use tenant_access::ops::DispatchReport;
use tenant_access::ports::{
    Clock, DispatchPolicy, Notifier, NotifyError, OutboxQuery, OutboxState,
};

const DAY: Duration = Duration::from_secs(86_400);

fn world() -> Harness {
    harness_with(|c| c.notify_channels(["webhook"]))
}

/// `n` customers whose invitations went unanswered: one notice each after a health pass.
async fn unanswered(h: &Harness, n: usize) {
    for i in 0..n {
        h.sent(&format!("customer-{i:03}")).await;
    }
    h.clock.advance(8 * DAY);
    let report = h.ta.health_pass().await.unwrap();
    assert_eq!(report.notices, n);
}

async fn entries(h: &Harness, state: OutboxState) -> Vec<tenant_access::ports::OutboxEntry> {
    h.ta.outbox(&OutboxQuery { state, limit: 1000 })
        .await
        .unwrap()
}

fn webhook(h: &Harness, receiver: &Receiver) -> WebhookNotifier {
    WebhookNotifier::new(&receiver.url, SECRET.to_vec())
        .unwrap()
        .clock(Arc::new(h.clock.clone()))
}

fn policy() -> DispatchPolicy {
    DispatchPolicy {
        backoff: Duration::from_secs(30),
        ..DispatchPolicy::channel("webhook")
    }
}

#[tokio::test]
async fn every_notice_reaches_the_receiver_once_signed() {
    let h = world();
    unanswered(&h, 5).await;
    let receiver = Receiver::start(Arc::new(h.clock.clone()), Duration::ZERO).await;
    let report =
        h.ta.dispatch_notices(&webhook(&h, &receiver), &policy())
            .await
            .unwrap();
    assert_eq!(
        report,
        DispatchReport {
            claimed: 5,
            delivered: 5,
            ..DispatchReport::default()
        }
    );
    let acknowledged = receiver.acknowledged();
    assert_eq!(acknowledged.len(), 5);
    assert!(acknowledged.values().all(|n| *n == 1));
    assert_eq!(receiver.refused(), 0);
    assert_eq!(entries(&h, OutboxState::Delivered).await.len(), 5);
    assert!(entries(&h, OutboxState::Pending).await.is_empty());
    // Nothing is delivered twice.
    let again =
        h.ta.dispatch_notices(&webhook(&h, &receiver), &policy())
            .await
            .unwrap();
    assert_eq!(again, DispatchReport::default());
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_notice_on_the_fourth_try() {
    let h = world();
    unanswered(&h, 1).await;
    let receiver = Receiver::start(Arc::new(h.clock.clone()), Duration::ZERO).await;
    receiver.fail_next(3);
    let notifier = webhook(&h, &receiver);
    // Tries 1 to 3 fail; each waits its backoff (30 s, 60 s, 120 s) before the next.
    for (attempt, wait) in [(1, 30), (2, 60), (3, 120)] {
        let report = h.ta.dispatch_notices(&notifier, &policy()).await.unwrap();
        assert_eq!(report.retried, 1, "try {attempt}");
        let pending = entries(&h, OutboxState::Pending).await;
        assert_eq!(pending[0].attempts, attempt);
        assert_eq!(
            pending[0].last_error.as_deref(),
            Some("webhook answered HTTP 500")
        );
        // Not due before its backoff is over.
        h.clock.advance(Duration::from_secs(wait - 1));
        let early = h.ta.dispatch_notices(&notifier, &policy()).await.unwrap();
        assert_eq!(early.claimed, 0, "claimed before its backoff ended");
        h.clock.advance(Duration::from_secs(1));
    }
    let report = h.ta.dispatch_notices(&notifier, &policy()).await.unwrap();
    assert_eq!(report.delivered, 1);
    let delivered = entries(&h, OutboxState::Delivered).await;
    assert_eq!(delivered[0].attempts, 4);
    assert_eq!(receiver.requests().len(), 4);
    assert!(
        receiver
            .requests()
            .iter()
            .all(|id| *id == delivered[0].notice.id.as_str())
    );
    assert_eq!(receiver.acknowledged().values().sum::<usize>(), 1);
}

#[tokio::test]
async fn a_notice_that_never_gets_through_is_dead_lettered_and_listed() {
    let h = world();
    unanswered(&h, 1).await;
    let receiver = Receiver::start(Arc::new(h.clock.clone()), Duration::ZERO).await;
    receiver.fail_next(usize::MAX);
    let notifier = webhook(&h, &receiver);
    let policy = DispatchPolicy {
        max_attempts: 3,
        ..policy()
    };
    let mut dead = 0;
    for _ in 0..3 {
        dead +=
            h.ta.dispatch_notices(&notifier, &policy)
                .await
                .unwrap()
                .dead;
        h.clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(dead, 1);
    let letters = entries(&h, OutboxState::Dead).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(
        letters[0].notice.attention.reason,
        Reason::InvitationUnanswered
    );
    assert!(entries(&h, OutboxState::Pending).await.is_empty());
    h.clock.advance(DAY);
    assert_eq!(
        h.ta.dispatch_notices(&notifier, &policy).await.unwrap(),
        DispatchReport::default()
    );
}

#[tokio::test]
async fn a_forged_signature_is_refused_by_the_receiver_and_the_notice_retried() {
    let h = world();
    unanswered(&h, 1).await;
    let receiver = Receiver::start(Arc::new(h.clock.clone()), Duration::ZERO).await;
    let forger = WebhookNotifier::new(&receiver.url, b"not the secret".to_vec())
        .unwrap()
        .clock(Arc::new(h.clock.clone()));
    let report = h.ta.dispatch_notices(&forger, &policy()).await.unwrap();
    assert_eq!(report.retried, 1);
    assert_eq!(receiver.refused(), 1);
    assert!(receiver.acknowledged().is_empty());
    // A replay of a genuine request hours later is refused as stale: the signature's
    // timestamp is checked against the receiver's clock.
    let stale = Receiver::start(
        Arc::new(tenant_access::testing::ManualClock::new(
            h.clock.now() + time::Duration::hours(2),
        )),
        Duration::ZERO,
    )
    .await;
    h.clock.advance(Duration::from_secs(60));
    let report =
        h.ta.dispatch_notices(&webhook(&h, &stale), &policy())
            .await
            .unwrap();
    assert_eq!((report.retried, stale.refused()), (1, 1));
}

#[tokio::test]
async fn the_email_digest_is_one_mail_per_run_listing_every_change() {
    let h = harness_with(|c| c.notify_channels(["operators"]));
    unanswered(&h, 4).await;
    let digest = EmailDigestNotifier::new(
        Arc::new(h.mailer.clone()),
        vec![EmailAddress::new("noc@msp.example").unwrap()],
    )
    .msp_name("Northwind IT");
    let policy = DispatchPolicy::channel("operators");
    let report = h.ta.dispatch_notices(&digest, &policy).await.unwrap();
    assert_eq!(report.delivered, 4);
    let mails = h.mailer.operator_messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to[0].as_str(), "noc@msp.example");
    assert_eq!(
        mails[0].subject,
        "[Northwind IT] 4 connection(s) need attention, 0 recovered"
    );
    for i in 0..4 {
        assert!(
            mails[0].text.contains(&format!(
                "customer-{i:03}: gained invitation_unanswered (resend the invitation)"
            )),
            "{}",
            mails[0].text
        );
    }
    // The next run has nothing new: no mail.
    h.ta.dispatch_notices(&digest, &policy).await.unwrap();
    assert_eq!(h.mailer.operator_messages().len(), 1);
    // The log notifier takes a channel too.
    let log = h.ta.dispatch_notices(&LogNotifier, &policy).await.unwrap();
    assert_eq!(log, DispatchReport::default());
}

/// A notifier that always fails.
#[derive(Debug)]
struct Down;

#[async_trait]
impl Notifier for Down {
    async fn deliver(&self, _: &[Notice]) -> Result<(), NotifyError> {
        Err(NotifyError("down".into()))
    }
}

#[tokio::test]
async fn a_failing_notifier_never_stops_a_journey() {
    let h = world();
    unanswered(&h, 2).await;
    let failed = h.ta.dispatch_notices(&Down, &policy()).await.unwrap();
    assert_eq!(failed.retried, 2);
    // The journeys go on, and their changes queue behind.
    h.ta.resend_invitation(&tenant_access::CustomerId::new("customer-000").unwrap())
        .await
        .unwrap();
    let pending = entries(&h, OutboxState::Pending).await;
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0].notice.change, Change::Cleared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_dispatcher_delivers_until_shut_down() {
    let h = world();
    unanswered(&h, 3).await;
    let receiver = Receiver::start(Arc::new(h.clock.clone()), Duration::ZERO).await;
    let mut dispatcher = h.ta.spawn_dispatcher(
        Arc::new(webhook(&h, &receiver)),
        policy(),
        Duration::from_secs(5),
    );
    dispatcher.wait_for_passes(2).await;
    dispatcher.shutdown().await;
    assert_eq!(receiver.acknowledged().len(), 3);
}
