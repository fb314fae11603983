//! The MSP's admin pages: customer invitations, the authentication status table, *Verify
//! all* with live progress and *Refresh token now*, behind the integrator's
//! [`AdminAuthorizer`].

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Extension, FromRef, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::csrf::{self, CsrfForm, CsrfToken};
use super::{Web, WebConfig, WebError, asset, headers, show_time};
use crate::Onboarding;
use crate::engine::TenantAccess;
use crate::error::{Error, FlowError};
use crate::journey::{AnyOnboarding, Revocable, StageKind};
use crate::model::Actor;
use crate::model::NewCustomer;
use crate::model::{ClientSecret, Password};
use crate::model::{CustomerId, EmailAddress, JourneyId, Method};
use crate::ops::StatusRow;
use crate::ops::VerifyProgress;
use crate::ports::{Filter, PageRequest};

/// An MSP operator, as the integrator's [`AdminAuthorizer`] identified them. Their name is
/// recorded in the audit events of what they do ([`Actor::Operator`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(Arc<str>);

impl Operator {
    /// An operator named `name` (an email address, a user name).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into().into())
    }

    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    fn actor(&self) -> Actor {
        Actor::Operator(Arc::clone(&self.0))
    }
}

/// Decides who may use the admin pages. [`admin_router`] requires one: the crate has no
/// default and no way to turn the check off.
///
/// It sees every admin request's head (method, URI, headers, extensions: e.g. what the
/// integrator's session layer put there) and returns the [`Operator`], or the response to
/// send instead (a 401, a redirect to the portal's sign-in page, …).
#[async_trait]
pub trait AdminAuthorizer: Send + Sync + 'static {
    /// The operator making this request, or the rejection to answer with.
    async fn authorize(&self, request: &Parts) -> Result<Operator, Response>;
}

#[derive(Clone)]
struct AdminState {
    web: Arc<Web>,
    authorizer: Arc<dyn AdminAuthorizer>,
    job: Arc<Mutex<Option<Job>>>,
}

impl FromRef<AdminState> for Arc<Web> {
    fn from_ref(state: &AdminState) -> Arc<Web> {
        Arc::clone(&state.web)
    }
}

/// A *Verify all* run.
#[derive(Debug, Clone, Serialize)]
struct Job {
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

/// The MSP's admin pages as a router, all under `/admin`, every request first through
/// `authorizer`:
///
/// | method | path | what |
/// |---|---|---|
/// | GET | `/admin` | the authentication status table: method, stage, last verified, status, last error; *Refresh token now* |
/// | GET, POST | `/admin/invitations` | customer invitations (email sent, device authenticated, created, expires) and the form that creates one |
/// | POST | `/admin/invitations/resend`, `/admin/invitations/revoke` | resend (a new link; the old one stops working) or revoke |
/// | POST | `/admin/refresh` | *Refresh token now* for one customer |
/// | POST | `/admin/switch`, `/admin/switch/cancel` | *Switch method* (the old connection serves until the new one is validated), or cancel it |
/// | GET | `/admin/switch/consent?customer=ID` | redirects to the pending switch's admin-consent page |
/// | POST, GET | `/admin/verify-all` | starts *Verify all* in the background / shows its progress |
/// | GET | `/admin/verify-all/progress` | its progress as JSON, for the page's script |
/// | GET | `/admin/assets/ta-wizard.css`, `/admin/assets/ta-wizard.js` | the stylesheet and script |
///
/// Transitions are recorded with [`Actor::Operator`] and the operator's name.
pub fn admin_router(
    engine: TenantAccess,
    config: WebConfig,
    authorizer: impl AdminAuthorizer,
) -> Router {
    let web = Web::new(engine, config, "/admin/assets");
    let state = AdminState {
        web: Arc::clone(&web),
        authorizer: Arc::new(authorizer),
        job: Arc::new(Mutex::new(None)),
    };
    Router::new()
        .route("/admin", get(status_page))
        .route("/admin/invitations", get(invitations_page).post(create))
        .route("/admin/invitations/resend", axum::routing::post(resend))
        .route("/admin/invitations/revoke", axum::routing::post(revoke))
        .route("/admin/refresh", axum::routing::post(refresh))
        .route("/admin/switch", axum::routing::post(switch))
        .route("/admin/switch/consent", get(switch_consent))
        .route("/admin/switch/cancel", axum::routing::post(cancel_switch))
        .route("/admin/verify-all", get(verify_page).post(start_verify))
        .route("/admin/verify-all/progress", get(verify_progress))
        .route(
            "/admin/assets/ta-wizard.css",
            get(|| async { asset(super::CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/admin/assets/ta-wizard.js",
            get(|| async { asset(super::JS, "text/javascript; charset=utf-8") }),
        )
        .layer(from_fn_with_state(web, csrf::provide))
        .layer(from_fn_with_state(state.clone(), authorize))
        .layer(from_fn(headers::secure))
        .with_state(state)
}

/// Middleware: the integrator's authoriser decides before anything else runs.
async fn authorize(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match state.authorizer.authorize(&parts).await {
        Ok(operator) => {
            parts.extensions.insert(operator);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(rejection) => rejection,
    }
}

fn engine_for(web: &Web, operator: &Operator) -> TenantAccess {
    web.engine.acting_as(operator.actor())
}

/// What the last action did, shown once at the top of the page it redirected to.
#[derive(Debug, Deserialize, Default)]
struct Notice {
    done: Option<String>,
    customer: Option<String>,
}

impl Notice {
    fn text(&self) -> Option<String> {
        let who = self.customer.as_deref().unwrap_or("the customer");
        Some(match self.done.as_deref()? {
            "invited" => format!("Invitation sent to {who}."),
            "resent" => {
                format!("A new invitation was sent to {who}; the previous link no longer works.")
            }
            "revoked" => format!("{who} was revoked: its tokens and invitation no longer work."),
            "refreshed" => format!("The token of {who} was refreshed."),
            "reauth" => format!(
                "The refresh token of {who} no longer works: the customer must authenticate again."
            ),
            "switch-invited" => format!(
                "Switching {who} to the device code: an invitation was sent. The current connection keeps working until the new one is validated."
            ),
            "switch-consent" => format!(
                "Switching {who}: an administrator of the customer must consent (\u{201c}Open admin consent\u{201d} in its row). The current connection keeps working meanwhile."
            ),
            "switch-cancelled" => {
                format!("The method switch of {who} was cancelled; its connection is unchanged.")
            }
            _ => return None,
        })
    }
}

fn redirect(web: &Web, path: &str, done: &str, customer: &CustomerId) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", done)
        .append_pair("customer", customer.as_str())
        .finish();
    Redirect::to(&format!("{}?{query}", web.config.path(path))).into_response()
}

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
}

#[derive(Serialize)]
struct SwitchView {
    method: &'static str,
    stage: String,
    /// The query of the link to the admin-consent redirect, when consent is what it waits for.
    consent_query: Option<String>,
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::DeviceCode => "Device code",
        Method::Password => "Admin password",
        Method::AppRegistration => "App registration",
    }
}

fn stage_name(stage: StageKind) -> String {
    stage.as_str().replace('_', " ")
}

/// `GET /admin`: the authentication status table.
async fn status_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    Query(notice): Query<Notice>,
) -> Response {
    let web = &state.web;
    let rows = match web.engine.status_report(&Filter::all()).await {
        Ok(rows) => rows,
        Err(error) => return web.error_page(&WebError::Engine(error), Some(&csrf.0)),
    };
    let rows: Vec<StatusView> = rows.iter().map(status_view).collect();
    let running = state
        .job
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|j| !j.finished);
    web.render(
        StatusCode::OK,
        "admin_status.html",
        minijinja::context! {
            csrf => csrf.0, operator => operator.name(), rows, running,
            notice => notice.text(), section => "status",
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
    }
}

#[derive(Serialize)]
struct InvitationView {
    customer: String,
    /// The method switch's journey id, for a switch's row.
    switch: Option<String>,
    tenant: String,
    admin_email: String,
    stage: String,
    email_sent: bool,
    device_authenticated: bool,
    created: String,
    expires: String,
    can_resend: bool,
    can_revoke: bool,
}

fn invitation_view(journey: &AnyOnboarding) -> InvitationView {
    let c = journey.customer();
    let kind = journey.kind();
    InvitationView {
        customer: c.id.to_string(),
        switch: journey.switch_journey().map(ToString::to_string),
        tenant: c.tenant.to_string(),
        admin_email: c.admin_email.to_string(),
        stage: stage_name(kind),
        email_sent: c.invitation.as_ref().is_some_and(|i| i.delivery.is_some()),
        device_authenticated: c.device_authenticated_at.is_some(),
        created: show_time(Some(c.created_at)),
        expires: show_time(c.invitation.as_ref().map(|i| i.expires_at)),
        can_resend: kind.can_resend_invitation(),
        // A method switch is cancelled on the status page, not revoked.
        can_revoke: kind != StageKind::Revoked && !journey.is_switch(),
    }
}

/// Every journey, a page of the store at a time: each customer's own, and the method switch
/// under way beside it.
async fn all_journeys(ta: &TenantAccess) -> Result<Vec<AnyOnboarding>, Error> {
    let mut all = Vec::new();
    let mut page = Some(PageRequest::first(500));
    while let Some(request) = page {
        let result = ta.list(&Filter::all(), &request).await?;
        for journey in result.items {
            let switching = journey.pending_switch().is_some();
            let id = journey.id().clone();
            all.push(journey);
            if switching {
                all.extend(ta.pending_switch(&id).await?);
            }
        }
        page = result.next;
    }
    Ok(all)
}

#[derive(Deserialize, Serialize, Default)]
struct NewInvitation {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    admin_email: String,
}

async fn render_invitations(
    state: &AdminState,
    csrf: &str,
    operator: &Operator,
    notice: Option<String>,
    form: NewInvitation,
    form_error: Option<String>,
) -> Response {
    let web = &state.web;
    let journeys = match all_journeys(&web.engine).await {
        Ok(journeys) => journeys,
        Err(error) => return web.error_page(&WebError::Engine(error), Some(csrf)),
    };
    let rows: Vec<InvitationView> = journeys
        .iter()
        .filter(|j| j.customer().method == Method::DeviceCode)
        .map(invitation_view)
        .collect();
    let status = if form_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    web.render(
        status,
        "admin_invitations.html",
        minijinja::context! {
            csrf, operator => operator.name(), rows, notice, form, form_error,
            section => "invitations",
        },
    )
}

/// `GET /admin/invitations`.
async fn invitations_page(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    Query(notice): Query<Notice>,
) -> Response {
    render_invitations(
        &state,
        &csrf.0,
        &operator,
        notice.text(),
        NewInvitation::default(),
        None,
    )
    .await
}

/// `POST /admin/invitations`: creates the customer and mails the invitation.
async fn create(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<NewInvitation>,
) -> Response {
    let ta = engine_for(&state.web, &operator);
    let new = match NewCustomer::new(
        form.customer.trim(),
        form.tenant.trim(),
        form.admin_email.trim(),
    ) {
        Ok(new) => new,
        Err(error) => {
            let message = format!("Not created: the {error}.");
            return render_invitations(&state, &csrf.0, &operator, None, form, Some(message)).await;
        }
    };
    let id = new.id.clone();
    let sent = async {
        let invited = ta.invite(new).await?;
        invited.send(&ta).await?;
        Ok::<_, Error>(())
    };
    match sent.await {
        Ok(()) => redirect(&state.web, "/admin/invitations", "invited", &id),
        Err(Error::Store(crate::error::StoreError::AlreadyExists(_))) => {
            let message =
                format!("Not created: a customer with the id \u{201c}{id}\u{201d} exists already.");
            render_invitations(&state, &csrf.0, &operator, None, form, Some(message)).await
        }
        Err(error) => state
            .web
            .error_page(&WebError::Engine(error), Some(&csrf.0)),
    }
}

#[derive(Deserialize)]
struct CustomerForm {
    #[serde(default)]
    customer: String,
    /// The method switch the action is for (its journey id), if it is for one.
    #[serde(default)]
    switch: String,
}

impl CustomerForm {
    fn id(&self) -> Result<CustomerId, WebError> {
        CustomerId::new(self.customer.as_str()).map_err(|e| WebError::Input(format!("The {e}.")))
    }

    /// The method switch named, if any.
    fn switch(&self) -> Result<Option<JourneyId>, WebError> {
        match self.switch.as_str() {
            "" => Ok(None),
            text => JourneyId::parse(text)
                .map(Some)
                .ok_or_else(|| WebError::Input("The method switch id is malformed.".into())),
        }
    }
}

async fn load(ta: &TenantAccess, id: &CustomerId) -> Result<AnyOnboarding, WebError> {
    match ta.load(id).await {
        Ok(journey) => Ok(journey),
        Err(Error::Flow(FlowError::NotFound(_))) => Err(WebError::NotFound),
        Err(error) => Err(error.into()),
    }
}

/// What the invitation table's row buttons do.
#[derive(Clone, Copy)]
enum RowAction {
    Resend,
    Revoke,
}

/// `POST /admin/invitations/resend`: a new link (the old one stops working).
async fn resend(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    row_action(&state, &csrf, &operator, &form, RowAction::Resend).await
}

/// `POST /admin/invitations/revoke`.
async fn revoke(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    row_action(&state, &csrf, &operator, &form, RowAction::Revoke).await
}

/// Runs an admin action as `operator`; answers with a redirect to `page` carrying the notice
/// the action names, or with the error's page.
async fn act<Fut>(
    state: &AdminState,
    csrf: &CsrfToken,
    operator: &Operator,
    page: &str,
    action: impl FnOnce(TenantAccess) -> Fut,
) -> Response
where
    Fut: std::future::Future<Output = Result<(CustomerId, &'static str), WebError>>,
{
    match action(engine_for(&state.web, operator)).await {
        Ok((id, done)) => redirect(&state.web, page, done, &id),
        Err(error) => state.web.error_page(&error, Some(&csrf.0)),
    }
}

async fn row_action(
    state: &AdminState,
    csrf: &CsrfToken,
    operator: &Operator,
    form: &CustomerForm,
    action: RowAction,
) -> Response {
    act(
        state,
        csrf,
        operator,
        "/admin/invitations",
        |ta| async move {
            let id = form.id()?;
            let switch = form.switch()?;
            let done = match action {
                RowAction::Resend => {
                    resend_invitation(&ta, &id, switch.as_ref()).await?;
                    "resent"
                }
                RowAction::Revoke => {
                    revoke_journey(&ta, load(&ta, &id).await?).await?;
                    "revoked"
                }
            };
            Ok((id, done))
        },
    )
    .await
}

/// Mails a new link from wherever the journey waits for the customer; starts over from an
/// expired invitation or a dead refresh token ([`TenantAccess::resend_invitation`]).
async fn resend_invitation(
    ta: &TenantAccess,
    id: &CustomerId,
    switch: Option<&JourneyId>,
) -> Result<(), WebError> {
    let resent = match switch {
        None => ta.resend_invitation(id).await,
        Some(switch) => ta.resend_switch_invitation(id, switch).await,
    };
    match resent {
        Ok(_) => Ok(()),
        Err(Error::Flow(FlowError::NotFound(_) | FlowError::NoSwitchInProgress(_))) => {
            Err(WebError::NotFound)
        }
        Err(Error::Flow(FlowError::NothingToResend { customer, stage })) => {
            Err(WebError::WrongStage(format!(
                "{customer} is in the stage \u{201c}{}\u{201d}: there is no invitation to resend.",
                stage_name(stage)
            )))
        }
        Err(error) => Err(error.into()),
    }
}

async fn revoke_journey(ta: &TenantAccess, journey: AnyOnboarding) -> Result<(), WebError> {
    let revoked = match journey {
        AnyOnboarding::Invited(o) => revoke_one(ta, o).await,
        AnyOnboarding::InvitationSent(o) => revoke_one(ta, o).await,
        AnyOnboarding::Claimed(o) => revoke_one(ta, o).await,
        AnyOnboarding::DeviceCodeIssued(o) => revoke_one(ta, o).await,
        AnyOnboarding::ApprovalRequested(o) => revoke_one(ta, o).await,
        AnyOnboarding::ConsentRequired(o) => revoke_one(ta, o).await,
        AnyOnboarding::TokenAcquired(o) => revoke_one(ta, o).await,
        AnyOnboarding::Validated(o) => revoke_one(ta, o).await,
        AnyOnboarding::ReauthRequired(o) => revoke_one(ta, o).await,
        AnyOnboarding::Expired(o) => revoke_one(ta, o).await,
        other => {
            return Err(WebError::WrongStage(format!(
                "{} is in the stage \u{201c}{}\u{201d} and cannot be revoked.",
                other.id(),
                stage_name(other.kind())
            )));
        }
    };
    Ok(revoked?)
}

async fn revoke_one<S: Revocable>(ta: &TenantAccess, o: Onboarding<S>) -> Result<(), Error> {
    o.revoke(ta).await?;
    Ok(())
}

/// `POST /admin/refresh`: *Refresh token now*.
async fn refresh(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    act(&state, &csrf, &operator, "/admin", |ta| async move {
        let id = form.id()?;
        let after = ta.refresh_now(&id).await.map_err(|e| match e {
            Error::Flow(FlowError::NotFound(_)) => WebError::NotFound,
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

/// `POST /admin/verify-all`: starts a run in the background unless one is running.
async fn start_verify(
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
struct Empty {}

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

fn current_job(state: &AdminState) -> Option<Job> {
    state.job.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `GET /admin/verify-all`: the run's progress (live with the script, refreshing without).
async fn verify_page(
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
async fn verify_progress(State(state): State<AdminState>) -> Response {
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

/// The *Switch method* form.
#[derive(Deserialize)]
struct SwitchForm {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    admin_email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

/// `POST /admin/switch`: starts switching a customer to another method; the old connection
/// keeps serving until the new one is validated.
async fn switch(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<SwitchForm>,
) -> Response {
    act(&state, &csrf, &operator, "/admin", |ta| async move {
        let id = CustomerId::new(form.customer.as_str())
            .map_err(|e| WebError::Input(format!("The {e}.")))?;
        let done = match Method::parse(form.method.as_str()) {
            Some(Method::DeviceCode) => {
                let email = match form.admin_email.trim() {
                    "" => None,
                    email => Some(
                        EmailAddress::new(email)
                            .map_err(|e| WebError::Input(format!("The {e}.")))?,
                    ),
                };
                let invited = ta.switch_to_device_code(&id, email).await?;
                invited.send(&ta).await.map_err(Error::from)?;
                "switch-invited"
            }
            Some(Method::Password) => {
                ta.switch_to_password(
                    &id,
                    form.username.trim(),
                    Password::new(form.password.clone()),
                )
                .await?;
                "switch-consent"
            }
            Some(Method::AppRegistration) => {
                ta.switch_to_app_registration(
                    &id,
                    form.client_id.trim(),
                    ClientSecret::new(form.client_secret.clone()),
                )
                .await?;
                "switch-consent"
            }
            _ => return Err(WebError::Input("Choose the method to switch to.".into())),
        };
        Ok((id, done))
    })
    .await
}

/// `GET /admin/switch/consent?customer=ID`: sends the operator's browser to the pending
/// switch's admin-consent page. The URL (its `state` included) is never written into a page.
/// A link, not a form: it changes nothing, and a form's redirect to another origin would be
/// blocked by the pages' `form-action 'self'`.
async fn switch_consent(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    Query(form): Query<CustomerForm>,
) -> Response {
    let ta = engine_for(&state.web, &operator);
    let found = async {
        let id = form.id()?;
        match ta.pending_switch(&id).await? {
            Some(AnyOnboarding::ConsentRequired(pending)) => {
                Ok(pending.stage().admin_consent_url().to_string())
            }
            Some(other) => Err(WebError::WrongStage(format!(
                "The switch of {id} is in the stage \u{201c}{}\u{201d}, which needs no admin consent.",
                stage_name(other.kind())
            ))),
            None => Err(WebError::WrongStage(format!(
                "{id} has no method switch under way."
            ))),
        }
    };
    match found.await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(error) => state.web.error_page(&error, Some(&csrf.0)),
    }
}

/// `POST /admin/switch/cancel`: the switch journey goes; the old connection stays.
async fn cancel_switch(
    State(state): State<AdminState>,
    Extension(csrf): Extension<CsrfToken>,
    Extension(operator): Extension<Operator>,
    CsrfForm(form): CsrfForm<CustomerForm>,
) -> Response {
    act(&state, &csrf, &operator, "/admin", |ta| async move {
        let id = form.id()?;
        ta.cancel_switch(&id).await?;
        Ok((id, "switch-cancelled"))
    })
    .await
}
