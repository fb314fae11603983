//! `/admin/verify-all`: *Verify all* in the background, its progress page and its progress
//! as JSON.
use std::sync::{Arc, Mutex};

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Redirect, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{AdminState, Operator, engine_for};
use crate::engine::TenantAccess;
use crate::journey::StageKind;
use crate::ops::VerifyProgress;
use crate::ports::Filter;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::{WebError, show_time};

/// A *Verify all* run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Job {
    number: u64,
    started_by: String,
    started_at: String,
    total: usize,
    done: usize,
    ok: usize,
    failed: usize,
    throttled: usize,
    finished: bool,
    failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize)]
struct Failure {
    customer: String,
    error: String,
}

impl Job {
    fn record(&mut self, progress: VerifyProgress) {
        self.done = progress.done;
        self.ok = progress.ok;
        self.failed = progress.failed;
        self.throttled = progress.throttled;
    }

    fn message(&self) -> String {
        let mut text = format!(
            "{} of {} verified: {} working, {} failing",
            self.done, self.total, self.ok, self.failed
        );
        if self.throttled > 0 {
            text.push_str(&format!(
                " (Microsoft asked us to slow down {} time(s))",
                self.throttled
            ));
        }
        if self.finished {
            text.push_str(". Done.");
        } else {
            text.push('\u{2026}');
        }
        text
    }
}

/// `POST /admin/verify-all`: starts a run in the background unless one is running.
pub(super) async fn start_verify(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(Empty {}): CsrfForm<Empty>,
) -> Response {
    let ta = engine_for(&state.web, &operator);
    let total = match ta.count(&Filter::stages([StageKind::Validated])).await {
        Ok(total) => total,
        Err(error) => {
            return state
                .web
                .error_page(&WebError::Engine(error), Some(&csrf.0));
        }
    };
    let number = {
        let mut job = state.job.lock().unwrap_or_else(|e| e.into_inner());
        if job.as_ref().is_some_and(|j| !j.finished) {
            None
        } else {
            let number = job.as_ref().map_or(1, |j| j.number + 1);
            *job = Some(Job {
                number,
                started_by: operator.name().to_owned(),
                started_at: show_time(Some(ta.clock().now())),
                total,
                done: 0,
                ok: 0,
                failed: 0,
                throttled: 0,
                finished: false,
                failures: Vec::new(),
            });
            Some(number)
        }
    };
    if let Some(number) = number {
        let jobs = Arc::clone(&state.job);
        let concurrency = state.web.config.verify_concurrency;
        tokio::spawn(async move { run_verify(ta, jobs, number, concurrency).await });
    }
    Redirect::to(&state.web.config.path("/admin/verify-all")).into_response()
}

#[derive(Deserialize)]
pub(super) struct Empty {}

async fn run_verify(
    ta: TenantAccess,
    jobs: Arc<Mutex<Option<Job>>>,
    number: u64,
    concurrency: usize,
) {
    let update = |f: &mut dyn FnMut(&mut Job)| {
        let mut job = jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = job.as_mut().filter(|j| j.number == number) {
            f(job);
        }
    };
    let mut run = std::pin::pin!(ta.verify_all(Filter::all(), concurrency));
    while let Some(outcome) = run.next().await {
        match outcome {
            Ok(outcome) => update(&mut |job| {
                job.record(outcome.progress);
                job.total = job.total.max(job.done);
                if let Err(error) = &outcome.result {
                    job.failures.push(Failure {
                        customer: outcome.customer.to_string(),
                        error: error.to_string(),
                    });
                }
            }),
            Err(error) => update(&mut |job| {
                job.failures.push(Failure {
                    customer: "(the run)".into(),
                    error: format!("stopped: {error}"),
                });
            }),
        }
    }
    update(&mut |job| job.finished = true);
}

/// Whether a run is under way (the status page then says so).
pub(super) fn running(state: &AdminState) -> bool {
    state
        .job
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|j| !j.finished)
}

fn current_job(state: &AdminState) -> Option<Job> {
    state.job.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `GET /admin/verify-all`: the run's progress (live with the script, refreshing without).
pub(super) async fn verify_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
) -> Response {
    let web = &state.web;
    let job = current_job(&state);
    let check_ms = web
        .config
        .check_every
        .map_or(1000, |d| d.as_millis() as u64)
        .max(100);
    web.render(
        StatusCode::OK,
        "admin_verify.html",
        minijinja::context! {
            csrf => csrf.0, operator => operator.name(), section => "verify",
            message => job.as_ref().map(Job::message),
            job, check_ms,
            progress_url => web.config.path("/admin/verify-all/progress"),
            next_url => web.config.path("/admin/verify-all"),
        },
    )
}

#[derive(Serialize)]
struct VerifyJson {
    done: bool,
    message: String,
    value: usize,
    max: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `GET /admin/verify-all/progress`.
pub(super) async fn verify_progress(State(state): State<AdminState>) -> Response {
    let progress = match current_job(&state) {
        Some(job) => VerifyJson {
            done: job.finished,
            message: job.message(),
            value: job.done,
            max: job.total,
            next: job
                .finished
                .then(|| state.web.config.path("/admin/verify-all")),
        },
        None => VerifyJson {
            done: true,
            message: "No run yet.".into(),
            value: 0,
            max: 0,
            next: None,
        },
    };
    Json(progress).into_response()
}
