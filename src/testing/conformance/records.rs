//! Records as a whole: every stage round-trips (secrets included), `create` refuses a taken
//! id and a non-new version, and `delete` is a compare-and-swap that kills the invitation and
//! keeps the events.

use super::support::{Check, create, ensure, err, event, must_load};
use crate::error::StoreError;
use crate::journey::StageKind;
use crate::model::{CustomerId, Version};
use crate::ports::Store;
use crate::testing::testdata;

pub(super) async fn round_trip_every_stage<S: Store>(store: &S) -> Check {
    for kind in StageKind::ALL {
        let id = format!("rt-{}", kind.as_str());
        let record = testdata::record(&id, kind, 0);
        let v = create(store, &record).await?;
        ensure!(v == Version(1), "{kind}: create returned {v}, expected v1");
        let loaded = must_load(store, record.id()).await?;
        ensure!(
            loaded.version == Version(1),
            "{kind}: loaded {}",
            loaded.version
        );
        ensure!(
            testdata::fingerprint(&loaded) == testdata::fingerprint(&record),
            "{kind}: the loaded record differs from the stored one:\n{}\n---\n{}",
            testdata::fingerprint(&loaded),
            testdata::fingerprint(&record)
        );
        let mut changed = testdata::record(&id, kind, 1);
        changed.version = loaded.version;
        let v = store
            .update(&changed, None, &[])
            .await
            .map_err(err("update"))?;
        ensure!(v == Version(2), "{kind}: update returned {v}, expected v2");
        let loaded = must_load(store, record.id()).await?;
        ensure!(
            loaded.version == Version(2)
                && testdata::fingerprint(&loaded) == testdata::fingerprint(&changed),
            "{kind}: the updated record did not round-trip"
        );
    }
    let missing = CustomerId::new("rt-missing").expect("id");
    ensure!(
        store.load(&missing).await.map_err(err("load"))?.is_none(),
        "loading an unknown customer returned a record"
    );
    Ok(())
}

pub(super) async fn create_rules<S: Store>(store: &S) -> Check {
    let first = testdata::record("cr-1", StageKind::Invited, 0);
    create(store, &first).await?;
    let again = testdata::record("cr-1", StageKind::Validated, 5);
    match store
        .create(&again, &event(again.id(), None, StageKind::Validated, 1))
        .await
    {
        Err(StoreError::AlreadyExists(id)) if id == *first.id() => {}
        other => {
            return Err(format!(
                "creating a taken id: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let loaded = must_load(store, first.id()).await?;
    ensure!(
        loaded.version == Version(1)
            && testdata::fingerprint(&loaded) == testdata::fingerprint(&first),
        "a refused create changed the stored record"
    );
    ensure!(
        store.events(first.id()).await.map_err(err("events"))?.len() == 1,
        "a refused create stored its audit event"
    );
    let mut not_new = testdata::record("cr-2", StageKind::Invited, 0);
    not_new.version = Version(3);
    ensure!(
        store
            .create(&not_new, &event(not_new.id(), None, StageKind::Invited, 0))
            .await
            .is_err(),
        "create accepted a record whose version is not Version::NEW"
    );
    ensure!(
        store
            .load(not_new.id())
            .await
            .map_err(err("load"))?
            .is_none(),
        "a refused create stored the record"
    );
    Ok(())
}

pub(super) async fn delete_rules<S: Store>(store: &S) -> Check {
    let r = testdata::record("del-1", StageKind::InvitationSent, 0);
    let keep = testdata::record("del-2", StageKind::InvitationSent, 1);
    create(store, &r).await?;
    create(store, &keep).await?;
    let hash = r.invitation_hash().expect("sample has a code");
    let gone = event(
        r.id(),
        Some(StageKind::InvitationSent),
        StageKind::Revoked,
        1,
    );
    match store.delete(r.id(), Version(2), &gone).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => ensure!(
            expected == Version(2) && actual == Some(Version(1)),
            "a stale delete's conflict says expected {expected}, actual {actual:?}"
        ),
        other => return Err(format!("a stale delete: expected Conflict, got {other:?}")),
    }
    ensure!(
        store.load(r.id()).await.map_err(err("load"))?.is_some(),
        "a stale delete removed the customer"
    );
    store
        .delete(r.id(), Version(1), &gone)
        .await
        .map_err(err("delete"))?;
    ensure!(
        store.load(r.id()).await.map_err(err("load"))?.is_none(),
        "a deleted customer still loads"
    );
    ensure!(
        store
            .load_by_invitation(&hash)
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "a deleted customer's invitation still finds it"
    );
    let events = store.events(r.id()).await.map_err(err("events"))?;
    ensure!(
        events.len() == 2 && events[1] == gone,
        "after a delete the events are {events:?}"
    );
    match store.delete(r.id(), Version(1), &gone).await {
        Err(StoreError::Conflict { actual: None, .. }) => {}
        other => {
            return Err(format!(
                "deleting a deleted customer: expected Conflict with actual None, got {other:?}"
            ));
        }
    }
    ensure!(
        must_load(store, keep.id()).await?.version == Version(1),
        "deleting one customer touched another"
    );
    // The id can be used again.
    create(store, &r).await?;
    Ok(())
}
