//! Listing: keyset pagination has no gaps or duplicates for several page sizes, and every
//! [`Filter`] field (and combinations) returns exactly what [`Filter::matches`] says.

use std::collections::BTreeSet;

use time::Duration;

use super::support::{Check, create, ensure, err};
use crate::journey::StageKind;
use crate::model::Reason;
use crate::model::{CustomerId, Method};
use crate::model::{Verification, VerificationStatus};
use crate::ports::{AttentionFilter, Filter, PageRequest, Store};
use crate::testing::testdata::{self, BASE};

pub(super) async fn pagination<S: Store>(store: &S) -> Check {
    let mut ids = BTreeSet::new();
    for i in 0..53u32 {
        ids.insert(format!("pg-{i:03}"));
    }
    for extra in [
        "PG-upper",
        "pg-B",
        "pg-a",
        "pg-é",
        "pg-z~",
        "pg- space",
        "pg-_",
    ] {
        ids.insert(extra.to_owned());
    }
    let ids: Vec<CustomerId> = ids
        .into_iter()
        .map(|s| CustomerId::new(s).expect("id"))
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    for (i, id) in ids.iter().enumerate() {
        let kind = StageKind::ALL[i % StageKind::ALL.len()];
        create(store, &testdata::record(id.as_str(), kind, i as u64)).await?;
    }
    for size in [1usize, 7, 60, 1000] {
        let mut seen = Vec::new();
        let mut request = Some(PageRequest::first(size));
        let mut pages = 0;
        while let Some(r) = request.take() {
            pages += 1;
            ensure!(pages <= 200, "page size {size}: the pager never ends");
            let page = store.list(&Filter::all(), &r).await.map_err(err("list"))?;
            ensure!(
                page.records.len() <= size,
                "page size {size}: a page of {} records",
                page.records.len()
            );
            ensure!(
                page.next.is_none() || !page.records.is_empty(),
                "page size {size}: an empty page promises more"
            );
            seen.extend(page.records.iter().map(|r| r.id().clone()));
            request = page.next;
        }
        ensure!(
            seen == expected,
            "page size {size}: pages gave {} ids with gaps, duplicates or a wrong order \
             (expected {} in byte order); first difference at {:?}",
            seen.len(),
            expected.len(),
            seen.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    // Starting after an id that is not stored.
    let after = CustomerId::new("pg-0105").expect("id");
    let page = store
        .list(
            &Filter::all(),
            &PageRequest {
                after: Some(after.clone()),
                limit: 3,
            },
        )
        .await
        .map_err(err("list"))?;
    let want: Vec<_> = expected.iter().filter(|id| **id > after).take(3).collect();
    let got: Vec<_> = page.records.iter().map(|r| r.id()).collect();
    ensure!(got == want, "after {after}: got {got:?}, want {want:?}");
    Ok(())
}

pub(super) async fn filters<S: Store>(store: &S) -> Check {
    let mut all = Vec::new();
    for i in 0..40u64 {
        let kind = StageKind::ALL[(i as usize * 7) % StageKind::ALL.len()];
        let mut r = testdata::record(&format!("f-{i:02}"), kind, i);
        let c = &mut r.customer;
        c.method = match i % 3 {
            0 => Method::DeviceCode,
            1 => Method::Password,
            _ => Method::AppRegistration,
        };
        if kind != StageKind::ConsentRequired {
            c.credentials = None;
        } else {
            c.method = r_method(&c.credentials);
        }
        if i % 5 == 0 {
            c.token = None;
        } else if let Some(t) = c.token.as_mut() {
            t.expires_at = BASE + Duration::minutes(i as i64 * 10);
        }
        c.last_verification = match i % 4 {
            0 => None,
            1 => Some(Verification {
                at: BASE + Duration::hours(i as i64),
                status: VerificationStatus::Ok,
            }),
            2 => Some(Verification {
                at: BASE + Duration::hours(i as i64),
                status: VerificationStatus::Failed,
            }),
            _ => Some(Verification {
                at: BASE - Duration::hours(i as i64),
                status: VerificationStatus::Transient,
            }),
        };
        create(store, &r).await?;
        all.push(r);
    }
    let cut = BASE + Duration::minutes(200);
    let cases: Vec<(&str, Filter)> = vec![
        ("all", Filter::all()),
        (
            "stages",
            Filter::stages([StageKind::Validated, StageKind::Invited, StageKind::Expired]),
        ),
        ("no stages", Filter::stages([])),
        (
            "methods",
            Filter {
                methods: Some(vec![Method::Password]),
                ..Filter::default()
            },
        ),
        (
            "verification ok",
            Filter {
                verification: Some(VerificationStatus::Ok),
                ..Filter::default()
            },
        ),
        (
            "verification failed",
            Filter {
                verification: Some(VerificationStatus::Failed),
                ..Filter::default()
            },
        ),
        (
            "token expiring before",
            Filter {
                token_expires_before: Some(cut),
                ..Filter::default()
            },
        ),
        (
            "token expiring before (exact boundary)",
            Filter {
                token_expires_before: Some(BASE + Duration::minutes(60)),
                ..Filter::default()
            },
        ),
        (
            "not verified since",
            Filter {
                not_verified_since: Some(BASE + Duration::hours(10)),
                ..Filter::default()
            },
        ),
        (
            "combined",
            Filter {
                stages: Some(StageKind::ALL.to_vec()),
                methods: Some(vec![Method::DeviceCode, Method::AppRegistration]),
                verification: None,
                token_expires_before: Some(cut),
                not_verified_since: Some(BASE + Duration::hours(30)),
                attention: None,
            },
        ),
        ("needs attention", Filter::needs_attention()),
        (
            "attention: consent revoked",
            Filter {
                attention: Some(AttentionFilter::Reason(Reason::ConsentRevoked)),
                ..Filter::default()
            },
        ),
        (
            "attention: none",
            Filter {
                attention: Some(AttentionFilter::None),
                stages: Some(vec![StageKind::Validated, StageKind::Invited]),
                ..Filter::default()
            },
        ),
    ];
    for (name, filter) in cases {
        let want: Vec<CustomerId> = all
            .iter()
            .filter(|r| filter.matches(r))
            .map(|r| r.id().clone())
            .collect();
        let mut got = Vec::new();
        let mut request = Some(PageRequest::first(4));
        let mut pages = 0;
        while let Some(r) = request.take() {
            pages += 1;
            ensure!(
                pages <= all.len() + 2,
                "filter {name}: the pager never ends (does the cursor include the record it names?)"
            );
            let page = store.list(&filter, &r).await.map_err(err("list"))?;
            ensure!(
                page.next.as_ref().is_none_or(|next| next.after != r.after),
                "filter {name}: the next page starts where this one did: the cursor never moves"
            );
            ensure!(
                page.records.iter().all(|r| filter.matches(r)),
                "filter {name}: a listed record does not match"
            );
            got.extend(page.records.iter().map(|r| r.id().clone()));
            request = page.next;
        }
        ensure!(got == want, "filter {name}: got {got:?}, want {want:?}");
        ensure!(
            name == "no stages" || !want.is_empty() || name.contains("boundary"),
            "filter {name}: the kit's own data matches nothing (kit bug)"
        );
    }
    Ok(())
}

pub(super) fn r_method(credentials: &Option<crate::model::Credentials>) -> Method {
    match credentials {
        Some(crate::model::Credentials::Password { .. }) => Method::Password,
        Some(crate::model::Credentials::AppRegistration { .. }) => Method::AppRegistration,
        _ => Method::DeviceCode,
    }
}
