//! Day Two on the mock provider: silent access tokens, refresh now, re-authentication policy,
//! verify one and verify all, and the status report as CSV and JSON.

mod support;

use std::sync::Arc;

use std::time::Duration;
use support::{customer, harness};
use tenant_access::StreamExt;
use tenant_access::error::{Action, Error, FlowError};
use tenant_access::journey::{StageKind, Validated};
use tenant_access::model::{TenantInfo, VerificationStatus};
use tenant_access::ops::StatusRow;
use tenant_access::ports::Clock;
use tenant_access::store::{Filter, Store};
use tenant_access::testing::mock::Operation;
use tenant_access::{CustomerId, Onboarding, Scopes, TenantAccess};

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

#[tokio::test]
async fn a_valid_cached_token_needs_neither_store_nor_provider() {
    let h = harness();
    let connected = h.validated("contoso").await;
    let stored = connected.customer().token.clone().unwrap();
    let first = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(first.expose_secret(), stored.access_token.expose_secret());
    let calls = h.mock.calls().len();
    // Even with the record gone from under it, the cache answers.
    for _ in 0..100 {
        let again = h.ta.access_token(&id("contoso")).await.unwrap();
        assert_eq!(again.expose_secret(), first.expose_secret());
    }
    assert_eq!(h.mock.calls().len(), calls);
    assert_eq!(h.mock.count(Operation::Refresh), 0);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_ahead() {
    let h = harness();
    h.validated("contoso").await;
    let first = h.ta.access_token(&id("contoso")).await.unwrap();
    // 3599 s tokens, 5 min margin: at 55 minutes the token is refreshed.
    h.clock.advance(Duration::from_secs(55 * 60));
    let second = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_ne!(first.expose_secret(), second.expose_secret());
    assert_eq!(h.mock.count(Operation::Refresh), 1);
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    let token = stored.customer().token.as_ref().unwrap();
    assert_eq!(token.access_token.expose_secret(), second.expose_secret());
    assert_eq!(token.obtained_at, h.clock.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_callers_share_one_refresh() {
    let h = harness();
    h.validated("contoso").await;
    h.clock.advance(Duration::from_secs(58 * 60));
    let ta = Arc::new(h.ta.clone());
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let ta = Arc::clone(&ta);
        tasks.push(tokio::spawn(async move {
            ta.access_token(&CustomerId::new("contoso").unwrap())
                .await
                .unwrap()
                .expose_secret()
                .to_owned()
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert_eq!(h.mock.count(Operation::Refresh), 1);
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn a_replica_that_loses_the_race_uses_the_winners_token() {
    let h = harness();
    h.validated("contoso").await;
    // A second engine on the same store and provider: another portal replica.
    let replica = h.engine(
        tenant_access::Config::new("https://portal.example.com").unwrap(),
        h.store.clone(),
    );
    h.clock.advance(Duration::from_secs(58 * 60));
    let ours = h.ta.access_token(&id("contoso")).await.unwrap();
    // The replica's cache is empty; the store already holds the fresh token: no refresh.
    let theirs = replica.access_token(&id("contoso")).await.unwrap();
    assert_eq!(ours.expose_secret(), theirs.expose_secret());
    assert_eq!(h.mock.count(Operation::Refresh), 1);
}

#[tokio::test]
async fn a_transient_refresh_failure_serves_the_still_valid_token() {
    let h = harness();
    h.validated("contoso").await;
    let first = h.ta.access_token(&id("contoso")).await.unwrap();
    h.clock.advance(Duration::from_secs(57 * 60));
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::Refresh, 503);
    });
    let still = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(still.expose_secret(), first.expose_secret());
    // Once it has expired, the failure is the caller's.
    h.clock.advance(Duration::from_secs(3 * 60));
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::Refresh, 503);
    });
    let err = h.ta.access_token(&id("contoso")).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_dead_refresh_token_requires_reauthentication_and_may_reinvite() {
    let h = harness();
    h.validated("contoso").await;
    h.mock.revoke_refresh_tokens(&id("contoso"));
    h.clock.advance(Duration::from_secs(2 * 3600));
    let err = h.ta.access_token(&id("contoso")).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Flow(FlowError::NotConnected {
            stage: StageKind::ReauthRequired,
            ..
        })
    ));
    assert_eq!(err.action(), Action::AskCustomer);
    assert_eq!(
        h.ta.load(&id("contoso")).await.unwrap().kind(),
        StageKind::ReauthRequired
    );

    // With the policy on, refresh_now mails a fresh invitation by itself.
    let h = harness();
    let ta = h.engine(
        tenant_access::Config::builder("https://portal.example.com")
            .reinvite_on_reauth(true)
            .build()
            .unwrap(),
        h.store.clone(),
    );
    h.validated("fabrikam").await;
    let sent_before = h.mailer.messages().len();
    let refreshed = ta.refresh_now(&id("fabrikam")).await.unwrap();
    assert_eq!(refreshed.kind(), StageKind::Validated);
    h.mock.revoke_refresh_tokens(&id("fabrikam"));
    let after = ta.refresh_now(&id("fabrikam")).await.unwrap();
    assert_eq!(after.kind(), StageKind::InvitationSent);
    assert_eq!(h.mailer.messages().len(), sent_before + 1);
    let events: Vec<_> = ta
        .events(&id("fabrikam"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.to)
        .collect();
    assert_eq!(
        &events[events.len() - 3..],
        [
            StageKind::ReauthRequired,
            StageKind::Invited,
            StageKind::InvitationSent
        ]
    );
}

#[tokio::test]
async fn access_token_for_a_customer_without_a_connection_is_a_typed_error() {
    let h = harness();
    h.ta.invite(customer("contoso")).await.unwrap();
    let err = h.ta.access_token(&id("contoso")).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Flow(FlowError::NotConnected {
            stage: StageKind::Invited,
            ..
        })
    ));
    assert!(matches!(
        h.ta.access_token(&id("nobody")).await.unwrap_err(),
        Error::Flow(FlowError::NotFound(_))
    ));
}

#[tokio::test]
async fn verify_one_records_the_result() {
    let h = harness();
    h.validated("contoso").await;
    h.clock.advance(Duration::from_secs(86_400));
    let connected = h.ta.verify(&id("contoso")).await.unwrap();
    assert_eq!(
        connected.customer().last_verification.as_ref().unwrap().at,
        h.clock.now()
    );
    h.ta.invite(customer("pending")).await.unwrap();
    assert!(matches!(
        h.ta.verify(&id("pending")).await.unwrap_err(),
        Error::Flow(FlowError::NotConnected { .. })
    ));
}

/// Verifies a stale copy, which must lose the compare-and-swap and come back exactly as it was.
async fn loses_the_write_unchanged(
    ta: &TenantAccess,
    stale: Onboarding<Validated>,
) -> Onboarding<Validated> {
    let before = format!("{:?}", stale.customer());
    let (version, stage) = (stale.version(), stale.stage().clone());
    let rejected = stale.verify(ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Store(tenant_access::error::StoreError::Conflict { .. })
    ));
    let back = rejected.into_onboarding();
    assert_eq!(format!("{:?}", back.customer()), before);
    assert_eq!((back.version(), back.stage()), (version, &stage));
    back
}

#[tokio::test]
async fn a_verification_that_loses_the_write_hands_back_the_connection_unchanged() {
    let h = harness();
    let stale = h.validated("contoso").await;
    // Another replica verifies first: the stale value's write loses the compare-and-swap.
    // (Within the token's hour: an expired one would be renewed first, from the store.)
    h.clock.advance(Duration::from_secs(1200));
    h.ta.verify(&id("contoso")).await.unwrap();
    h.clock.advance(Duration::from_secs(1200));
    let version = stale.version();
    loses_the_write_unchanged(&h.ta, stale).await;
    // The stored record is the other replica's, untouched by the loser.
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(stored.version(), version.next());
    assert_eq!(
        stored.customer().last_verification.as_ref().unwrap().at,
        h.clock.now() - Duration::from_secs(1200)
    );
}

#[tokio::test]
async fn verify_keeps_an_unchanged_tenant_and_records_a_renamed_one() {
    let h = harness();
    let stale = h.validated("contoso").await;
    let recorded = stale.customer().tenant_info.clone().unwrap();
    // Every step within the token's hour, so the stale copy's token has not expired.
    h.clock.advance(Duration::from_secs(1000));
    let again = h.ta.verify(&id("contoso")).await.unwrap();
    assert_eq!(again.customer().tenant_info.as_ref(), Some(&recorded));

    // The organization is renamed: the next verification records the new name.
    let renamed = TenantInfo {
        display_name: "Contoso (renamed)".into(),
        ..recorded.clone()
    };
    h.mock.script(&id("contoso"), |s| {
        s.validates_as(renamed.clone());
    });
    h.clock.advance(Duration::from_secs(1000));
    h.ta.verify(&id("contoso")).await.unwrap();
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(stored.customer().tenant_info.as_ref(), Some(&renamed));

    // A stale copy that sees the rename but loses the write hands back its old facts.
    let back = loses_the_write_unchanged(&h.ta, stale).await;
    assert_eq!(back.customer().tenant_info.as_ref(), Some(&recorded));
}

#[tokio::test]
async fn verify_all_updates_everyone_despite_failures_and_throttling() {
    let h = harness();
    let total = 1000;
    for n in 0..total {
        h.validated(&format!("c{n:04}")).await;
    }
    h.ta.invite(customer("not-connected")).await.unwrap();
    // 5% point at another tenant (failed); a few get throttled once (retried after the pause).
    let failing: Vec<String> = (0..total).step_by(20).map(|n| format!("c{n:04}")).collect();
    for name in &failing {
        h.mock.script(&id(name), |s| {
            s.validates_as(TenantInfo {
                id: "00000000-0000-0000-0000-0000000000ff".into(),
                display_name: "Elsewhere".into(),
                domains: vec![],
            });
        });
    }
    for n in [10, 333, 999] {
        h.mock.script(&id(&format!("c{n:04}")), |s| {
            s.throttle(Operation::Validate, Duration::from_secs(30));
        });
    }
    h.clock.advance(Duration::from_secs(86_400));
    let started = h.clock.now();
    let outcomes: Vec<_> =
        h.ta.verify_all(Filter::all(), 8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    assert_eq!(outcomes.len(), total);
    let last = outcomes.last().unwrap().progress;
    assert_eq!((last.done, last.ok, last.failed), (total, total - 50, 50));
    assert_eq!(last.throttled, 3);
    let mut failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.customer.to_string())
        .collect();
    failed.sort();
    assert_eq!(failed, failing);
    // The pause was honoured on the clock, not by sleeping.
    assert!(h.clock.now() >= started + Duration::from_secs(30));
    for row in
        h.ta.status_report(&Filter::stages([StageKind::Validated]))
            .await
            .unwrap()
    {
        let expected = if failed.contains(&row.customer.to_string()) {
            VerificationStatus::Failed
        } else {
            VerificationStatus::Ok
        };
        assert_eq!(row.last_verification, Some(expected), "{}", row.customer);
        assert!(row.last_verified_at.unwrap() >= started);
    }
    let throttled = h.ta.load(&id("c0333")).await.unwrap();
    assert_eq!(
        throttled
            .customer()
            .last_verification
            .as_ref()
            .unwrap()
            .status,
        VerificationStatus::Ok
    );
}

/// A memory store whose records all move (a write by someone else) right after
/// `list_connections` lists them: every verification of the listed version loses.
#[derive(Debug)]
struct MovesAfterListing(tenant_access::store::MemoryStore);

#[async_trait::async_trait]
impl tenant_access::store::Store for MovesAfterListing {
    async fn create(
        &self,
        record: &tenant_access::store::Record,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<tenant_access::Version, tenant_access::error::StoreError> {
        self.0.create(record, event).await
    }
    async fn load(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<tenant_access::store::Record>, tenant_access::error::StoreError> {
        self.0.load(customer).await
    }
    async fn load_by_invitation(
        &self,
        hash: &tenant_access::model::CodeHash,
    ) -> Result<Option<tenant_access::store::Record>, tenant_access::error::StoreError> {
        self.0.load_by_invitation(hash).await
    }
    async fn update(
        &self,
        record: &tenant_access::store::Record,
        event: Option<&tenant_access::model::AuditEvent>,
        notices: &[tenant_access::model::Notice],
    ) -> Result<tenant_access::Version, tenant_access::error::StoreError> {
        self.0.update(record, event, notices).await
    }
    async fn delete(
        &self,
        customer: &CustomerId,
        expected: tenant_access::Version,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<(), tenant_access::error::StoreError> {
        self.0.delete(customer, expected, event).await
    }
    async fn list(
        &self,
        filter: &Filter,
        page: &tenant_access::store::PageRequest,
    ) -> Result<tenant_access::store::Page, tenant_access::error::StoreError> {
        self.0.list(filter, page).await
    }
    async fn list_connections(
        &self,
        filter: &Filter,
        page: &tenant_access::store::PageRequest,
    ) -> Result<tenant_access::store::ConnectionPage, tenant_access::error::StoreError> {
        let listed = self.0.list_connections(filter, page).await?;
        for connection in &listed.connections {
            let record = self.0.load(&connection.customer).await?.unwrap();
            self.0.update(&record, None, &[]).await?;
        }
        Ok(listed)
    }
    async fn append_event(
        &self,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<(), tenant_access::error::StoreError> {
        self.0.append_event(event).await
    }
    async fn events(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<tenant_access::model::AuditEvent>, tenant_access::error::StoreError> {
        self.0.events(customer).await
    }
    async fn claim_notices(
        &self,
        claim: &tenant_access::ports::Claim<'_>,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.0.claim_notices(claim).await
    }
    async fn settle_notice(
        &self,
        id: &tenant_access::model::NoticeId,
        holder: &str,
        settlement: &tenant_access::ports::Settlement,
    ) -> Result<bool, tenant_access::error::StoreError> {
        self.0.settle_notice(id, holder, settlement).await
    }
    async fn outbox(
        &self,
        query: &tenant_access::ports::OutboxQuery,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.0.outbox(query).await
    }
}

#[tokio::test]
async fn verify_all_verifies_a_record_that_moved_after_listing_as_it_is_now() {
    let h = harness();
    h.validated("moved-ok").await;
    h.validated("moved-bad").await;
    h.mock.script(&id("moved-bad"), |s| {
        s.validates_as(TenantInfo {
            id: "00000000-0000-0000-0000-0000000000ff".into(),
            display_name: "Elsewhere".into(),
            domains: vec![],
        });
    });
    let listed_at = |name: &str| {
        let store = h.store.clone();
        let name = id(name);
        async move { store.load(&name).await.unwrap().unwrap().version }
    };
    let (ok_before, bad_before) = (listed_at("moved-ok").await, listed_at("moved-bad").await);
    let ta = h.engine(
        tenant_access::Config::new("https://portal.example.com").unwrap(),
        MovesAfterListing(h.store.clone()),
    );
    // Within the tokens' hour: an expired token would be renewed first, moving the record.
    h.clock.advance(Duration::from_secs(1800));
    let mut outcomes: Vec<_> = ta
        .verify_all(Filter::all(), 4)
        .map(Result::unwrap)
        .map(|o| (o.customer.to_string(), o.result.map_err(|e| e.to_string())))
        .collect()
        .await;
    outcomes.sort();
    assert_eq!(outcomes[0].0, "moved-bad");
    assert!(
        outcomes[0].1.as_ref().unwrap_err().contains("tenant"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], ("moved-ok".to_string(), Ok(())));
    // Moved once by the store, then verified (or its failure recorded) on the moved version.
    let ok = h.ta.load(&id("moved-ok")).await.unwrap();
    assert_eq!(ok.version(), ok_before.next().next());
    let last = ok.customer().last_verification.as_ref().unwrap();
    assert_eq!(
        (last.status, last.at),
        (VerificationStatus::Ok, h.clock.now())
    );
    let bad = h.ta.load(&id("moved-bad")).await.unwrap();
    assert_eq!(bad.version(), bad_before.next().next());
    let last = bad.customer().last_verification.as_ref().unwrap();
    assert_eq!(last.status, VerificationStatus::Failed);
    assert!(
        bad.customer()
            .last_error
            .as_deref()
            .unwrap()
            .contains("tenant")
    );
}

#[tokio::test]
async fn status_report_as_csv_and_json() {
    let h = harness();
    h.validated("contoso").await;
    let awkward =
        tenant_access::NewCustomer::new("fab,\"rikam\"", "fabrikam.com", "admin@fabrikam.com")
            .unwrap();
    h.ta.invite(awkward).await.unwrap();
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    let csv = StatusRow::csv(&rows);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer,admin_email,method,stage,email_sent,device_authenticated,token_created_at,token_expires_at,last_verified_at,last_verification,last_error,switch_method,switch_stage,credential,credential_expires_at,credential_state,attention,attention_actions,attention_since"
    );
    let contoso = lines.next().unwrap();
    assert!(contoso.starts_with("contoso,admin@contoso.com,device_code,validated,true,true,2026-"));
    assert!(contoso.ends_with(",ok,,,,,,,,,"), "{contoso}");
    assert!(lines.next().unwrap().starts_with("\"fab,\"\"rikam\"\"\","));
    let json: serde_json::Value = serde_json::from_str(&StatusRow::json(&rows)).unwrap();
    assert_eq!(json[0]["customer"], "contoso");
    assert_eq!(json[0]["last_verification"], "ok");
    assert_eq!(json[0]["switch_method"], serde_json::Value::Null);
    assert_eq!(json[0]["switch_stage"], serde_json::Value::Null);
    assert_eq!(json[0]["credential_state"], serde_json::Value::Null);
    assert_eq!(json[1]["token_expires_at"], serde_json::Value::Null);
    assert_eq!(json[1]["stage"], "invited");
    assert!(!csv.contains("mock-at-"));

    // A method switch under way shows in its customer's row, not as a row of its own.
    h.ta.switch_to_device_code(&id("contoso"), None)
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(rows.len(), 2);
    // `count` agrees: customers, not switch journeys.
    assert_eq!(h.ta.count(&Filter::all()).await.unwrap(), 2);
    assert_eq!(
        h.ta.count(&Filter::stages([StageKind::InvitationSent]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.ta.count(&Filter::stages([StageKind::Validated]))
            .await
            .unwrap(),
        1
    );
    let csv = StatusRow::csv(&rows);
    let contoso = csv.lines().nth(1).unwrap();
    assert!(contoso.starts_with("contoso,"), "{contoso}");
    assert!(
        contoso.ends_with(",ok,,device_code,invitation_sent,,,,,,"),
        "{contoso}"
    );
    assert!(!csv.contains("#switch"));
    let json: serde_json::Value = serde_json::from_str(&StatusRow::json(&rows)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["customer"], "contoso");
    assert_eq!(json[0]["stage"], "validated");
    assert_eq!(json[0]["switch_method"], "device_code");
    assert_eq!(json[0]["switch_stage"], "invitation_sent");
    assert_eq!(json[1]["switch_method"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_maintenance_pass_refreshes_due_tokens_and_verifies_stale_connections() {
    use tenant_access::ops::{HealthReport, MaintenancePolicy, PassReport};
    let h = harness();
    for n in 0..6 {
        h.validated(&format!("m{n}")).await;
    }
    h.mock.revoke_refresh_tokens(&id("m5"));
    let policy = MaintenancePolicy::default();
    // Nothing is due yet and everything was verified just now.
    // The health pass at its end looked at all six and found nothing to report.
    assert_eq!(
        h.ta.maintenance_pass(&policy).await.unwrap(),
        PassReport {
            health: HealthReport {
                assessed: 6,
                ..HealthReport::default()
            },
            ..PassReport::default()
        }
    );
    assert_eq!(h.mock.count(Operation::Refresh), 0);
    // 50 minutes on, every token expires within the window; a day on, all are stale.
    h.clock.advance(Duration::from_secs(50 * 60));
    let report = h.ta.maintenance_pass(&policy).await.unwrap();
    assert_eq!(report.refreshed, 5);
    assert_eq!(report.reauth_required, 1);
    assert_eq!(report.verified, 0);
    // The dead refresh token raised its reason in the write that recorded it; the health
    // pass finds it there and changes nothing.
    assert_eq!(
        (report.health.needing_attention, report.health.changed),
        (1, 0)
    );
    assert_eq!(h.mock.count(Operation::Refresh), 6);
    h.clock.advance(Duration::from_secs(86_400));
    let report = h.ta.maintenance_pass(&policy).await.unwrap();
    // Tokens are due again (a day later) and the five live connections get verified.
    assert_eq!((report.refreshed, report.verified), (5, 5));
    assert_eq!(
        h.ta.load(&id("m5")).await.unwrap().kind(),
        StageKind::ReauthRequired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintainer_runs_passes_until_shut_down() {
    use tenant_access::ops::MaintenancePolicy;
    let h = harness();
    h.validated("contoso").await;
    let mut maintainer = h.ta.spawn_maintainer(MaintenancePolicy::default());
    maintainer.wait_for_passes(3).await;
    let before = h.clock.now();
    maintainer.shutdown().await;
    // With the manual clock each pass waited one tick on the clock, not on the wall.
    assert!(before >= time::macros::datetime!(2026-11-23 10:02 UTC));
    // Tokens stayed fresh the whole time: refreshed whenever they came due.
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    assert!(stored.customer().token.as_ref().unwrap().expires_at > before);
}

#[tokio::test]
async fn a_revoked_customer_gets_no_more_tokens_from_the_cache() {
    let h = harness();
    let connected = h.validated("contoso").await;
    h.ta.access_token(&id("contoso")).await.unwrap();
    connected.revoke(&h.ta).await.unwrap();
    assert!(matches!(
        h.ta.access_token(&id("contoso")).await.unwrap_err(),
        Error::Flow(FlowError::NotConnected {
            stage: StageKind::Revoked,
            ..
        })
    ));
}

#[tokio::test]
async fn tokens_for_another_resource_come_from_the_same_refresh_token() {
    let h = harness();
    h.validated("contoso").await;
    let arm = Scopes::new(["https://management.azure.com/.default"]).unwrap();
    let graph = h.ta.access_token(&id("contoso")).await.unwrap();
    let before = h.ta.load(&id("contoso")).await.unwrap();
    let old_refresh = before
        .customer()
        .token
        .as_ref()
        .unwrap()
        .refresh_token
        .clone();

    let first = h.ta.access_token_for(&id("contoso"), &arm).await.unwrap();
    assert_ne!(first.expose_secret(), graph.expose_secret());
    assert_eq!(h.mock.count(Operation::RefreshForScopes), 1);
    // Cached: no second call while it is valid.
    let again = h.ta.access_token_for(&id("contoso"), &arm).await.unwrap();
    assert_eq!(again.expose_secret(), first.expose_secret());
    assert_eq!(h.mock.count(Operation::RefreshForScopes), 1);
    // The rotated refresh token is stored; the connection's own access token is kept.
    let after = h.ta.load(&id("contoso")).await.unwrap();
    let token = after.customer().token.as_ref().unwrap();
    assert_eq!(token.access_token.expose_secret(), graph.expose_secret());
    assert_ne!(
        token.refresh_token.as_ref().unwrap().expose_secret(),
        old_refresh.unwrap().expose_secret()
    );
    assert!(after.customer().refresh_lease.is_none());
    // Renewed ahead of expiry, like the connection's own token.
    h.clock.advance(Duration::from_secs(56 * 60));
    let renewed = h.ta.access_token_for(&id("contoso"), &arm).await.unwrap();
    assert_ne!(renewed.expose_secret(), first.expose_secret());
    assert_eq!(h.mock.count(Operation::RefreshForScopes), 2);
}

#[tokio::test]
async fn tokens_for_another_resource_need_a_live_refresh_token() {
    let h = harness();
    h.validated("contoso").await;
    let arm = Scopes::new(["https://management.azure.com/.default"]).unwrap();
    h.mock.revoke_refresh_tokens(&id("contoso"));
    match h.ta.access_token_for(&id("contoso"), &arm).await {
        Err(Error::Flow(FlowError::NotConnected { stage, .. })) => {
            assert_eq!(stage, StageKind::ReauthRequired)
        }
        other => panic!("expected NotConnected, got {other:?}"),
    }
    assert_eq!(
        h.ta.load(&id("contoso")).await.unwrap().kind(),
        StageKind::ReauthRequired
    );
}

#[tokio::test]
async fn app_registrations_have_no_refresh_token_for_other_resources() {
    let h = harness();
    let pending =
        h.ta.connect_app_registration(
            customer("fabrikam"),
            "app-1",
            tenant_access::model::ClientSecret::new("s"),
        )
        .await
        .unwrap();
    let url = pending.stage().admin_consent_url().clone();
    let callback =
        tenant_access::provider::ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let connected =
        h.ta.complete_consent(&callback)
            .await
            .unwrap()
            .validate(&h.ta)
            .await
            .unwrap();
    let arm = Scopes::new(["https://management.azure.com/.default"]).unwrap();
    let err =
        h.ta.access_token_for(&id("fabrikam"), &arm)
            .await
            .unwrap_err();
    assert!(
        matches!(err, Error::Flow(FlowError::WrongMethod { .. })),
        "{err:?}"
    );
    assert_eq!(err.action(), Action::FixInput);
    let stored = h.ta.load(&id("fabrikam")).await.unwrap();
    assert!(
        stored.customer().refresh_lease.is_none(),
        "the lease was left behind"
    );
    assert_eq!(
        stored
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret(),
        connected
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret()
    );
}
