//! `/admin/bulk`: *Bulk invite*: a CSV pasted into the page is checked (every row, nothing
//! created) or invited in the background, mails paced
//! ([`TenantAccess::invite_many`]); the page shows the report, and
//! `/admin/bulk/report.csv` hands it out as CSV.

use std::sync::{Arc, Mutex};

use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{AdminState, Operator, engine_for};
use crate::engine::TenantAccess;
use crate::ops::bulk::{BULK_CSV_HEADER, BulkLine, BulkOptions, BulkReport, parse_bulk_csv};
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::show_time;

/// The last *Bulk invite* run of this router.
#[derive(Debug, Default)]
pub(super) struct Job {
    number: u64,
    started_by: String,
    started_at: String,
    rows: usize,
    /// The report, once the run finished.
    report: Option<Finished>,
}

#[derive(Debug)]
struct Finished {
    view: ReportView,
    csv: String,
}

/// A report as the page shows it.
#[derive(Debug, Clone, Serialize)]
struct ReportView {
    created: usize,
    sent: usize,
    not_sent: usize,
    refused: usize,
    dry_run: bool,
    lines: Vec<LineView>,
}

#[derive(Debug, Clone, Serialize)]
struct LineView {
    line: u64,
    customer: String,
    outcome: &'static str,
    mail: &'static str,
    refused: bool,
    message: String,
}

impl ReportView {
    fn of(report: &BulkReport) -> Self {
        let lines = report
            .rows()
            .into_iter()
            .map(|l: BulkLine| LineView {
                refused: l.outcome == "refused",
                line: l.line,
                customer: l.customer_id,
                outcome: match l.outcome {
                    "created" => "created",
                    "would_create" => "would be created",
                    _ => "refused",
                },
                mail: match l.mail {
                    "sent" => "sent",
                    "not_sent" => "not sent",
                    "skipped" => "not sent",
                    _ => "",
                },
                message: l.message,
            })
            .collect();
        ReportView {
            created: report.created.len(),
            sent: report.sent(),
            not_sent: report.not_sent().count(),
            refused: report.refused.len(),
            dry_run: report.dry_run,
            lines,
        }
    }
}

/// The job's state as the page shows it.
#[derive(Serialize)]
struct JobView {
    number: u64,
    started_by: String,
    started_at: String,
    rows: usize,
    finished: bool,
    report: Option<ReportView>,
}

/// The form: the CSV text and which button was pressed (`check` or `invite`).
#[derive(Deserialize, Default)]
pub(super) struct BulkForm {
    #[serde(default)]
    csv: String,
    #[serde(default)]
    mode: String,
}

fn job_view(jobs: &Mutex<Option<Job>>) -> Option<JobView> {
    let job = jobs.lock().unwrap_or_else(|e| e.into_inner());
    job.as_ref().map(|j| JobView {
        number: j.number,
        started_by: j.started_by.clone(),
        started_at: j.started_at.clone(),
        rows: j.rows,
        finished: j.report.is_some(),
        report: j.report.as_ref().map(|r| r.view.clone()),
    })
}

fn render(
    state: &AdminState,
    csrf: &str,
    operator: &Operator,
    status: StatusCode,
    csv: &str,
    check: Option<ReportView>,
    form_error: Option<String>,
) -> Response {
    let job = job_view(&state.bulk);
    let pace_ms = BulkOptions::default().pace.as_millis() as u64;
    // One report table: the check just made, else the last run's report.
    let (report, report_caption) = match check {
        Some(check) => (Some(check), "What inviting this CSV would do"),
        None => (
            job.as_ref().and_then(|j| j.report.clone()),
            "Bulk invitation report",
        ),
    };
    state.web.render(
        status,
        "admin_bulk.html",
        minijinja::context! {
            csrf, operator => operator.name(), csv, report, report_caption, form_error, job,
            pace_ms, header => BULK_CSV_HEADER, section => "bulk",
        },
    )
}

/// `GET /admin/bulk`: the form, and the last run's progress or report.
pub(super) async fn bulk_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
) -> Response {
    render(&state, &csrf.0, &operator, StatusCode::OK, "", None, None)
}

/// `POST /admin/bulk`: `mode=check` checks every row and shows what would be created
/// (nothing is); `mode=invite` starts the invitations in the background unless a run is
/// under way, and redirects to the page.
pub(super) async fn bulk_submit(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<BulkForm>,
) -> Response {
    let refuse = |status, message: String| {
        render(
            &state,
            &csrf.0,
            &operator,
            status,
            &form.csv,
            None,
            Some(message),
        )
    };
    let parsed = match parse_bulk_csv(form.csv.as_bytes()) {
        Ok(parsed) => parsed,
        Err(error) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("{error}.")),
    };
    let rows = parsed.rows.len() + parsed.refused.len();
    if rows == 0 {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The CSV has a header but no customers.".into(),
        );
    }
    let ta = engine_for(&state.web, &operator);
    if form.mode != "invite" {
        let options = BulkOptions {
            dry_run: true,
            ..BulkOptions::default()
        };
        let report = ta.invite_many(parsed, &options).await;
        let view = ReportView::of(&report);
        return render(
            &state,
            &csrf.0,
            &operator,
            StatusCode::OK,
            &form.csv,
            Some(view),
            None,
        );
    }
    let number = {
        let mut job = state.bulk.lock().unwrap_or_else(|e| e.into_inner());
        if job.as_ref().is_some_and(|j| j.report.is_none()) {
            None
        } else {
            let number = job.as_ref().map_or(1, |j| j.number + 1);
            *job = Some(Job {
                number,
                started_by: operator.name().to_owned(),
                started_at: show_time(Some(ta.clock().now())),
                rows,
                report: None,
            });
            Some(number)
        }
    };
    let Some(number) = number else {
        return refuse(
            StatusCode::CONFLICT,
            "A bulk invitation is under way: wait until it has finished.".into(),
        );
    };
    let jobs = Arc::clone(&state.bulk);
    tokio::spawn(async move { run(ta, jobs, number, parsed).await });
    Redirect::to(&state.web.config.path("/admin/bulk")).into_response()
}

async fn run(
    ta: TenantAccess,
    jobs: Arc<Mutex<Option<Job>>>,
    number: u64,
    parsed: crate::ops::bulk::BulkCsv,
) {
    let report = ta.invite_many(parsed, &BulkOptions::default()).await;
    let finished = Finished {
        view: ReportView::of(&report),
        csv: report.csv(),
    };
    let mut job = jobs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(job) = job.as_mut().filter(|j| j.number == number) {
        job.report = Some(finished);
    }
}

/// `GET /admin/bulk/report.csv`: the last finished run's report as CSV (404 before one).
pub(super) async fn bulk_report_csv(State(state): State<AdminState>) -> Response {
    let job = state.bulk.lock().unwrap_or_else(|e| e.into_inner());
    match job.as_ref().and_then(|j| j.report.as_ref()) {
        Some(finished) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"bulk-invite-report.csv\"",
                ),
            ],
            finished.csv.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no bulk invitation has finished yet").into_response(),
    }
}
