//! The embeddable web wizard (feature `axum`): the pages a portal would otherwise write by
//! hand, as [axum](https://docs.rs/axum) routers to mount into the integrator's own app.
//!
//! - [`customer_router`]: the customer's wizard, which the invitation link opens
//!   (`GET /invitation/{code}`, then `/wizard`): welcome with the MSP's name, *Start
//!   authentication*, the user code with a copy button and the verification link, live
//!   progress while the portal polls, the approval-requested page and *Continue
//!   authentication*, success, and clear pages for expired, revoked or unknown links. It also
//!   serves the admin-consent callback (`/authenticate/OAuth2Callback` unless configured
//!   otherwise) and the two small static assets (`/assets/ta-wizard.css`, `/assets/ta-wizard.js`).
//! - [`admin_router`]: the MSP's pages under `/admin`: customer invitations (create, resend,
//!   revoke), the authentication status table, *Verify all* with live progress, *Refresh token
//!   now*, *Switch method* (the old connection serves until the new one is validated). It
//!   needs an [`AdminAuthorizer`]: there is no default and no way to leave it out.
//!
//! Pages are rendered on the server (minijinja, HTML auto-escaping) and work without
//! JavaScript: progress then falls back to a page refresh. Every response carries strict
//! security headers (a CSP without inline script, `frame-ancestors 'none'`,
//! `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`, `Cache-Control:
//! no-store`); every form carries a signed CSRF token, bound to the wizard session or to the
//! operator, checked on `POST`. No secret appears in
//! a page or URL except the invitation link itself, which the wizard swaps for a signed,
//! HttpOnly session cookie (holding the customer's id and invitation number, never a code or
//! a token) on its first hit.
//!
//! # Mounting the routers
//!
//! ```no_run
//! use axum::http::request::Parts;
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Response};
//! use tenant_access::web::{self, AdminAuthorizer, Operator, RateLimit, WebConfig};
//!
//! /// The integrator's own check: here a header set by an authenticating reverse proxy.
//! struct ProxyAuth;
//!
//! #[async_trait::async_trait]
//! impl AdminAuthorizer for ProxyAuth {
//!     async fn authorize(&self, parts: &Parts) -> Result<Operator, Response> {
//!         parts
//!             .headers
//!             .get("x-authenticated-user")
//!             .and_then(|v| v.to_str().ok())
//!             .map(Operator::new)
//!             .ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())
//!     }
//! }
//!
//! # async fn run(ta: tenant_access::TenantAccess) -> std::io::Result<()> {
//! // The key signs session cookies and CSRF tokens; give every replica the same one.
//! let config = WebConfig::new().signing_key([7u8; 32]);
//! let app = axum::Router::new()
//!     .merge(web::customer_router(ta.clone(), config.clone()))
//!     .merge(web::admin_router(ta, config, ProxyAuth))
//!     // Per client: 30 requests at once, then 2 a second; see `RateLimit`.
//!     .layer(RateLimit::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // The rate limit keys on the peer's address.
//! let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! Unmatched paths are left to the app's fallback (a plain 404 by default): the routers'
//! layers (security headers, CSRF, the admin check) apply to their own routes only.
//!
//! `axum::serve` has no header-read timeout: in production, put the portal behind a reverse
//! proxy that has one, or serve it with hyper-util's server and
//! `http1().header_read_timeout(..)`, as the `portal` example does (`examples/portal/serve.rs`).

mod admin;
mod csrf;
mod headers;
mod operator;
mod rate_limit;
mod session;
mod wizard;

use std::fmt;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;

pub use admin::{AdminAuthorizer, Operator, admin_router};
pub use rate_limit::{ClientKey, RateLimit, RateLimited};
pub use wizard::customer_router;

use crate::engine::TenantAccess;
use crate::error::{Action, Error};

/// The wizard's and admin pages' parsers of untrusted input, on `input` (for the fuzz targets
/// in `fuzz/`, through `crate::fuzzing`): forms and queries, the CSRF field and token, the
/// `Cookie` header, and the session cookie. A session signed with the router's key must come
/// back unchanged from its cookie value: panics if not.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_input(input: &[u8]) {
    use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
    let key = [7u8; 32];
    let now = OffsetDateTime::UNIX_EPOCH;
    csrf::fuzz_form(&key, input);
    admin::fuzz_forms(input);
    wizard::fuzz_query(input);
    if let Ok(value) = HeaderValue::from_bytes(input) {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, value);
        if let Some(value) = session::cookie(&headers, session::SESSION_COOKIE) {
            let _ = session::Session::decode(&key, value, now);
        }
    }
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = session::verify(&key, "wizard-session", text);
        let _ = session::Session::decode(&key, text, now);
    }
    // A payload that passes the MAC: the parsing behind it.
    let signed = session::sign(&key, "wizard-session", input);
    if let Some(decoded) = session::Session::decode(&key, &signed, now) {
        let again = session::Session::decode(&key, &decoded.encode(&key), now);
        assert_eq!(
            again.as_ref(),
            Some(&decoded),
            "the session does not round-trip"
        );
    }
}

/// The default path of the admin-consent callback.
pub const DEFAULT_CONSENT_CALLBACK_PATH: &str = "/authenticate/OAuth2Callback";

/// The default path of the browser sign-in's callback (the redirect URI to register).
pub const DEFAULT_SIGN_IN_CALLBACK_PATH: &str = "/authenticate/SignInCallback";

/// Settings shared by the routers. Cheap to clone.
///
/// ```
/// use tenant_access::web::WebConfig;
/// use std::time::Duration;
///
/// let config = WebConfig::new()
///     .signing_key([42u8; 32])               // the same on every replica
///     .base_path("/portal")?                 // where the routers are nested
///     .consent_callback_path("/authenticate/OAuth2Callback")?
///     .session_lifetime(Duration::from_secs(2 * 3600))
///     .secure_cookies(true);
/// assert_eq!(config.path("/wizard"), "/portal/wizard");
/// # Ok::<(), tenant_access::web::WebConfigError>(())
/// ```
#[derive(Clone)]
pub struct WebConfig {
    key: Arc<[u8; 32]>,
    base_path: String,
    consent_callback_path: Option<String>,
    sign_in_callback_path: Option<String>,
    session_lifetime: Duration,
    secure_cookies: Option<bool>,
    check_every: Option<std::time::Duration>,
    verify_concurrency: usize,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("key", &"[REDACTED]")
            .field("base_path", &self.base_path)
            .field("consent_callback_path", &self.consent_callback_path)
            .field("sign_in_callback_path", &self.sign_in_callback_path)
            .field("session_lifetime", &self.session_lifetime)
            .field("secure_cookies", &self.secure_cookies)
            .field("check_every", &self.check_every)
            .field("verify_concurrency", &self.verify_concurrency)
            .finish()
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`WebConfig`] setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebConfigError {
    /// A path must start with `/`, and hold no query, fragment or white space.
    #[error("the path {0:?} must start with '/' and hold no '?', '#' or white space")]
    Path(String),
    /// The signing key given to
    /// [`signing_key_from_base64`](WebConfig::signing_key_from_base64) is not standard
    /// base64 of exactly 32 bytes (the reason; never the key).
    #[error("the web signing key is unusable: {0}")]
    SigningKey(&'static str),
}

fn check_path(path: &str) -> Result<String, WebConfigError> {
    let ok = path.starts_with('/')
        && !path.contains(['?', '#'])
        && !path.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(path.to_owned())
    } else {
        Err(WebConfigError::Path(path.to_owned()))
    }
}

impl WebConfig {
    /// Defaults: a signing key drawn at random for this process (sessions and forms then do
    /// not survive a restart, nor work across replicas: set [`signing_key`](Self::signing_key)
    /// in production), mounted at `/`, the consent callback at the path of
    /// [`Config::consent_redirect_url`](crate::Config::consent_redirect_url) or
    /// [`DEFAULT_CONSENT_CALLBACK_PATH`], sessions of 2 hours, `Secure` cookies when the
    /// portal's invitation links are `https`.
    ///
    /// # Panics
    /// If the operating system has no random source.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random source is unavailable");
        Self {
            key: Arc::new(key),
            base_path: String::new(),
            consent_callback_path: None,
            sign_in_callback_path: None,
            session_lifetime: Duration::from_secs(2 * 3600),
            secure_cookies: None,
            check_every: None,
            verify_concurrency: 16,
        }
    }

    /// The key that signs session cookies and CSRF tokens (HMAC-SHA256). Keep it secret and
    /// give every replica the same one.
    pub fn signing_key(mut self, key: [u8; 32]) -> Self {
        self.key = Arc::new(key);
        self
    }

    /// [`signing_key`](Self::signing_key) from standard base64 (44 characters for 32 bytes;
    /// surrounding white space is ignored), as kept in a secret manager, an environment
    /// variable or a key file, so every replica and every restart signs with the same key
    /// and wizard sessions and forms stay valid. Make one with
    /// `head -c 32 /dev/urandom | base64`.
    ///
    /// ```
    /// use tenant_access::web::{WebConfig, WebConfigError};
    ///
    /// let config = WebConfig::new()
    ///     .signing_key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
    /// assert!(matches!(
    ///     WebConfig::new().signing_key_from_base64("c2hvcnQ="), // 5 bytes
    ///     Err(WebConfigError::SigningKey(_))
    /// ));
    /// # Ok::<(), WebConfigError>(())
    /// ```
    pub fn signing_key_from_base64(self, encoded: &str) -> Result<Self, WebConfigError> {
        use base64::Engine as _;
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| WebConfigError::SigningKey("not valid base64"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| WebConfigError::SigningKey("a key must be exactly 32 bytes"))?;
        Ok(self.signing_key(key))
    }

    /// Where the routers are mounted (`Router::nest(path, ..)`), so links and cookies point
    /// there. Default: the root.
    pub fn base_path(mut self, path: &str) -> Result<Self, WebConfigError> {
        let path = check_path(path)?;
        self.base_path = path.trim_end_matches('/').to_owned();
        Ok(self)
    }

    /// The admin-consent callback's path, relative to the mount point (default: the path of
    /// the engine's consent redirect URL, else [`DEFAULT_CONSENT_CALLBACK_PATH`]).
    pub fn consent_callback_path(mut self, path: &str) -> Result<Self, WebConfigError> {
        self.consent_callback_path = Some(check_path(path)?);
        Ok(self)
    }

    /// The browser sign-in's callback path (the portal's registered redirect URI), relative
    /// to the mount point (default: the path of the engine's
    /// [`Config::sign_in_redirect_url`](crate::Config::sign_in_redirect_url), else
    /// [`DEFAULT_SIGN_IN_CALLBACK_PATH`]).
    pub fn sign_in_callback_path(mut self, path: &str) -> Result<Self, WebConfigError> {
        self.sign_in_callback_path = Some(check_path(path)?);
        Ok(self)
    }

    /// How long the wizard's session cookie lasts after the invitation link is opened
    /// (default 2 hours, on the engine's clock). The customer opens the link again after it.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// Whether cookies carry `Secure` (default: when the portal's invitation links are
    /// `https`).
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = Some(secure);
        self
    }

    /// How often the pages' script asks the server for progress (default: the device code's
    /// poll interval for the wizard, 1 second for *Verify all*). The server still polls the
    /// identity provider only when the poll interval has passed on the engine's clock, so a
    /// short value costs nothing upstream; tests use it to keep browsers quick.
    pub fn check_every(mut self, every: std::time::Duration) -> Self {
        self.check_every = Some(every);
        self
    }

    /// How many verifications *Verify all* runs at once (default 16).
    pub fn verify_concurrency(mut self, n: usize) -> Self {
        self.verify_concurrency = n.max(1);
        self
    }

    /// `path` under the mount point: what links and redirects use.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }

    fn cookie_path(&self) -> &str {
        if self.base_path.is_empty() {
            "/"
        } else {
            &self.base_path
        }
    }
}

/// What the routers share: the engine, the settings and the compiled templates.
pub(crate) struct Web {
    pub(crate) engine: TenantAccess,
    pub(crate) config: WebConfig,
    pub(crate) secure: bool,
    /// The session and CSRF cookies' names: `__Host-` prefixed when they are `Secure` and
    /// scoped to `/` (so no sibling subdomain can set or shadow them).
    pub(crate) session_cookie: String,
    pub(crate) csrf_cookie: String,
    /// What this router's CSRF tokens are bound to.
    pub(crate) csrf_scope: csrf::Scope,
    /// Where this router serves the stylesheet and script, under the mount point.
    assets: &'static str,
    templates: Environment<'static>,
}

impl Web {
    pub(crate) fn new(
        engine: TenantAccess,
        config: WebConfig,
        assets: &'static str,
        csrf_scope: csrf::Scope,
    ) -> Arc<Self> {
        let secure = config
            .secure_cookies
            .unwrap_or_else(|| engine.config().invitation_links_at().scheme() == "https");
        let host_only = secure && config.base_path.is_empty();
        let name = |base: &str| {
            if host_only {
                format!("__Host-{base}")
            } else {
                base.to_owned()
            }
        };
        Arc::new(Self {
            session_cookie: name(session::SESSION_COOKIE),
            csrf_cookie: name(match csrf_scope {
                csrf::Scope::Wizard => csrf::CSRF_COOKIE,
                csrf::Scope::Admin => csrf::ADMIN_CSRF_COOKIE,
            }),
            csrf_scope,
            engine,
            config,
            secure,
            assets,
            templates: templates(),
        })
    }

    pub(crate) fn sign_in_path(&self) -> String {
        self.config
            .sign_in_callback_path
            .clone()
            .unwrap_or_else(|| {
                self.engine
                    .config()
                    .sign_in_redirect_url()
                    .map(|u| u.path().to_owned())
                    .unwrap_or_else(|_| DEFAULT_SIGN_IN_CALLBACK_PATH.to_owned())
            })
    }

    pub(crate) fn consent_path(&self) -> String {
        self.config
            .consent_callback_path
            .clone()
            .unwrap_or_else(|| {
                self.engine
                    .config()
                    .consent_redirect_url()
                    .map(|u| u.path().to_owned())
                    .unwrap_or_else(|_| DEFAULT_CONSENT_CALLBACK_PATH.to_owned())
            })
    }

    /// Renders `template` with `page`'s values, the MSP's name and the base path.
    pub(crate) fn render(
        &self,
        status: StatusCode,
        template: &str,
        page: impl Serialize,
    ) -> Response {
        let rendered = self.templates.get_template(template).and_then(|t| {
            t.render(minijinja::context! {
                msp_name => self.engine.config().msp_name(),
                base => self.config.base_path,
                assets => self.assets,
                ..minijinja::Value::from_serialize(&page)
            })
        });
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => {
                tracing::error!(%error, template, "web page template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response()
            }
        }
    }

    /// The clear page for a [`WebError`].
    pub(crate) fn error_page(&self, error: &WebError, csrf: Option<&str>) -> Response {
        let (status, title, text, what_next) = error.explain();
        if let WebError::Engine(e) = error {
            tracing::warn!(error = %e, "web request failed");
        }
        self.render(
            status,
            "error.html",
            minijinja::context! {
                title, text, what_next, csrf,
                kind => error.kind(),
            },
        )
    }
}

/// Why a page could not do what was asked; each becomes a clear page with a fitting HTTP
/// status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The invitation link is unknown, expired, revoked or superseded (the engine does not
    /// say which, on purpose).
    #[error("the invitation link is not valid")]
    InvalidInvitation,
    /// No wizard session: the cookie is missing, expired, forged, or belongs to an invitation
    /// that was replaced.
    #[error("no valid wizard session")]
    NoSession,
    /// A form came without a valid CSRF token.
    #[error("the form's security token is missing or wrong")]
    Csrf,
    /// A form field is missing or malformed.
    #[error("invalid input: {0}")]
    Input(String),
    /// The step does not fit the customer's journey as it stands now.
    #[error("the step does not fit the journey now: {0}")]
    WrongStage(String),
    /// No such customer.
    #[error("no such customer")]
    NotFound,
    /// The engine failed (provider, store, mailer, configuration).
    #[error(transparent)]
    Engine(#[from] Error),
}

impl WebError {
    /// A short, stable name for the page (`invalid_invitation`, `no_session`, `csrf`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            WebError::InvalidInvitation => "invalid_invitation",
            WebError::NoSession => "no_session",
            WebError::Csrf => "csrf",
            WebError::Input(_) => "input",
            WebError::WrongStage(_) => "wrong_stage",
            WebError::NotFound => "not_found",
            WebError::Engine(_) => "engine",
        }
    }

    fn explain(&self) -> (StatusCode, &'static str, String, &'static str) {
        match self {
            WebError::InvalidInvitation => (
                StatusCode::NOT_FOUND,
                "This invitation link does not work",
                "The link has expired, was replaced by a newer invitation, or was withdrawn."
                    .into(),
                "Please ask your IT provider to send you a new invitation, then use the link in the newest email.",
            ),
            WebError::NoSession => (
                StatusCode::UNAUTHORIZED,
                "Please open your invitation link again",
                "This page only works after you open the link in your invitation email, and for a limited time afterwards.".into(),
                "Open the link from your invitation email again. If it no longer works, ask your IT provider for a new invitation.",
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form has expired",
                "The form was sent without a valid security token, so nothing was changed."
                    .into(),
                "Go back, reload the page and try again.",
            ),
            WebError::Input(what) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please check what you entered",
                what.clone(),
                "Go back, correct the value and send the form again.",
            ),
            WebError::WrongStage(what) => (
                StatusCode::CONFLICT,
                "This step is not available now",
                what.clone(),
                "Reload the page to see where things stand.",
            ),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such customer.".into(),
                "Go back to the list.",
            ),
            WebError::Engine(e) => match e.action() {
                Action::Retry { .. } | Action::Reload => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Something went wrong for a moment",
                    e.to_string(),
                    "Nothing was lost. Please try again in a minute.",
                ),
                Action::AskCustomer => (
                    StatusCode::CONFLICT,
                    "This needs your attention",
                    e.to_string(),
                    "Nothing was changed. Please read the message above, or ask your IT provider.",
                ),
                Action::NotFound => (
                    StatusCode::NOT_FOUND,
                    "Not found",
                    e.to_string(),
                    "Go back to the list.",
                ),
                Action::FixInput => (
                    StatusCode::BAD_REQUEST,
                    "This request cannot be carried out",
                    e.to_string(),
                    "Nothing was changed. Go back and check what was asked.",
                ),
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The portal is not set up correctly",
                    e.to_string(),
                    "Nothing was lost. Please tell your IT provider what the message above says.",
                ),
            },
        }
    }
}

/// A moment as pages show it: `24 Nov 2026, 10:00 UTC`.
pub(crate) fn show_time(t: Option<OffsetDateTime>) -> String {
    match t {
        Some(t) => t
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[day] [month repr:short] [year], [hour]:[minute] UTC"
            ))
            .unwrap_or_else(|_| "-".into()),
        None => "-".into(),
    }
}

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("error.html", include_str!("templates/error.html")),
        ("welcome.html", include_str!("templates/welcome.html")),
        ("browser.html", include_str!("templates/browser.html")),
        (
            "device_code.html",
            include_str!("templates/device_code.html"),
        ),
        ("approval.html", include_str!("templates/approval.html")),
        ("consent.html", include_str!("templates/consent.html")),
        ("success.html", include_str!("templates/success.html")),
        ("admin_base.html", include_str!("templates/admin_base.html")),
        (
            "admin_status.html",
            include_str!("templates/admin_status.html"),
        ),
        (
            "admin_invitations.html",
            include_str!("templates/admin_invitations.html"),
        ),
        (
            "admin_unreadable.html",
            include_str!("templates/admin_unreadable.html"),
        ),
        (
            "admin_verify.html",
            include_str!("templates/admin_verify.html"),
        ),
        ("admin_bulk.html", include_str!("templates/admin_bulk.html")),
        (
            "admin_bulk_report.html",
            include_str!("templates/admin_bulk_report.html"),
        ),
        (
            "admin_notifications.html",
            include_str!("templates/admin_notifications.html"),
        ),
    ] {
        env.add_template(name, source)
            .expect("the built-in web templates compile");
    }
    env
}

/// The static assets: one stylesheet and one script, embedded.
pub(crate) const CSS: &str = include_str!("assets/ta-wizard.css");
pub(crate) const JS: &str = include_str!("assets/ta-wizard.js");

pub(crate) fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_key_from_base64_signs_what_a_restart_with_the_same_key_accepts() {
        let before_restart = WebConfig::new().signing_key_from_base64(KEY).unwrap();
        let after_restart = WebConfig::new()
            .signing_key_from_base64(&format!(" {KEY}\n"))
            .unwrap();
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(*before_restart.key, bytes);
        let cookie = session::sign(&before_restart.key, "wizard-session", b"journey");
        assert_eq!(
            session::verify(&after_restart.key, "wizard-session", &cookie).as_deref(),
            Some(&b"journey"[..])
        );
        // A random key per process (the default) does not accept it.
        assert_eq!(
            session::verify(&WebConfig::new().key, "wizard-session", &cookie),
            None
        );
        assert!(!format!("{before_restart:?}").contains(KEY));
    }

    #[test]
    fn a_bad_base64_key_is_a_typed_error_that_does_not_show_the_key() {
        for (text, why) in [
            ("not base64!", "not valid base64"),
            ("c2hvcnQ=", "a key must be exactly 32 bytes"),
            ("", "a key must be exactly 32 bytes"),
        ] {
            let error = WebConfig::new().signing_key_from_base64(text).unwrap_err();
            assert_eq!(error, WebConfigError::SigningKey(why));
            assert!(!error.to_string().contains(text) || text.is_empty());
        }
    }
}
