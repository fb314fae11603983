//! The customer's wizard: the invitation link, the pages of the device-code journey, the JSON
//! progress endpoint, and the admin-consent callback.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::csrf::{self, CsrfForm, CsrfToken};
use super::session::{Session, cookie, set_cookie};
use super::{Web, WebConfig, WebError, asset, headers, show_time};
use crate::engine::TenantAccess;
use crate::error::{Action, Error};
use crate::journey::{AnyOnboarding, Consented, Next, Step};
use crate::model::{Actor, Method};
use crate::ports::ConsentCallback;

/// The customer's wizard as a router: the invitation link, the wizard pages, the progress
/// endpoint, the admin-consent callback and the wizard's stylesheet and script.
///
/// | method | path | what |
/// |---|---|---|
/// | GET | `/invitation/{code}` | opens the invitation (the link in the email), sets the session cookie, redirects to `/wizard` |
/// | GET | `/wizard` | the page for where the journey stands (polls the provider when the interval has passed) |
/// | GET | `/wizard/status` | progress as JSON, for the page's script |
/// | POST | `/wizard/start` | *Start authentication*: a device code |
/// | POST | `/wizard/continue` | *Continue authentication* after an administrator approved |
/// | GET | the consent callback path | the admin-consent redirect ([`WebConfig::consent_callback_path`]) |
/// | GET | `/assets/ta-wizard.css`, `/assets/ta-wizard.js` | the stylesheet and script |
///
/// The engine's invitation links must point at `/invitation/` under the mount point:
/// [`Config::new`](crate::Config::new) makes them so for a portal mounted at its root.
/// Transitions are recorded with [`Actor::Customer`].
pub fn customer_router(engine: TenantAccess, config: WebConfig) -> Router {
    let web = Web::new(
        engine.acting_as(Actor::Customer),
        config,
        "/assets",
        csrf::Scope::Wizard,
    );
    let consent = web.consent_path();
    Router::new()
        .route("/invitation/{code}", get(open_link))
        .route("/wizard", get(page))
        .route("/wizard/status", get(status))
        .route("/wizard/start", post(start))
        .route("/wizard/continue", post(continue_authentication))
        .route(&consent, get(consent_callback))
        .route(
            "/assets/ta-wizard.css",
            get(|| async { asset(super::CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/ta-wizard.js",
            get(|| async { asset(super::JS, "text/javascript; charset=utf-8") }),
        )
        // Route layers: unmatched paths fall through to the app's fallback untouched.
        .route_layer(from_fn_with_state(web.clone(), csrf::provide))
        .route_layer(from_fn(headers::secure))
        .with_state(web)
}

/// `GET /invitation/{code}`: the link from the email.
async fn open_link(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    Path(code): Path<String>,
) -> Response {
    let ta = &web.engine;
    let opened = match ta.open_invitation(&code).await {
        Ok(AnyOnboarding::InvitationSent(sent)) => sent
            .claim(ta)
            .await
            .map(AnyOnboarding::from)
            .map_err(Error::from),
        Ok(other) => Ok(other),
        Err(error) => Err(error),
    };
    let journey = match opened {
        Ok(journey) => journey,
        Err(Error::InvalidInvitation) => {
            return web.error_page(&WebError::InvalidInvitation, Some(&csrf.0));
        }
        Err(error) => return web.error_page(&WebError::Engine(error), Some(&csrf.0)),
    };
    let session = Session {
        customer: journey.id().clone(),
        switch: journey.switch_journey().cloned(),
        invitation: invitation_number(&journey),
        expires_at: ta.clock().now() + web.config.session_lifetime,
    };
    // SameSite=Lax, not Strict: the link is opened from a mail client (another site), and a
    // Strict cookie set on that navigation would not come back on the redirect to /wizard.
    // Cross-site POSTs still never carry it, and every form has a CSRF token besides.
    let cookie = set_cookie(
        &web.config,
        web.secure,
        &web.session_cookie,
        &session.encode(&web.config.key),
        "Lax",
        Some(i64::try_from(web.config.session_lifetime.as_secs()).unwrap_or(i64::MAX)),
    );
    let mut response = Redirect::to(&web.config.path("/wizard")).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn invitation_number(journey: &AnyOnboarding) -> u32 {
    journey
        .customer()
        .invitation
        .as_ref()
        .map_or(0, |i| i.codes_issued)
}

/// The journey this browser's session belongs to, as stored now. A session made for a
/// method switch that was cancelled or took over is refused: the switch it names is gone.
async fn journey(web: &Web, headers: &HeaderMap) -> Result<AnyOnboarding, WebError> {
    let now = web.engine.clock().now();
    let session = cookie(headers, &web.session_cookie)
        .and_then(|value| Session::decode(&web.config.key, value, now))
        .ok_or(WebError::NoSession)?;
    let journey = match session.switch {
        None => web.engine.load(&session.customer).await,
        Some(switch) => web.engine.load_switch(&session.customer, &switch).await,
    };
    let journey = match journey {
        Ok(journey) => journey,
        Err(error) if error.action() == Action::NotFound => {
            return Err(WebError::InvalidInvitation);
        }
        Err(error) => return Err(error.into()),
    };
    if invitation_number(&journey) != session.invitation || journey.kind().is_terminal() {
        // A newer invitation replaced this one, or it was revoked or expired.
        return Err(WebError::InvalidInvitation);
    }
    Ok(journey)
}

/// Why the journey went back to the start page, shown there once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Note {
    /// The device code expired before the sign-in.
    Expired,
    /// The customer declined at the sign-in page.
    Declined,
}

/// Moves the journey on where the customer's waiting allows: the step that is due now on
/// the engine's clock ([`AnyOnboarding::advance`]), and claiming an invitation the customer
/// came back to.
async fn step(
    web: &Web,
    journey: AnyOnboarding,
) -> Result<(AnyOnboarding, Option<Note>), WebError> {
    let ta = &web.engine;
    if let AnyOnboarding::InvitationSent(sent) = journey {
        return Ok((sent.claim(ta).await.map_err(Error::from)?.into(), None));
    }
    let customer = journey.id().clone();
    let switch = journey.switch_journey().cloned();
    let mut advanced = match journey.advance(ta).await {
        Ok(advanced) => advanced,
        // A passing fault: keep waiting, the next check polls again.
        Err(error) if error.is_retryable() => {
            tracing::info!(%customer, %error, "wizard step failed; will retry");
            let journey = match &switch {
                None => ta.load(&customer).await?,
                Some(switch) => ta.load_switch(&customer, switch).await?,
            };
            return Ok((journey, None));
        }
        Err(error) => return Err(error.into()),
    };
    // A token that just arrived is validated in the same request.
    if advanced.next == Next::Now {
        advanced = advanced.journey.advance(ta).await?;
    }
    let note = match advanced.step {
        Step::DeviceCodeExpired => Some(Note::Expired),
        Step::Declined => Some(Note::Declined),
        _ => None,
    };
    Ok((advanced.journey, note))
}

#[derive(Deserialize)]
struct PageQuery {
    note: Option<Note>,
}

/// The wizard page's query, parsed from `query` as axum's `Query` would (for the fuzz
/// targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_query(query: &[u8]) {
    let _ = serde_urlencoded::from_bytes::<PageQuery>(query);
}

/// `GET /wizard`.
async fn page(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let shown = async {
        let (journey, note) = step(&web, journey(&web, &headers).await?).await?;
        Ok::<_, WebError>(render_stage(&web, &csrf.0, journey, note.or(query.note)))
    };
    match shown.await {
        Ok(response) => response,
        Err(error) => web.error_page(&error, Some(&csrf.0)),
    }
}

fn render_stage(web: &Web, csrf: &str, journey: AnyOnboarding, note: Option<Note>) -> Response {
    let customer = journey.customer();
    let tenant = customer.tenant.as_str().to_owned();
    match journey {
        AnyOnboarding::Claimed(_) => web.render(
            StatusCode::OK,
            "welcome.html",
            minijinja::context! { csrf, tenant, note, start => web.config.path("/wizard/start") },
        ),
        AnyOnboarding::DeviceCodeIssued(device) => {
            let stage = device.stage();
            let interval = stage.interval.as_secs().max(1);
            let check_ms = web
                .config
                .check_every
                .map_or(interval * 1000, |d| d.as_millis() as u64)
                .max(100);
            web.render(
                StatusCode::OK,
                "device_code.html",
                minijinja::context! {
                    csrf, tenant,
                    user_code => stage.user_code(),
                    verification_uri => stage.verification_uri().as_str(),
                    verification_uri_complete => stage.verification_uri_complete().map(|u| u.as_str()),
                    expires_at => show_time(Some(stage.expires_at)),
                    refresh_seconds => interval,
                    check_ms,
                    status_url => web.config.path("/wizard/status"),
                    next_url => web.config.path("/wizard"),
                },
            )
        }
        AnyOnboarding::ApprovalRequested(waiting) => web.render(
            StatusCode::OK,
            "approval.html",
            minijinja::context! {
                csrf, tenant,
                requested_at => show_time(Some(waiting.stage().requested_at)),
                continue_url => web.config.path("/wizard/continue"),
            },
        ),
        AnyOnboarding::ConsentRequired(waiting) if waiting.customer().method == Method::DeviceCode => {
            web.render(
                StatusCode::OK,
                "consent.html",
                minijinja::context! {
                    csrf, tenant,
                    admin_consent_url => waiting.stage().admin_consent_url().as_str(),
                },
            )
        }
        AnyOnboarding::Validated(done) => web.render(
            StatusCode::OK,
            "success.html",
            minijinja::context! {
                csrf, tenant,
                organisation => done.customer().tenant_info.as_ref().map(|t| t.display_name.clone()),
            },
        ),
        other => web.error_page(
            &WebError::WrongStage(format!(
                "The connection is in the stage \u{201c}{}\u{201d}, which this page cannot continue. Your IT provider has been told.",
                other.kind().as_str().replace('_', " ")
            )),
            Some(csrf),
        ),
    }
}

/// The progress endpoint's answer.
#[derive(Debug, Serialize)]
struct Progress {
    /// Whether the page should move on (to `next`).
    done: bool,
    /// A sentence for the live region.
    message: String,
    /// Where to go when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `GET /wizard/status`: one check (and at most one poll upstream) per call.
async fn status(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let checked = async {
        let (journey, note) = step(&web, journey(&web, &headers).await?).await?;
        Ok::<_, WebError>((journey, note))
    };
    let next = |note: Option<Note>| {
        let mut next = web.config.path("/wizard");
        if let Some(note) = note {
            next.push_str(match note {
                Note::Expired => "?note=expired",
                Note::Declined => "?note=declined",
            });
        }
        next
    };
    let progress = match checked.await {
        Ok((AnyOnboarding::DeviceCodeIssued(_), _)) => Progress {
            done: false,
            message: "Waiting for you to sign in\u{2026}".into(),
            next: None,
        },
        Ok((journey, note)) => Progress {
            done: true,
            message: match journey {
                AnyOnboarding::Validated(_) => "Signed in. Connected.".into(),
                AnyOnboarding::ApprovalRequested(_) => "An administrator must approve.".into(),
                AnyOnboarding::ConsentRequired(_) => "An administrator must consent.".into(),
                _ => "The sign-in ended.".into(),
            },
            next: Some(next(note)),
        },
        Err(WebError::Engine(error)) if error.is_retryable() => Progress {
            done: false,
            message: "Still waiting (the service is busy, trying again)\u{2026}".into(),
            next: None,
        },
        // The page shows the error clearly.
        Err(_) => Progress {
            done: true,
            message: "Something changed.".into(),
            next: Some(next(None)),
        },
    };
    Json(progress).into_response()
}

/// The only field of the wizard's forms besides the token.
#[derive(Deserialize)]
struct Empty {}

/// `POST /wizard/start`: *Start authentication*.
async fn start(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    CsrfForm(Empty {}): CsrfForm<Empty>,
) -> Response {
    button(&web, &csrf, &headers, Button::Start).await
}

/// `POST /wizard/continue`: *Continue authentication* after approval.
async fn continue_authentication(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    CsrfForm(Empty {}): CsrfForm<Empty>,
) -> Response {
    button(&web, &csrf, &headers, Button::Continue).await
}

/// The wizard's two buttons.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Button {
    Start,
    Continue,
}

/// Both get a device code (from [`Claimed`](crate::journey::Claimed) or
/// [`ApprovalRequested`](crate::journey::ApprovalRequested)) and go back to `/wizard`.
async fn button(web: &Web, csrf: &CsrfToken, headers: &HeaderMap, pressed: Button) -> Response {
    let ta = &web.engine;
    let pressed_now = async {
        match (pressed, step(web, journey(web, headers).await?).await?.0) {
            (Button::Start, AnyOnboarding::Claimed(claimed)) => {
                claimed.start_device_code(ta).await.map_err(Error::from)?;
            }
            (Button::Continue, AnyOnboarding::ApprovalRequested(waiting)) => {
                waiting
                    .continue_authentication(ta)
                    .await
                    .map_err(Error::from)?;
            }
            // Started already (a second tab, a double click): show it.
            (_, AnyOnboarding::DeviceCodeIssued(_)) => {}
            (_, other) => {
                return Err(WebError::WrongStage(format!(
                    "{} is not possible from the stage \u{201c}{}\u{201d}.",
                    if pressed == Button::Start {
                        "Starting authentication"
                    } else {
                        "Continuing after an approval"
                    },
                    other.kind().as_str().replace('_', " ")
                )));
            }
        }
        Ok(())
    };
    match pressed_now.await {
        Ok(()) => Redirect::to(&web.config.path("/wizard")).into_response(),
        Err(error) => web.error_page(&error, Some(&csrf.0)),
    }
}

/// The admin-consent callback: checks the redirect, acquires and validates the token.
async fn consent_callback(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    RawQuery(query): RawQuery,
) -> Response {
    let ta = &web.engine;
    let done = async {
        let callback = ConsentCallback::from_query(query.as_deref().unwrap_or(""))
            .map_err(|e| WebError::Input(format!("The consent answer is incomplete: {e}.")))?;
        let landed = match ta.accept_consent(&callback).await? {
            Consented::TokenAcquired(token) => Ok(token.validate(ta).await.map_err(Error::from)?),
            // A device-code journey: the customer signs in again.
            other => Err(AnyOnboarding::from(other)),
        };
        Ok::<_, WebError>(landed)
    };
    match done.await {
        Ok(Err(sign_in_again)) => web.render(
            StatusCode::OK,
            "consent.html",
            minijinja::context! {
                csrf => csrf.0,
                given => true,
                tenant => sign_in_again.customer().tenant.as_str(),
            },
        ),
        Ok(Ok(connected)) => web.render(
            StatusCode::OK,
            "success.html",
            minijinja::context! {
                csrf => csrf.0,
                consent => true,
                tenant => connected.customer().tenant.as_str(),
                organisation => connected.customer().tenant_info.as_ref().map(|t| t.display_name.clone()),
            },
        ),
        Err(error) => web.error_page(&error, Some(&csrf.0)),
    }
}
