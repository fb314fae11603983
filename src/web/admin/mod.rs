//! The MSP's admin pages: customer invitations, the authentication status table, *Verify
//! all* with live progress and *Refresh token now*, behind the integrator's
//! [`AdminAuthorizer`].
//!
//! The router and what its pages share are here; each page and its actions have a file:
//! `status` (the status table, *Refresh token now*), `invitations` (create, resend, revoke),
//! `switch` (*Switch method*), `verify` (*Verify all* and its progress) and `bulk` (*Bulk
//! invite* from a CSV).

mod bulk;
mod invitations;
mod notifications;
mod status;
mod switch;
mod verify;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::csrf::{self, CsrfToken};
pub use super::operator::Operator;
use super::{Web, WebConfig, WebError, asset, headers};
use crate::engine::TenantAccess;
use crate::error::Action;
use crate::journey::StageKind;
use crate::model::{CustomerId, JourneyId, Method};
use crate::ports::Unreadable;

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
    job: Arc<Mutex<Option<verify::Job>>>,
    bulk: Arc<Mutex<Option<bulk::Job>>>,
}

impl FromRef<AdminState> for Arc<Web> {
    fn from_ref(state: &AdminState) -> Arc<Web> {
        Arc::clone(&state.web)
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
/// | GET, POST | `/admin/bulk` | *Bulk invite*: a pasted CSV checked (nothing created) or invited in the background, mails paced; the report |
/// | GET | `/admin/bulk/report.csv` | the last bulk run's report as CSV |
/// | GET | `/admin/assets/ta-wizard.css`, `/admin/assets/ta-wizard.js` | the stylesheet and script |
///
/// Transitions are recorded with [`Actor::Operator`](crate::model::Actor::Operator) and the operator's name.
pub fn admin_router(
    engine: TenantAccess,
    config: WebConfig,
    authorizer: impl AdminAuthorizer,
) -> Router {
    let web = Web::new(engine, config, "/admin/assets", csrf::Scope::Admin);
    let state = AdminState {
        web: Arc::clone(&web),
        authorizer: Arc::new(authorizer),
        job: Arc::new(Mutex::new(None)),
        bulk: Arc::new(Mutex::new(None)),
    };
    Router::new()
        .route("/admin", get(status::status_page))
        .route(
            "/admin/invitations",
            get(invitations::invitations_page).post(invitations::create),
        )
        .route(
            "/admin/invitations/resend",
            axum::routing::post(invitations::resend),
        )
        .route(
            "/admin/invitations/revoke",
            axum::routing::post(invitations::revoke),
        )
        .route("/admin/refresh", axum::routing::post(status::refresh))
        .route("/admin/switch", axum::routing::post(switch::switch))
        .route("/admin/switch/consent", get(switch::switch_consent))
        .route(
            "/admin/switch/cancel",
            axum::routing::post(switch::cancel_switch),
        )
        .route(
            "/admin/verify-all",
            get(verify::verify_page).post(verify::start_verify),
        )
        .route("/admin/verify-all/progress", get(verify::verify_progress))
        .route("/admin/bulk", get(bulk::bulk_page).post(bulk::bulk_submit))
        .route(
            "/admin/notifications",
            get(notifications::notifications_page),
        )
        .route("/admin/bulk/report.csv", get(bulk::bulk_report_csv))
        .route(
            "/admin/assets/ta-wizard.css",
            get(|| async { asset(super::CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/admin/assets/ta-wizard.js",
            get(|| async { asset(super::JS, "text/javascript; charset=utf-8") }),
        )
        // Route layers: an unmatched path of the app the router is merged into stays a plain
        // 404 (the app's fallback), and never asks for admin credentials.
        .route_layer(from_fn_with_state(web, csrf::provide))
        .route_layer(from_fn_with_state(state.clone(), authorize))
        .route_layer(from_fn(headers::secure))
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

/// The admin pages' forms and their notice query, parsed from `body` as axum's `Form` and
/// `Query` would (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_forms(body: &[u8]) {
    if let Ok(form) = serde_urlencoded::from_bytes::<CustomerForm>(body) {
        let _ = form.id();
        let _ = form.switch();
    }
    let _ = serde_urlencoded::from_bytes::<invitations::NewInvitation>(body);
    let _ = serde_urlencoded::from_bytes::<switch::SwitchForm>(body);
    if let Ok(notice) = serde_urlencoded::from_bytes::<Notice>(body) {
        let _ = notice.text();
    }
}

/// A customer whose record cannot be read, as the status and invitations pages list it.
#[derive(serde::Serialize)]
struct UnreadableView {
    customer: String,
    error: String,
    action: &'static str,
}

fn unreadable_view(u: &Unreadable) -> UnreadableView {
    UnreadableView {
        customer: u.customer.to_string(),
        error: u.error.to_string(),
        action: match u.action() {
            Action::FixConfiguration => {
                "fix the store or the keyring (restore the record from a backup, or delete it)"
            }
            Action::Retry { .. } => "try again later",
            Action::Reload => "reload the page",
            Action::AskCustomer => "ask the customer",
            Action::FixInput => "fix the input",
            Action::NotFound => "none: the customer is gone",
        },
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
