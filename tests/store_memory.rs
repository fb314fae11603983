//! The in-memory store: compare-and-swap under concurrency, lookups, filters and pagination.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use std::time::Duration;
use support::{customer, harness};
use tenant_access::error::StoreError;
use tenant_access::journey::{Invited, Stage, StageKind, StageType, Validated};
use tenant_access::model::AccessToken;
use tenant_access::model::InvitationCode;
use tenant_access::model::{Actor, AuditEvent};
use tenant_access::model::{Customer, TokenSet, Verification, VerificationStatus};
use tenant_access::store::{Filter, MemoryStore, PageRequest, Record, Store};
use tenant_access::{Method, Version};
use time::macros::datetime;

use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);

fn record(id: &str, stage: Stage) -> Record {
    Record::new(Customer::new(customer(id), Method::DeviceCode, T0), stage)
}

fn event(id: &str, to: StageKind) -> AuditEvent {
    AuditEvent {
        customer: id.try_into().unwrap(),
        from: None,
        to,
        at: T0,
        actor: Actor::System,
        note: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_loses_no_update() {
    let store = Arc::new(MemoryStore::new());
    let mut first = record("contoso", Invited.into_stage());
    first.customer.last_error = Some("0".into());
    store
        .create(&first, &event("contoso", StageKind::Invited))
        .await
        .unwrap();
    // 64 tasks each add one to a counter with load + compare-and-swap, retrying on conflict.
    let id = first.id().clone();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let store = Arc::clone(&store);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let mut r = store.load(&id).await.unwrap().unwrap();
                let n: u32 = r.customer.last_error.as_deref().unwrap().parse().unwrap();
                r.customer.last_error = Some((n + 1).to_string());
                match store.update(&r, None, &[]).await {
                    Ok(_) => return conflicts,
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    Err(e) => panic!("{e}"),
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stored = store.load(&id).await.unwrap().unwrap();
    assert_eq!(stored.customer.last_error.as_deref(), Some("64"));
    assert_eq!(stored.version, Version(65));
}

#[tokio::test]
async fn racing_writers_on_one_version_exactly_one_wins() {
    let store = MemoryStore::new();
    let first = record("contoso", Invited.into_stage());
    store
        .create(&first, &event("contoso", StageKind::Invited))
        .await
        .unwrap();
    let read = store.load(first.id()).await.unwrap().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for n in 0..32 {
        let store = store.clone();
        let mut mine = read.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            mine.customer.last_error = Some(format!("writer {n}"));
            barrier.wait().await;
            store.update(&mine, None, &[]).await.map(|_| n)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Ok(n) = t.await.unwrap() {
            winners.push(n);
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = store.load(read.id()).await.unwrap().unwrap();
    assert_eq!(stored.version, Version(2));
    assert_eq!(
        stored.customer.last_error,
        Some(format!("writer {}", winners[0]))
    );
}

#[tokio::test]
async fn a_stale_write_changes_nothing() {
    let store = MemoryStore::new();
    let r = record("contoso", Invited.into_stage());
    store
        .create(&r, &event("contoso", StageKind::Invited))
        .await
        .unwrap();
    let mut v1 = store.load(r.id()).await.unwrap().unwrap();
    v1.customer.last_error = Some("first".into());
    store.update(&v1, None, &[]).await.unwrap();
    v1.customer.last_error = Some("stale".into());
    let err = store
        .update(&v1, Some(&event("contoso", StageKind::Claimed)), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    let stored = store.load(r.id()).await.unwrap().unwrap();
    assert_eq!(stored.customer.last_error.as_deref(), Some("first"));
    assert_eq!(store.events(r.id()).await.unwrap().len(), 1);
    // Creating with a non-new version or an existing id is refused too.
    assert!(matches!(
        store
            .create(&r, &event("contoso", StageKind::Invited))
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let mut other = record("other", Invited.into_stage());
    other.version = Version(5);
    assert!(
        store
            .create(&other, &event("other", StageKind::Invited))
            .await
            .is_err()
    );
    assert!(store.load(other.id()).await.unwrap().is_none());
}

#[tokio::test]
async fn the_invitation_index_follows_the_live_code() {
    let h = harness();
    let (sent, old) = h.sent("contoso").await;
    let old_hash = InvitationCode::from_received(&old).hash();
    assert_eq!(
        h.store
            .load_by_invitation(&old_hash)
            .await
            .unwrap()
            .unwrap()
            .id(),
        sent.id()
    );
    sent.resend(&h.ta).await.unwrap();
    assert!(
        h.store
            .load_by_invitation(&old_hash)
            .await
            .unwrap()
            .is_none()
    );
    let new = h.mailer.last_code_to("admin@contoso.com").unwrap();
    let new_hash = InvitationCode::from_received(&new).hash();
    assert!(
        h.store
            .load_by_invitation(&new_hash)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn pages_cover_every_customer_once_in_order() {
    let store = MemoryStore::new();
    for n in 0..257 {
        let id = format!("c{n:04}");
        store
            .create(
                &record(&id, Invited.into_stage()),
                &event(&id, StageKind::Invited),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 257);
    let mut seen = Vec::new();
    let mut page = Some(PageRequest::first(50));
    let mut pages = 0;
    while let Some(request) = page {
        let result = store.list(&Filter::all(), &request).await.unwrap();
        assert!(result.records.len() <= 50);
        seen.extend(result.records.iter().map(|r| r.id().to_string()));
        page = result.next;
        pages += 1;
    }
    assert_eq!(pages, 6);
    assert_eq!(seen.len(), 257);
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), 257);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    // An exact multiple ends without an empty extra page.
    let result = store
        .list(
            &Filter::all(),
            &PageRequest {
                after: Some("c0199".try_into().unwrap()),
                limit: 57,
            },
        )
        .await
        .unwrap();
    assert_eq!(result.records.len(), 57);
    assert!(result.next.is_none());
}

#[tokio::test]
async fn filters_select_by_stage_method_status_expiry_and_verification_age() {
    let store = MemoryStore::new();
    let make = |id: &str, stage: Stage, method: Method| {
        let mut r = record(id, stage);
        r.customer.method = method;
        r
    };
    let validated = Validated { validated_at: T0 }.into_stage();
    let mut ok_old = make("ok-old", validated.clone(), Method::DeviceCode);
    ok_old.customer.last_verification = Some(Verification {
        at: T0 - Duration::from_secs(10 * 86_400),
        status: VerificationStatus::Ok,
    });
    ok_old.customer.token = Some(TokenSet {
        access_token: AccessToken::new("a"),
        refresh_token: None,
        expires_at: T0 + Duration::from_secs(5 * 60),
        obtained_at: T0,
        scope: None,
    });
    let mut failed_new = make("failed-new", validated, Method::AppRegistration);
    failed_new.customer.last_verification = Some(Verification {
        at: T0,
        status: VerificationStatus::Failed,
    });
    let never = make("never", Invited.into_stage(), Method::Password);
    for r in [&ok_old, &failed_new, &never] {
        store
            .create(r, &event(r.id().as_str(), r.stage.kind()))
            .await
            .unwrap();
    }
    let ids = |f: Filter| {
        let store = store.clone();
        async move {
            store
                .list(&f, &PageRequest::first(10))
                .await
                .unwrap()
                .records
                .iter()
                .map(|r| r.id().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(Filter::stages([StageKind::Validated])).await,
        ["failed-new", "ok-old"]
    );
    assert_eq!(
        ids(Filter {
            methods: Some(vec![Method::Password]),
            ..Filter::default()
        })
        .await,
        ["never"]
    );
    assert_eq!(
        ids(Filter {
            verification: Some(VerificationStatus::Failed),
            ..Filter::default()
        })
        .await,
        ["failed-new"]
    );
    assert_eq!(
        ids(Filter {
            token_expires_before: Some(T0 + Duration::from_secs(3600)),
            ..Filter::default()
        })
        .await,
        ["ok-old"]
    );
    assert_eq!(
        ids(Filter {
            not_verified_since: Some(T0 - Duration::from_secs(86_400)),
            ..Filter::default()
        })
        .await,
        ["never", "ok-old"]
    );
    assert_eq!(
        ids(Filter {
            stages: Some(vec![StageKind::Validated]),
            verification: Some(VerificationStatus::Ok),
            ..Filter::default()
        })
        .await,
        ["ok-old"]
    );
}
