//! Audit events: kept in order, per customer, and a lost compare-and-swap stores none.

use super::support::{Check, create, ensure, err, event, must_load};
use crate::journey::StageKind;
use crate::model::CustomerId;
use crate::model::{Actor, AuditEvent};
use crate::ports::Store;
use crate::testing::testdata;

pub(super) async fn audit_events<S: Store>(store: &S) -> Check {
    let r = testdata::record("ae-1", StageKind::Invited, 0);
    let other = testdata::record("ae-2", StageKind::Invited, 0);
    let e0 = event(r.id(), None, StageKind::Invited, 0);
    store.create(&r, &e0).await.map_err(err("create"))?;
    create(store, &other).await?;
    let mut sent = vec![e0];
    let mut current = must_load(store, r.id()).await?;
    for (i, kind) in [
        StageKind::InvitationSent,
        StageKind::Claimed,
        StageKind::DeviceCodeIssued,
    ]
    .into_iter()
    .enumerate()
    {
        let mut next = testdata::record("ae-1", kind, i as u64 + 1);
        next.version = current.version;
        let ev = event(r.id(), Some(current.stage.kind()), kind, i as i64 + 1);
        store
            .update(&next, Some(&ev), &[])
            .await
            .map_err(err("update"))?;
        sent.push(ev);
        current = must_load(store, r.id()).await?;
    }
    // An update without an event adds none; append_event adds one outside a write.
    let mut quiet = current.clone();
    quiet.customer.last_error = Some("quiet".into());
    store
        .update(&quiet, None, &[])
        .await
        .map_err(err("update"))?;
    let extra = AuditEvent {
        note: None,
        actor: Actor::Customer,
        ..event(
            r.id(),
            Some(StageKind::DeviceCodeIssued),
            StageKind::DeviceCodeIssued,
            9,
        )
    };
    store
        .append_event(&extra)
        .await
        .map_err(err("append_event"))?;
    sent.push(extra);
    // A lost compare-and-swap stores no event.
    let lost = event(r.id(), Some(StageKind::Invited), StageKind::Revoked, 10);
    ensure!(
        store.update(&current, Some(&lost), &[]).await.is_err(),
        "a stale update succeeded"
    );
    let got = store.events(r.id()).await.map_err(err("events"))?;
    ensure!(got == sent, "events:\n got {got:?}\nwant {sent:?}");
    let others = store.events(other.id()).await.map_err(err("events"))?;
    ensure!(
        others.len() == 1 && others[0].customer == *other.id(),
        "another customer's events: {others:?}"
    );
    let none = store
        .events(&CustomerId::new("ae-none").expect("id"))
        .await
        .map_err(err("events"))?;
    ensure!(none.is_empty(), "an unknown customer has events");
    Ok(())
}
