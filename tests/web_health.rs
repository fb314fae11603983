//! Connection health in the admin pages over real HTTP on 127.0.0.1: the status page shows each
//! attention reason with its evidence and remedy and filters to the customers that need
//! attention; the *Notifications* page lists the waiting notices and the dead letters.

use std::time::Duration;

use async_trait::async_trait;
use tenant_access::model::Notice;
use tenant_access::ports::{DispatchPolicy, Notifier, NotifyError};

#[path = "support/web.rs"]
mod web_support;
use web_support::*;

/// A webhook endpoint that is down.
#[derive(Debug)]
struct Down;

#[async_trait]
impl Notifier for Down {
    async fn deliver(&self, _: &[Notice]) -> Result<(), NotifyError> {
        Err(NotifyError("webhook answered HTTP 503".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_show_attention_and_the_outbox() {
    let portal = Portal::start().await;
    let admin = format!("{ADMIN_COOKIE}={ADMIN_TOKEN}");
    portal.connected("fabrikam", "fabrikam.example").await;
    portal.invite("contoso", "contoso.example").await;
    portal.clock.advance(Duration::from_secs(8 * 86_400));
    let report = portal.ta.health_pass().await.unwrap();
    assert_eq!(report.notices, 1, "{report:?}");

    let status = page_text(&format!("{}/admin", portal.url), &admin).await;
    assert!(
        status.contains("class=\"attention reason-invitation_unanswered\""),
        "{status}"
    );
    assert!(
        status.contains("To clear it: resend the invitation."),
        "{status}"
    );
    assert!(status.contains("1 customer(s) need attention."), "{status}");
    assert!(status.contains("data-customer=\"fabrikam\""));

    let only = page_text(&format!("{}/admin?attention=1", portal.url), &admin).await;
    assert!(only.contains("data-customer=\"contoso\""), "{only}");
    assert!(!only.contains("data-customer=\"fabrikam\""), "{only}");
    assert!(only.contains("id=\"show-all\""));

    let outbox = page_text(&format!("{}/admin/notifications", portal.url), &admin).await;
    assert!(
        outbox.contains("the invitation has not been answered"),
        "{outbox}"
    );
    assert!(outbox.contains("No dead letters."), "{outbox}");

    // A webhook that is down: after its one allowed try the notice is a dead letter.
    let policy = DispatchPolicy {
        max_attempts: 1,
        ..DispatchPolicy::channel("webhook")
    };
    let dispatched = portal.ta.dispatch_notices(&Down, &policy).await.unwrap();
    assert_eq!(dispatched.dead, 1);
    let outbox = page_text(&format!("{}/admin/notifications", portal.url), &admin).await;
    assert!(outbox.contains("webhook answered HTTP 503"), "{outbox}");
    assert!(outbox.contains("Nothing waiting."), "{outbox}");

    // Without the operator: the pages are refused.
    let anonymous = http()
        .get(format!("{}/admin/notifications", portal.url))
        .send()
        .await
        .unwrap();
    assert_ne!(anonymous.status(), 200);
}
