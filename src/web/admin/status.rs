//! `GET /admin`: the authentication status table, one row per customer, and its *Refresh
//! token now* button.

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::verify;
use super::{
    AdminState, CustomerForm, Notice, Operator, UnreadableView, act, method_name, stage_name,
    unreadable_view,
};
use crate::error::Action;
use crate::journey::StageKind;
use crate::model::CredentialStatus;
use crate::ops::StatusRow;
use crate::ports::Filter;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::{WebError, show_time};

#[derive(Serialize)]
struct StatusView {
    customer: String,
    admin_email: String,
    method: &'static str,
    stage: String,
    last_verified: String,
    status: &'static str,
    last_error: Option<String>,
    can_refresh: bool,
    can_switch: bool,
    /// The method switch under way: the new method and its stage.
    switching: Option<SwitchView>,
    /// The app registration's credential end, with `expires_soon` / `expired` when it needs
    /// attention.
    credential: Option<CredentialView>,
    /// Why the customer needs attention, and what clears each.
    attention: Vec<AttentionView>,
}

#[derive(Serialize)]
struct AttentionView {
    reason: &'static str,
    name: &'static str,
    remedy: &'static str,
    since: String,
    codes: String,
    missing: String,
}

/// The status page's query: `?attention=1` lists only the customers that need attention.
#[derive(serde::Deserialize, Default)]
pub(super) struct StatusQuery {
    #[serde(default)]
    attention: Option<String>,
}

#[derive(Serialize)]
struct CredentialView {
    kind: &'static str,
    until: String,
    state: &'static str,
}

impl CredentialView {
    fn of(status: &CredentialStatus) -> Self {
        CredentialView {
            kind: status.expiry.kind,
            until: show_time(Some(status.expiry.expires_at)),
            state: status.state.as_str(),
        }
    }
}

#[derive(Serialize)]
struct SwitchView {
    method: &'static str,
    stage: String,
    /// The query of the link to the admin-consent redirect, when consent is what it waits for.
    consent_query: Option<String>,
}

/// `GET /admin`: the authentication status table.
pub(super) async fn status_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    Query(notice): Query<Notice>,
    Query(query): Query<StatusQuery>,
) -> Response {
    let web = &state.web;
    let only_attention = query.attention.as_deref().is_some_and(|v| v == "1");
    let filter = match only_attention {
        true => Filter::needs_attention(),
        false => Filter::all(),
    };
    let report = match web.engine.status_report(&filter).await {
        Ok(report) => report,
        Err(error) => return web.error_page(&WebError::Engine(error), Some(&csrf.0)),
    };
    let needing = report.attention().count();
    let rows: Vec<StatusView> = report.rows.iter().map(status_view).collect();
    let client_credential = report.client_credential.as_ref().map(CredentialView::of);
    let unreadable: Vec<UnreadableView> = report.unreadable.iter().map(unreadable_view).collect();
    let running = verify::running(&state);
    web.render(
        StatusCode::OK,
        "admin_status.html",
        minijinja::context! {
            csrf => csrf.0, operator => operator.name(), rows, unreadable, running, client_credential,
            notice => notice.text(), section => "status", only_attention, needing,
        },
    )
}

/// A customer's status row; a method switch under way shows in it (the engine folds the
/// switch journey into its customer's row).
fn status_view(row: &StatusRow) -> StatusView {
    StatusView {
        customer: row.customer.to_string(),
        admin_email: row.admin_email.to_string(),
        method: method_name(row.method),
        stage: stage_name(row.stage),
        last_verified: show_time(row.last_verified_at),
        status: row.last_verification.map_or("not verified", |s| s.as_str()),
        last_error: row.last_error.clone(),
        can_refresh: row.stage == StageKind::Validated,
        can_switch: row.switch.is_none()
            && matches!(row.stage, StageKind::Validated | StageKind::ReauthRequired),
        switching: row.switch.map(|switch| SwitchView {
            method: method_name(switch.method),
            stage: stage_name(switch.stage),
            consent_query: (switch.stage == StageKind::ConsentRequired).then(|| {
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("customer", row.customer.as_str())
                    .finish()
            }),
        }),
        credential: row.credential.as_ref().map(CredentialView::of),
        attention: row
            .attention
            .iter()
            .map(|a| AttentionView {
                reason: a.reason.describe(),
                name: a.reason.as_str(),
                remedy: a.remedy().describe(),
                since: show_time(Some(a.since)),
                codes: a
                    .evidence
                    .codes
                    .iter()
                    .map(|c| format!("AADSTS{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                missing: a.evidence.missing.join(", "),
            })
            .collect(),
    }
}

/// `POST /admin/refresh`: *Refresh token now*.
pub(super) async fn refresh(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    act(&state, &csrf, &operator, "/admin", |ta| async move {
        let id = form.id()?;
        let after = ta.refresh_now(&id).await.map_err(|e| match e {
            e if e.action() == Action::NotFound => WebError::NotFound,
            e => e.into(),
        })?;
        let done = if after.kind() == StageKind::Validated {
            "refreshed"
        } else {
            "reauth"
        };
        Ok((id, done))
    })
    .await
}
