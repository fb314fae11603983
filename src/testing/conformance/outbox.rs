//! The outbox: notices are stored with their record's write (and not at all when it loses),
//! claimed once while a claim holds, taken over once it lapses, settled only by their
//! holder, retried when due, and listed by state.

use std::collections::BTreeSet;
use std::sync::Arc;

use time::Duration;

use super::support::{Check, create, ensure, err, must_load};
use crate::journey::StageKind;
use crate::model::{Attention, Change, Evidence, Notice, NoticeId, Reason};
use crate::ports::{Claim, OutboxQuery, OutboxState, Settlement, Store};
use crate::testing::testdata::{self, BASE};

/// A notice for `record`'s customer on `channel`, recorded `n` seconds after [`BASE`].
fn notice(customer: &crate::model::Customer, channel: &str, n: i64) -> Notice {
    let at = BASE + Duration::seconds(n);
    let attention = Attention {
        reason: Reason::ConsentRevoked,
        since: at,
        evidence: Evidence {
            codes: vec![65001],
            date: Some(at),
            ..Evidence::default()
        },
    };
    Notice::for_changes(
        customer,
        &[(Change::Gained, attention)],
        &[channel.to_owned()],
        at,
    )
    .remove(0)
}

fn claim<'a>(channel: &'a str, holder: &'a str, now_s: i64, limit: usize) -> Claim<'a> {
    let now = BASE + Duration::seconds(now_s);
    Claim {
        channel,
        holder,
        now,
        until: now + Duration::seconds(60),
        limit,
    }
}

fn ids(entries: &[crate::ports::OutboxEntry]) -> BTreeSet<NoticeId> {
    entries.iter().map(|e| e.notice.id.clone()).collect()
}

pub(super) async fn outbox<S: Store + 'static>(store: Arc<S>) -> Check {
    let record = testdata::record("ob-1", StageKind::Validated, 0);
    create(&*store, &record).await?;
    let mut current = must_load(&*store, record.id()).await?;
    // Notices are stored with the write that carries them, whole and in order.
    let written: Vec<Notice> = (0..5)
        .map(|n| notice(&current.customer, "hooks", n))
        .collect();
    let other = notice(&current.customer, "mail", 0);
    let mut all = written.clone();
    all.push(other.clone());
    store
        .update(&current, None, &all)
        .await
        .map_err(err("update with notices"))?;
    // A lost compare-and-swap stores none of its notices.
    let lost = notice(&current.customer, "hooks", 6);
    ensure!(
        store
            .update(&current, None, std::slice::from_ref(&lost))
            .await
            .is_err(),
        "an update at a stale version succeeded"
    );
    current = must_load(&*store, record.id()).await?;
    let pending = store
        .outbox(&OutboxQuery {
            state: OutboxState::Pending,
            limit: 100,
        })
        .await
        .map_err(err("outbox"))?;
    ensure!(
        pending.len() == 6,
        "outbox holds {} pending notices after one write of 6 and one lost write (want 6)",
        pending.len()
    );
    ensure!(
        pending.iter().all(|e| e.notice.id != lost.id),
        "the notice of a lost compare-and-swap was stored"
    );
    let stored = pending
        .iter()
        .find(|e| e.notice.id == written[2].id)
        .ok_or("a written notice is missing")?;
    ensure!(
        stored.notice == written[2] && stored.attempts == 0 && stored.claim.is_none(),
        "a notice did not round-trip: stored {:?}, written {:?}",
        stored.notice,
        written[2]
    );
    // Claims: oldest first, only the channel asked for, never the same notice twice while
    // a claim holds.
    let first = store
        .claim_notices(&claim("hooks", "a", 10, 2))
        .await
        .map_err(err("claim_notices"))?;
    let want: Vec<&NoticeId> = written[..2].iter().map(|n| &n.id).collect();
    ensure!(
        first.iter().map(|e| &e.notice.id).collect::<Vec<_>>() == want,
        "claim of 2 returned {:?}, want the two oldest {:?}",
        first
            .iter()
            .map(|e| e.notice.id.as_str())
            .collect::<Vec<_>>(),
        want
    );
    ensure!(
        first
            .iter()
            .all(|e| e.attempts == 1 && e.claim.as_ref().is_some_and(|(h, _)| h == "a")),
        "a claimed notice does not show its holder and one attempt"
    );
    let second = store
        .claim_notices(&claim("hooks", "b", 10, 10))
        .await
        .map_err(err("claim_notices"))?;
    ensure!(
        second.len() == 3 && ids(&first).is_disjoint(&ids(&second)),
        "a second claimer got {} notices (want the 3 unclaimed, none of the first's)",
        second.len()
    );
    ensure!(
        store
            .claim_notices(&claim("hooks", "c", 20, 10))
            .await
            .map_err(err("claim_notices"))?
            .is_empty(),
        "notices were claimed again while their claims held"
    );
    // Only the holder settles.
    let delivered = Settlement::Delivered {
        at: BASE + Duration::seconds(30),
    };
    ensure!(
        !store
            .settle_notice(&first[0].notice.id, "b", &delivered)
            .await
            .map_err(err("settle_notice"))?,
        "a dispatcher settled a notice another holds"
    );
    ensure!(
        store
            .settle_notice(&first[0].notice.id, "a", &delivered)
            .await
            .map_err(err("settle_notice"))?,
        "the holder could not settle its notice"
    );
    ensure!(
        !store
            .settle_notice(&first[0].notice.id, "a", &delivered)
            .await
            .map_err(err("settle_notice"))?,
        "a delivered notice was settled twice"
    );
    // A retry waits until it is due; then it is claimed again, its attempts counted.
    let retry_at = BASE + Duration::seconds(300);
    ensure!(
        store
            .settle_notice(
                &first[1].notice.id,
                "a",
                &Settlement::Retry {
                    at: retry_at,
                    error: "HTTP 500".into(),
                },
            )
            .await
            .map_err(err("settle_notice"))?,
        "the holder could not settle a retry"
    );
    // A claim that lapses is taken over (b's three notices, claimed until 70 s).
    let taken = store
        .claim_notices(&claim("hooks", "c", 100, 10))
        .await
        .map_err(err("claim_notices"))?;
    ensure!(
        ids(&taken) == ids(&second),
        "after b's claim lapsed, c took over {:?} (want b's three)",
        taken
            .iter()
            .map(|e| e.notice.id.as_str())
            .collect::<Vec<_>>()
    );
    ensure!(
        !store
            .settle_notice(&second[0].notice.id, "b", &delivered)
            .await
            .map_err(err("settle_notice"))?,
        "a dispatcher whose claim was taken over still settled the notice"
    );
    for entry in &taken {
        ensure!(
            store
                .settle_notice(&entry.notice.id, "c", &delivered)
                .await
                .map_err(err("settle_notice"))?,
            "the dispatcher that took a claim over could not settle it"
        );
    }
    let again = store
        .claim_notices(&claim("hooks", "d", 300, 10))
        .await
        .map_err(err("claim_notices"))?;
    ensure!(
        again.len() == 1
            && again[0].notice.id == first[1].notice.id
            && again[0].attempts == 2
            && again[0].last_error.as_deref() == Some("HTTP 500"),
        "the retried notice was not claimed again when due with 2 attempts and its error \
         (got {:?})",
        again
            .iter()
            .map(|e| (e.notice.id.as_str(), e.attempts))
            .collect::<Vec<_>>()
    );
    ensure!(
        store
            .settle_notice(
                &again[0].notice.id,
                "d",
                &Settlement::Dead {
                    at: retry_at,
                    error: "gave up".into(),
                },
            )
            .await
            .map_err(err("settle_notice"))?,
        "the holder could not dead-letter its notice"
    );
    // Listing by state.
    let dead = store
        .outbox(&OutboxQuery {
            state: OutboxState::Dead,
            limit: 10,
        })
        .await
        .map_err(err("outbox"))?;
    ensure!(
        dead.len() == 1 && dead[0].notice.id == first[1].notice.id,
        "the dead letters are {:?} (want the one dead-lettered)",
        dead.iter()
            .map(|e| e.notice.id.as_str())
            .collect::<Vec<_>>()
    );
    let done = store
        .outbox(&OutboxQuery {
            state: OutboxState::Delivered,
            limit: 10,
        })
        .await
        .map_err(err("outbox"))?;
    ensure!(
        done.len() == 4 && done.iter().all(|e| e.settled_at.is_some()),
        "delivered notices listed: {} (want 4, each with when)",
        done.len()
    );
    // The other channel's notice was never claimed by the hooks' dispatchers.
    let mail = store
        .claim_notices(&claim("mail", "m", 400, 10))
        .await
        .map_err(err("claim_notices"))?;
    ensure!(
        mail.len() == 1 && mail[0].notice.id == other.id,
        "the mail channel's claim returned {} notices (want its own 1)",
        mail.len()
    );
    // Concurrent claimers: each notice goes to exactly one of them.
    let many: Vec<Notice> = (0..40)
        .map(|n| notice(&current.customer, "race", n))
        .collect();
    store
        .update(&current, None, &many)
        .await
        .map_err(err("update with notices"))?;
    let mut tasks = Vec::new();
    for holder in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let holder = format!("racer-{holder}");
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_notices(&claim("race", &holder, 500, 3))
                    .await
                    .map_err(|e| e.to_string())?;
                if got.is_empty() {
                    return Ok::<_, String>(mine);
                }
                mine.extend(got.into_iter().map(|e| e.notice.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.map_err(|e| e.to_string())??);
    }
    let unique: BTreeSet<&NoticeId> = claimed.iter().collect();
    ensure!(
        claimed.len() == 40 && unique.len() == 40,
        "8 concurrent claimers took {} claims of {} distinct notices (want 40 of 40)",
        claimed.len(),
        unique.len()
    );
    Ok(())
}
