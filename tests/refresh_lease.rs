//! The refresh lease between portal replicas (engines sharing one store), on the mock provider
//! and a manual clock: a replica waits for another's refresh, takes over a lapsed lease, ends
//! its lease when the refresh fails, and never throws away a token it obtained.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use std::time::Duration;
use support::harness;
use tenant_access::error::StoreError;
use tenant_access::model::AuditEvent;
use tenant_access::model::CodeHash;
use tenant_access::model::{RefreshLease, Verification, VerificationStatus};
use tenant_access::store::{Filter, MemoryStore, Page, PageRequest, Record, Store};
use tenant_access::testing::mock::{MockProvider, Operation};
use tenant_access::{CustomerId, TenantAccess, Version};
use tenant_access::{ports::Clock, testing::ManualClock};

use time::OffsetDateTime;

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A manual clock that runs a hook the first time someone sleeps on it: "meanwhile, another
/// replica does this".
#[derive(Clone, Debug)]
struct HookClock {
    inner: ManualClock,
    hook: Arc<Mutex<Option<HookBox>>>,
}

struct HookBox(Hook);

impl std::fmt::Debug for HookBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookBox")
    }
}

#[async_trait]
impl Clock for HookClock {
    fn now(&self) -> OffsetDateTime {
        self.inner.now()
    }
    async fn sleep_until(&self, deadline: OffsetDateTime) {
        let hook = self.hook.lock().unwrap().take();
        if let Some(HookBox(hook)) = hook {
            hook.await;
        }
        self.inner.sleep_until(deadline).await;
    }
}

/// Another replica: the same store, provider and clock, its own cache and instance id.
fn replica(
    store: impl Store + 'static,
    mock: &MockProvider,
    clock: impl Clock + 'static,
) -> TenantAccess {
    TenantAccess::builder()
        .config(tenant_access::Config::new("https://portal.example.com").unwrap())
        .store(store)
        .mailer(tenant_access::testing::CaptureMailer::new())
        .provider(mock.clone())
        .clock(clock)
        .build()
        .unwrap()
}

/// Puts a lease held by `holder` on the stored record.
async fn put_lease(store: &dyn Store, customer: &CustomerId, holder: &str, until: OffsetDateTime) {
    let mut record = store.load(customer).await.unwrap().unwrap();
    record.customer.refresh_lease = Some(RefreshLease {
        holder: holder.to_owned(),
        until,
    });
    store.update(&record, None, &[]).await.unwrap();
}

#[tokio::test]
async fn a_replica_waits_for_the_lease_holders_token_instead_of_refreshing() {
    let h = harness();
    h.validated("contoso").await;
    h.clock.advance(Duration::from_secs(58 * 60));
    let hook = Arc::new(Mutex::new(None));
    let clock = HookClock {
        inner: h.clock.clone(),
        hook: Arc::clone(&hook),
    };
    let waiter = replica(h.store.clone(), &h.mock, clock);
    let holder = replica(h.store.clone(), &h.mock, h.clock.clone());
    // The holder has claimed the refresh...
    put_lease(
        &h.store,
        &id("contoso"),
        holder.instance_id(),
        h.clock.now() + Duration::from_secs(30),
    )
    .await;
    // ...and finishes it while the waiter sleeps on its first look.
    let finisher = holder.clone();
    *hook.lock().unwrap() = Some(HookBox(Box::pin(async move {
        finisher.refresh_now(&id("contoso")).await.unwrap();
    })));
    let refreshes = h.mock.count(Operation::Refresh);
    let started = h.clock.now();
    let token = waiter.access_token(&id("contoso")).await.unwrap();

    assert_eq!(
        h.mock.count(Operation::Refresh),
        refreshes + 1,
        "one refresh, by the holder"
    );
    let stored = h.store.load(&id("contoso")).await.unwrap().unwrap();
    let stored_token = stored.customer.token.unwrap();
    assert_eq!(
        token.expose_secret(),
        stored_token.access_token.expose_secret()
    );
    assert!(
        stored.customer.refresh_lease.is_none(),
        "the holder ended its lease"
    );
    assert!(hook.lock().unwrap().is_none(), "the waiter did wait");
    assert!(
        h.clock.now() - started < Duration::from_secs(1),
        "it did not wait for the lease to lapse"
    );
}

#[tokio::test]
async fn a_lapsed_lease_of_a_crashed_replica_is_taken_over() {
    let h = harness();
    h.validated("contoso").await;
    h.clock.advance(Duration::from_secs(58 * 60));
    let until = h.clock.now() + Duration::from_secs(30);
    put_lease(&h.store, &id("contoso"), "crashed-replica", until).await;
    let refreshes = h.mock.count(Operation::Refresh);

    let token = h.ta.access_token(&id("contoso")).await.unwrap();

    assert!(h.clock.now() >= until, "it waited for the lease to lapse");
    assert_eq!(h.mock.count(Operation::Refresh), refreshes + 1);
    let stored = h.store.load(&id("contoso")).await.unwrap().unwrap();
    assert!(stored.customer.refresh_lease.is_none());
    assert_eq!(
        stored.customer.token.unwrap().access_token.expose_secret(),
        token.expose_secret()
    );
}

#[tokio::test]
async fn a_failed_refresh_ends_the_lease_and_serves_the_old_token() {
    let h = harness();
    let connected = h.validated("contoso").await;
    let old = connected.customer().token.clone().unwrap();
    h.clock.advance(Duration::from_secs(58 * 60));
    h.mock.script(&id("contoso"), |s| {
        s.transient_failure(Operation::Refresh, 503);
    });
    let token = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(token.expose_secret(), old.access_token.expose_secret());
    let stored = h.store.load(&id("contoso")).await.unwrap().unwrap();
    assert!(
        stored.customer.refresh_lease.is_none(),
        "the lease was left behind"
    );
    assert!(stored.customer.last_error.is_some());
    // The next call refreshes at once: nobody waits for a lease.
    let fresh = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_ne!(fresh.expose_secret(), old.access_token.expose_secret());
}

/// A store that, once armed, lets another writer (a verification on another replica) slip in
/// just before the next write that stores a new token.
#[derive(Debug, Default, Clone)]
struct InterloperStore {
    inner: MemoryStore,
    armed: Arc<AtomicBool>,
}

#[async_trait]
impl Store for InterloperStore {
    async fn create(&self, record: &Record, event: &AuditEvent) -> Result<Version, StoreError> {
        self.inner.create(record, event).await
    }
    async fn load(&self, customer: &CustomerId) -> Result<Option<Record>, StoreError> {
        self.inner.load(customer).await
    }
    async fn load_by_invitation(&self, hash: &CodeHash) -> Result<Option<Record>, StoreError> {
        self.inner.load_by_invitation(hash).await
    }
    async fn update(
        &self,
        record: &Record,
        event: Option<&AuditEvent>,
        notices: &[tenant_access::model::Notice],
    ) -> Result<Version, StoreError> {
        let stored = self.inner.load(record.id()).await?;
        let new_token = |r: &Record| {
            r.customer
                .token
                .as_ref()
                .map(|t| t.access_token.expose_secret().to_owned())
        };
        if let Some(mut stored) = stored
            && new_token(&stored) != new_token(record)
            && self.armed.swap(false, Ordering::SeqCst)
        {
            stored.customer.last_verification = Some(Verification {
                at: stored.customer.updated_at,
                status: VerificationStatus::Transient,
            });
            self.inner.update(&stored, None, &[]).await?;
        }
        self.inner.update(record, event, notices).await
    }
    async fn delete(
        &self,
        customer: &CustomerId,
        expected: Version,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.delete(customer, expected, event).await
    }
    async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<Page, StoreError> {
        self.inner.list(filter, page).await
    }
    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.inner.append_event(event).await
    }
    async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.events(customer).await
    }
    async fn claim_notices(
        &self,
        claim: &tenant_access::ports::Claim<'_>,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.inner.claim_notices(claim).await
    }
    async fn settle_notice(
        &self,
        id: &tenant_access::model::NoticeId,
        holder: &str,
        settlement: &tenant_access::ports::Settlement,
    ) -> Result<bool, tenant_access::error::StoreError> {
        self.inner.settle_notice(id, holder, settlement).await
    }
    async fn outbox(
        &self,
        query: &tenant_access::ports::OutboxQuery,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.inner.outbox(query).await
    }
}

#[tokio::test]
async fn a_token_obtained_is_never_lost_to_a_concurrent_write() {
    let h = harness();
    h.validated("contoso").await;
    let store = InterloperStore::default();
    // Move the customer into the interloper's store.
    let record = h.store.load(&id("contoso")).await.unwrap().unwrap();
    let mut fresh = record.clone();
    fresh.version = Version::NEW;
    let created = AuditEvent {
        customer: id("contoso"),
        from: None,
        to: record.stage.kind(),
        at: h.clock.now(),
        actor: tenant_access::model::Actor::System,
        note: None,
    };
    store.create(&fresh, &created).await.unwrap();
    let ta = replica(store.clone(), &h.mock, h.clock.clone());
    h.clock.advance(Duration::from_secs(58 * 60));
    store.armed.store(true, Ordering::SeqCst);
    let refreshes = h.mock.count(Operation::Refresh);

    let token = ta.access_token(&id("contoso")).await.unwrap();

    assert!(!store.armed.load(Ordering::SeqCst), "the interloper wrote");
    assert_eq!(
        h.mock.count(Operation::Refresh),
        refreshes + 1,
        "no second refresh"
    );
    let stored = store.load(&id("contoso")).await.unwrap().unwrap();
    assert_eq!(
        stored
            .customer
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret(),
        token.expose_secret(),
        "the new token was stored on top of the other write"
    );
    assert_eq!(
        stored.customer.last_verification.map(|v| v.status),
        Some(VerificationStatus::Transient),
        "the other write was kept"
    );
    assert!(stored.customer.refresh_lease.is_none());
}
