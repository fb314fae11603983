//! The customer's wizard: the invitation link, the pages of the sign-in (in the browser, or
//! with a device code), the JSON progress endpoint, and the two callbacks (browser sign-in and
//! admin consent).

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
use crate::journey::{AnyOnboarding, Consented, Next, SignInOutcome, Step};
use crate::model::{Actor, Method};
use crate::ports::{ConsentCallback, SignInCallback};

/// The customer's wizard as a router: the invitation link, the wizard pages, the progress
/// endpoint, the admin-consent callback and the wizard's stylesheet and script.
///
/// | method | path | what |
/// |---|---|---|
/// | GET | `/invitation/{code}` | opens the invitation (the link in the email), sets the session cookie, redirects to `/wizard` |
/// | GET | `/wizard` | the page for where the journey stands (polls the provider when the interval has passed) |
/// | GET | `/wizard/status` | progress as JSON, for the page's script |
/// | POST | `/wizard/browser` | *Sign in with Microsoft*: a browser sign-in (authorization code + PKCE), then on to Microsoft |
/// | POST | `/wizard/start` | *Use a code on another device* (*Start authentication*): a device code |
/// | POST | `/wizard/continue` | *Continue authentication* after an administrator approved |
/// | GET | the sign-in callback path | the browser sign-in's redirect back ([`WebConfig::sign_in_callback_path`]) |
/// | GET | the consent callback path | the admin-consent redirect ([`WebConfig::consent_callback_path`]) |
///
/// The welcome page offers the browser sign-in first when the engine has a
/// [`Config::sign_in_redirect_url`](crate::Config::sign_in_redirect_url), and the device code
/// beside it; when a device code is blocked by Conditional Access or expires unused, the page
/// says so and offers the browser sign-in.
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
    let sign_in = web.sign_in_path();
    let mut router = Router::new()
        .route("/invitation/{code}", get(open_link))
        .route("/wizard", get(page))
        .route("/wizard/status", get(status))
        .route("/wizard/start", post(start))
        .route("/wizard/browser", post(browser))
        .route("/wizard/continue", post(continue_authentication));
    // One path may serve both callbacks: an admin-consent redirect says `admin_consent`.
    router = if sign_in == consent {
        router.route(&consent, get(either_callback))
    } else {
        router
            .route(&consent, get(consent_callback))
            .route(&sign_in, get(sign_in_callback))
    };
    router
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
    /// Conditional Access blocked the device-code sign-in.
    Blocked,
    /// The customer cancelled the browser sign-in.
    Cancelled,
    /// Conditional Access blocked the browser sign-in.
    BrowserBlocked,
    /// The browser sign-in's time ran out.
    SignInExpired,
}

impl Note {
    /// The wizard page's address with this note.
    fn query(self) -> &'static str {
        match self {
            Note::Expired => "?note=expired",
            Note::Declined => "?note=declined",
            Note::Blocked => "?note=blocked",
            Note::Cancelled => "?note=cancelled",
            Note::BrowserBlocked => "?note=browser_blocked",
            Note::SignInExpired => "?note=sign_in_expired",
        }
    }
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
        Step::Blocked => Some(Note::Blocked),
        Step::SignInExpired => Some(Note::SignInExpired),
        _ => None,
    };
    Ok((advanced.journey, note))
}

#[derive(Deserialize)]
struct PageQuery {
    note: Option<Note>,
    /// Set by *Sign in with Microsoft*: the page goes on to Microsoft at once.
    go: Option<String>,
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
        let go = query.go.is_some();
        Ok::<_, WebError>(render_stage(
            &web,
            &csrf.0,
            journey,
            note.or(query.note),
            go,
        ))
    };
    match shown.await {
        Ok(response) => response,
        Err(error) => web.error_page(&error, Some(&csrf.0)),
    }
}

fn render_stage(
    web: &Web,
    csrf: &str,
    journey: AnyOnboarding,
    note: Option<Note>,
    go: bool,
) -> Response {
    let customer = journey.customer();
    let tenant = customer.tenant.as_str().to_owned();
    // The browser sign-in is offered where the portal has a redirect URI for it.
    let browser = web
        .engine
        .config()
        .sign_in_redirect_url()
        .is_ok()
        .then(|| web.config.path("/wizard/browser"));
    match journey {
        AnyOnboarding::Claimed(_) => web.render(
            StatusCode::OK,
            "welcome.html",
            minijinja::context! {
                csrf, tenant, note, browser,
                start => web.config.path("/wizard/start"),
            },
        ),
        AnyOnboarding::BrowserSignIn(pending) => web.render(
            StatusCode::OK,
            "browser.html",
            minijinja::context! {
                csrf, tenant, go,
                authorize_url => pending.stage().authorize_url().as_str(),
                expires_at => show_time(Some(pending.stage().expires_at)),
                start => web.config.path("/wizard/start"),
            },
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
                browser,
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
            next.push_str(note.query());
        }
        next
    };
    let progress = match checked.await {
        Ok((AnyOnboarding::DeviceCodeIssued(_), _)) => Progress {
            done: false,
            message: "Waiting for you to sign in\u{2026}".into(),
            next: None,
        },
        Ok((AnyOnboarding::BrowserSignIn(_), _)) => Progress {
            done: false,
            message: "Waiting for you to finish signing in with Microsoft\u{2026}".into(),
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

/// `POST /wizard/browser`: *Sign in with Microsoft*.
async fn browser(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    CsrfForm(Empty {}): CsrfForm<Empty>,
) -> Response {
    button(&web, &csrf, &headers, Button::Browser).await
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

/// The wizard's buttons.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Button {
    /// A device code ("Use a code on another device", "Start authentication").
    Start,
    /// A device code after an approval.
    Continue,
    /// A browser sign-in.
    Browser,
}

/// The device-code buttons get a device code (from [`Claimed`](crate::journey::Claimed),
/// [`ApprovalRequested`](crate::journey::ApprovalRequested) or a browser sign-in given up) and
/// go back to `/wizard`; *Sign in with Microsoft* starts a browser sign-in (from those stages,
/// or in place of a device code) and goes to `/wizard?go=1`, whose page sends the browser on
/// to Microsoft. A form may not redirect to another origin under the pages' CSP
/// (`form-action 'self'`), so the page carries the link.
async fn button(web: &Web, csrf: &CsrfToken, headers: &HeaderMap, pressed: Button) -> Response {
    let ta = &web.engine;
    let pressed_now = async {
        match (pressed, step(web, journey(web, headers).await?).await?.0) {
            (Button::Start, AnyOnboarding::Claimed(claimed)) => {
                claimed.start_device_code(ta).await.map_err(Error::from)?;
            }
            (Button::Start, AnyOnboarding::BrowserSignIn(pending)) => {
                pending.start_device_code(ta).await.map_err(Error::from)?;
            }
            (Button::Browser, AnyOnboarding::Claimed(claimed)) => {
                claimed
                    .start_browser_sign_in(ta)
                    .await
                    .map_err(Error::from)?;
            }
            (Button::Browser, AnyOnboarding::ApprovalRequested(waiting)) => {
                waiting
                    .start_browser_sign_in(ta)
                    .await
                    .map_err(Error::from)?;
            }
            (Button::Browser, AnyOnboarding::DeviceCodeIssued(device)) => {
                device
                    .start_browser_sign_in(ta)
                    .await
                    .map_err(Error::from)?;
            }
            (Button::Browser, AnyOnboarding::BrowserSignIn(pending)) => {
                pending
                    .start_browser_sign_in(ta)
                    .await
                    .map_err(Error::from)?;
            }
            (Button::Continue, AnyOnboarding::ApprovalRequested(waiting)) => {
                waiting
                    .continue_authentication(ta)
                    .await
                    .map_err(Error::from)?;
            }
            // Started already (a second tab, a double click): show it.
            (Button::Start | Button::Continue, AnyOnboarding::DeviceCodeIssued(_)) => {}
            (_, other) => {
                return Err(WebError::WrongStage(format!(
                    "{} is not possible from the stage \u{201c}{}\u{201d}.",
                    match pressed {
                        Button::Start => "Starting authentication",
                        Button::Continue => "Continuing after an approval",
                        Button::Browser => "Signing in with Microsoft",
                    },
                    other.kind().as_str().replace('_', " ")
                )));
            }
        }
        Ok(())
    };
    let next = match pressed {
        Button::Browser => web.config.path("/wizard?go=1"),
        Button::Start | Button::Continue => web.config.path("/wizard"),
    };
    match pressed_now.await {
        Ok(()) => Redirect::to(&next).into_response(),
        Err(error) => web.error_page(&error, Some(&csrf.0)),
    }
}

/// The redirect back from Microsoft's sign-in page: completes the browser sign-in
/// ([`TenantAccess::complete_sign_in`]) and validates a token that arrived. A sign-in that
/// did not end in a connection goes back to the wizard page, which says what happened.
async fn sign_in_callback(
    State(web): State<Arc<Web>>,
    Extension(csrf): Extension<CsrfToken>,
    RawQuery(query): RawQuery,
) -> Response {
    let callback = match SignInCallback::from_query(query.as_deref().unwrap_or("")) {
        Ok(callback) => callback,
        Err(e) => {
            let error = WebError::Input(format!("The sign-in answer is incomplete: {e}."));
            return web.error_page(&error, Some(&csrf.0));
        }
    };
    let completed = web.engine.complete_sign_in(&callback).await;
    signed_in(&web, &csrf, completed).await
}

/// The page for a completed browser sign-in.
async fn signed_in(
    web: &Web,
    csrf: &CsrfToken,
    completed: Result<SignInOutcome, Error>,
) -> Response {
    let ta = &web.engine;
    let done = async {
        let landed = match completed? {
            SignInOutcome::Authenticated(token) => {
                Ok(token.validate(ta).await.map_err(Error::from)?)
            }
            SignInOutcome::Cancelled(_) => Err(Some(Note::Cancelled)),
            SignInOutcome::Blocked(_) => Err(Some(Note::BrowserBlocked)),
            _ => Err(None),
        };
        Ok::<_, WebError>(landed)
    };
    match done.await {
        Ok(Ok(connected)) => web.render(
            StatusCode::OK,
            "success.html",
            minijinja::context! {
                csrf => csrf.0,
                tenant => connected.customer().tenant.as_str(),
                organisation => connected.customer().tenant_info.as_ref().map(|t| t.display_name.clone()),
            },
        ),
        Ok(Err(note)) => {
            let mut next = web.config.path("/wizard");
            next.push_str(note.map_or("", Note::query));
            Redirect::to(&next).into_response()
        }
        Err(error) => web.error_page(&error, Some(&csrf.0)),
    }
}

/// One callback path for both redirects. An admin-consent redirect from Entra ID says
/// `admin_consent`; otherwise the state decides: a browser sign-in waiting with it takes the
/// redirect, and a state no sign-in waits with (refused without anything written) goes to
/// the admin-consent callback (a standard server's consent redirect carries a code too).
async fn either_callback(
    web: State<Arc<Web>>,
    csrf: Extension<CsrfToken>,
    RawQuery(query): RawQuery,
) -> Response {
    let text = query.as_deref().unwrap_or("");
    let says_consent = url::form_urlencoded::parse(text.as_bytes())
        .any(|(key, _)| key == "admin_consent" || key == "tenant");
    let sign_in = SignInCallback::from_query(text)
        .ok()
        .filter(|_| !says_consent);
    if let Some(callback) = sign_in {
        match web.engine.complete_sign_in(&callback).await {
            Err(Error::Flow(crate::error::FlowError::SignInStateMismatch)) => {}
            completed => return signed_in(&web, &csrf, completed).await,
        }
    }
    consent_callback(web, csrf, RawQuery(query)).await
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
