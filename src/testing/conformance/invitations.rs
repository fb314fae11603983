//! Lookup by invitation hash follows the live code: an old hash is dead once it changes. The
//! code of a method switch under way finds its customer's record too, until the switch ends.

use super::support::{Check, create, ensure, err, must_load};
use crate::journey::StageKind;
use crate::model::InvitationCode;
use crate::ports::Store;
use crate::testing::testdata;

pub(super) async fn invitation_lookup<S: Store>(store: &S) -> Check {
    let r = testdata::record("il-1", StageKind::InvitationSent, 0);
    let other = testdata::record("il-2", StageKind::InvitationSent, 1);
    create(store, &r).await?;
    create(store, &other).await?;
    let old = r.invitation_hash().expect("sample has a code");
    let found = store
        .load_by_invitation(&old)
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(r.id()),
        "lookup by the live hash found {:?}",
        found.map(|f| f.id().clone())
    );
    let new_code = InvitationCode::generate();
    let mut resent = must_load(store, r.id()).await?;
    if let Some(inv) = resent.customer.invitation.as_mut() {
        inv.code_hash = Some(new_code.hash());
    }
    store
        .update(&resent, None, &[])
        .await
        .map_err(err("update"))?;
    ensure!(
        store
            .load_by_invitation(&old)
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "the old invitation hash still finds the customer after the code changed"
    );
    let found = store
        .load_by_invitation(&new_code.hash())
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(r.id()),
        "the new hash does not find the customer"
    );
    let mut used = must_load(store, r.id()).await?;
    if let Some(inv) = used.customer.invitation.as_mut() {
        inv.code_hash = None;
    }
    store
        .update(&used, None, &[])
        .await
        .map_err(err("update"))?;
    ensure!(
        store
            .load_by_invitation(&new_code.hash())
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "a used-up invitation still finds the customer"
    );
    let found = store
        .load_by_invitation(&other.invitation_hash().expect("code"))
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(other.id()),
        "another customer's hash stopped working"
    );
    // A method switch's live code finds the record it is kept in, until the switch ends.
    let switching = testdata::record("il-3", StageKind::Validated, 2);
    create(store, &switching).await?;
    let switch_hash = switching
        .switch_invitation_hash()
        .expect("the sample switch has a code");
    let found = store
        .load_by_invitation(&switch_hash)
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(switching.id())
            && found.as_ref().is_some_and(|f| f.switch.is_some()),
        "the switch's invitation hash does not find its customer with the switch"
    );
    let mut ended = must_load(store, switching.id()).await?;
    ended.switch = None;
    store
        .update(&ended, None, &[])
        .await
        .map_err(err("update"))?;
    ensure!(
        store
            .load_by_invitation(&switch_hash)
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "an ended switch's invitation hash still finds the customer"
    );
    ensure!(
        store
            .load_by_invitation(&InvitationCode::generate().hash())
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "an unknown hash found a customer"
    );
    Ok(())
}
