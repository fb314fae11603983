//! `GET /admin/notifications`: the notification outbox: notices waiting for their dispatcher
//! (with their tries and last error) and the dead letters an operator should look at.

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{AdminState, Operator};
use crate::ports::{OutboxEntry, OutboxQuery, OutboxState};
use crate::web::csrf::CsrfToken;
use crate::web::{WebError, show_time};

/// How many entries of each state the page lists.
const SHOWN: usize = 200;

#[derive(Serialize)]
struct NoticeView {
    id: String,
    channel: String,
    customer: String,
    change: &'static str,
    reason: &'static str,
    remedy: &'static str,
    recorded: String,
    attempts: u32,
    next_attempt: String,
    last_error: Option<String>,
    settled: String,
}

fn view(entry: &OutboxEntry) -> NoticeView {
    let n = &entry.notice;
    NoticeView {
        id: n.id.to_string(),
        channel: n.channel.clone(),
        customer: n.customer.to_string(),
        change: n.change.as_str(),
        reason: n.attention.reason.describe(),
        remedy: n.remedy.describe(),
        recorded: show_time(Some(n.at)),
        attempts: entry.attempts,
        next_attempt: show_time(Some(entry.next_attempt_at)),
        last_error: entry.last_error.clone(),
        settled: show_time(entry.settled_at),
    }
}

/// `GET /admin/notifications`.
pub(super) async fn notifications_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
) -> Response {
    let web = &state.web;
    let mut lists = Vec::new();
    for state in [OutboxState::Pending, OutboxState::Dead] {
        let query = OutboxQuery {
            state,
            limit: SHOWN,
        };
        match web.engine.outbox(&query).await {
            Ok(entries) => lists.push(entries.iter().map(view).collect::<Vec<_>>()),
            Err(error) => return web.error_page(&WebError::Engine(error), Some(&csrf.0)),
        }
    }
    let dead = lists.pop().unwrap_or_default();
    let pending = lists.pop().unwrap_or_default();
    web.render(
        StatusCode::OK,
        "admin_notifications.html",
        minijinja::context! {
            csrf => csrf.0, operator => operator.name(), pending, dead, shown => SHOWN,
            section => "notifications",
        },
    )
}
