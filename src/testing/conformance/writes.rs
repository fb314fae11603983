//! Compare-and-swap writes: a stale version loses and changes nothing, `record_verification`
//! writes a verification's facts and nothing else (and `list_connections` lists what `list`
//! lists), and of many concurrent writers on one version exactly one wins.

use std::sync::Arc;

use time::Duration;

use super::support::{Check, create, ensure, err, event, must_load};
use crate::error::StoreError;
use crate::journey::StageKind;
use crate::model::TenantInfo;
use crate::model::{CustomerId, Version};
use crate::ports::{Filter, PageRequest, Record, Store, VerifiedConnection};
use crate::testing::testdata::{self, BASE};

pub(super) async fn cas_conflict<S: Store>(store: &S) -> Check {
    let record = testdata::record("cas-1", StageKind::Claimed, 0);
    create(store, &record).await?;
    let read_a = must_load(store, record.id()).await?;
    let read_b = read_a.clone();
    let mut a = testdata::record("cas-1", StageKind::DeviceCodeIssued, 1);
    a.version = read_a.version;
    let ev_a = event(
        a.id(),
        Some(StageKind::Claimed),
        StageKind::DeviceCodeIssued,
        1,
    );
    let v = store
        .update(&a, Some(&ev_a), &[])
        .await
        .map_err(err("update"))?;
    ensure!(
        v == Version(2),
        "the first update returned {v}, expected v2"
    );
    let mut b = testdata::record("cas-1", StageKind::Revoked, 2);
    b.version = read_b.version;
    let ev_b = event(b.id(), Some(StageKind::Claimed), StageKind::Revoked, 2);
    match store.update(&b, Some(&ev_b), &[]).await {
        Err(StoreError::Conflict {
            customer,
            expected,
            actual,
        }) => {
            ensure!(
                customer == *b.id() && expected == Version(1) && actual == Some(Version(2)),
                "conflict carries customer {customer}, expected {expected}, actual {actual:?}; \
                 wanted cas-1, v1, Some(v2)"
            );
        }
        other => return Err(format!("a stale update: expected Conflict, got {other:?}")),
    }
    let loaded = must_load(store, a.id()).await?;
    ensure!(
        loaded.version == Version(2) && testdata::fingerprint(&loaded) == testdata::fingerprint(&a),
        "the losing update changed the stored record"
    );
    let events = store.events(a.id()).await.map_err(err("events"))?;
    ensure!(
        events.len() == 2 && events[1] == ev_a,
        "after a lost compare-and-swap the events are {events:?}"
    );
    // A version from the future loses too.
    let mut future = a.clone();
    future.version = Version(9);
    ensure!(
        matches!(
            store.update(&future, None, &[]).await,
            Err(StoreError::Conflict { .. })
        ),
        "an update with a version ahead of the stored one did not conflict"
    );
    let ghost = testdata::record("cas-ghost", StageKind::Claimed, 0);
    let mut ghost_v1 = ghost.clone();
    ghost_v1.version = Version(1);
    match store.update(&ghost_v1, None, &[]).await {
        Err(StoreError::Conflict { actual: None, .. }) => {}
        other => {
            return Err(format!(
                "updating an unknown customer: expected Conflict with actual None, got {other:?}"
            ));
        }
    }
    ensure!(
        store.load(ghost.id()).await.map_err(err("load"))?.is_none(),
        "updating an unknown customer created it"
    );
    Ok(())
}

/// Whether `loaded` is still `record`, version included.
pub(super) fn unchanged(record: &Record, loaded: &Record, what: &str) -> Check {
    ensure!(
        loaded.version == record.version
            && testdata::fingerprint(loaded) == testdata::fingerprint(record),
        "{what} changed the stored record"
    );
    Ok(())
}

pub(super) async fn verification_writes<S: Store>(store: &S) -> Check {
    let validated = testdata::record("ver-1", StageKind::Validated, 3);
    let claimed = testdata::record("ver-2", StageKind::Claimed, 4);
    create(store, &validated).await?;
    create(store, &claimed).await?;
    // `list_connections` lists what `list` lists, page for page.
    for filter in [Filter::all(), Filter::stages([StageKind::Validated])] {
        let mut request = Some(PageRequest::first(1));
        // Two records, pages of one: more pages than that is a pager that never ends.
        let mut pages = 0;
        while let Some(page) = request {
            pages += 1;
            ensure!(
                pages <= 4,
                "the pager never ends (does the cursor include the record it names?)"
            );
            let records = store.list(&filter, &page).await.map_err(err("list"))?;
            ensure!(
                records
                    .next
                    .as_ref()
                    .is_none_or(|next| next.after != page.after),
                "the next page starts where this one did: the cursor never moves"
            );
            let listed = store
                .list_connections(&filter, &page)
                .await
                .map_err(err("list_connections"))?;
            let wanted: Vec<_> = records
                .records
                .iter()
                .map(|r| {
                    let token = r.customer.token.as_ref();
                    let token = token.map(|t| t.access_token.expose_secret().to_owned());
                    (
                        r.id().clone(),
                        r.customer.tenant.clone(),
                        r.stage.kind(),
                        token,
                        r.version,
                    )
                })
                .collect();
            let got: Vec<_> = listed
                .connections
                .iter()
                .map(|c| {
                    let token = c
                        .access_token
                        .as_ref()
                        .map(|t| t.expose_secret().to_owned());
                    (
                        c.customer.clone(),
                        c.tenant.clone(),
                        c.stage,
                        token,
                        c.version,
                    )
                })
                .collect();
            ensure!(
                got == wanted,
                "list_connections gave {got:?} where list gave {wanted:?}"
            );
            ensure!(
                listed.next.as_ref().map(|n| &n.after) == records.next.as_ref().map(|n| &n.after),
                "list_connections and list disagree on the next page"
            );
            request = records.next;
        }
    }
    let verified = VerifiedConnection {
        at: BASE + Duration::days(30),
        tenant_info: TenantInfo {
            id: "8f7e6d5c-0000-4000-8000-000000000001".into(),
            display_name: "Renamed".into(),
            domains: vec!["renamed.example".into()],
        },
    };
    let mut stored = validated.clone();
    stored.version = Version(1);
    match store
        .record_verification(validated.id(), Version(2), &verified)
        .await
    {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) if expected == Version(2) && actual == Some(Version(1)) => {}
        other => {
            return Err(format!(
                "a stale record_verification: expected Conflict (v2, Some(v1)), got {other:?}"
            ));
        }
    }
    unchanged(
        &stored,
        &must_load(store, validated.id()).await?,
        "a stale record_verification",
    )?;
    let v = store
        .record_verification(validated.id(), Version(1), &verified)
        .await
        .map_err(err("record_verification"))?;
    ensure!(
        v == Version(2),
        "record_verification returned {v}, expected v2"
    );
    verified.apply_to(&mut stored);
    stored.version = Version(2);
    let loaded = must_load(store, validated.id()).await?;
    ensure!(
        loaded.version == Version(2)
            && testdata::fingerprint(&loaded) == testdata::fingerprint(&stored),
        "record_verification stored {:?}, expected {:?}",
        testdata::fingerprint(&loaded),
        testdata::fingerprint(&stored)
    );
    ensure!(
        loaded.customer.tenant_info.as_ref() == Some(&verified.tenant_info)
            && loaded.customer.last_error.is_none()
            && loaded
                .customer
                .token
                .as_ref()
                .map(|t| t.access_token.expose_secret())
                == validated
                    .customer
                    .token
                    .as_ref()
                    .map(|t| t.access_token.expose_secret()),
        "record_verification did not keep the token or write the tenant"
    );
    // Not validated: nothing to verify, nothing written.
    match store
        .record_verification(claimed.id(), Version(1), &verified)
        .await
    {
        Err(StoreError::Conflict { .. }) => {}
        other => {
            return Err(format!(
                "record_verification of a claimed customer: expected Conflict, got {other:?}"
            ));
        }
    }
    let mut claimed_v1 = claimed.clone();
    claimed_v1.version = Version(1);
    unchanged(
        &claimed_v1,
        &must_load(store, claimed.id()).await?,
        "record_verification of a claimed customer",
    )?;
    let ghost = CustomerId::new("ver-ghost").expect("a valid id");
    match store
        .record_verification(&ghost, Version(1), &verified)
        .await
    {
        Err(StoreError::Conflict { actual: None, .. }) => {}
        other => {
            return Err(format!(
                "record_verification of an unknown customer: expected Conflict with actual None, got {other:?}"
            ));
        }
    }
    ensure!(
        store.load(&ghost).await.map_err(err("load"))?.is_none(),
        "record_verification of an unknown customer created it"
    );
    Ok(())
}

pub(super) async fn concurrent_writers<S: Store + 'static>(store: Arc<S>) -> Check {
    const WRITERS: u64 = 16;
    let base = testdata::record("cw-1", StageKind::Validated, 0);
    create(&*store, &base).await?;
    for round in 0..5u64 {
        let current = must_load(&*store, base.id()).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let store = Arc::clone(&store);
            let mut mine = testdata::record("cw-1", StageKind::Validated, 100 * round + w + 1);
            mine.version = current.version;
            tasks.spawn(async move {
                let ev = event(
                    mine.id(),
                    Some(StageKind::Validated),
                    StageKind::Validated,
                    7,
                );
                (store.update(&mine, Some(&ev), &[]).await, mine)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (result, mine) = joined.map_err(|e| format!("a writer task failed: {e}"))?;
            match result {
                Ok(v) => {
                    ensure!(v == current.version.next(), "a winner got {v}");
                    winners.push(mine);
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(format!("a concurrent writer failed: {e}")),
            }
        }
        ensure!(
            winners.len() == 1,
            "round {round}: {} of {WRITERS} writers on one version won",
            winners.len()
        );
        let stored = must_load(&*store, base.id()).await?;
        ensure!(
            stored.version == current.version.next()
                && testdata::fingerprint(&stored) == testdata::fingerprint(&winners[0]),
            "round {round}: the stored record is not the winner's"
        );
    }
    let events = store.events(base.id()).await.map_err(err("events"))?;
    ensure!(
        events.len() == 6,
        "5 rounds with one winner each should leave 6 events, found {}",
        events.len()
    );
    // Read-modify-write loops that retry on conflict lose no update.
    const TASKS: u32 = 8;
    const EACH: u32 = 10;
    let counter = testdata::record("cw-counter", StageKind::Validated, 0);
    let mut zero = counter.clone();
    if let Some(inv) = zero.customer.invitation.as_mut() {
        inv.codes_issued = 0;
    }
    create(&*store, &zero).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        let id = counter.id().clone();
        tasks.spawn(async move {
            let mut done = 0;
            let mut attempts = 0;
            while done < EACH {
                attempts += 1;
                if attempts > 10_000 {
                    return Err("gave up after 10000 conflicts".to_owned());
                }
                let mut r = match store.load(&id).await {
                    Ok(Some(r)) => r,
                    other => return Err(format!("load: {other:?}")),
                };
                if let Some(inv) = r.customer.invitation.as_mut() {
                    inv.codes_issued += 1;
                }
                match store.update(&r, None, &[]).await {
                    Ok(_) => done += 1,
                    Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(e) => return Err(format!("update: {e}")),
                }
            }
            Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| format!("a counter task failed: {e}"))??;
    }
    let stored = must_load(&*store, counter.id()).await?;
    let count = stored
        .customer
        .invitation
        .as_ref()
        .map_or(0, |i| i.codes_issued);
    ensure!(
        count == TASKS * EACH && stored.version == Version(u64::from(TASKS * EACH) + 1),
        "lost updates: counter {count} at {} after {} increments",
        stored.version,
        TASKS * EACH
    );
    Ok(())
}
