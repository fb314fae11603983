//! FakeEntra: a stateful fake of Microsoft Entra ID's v2 endpoints and Graph's
//! `/v1.0/organization`, served over real HTTP on `127.0.0.1` (feature `testing`).
//!
//! It speaks the wire format of the real service (form posts in, Entra-shaped JSON and
//! `AADSTS` codes out), so an [`EntraProvider`] pointed at it exercises the real code path.
//! A test plays the customer and their administrators through the control methods:
//! [`sign_in`](FakeEntra::sign_in), [`decline`](FakeEntra::decline),
//! [`expire`](FakeEntra::expire), [`require_admin_approval`](FakeEntra::require_admin_approval)
//! and [`approve_admin_consent_requests`](FakeEntra::approve_admin_consent_requests), users with
//! MFA on or off, app registrations, refresh-token revocation, injected 429/5xx, and request
//! counters. Expiry follows the [`Clock`] it is given, so a
//! [`ManualClock`](crate::testing::ManualClock) drives it without sleeping.
//!
//! Served endpoints (`{tenant}` is a GUID or a domain):
//!
//! | method | path |
//! |---|---|
//! | POST | `/{tenant}/oauth2/v2.0/devicecode` |
//! | POST | `/{tenant}/oauth2/v2.0/token` (device code, password, client credentials, refresh) |
//! | GET  | `/{tenant}/v2.0/adminconsent` (redirects to `redirect_uri`) |
//! | GET  | `/v1.0/organization` |
//!
//! ```
//! use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest};
//! use tenant_access::provider::{IdentityProvider, Target};
//! use tenant_access::model::{CustomerId, TenantId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeEntra::start().await?;
//! let entra = fake.provider()?;
//! let target = Target {
//!     customer: CustomerId::new("contoso")?,
//!     tenant: TenantId::new("contoso.com")?,
//! };
//! let device = entra.device_authorization(&target).await?;
//! fake.sign_in(&device.user_code); // the customer signs in at the verification URI
//! assert_eq!(fake.requests(FakeRequest::DeviceAuthorization), 1);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;
use url::Url;

use crate::error::ProviderError;
use crate::ports::{Clock, SystemClock};
use crate::provider::entra::{EntraConfig, EntraProvider, GRAPH_RESOURCE, RetryPolicy};

/// The MSP application's client id FakeEntra knows unless told another.
pub const DEFAULT_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

/// How long device codes live (Entra: 15 minutes).
pub const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(15);
/// How long access tokens live.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::seconds(3599);
/// How long a refresh token may go unused before it dies (AADSTS700082).
pub const REFRESH_INACTIVITY: Duration = Duration::days(90);

/// What FakeEntra counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FakeRequest {
    /// `POST /{tenant}/oauth2/v2.0/devicecode`.
    DeviceAuthorization,
    /// Token requests with the device-code grant.
    DevicePoll,
    /// Token requests with the password grant.
    Password,
    /// Token requests with the client-credentials grant.
    ClientCredentials,
    /// Token requests with the refresh-token grant.
    Refresh,
    /// `GET /{tenant}/v2.0/adminconsent`.
    AdminConsent,
    /// `GET /v1.0/organization`.
    Organization,
}

/// The endpoint an injected fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FakeEndpoint {
    /// The device authorization endpoint.
    DeviceCode,
    /// The token endpoint (every grant).
    Token,
    /// Graph's `/v1.0/organization`.
    Organization,
}

/// A fault FakeEntra answers with instead of serving the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 with `Retry-After: seconds`.
    Throttle {
        /// The `Retry-After` value in seconds.
        retry_after: u32,
    },
    /// This HTTP status (e.g. 500, 503) with a `temporarily_unavailable` body.
    Status(u16),
}

/// What happened when the customer signed in with a user code ([`FakeEntra::sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignIn {
    /// Signed in and consented; the next poll gets the token.
    SignedIn,
    /// User consent is not allowed and the admin consent workflow is on: the user requested
    /// approval; polls answer AADSTS90095 until a new device code is used after approval.
    ApprovalRequested,
    /// No such user code (or it is no longer waiting for a sign-in).
    UnknownCode,
}

/// Builds a [`FakeEntra`].
#[derive(Debug)]
pub struct FakeEntraBuilder {
    clock: Arc<dyn Clock>,
    client_id: String,
    latency: std::time::Duration,
}

impl FakeEntraBuilder {
    /// The clock expiry follows (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The MSP application's client id (default [`DEFAULT_CLIENT_ID`]).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Holds every answer back this long (real time), as a far-away service would: for
    /// benchmarks that want network latency on loopback. Default: none. Tests that drive
    /// time through a `ManualClock` should leave it at zero.
    pub fn latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Binds `127.0.0.1` on an OS-chosen port and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<FakeEntra> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            clock: self.clock.clone(),
            client_id: self.client_id,
            tenants: HashMap::new(),
            devices: HashMap::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            faults: HashMap::new(),
            counts: HashMap::new(),
            next: 0,
        }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/{tenant}/v2.0/adminconsent", get(adminconsent))
            .route("/v1.0/organization", get(organization))
            .with_state(state.clone());
        let latency = self.latency;
        let app = if latency.is_zero() {
            app
        } else {
            app.layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                    tokio::time::sleep(latency).await;
                    next.run(request).await
                },
            ))
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let url = Url::parse(&format!("http://{addr}")).expect("a socket address is a URL host");
        Ok(FakeEntra {
            url,
            state,
            clock: self.clock,
            shutdown: Some(shutdown),
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(std::io::Error::other)?,
        })
    }
}

/// A running fake Entra ID. Stops serving when dropped.
pub struct FakeEntra {
    url: Url,
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    shutdown: Option<oneshot::Sender<()>>,
    browser: reqwest::Client,
}

impl std::fmt::Debug for FakeEntra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEntra")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl Drop for FakeEntra {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

struct State {
    clock: Arc<dyn Clock>,
    client_id: String,
    tenants: HashMap<String, Tenant>,
    devices: HashMap<String, Device>,
    refresh: HashMap<String, Refresh>,
    access: HashMap<String, Access>,
    faults: HashMap<FakeEndpoint, VecDeque<Fault>>,
    counts: HashMap<FakeRequest, u64>,
    next: u64,
}

#[derive(Default)]
struct Tenant {
    id: String,
    domains: Vec<String>,
    users: HashMap<String, User>,
    apps: HashMap<String, String>,
    consented: HashSet<String>,
    user_consent_blocked: bool,
    approval_requests: Vec<String>,
    decline_next_admin_consent: bool,
}

struct User {
    password: String,
    mfa: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceStatus {
    Waiting,
    SignedIn,
    Declined,
    ApprovalRequested,
    Redeemed,
}

struct Device {
    tenant: String,
    user_code: String,
    client_id: String,
    scope: String,
    expires_at: OffsetDateTime,
    interval: Duration,
    last_poll: Option<OffsetDateTime>,
    slow_down_next: bool,
    status: DeviceStatus,
}

struct Refresh {
    tenant: String,
    client_id: String,
    scope: String,
    revoked: bool,
    last_used: OffsetDateTime,
}

struct Access {
    tenant: String,
    client_id: String,
    app_only: bool,
    expires_at: OffsetDateTime,
}

/// A GUID for a tenant: itself if it is one, else one derived from the domain.
fn tenant_guid(name: &str) -> String {
    if is_guid(name) {
        return name.to_owned();
    }
    let h = Sha256::digest(name.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn is_guid(s: &str) -> bool {
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

impl State {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The tenant named by a GUID or domain, created on first use.
    fn tenant(&mut self, name: &str) -> Option<&mut Tenant> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || matches!(name.as_str(), "common" | "consumers" | "organizations") {
            return None;
        }
        let id = tenant_guid(&name);
        let tenant = self.tenants.entry(id.clone()).or_insert_with(|| Tenant {
            id: id.clone(),
            ..Tenant::default()
        });
        if !is_guid(&name) && !tenant.domains.contains(&name) {
            tenant.domains.push(name);
        }
        Some(tenant)
    }

    fn count(&mut self, request: FakeRequest) {
        *self.counts.entry(request).or_default() += 1;
    }

    fn fault(&mut self, endpoint: FakeEndpoint) -> Option<Response> {
        let fault = self.faults.get_mut(&endpoint)?.pop_front()?;
        let now = self.now();
        Some(match fault {
            Fault::Throttle { retry_after } => {
                let mut response = oauth_error(
                    now,
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    Some(90055),
                    "The request was throttled.",
                    None,
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
                );
                response
            }
            Fault::Status(status) => oauth_error(
                now,
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "temporarily_unavailable",
                None,
                "The service is temporarily unavailable.",
                None,
            ),
        })
    }

    fn random(&mut self, bytes: usize) -> String {
        self.next += 1;
        let mut buf = vec![0u8; bytes];
        getrandom::fill(&mut buf).expect("the OS random source is unavailable");
        format!("{}{}", self.next, URL_SAFE_NO_PAD.encode(buf))
    }

    /// Issues an access token (JWT-shaped, with `tid`) and, for delegated grants with
    /// `offline_access`, a refresh token.
    fn issue(&mut self, tenant: &str, client_id: &str, scope: &str, app_only: bool) -> Value {
        let now = self.now();
        let expires_at = now + ACCESS_TOKEN_LIFETIME;
        let jti = self.random(16);
        let mut claims = json!({
            "aud": GRAPH_RESOURCE,
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now.unix_timestamp(),
            "nbf": now.unix_timestamp(),
            "exp": expires_at.unix_timestamp(),
            "appid": client_id,
            "tid": tenant,
            "uti": jti,
            "ver": "1.0",
        });
        if app_only {
            claims["roles"] = json!(["Organization.Read.All"]);
        } else {
            claims["scp"] = json!("Organization.Read.All User.Read");
        }
        let signature = self.random(64);
        let access_token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256","kid":"fake-entra"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            signature
        );
        self.access.insert(
            access_token.clone(),
            Access {
                tenant: tenant.to_owned(),
                client_id: client_id.to_owned(),
                app_only,
                expires_at,
            },
        );
        let granted_scope = if app_only {
            format!("{GRAPH_RESOURCE}/.default")
        } else {
            let mut s =
                format!("{GRAPH_RESOURCE}/Organization.Read.All {GRAPH_RESOURCE}/User.Read");
            for extra in ["openid", "profile", "offline_access"] {
                if scope.split(' ').any(|x| x == extra) {
                    s.push(' ');
                    s.push_str(extra);
                }
            }
            s
        };
        let mut body = json!({
            "token_type": "Bearer",
            "scope": granted_scope,
            "expires_in": ACCESS_TOKEN_LIFETIME.whole_seconds(),
            "ext_expires_in": ACCESS_TOKEN_LIFETIME.whole_seconds(),
            "access_token": access_token,
        });
        if !app_only && scope.split(' ').any(|s| s == "offline_access") {
            let refresh_token = format!("1.{}", self.random(48));
            self.refresh.insert(
                refresh_token.clone(),
                Refresh {
                    tenant: tenant.to_owned(),
                    client_id: client_id.to_owned(),
                    scope: scope.to_owned(),
                    revoked: false,
                    last_used: now,
                },
            );
            body["refresh_token"] = json!(refresh_token);
        }
        if !app_only && scope.split(' ').any(|s| s == "openid") {
            let id_claims = json!({"tid": tenant, "aud": client_id, "ver": "2.0"});
            body["id_token"] = json!(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
                URL_SAFE_NO_PAD.encode(id_claims.to_string()),
                self.random(16)
            ));
        }
        body
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// An error answer shaped like Entra's (every field the real one has).
fn oauth_error(
    now: OffsetDateTime,
    status: StatusCode,
    error: &str,
    code: Option<u32>,
    text: &str,
    suberror: Option<&str>,
) -> Response {
    let timestamp = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let description = match code {
        Some(code) => format!(
            "AADSTS{code}: {text} Trace ID: 00000000-0000-0000-0000-000000000000 Correlation ID: 00000000-0000-0000-0000-000000000000 Timestamp: {timestamp}"
        ),
        None => text.to_owned(),
    };
    let mut body = json!({
        "error": error,
        "error_description": description,
        "error_codes": code.map(|c| vec![c]).unwrap_or_default(),
        "timestamp": timestamp,
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
    });
    if let Some(code) = code {
        body["error_uri"] = json!(format!(
            "https://login.microsoftonline.com/error?code={code}"
        ));
    }
    if let Some(suberror) = suberror {
        body["suberror"] = json!(suberror);
    }
    json_response(status, body)
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn devicecode(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::DeviceAuthorization);
    if let Some(fault) = s.fault(FakeEndpoint::DeviceCode) {
        return fault;
    }
    let now = s.now();
    let fields = form(&body);
    let client_id = fields.get("client_id").cloned().unwrap_or_default();
    if client_id != s.client_id {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            Some(700016),
            "Application was not found in the directory.",
            None,
        );
    }
    let Some(scope) = fields.get("scope").cloned() else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(900144),
            "The request body must contain the following parameter: 'scope'.",
            None,
        );
    };
    let Some(tenant) = s.tenant(&tenant).map(|t| t.id.clone()) else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(90002),
            "Tenant not found.",
            None,
        );
    };
    let device_code = format!("DAQABAAEAAA{}", s.random(48));
    let user_code: String = {
        let raw = s.random(12);
        let letters: String = raw
            .bytes()
            .map(|b| (b'A' + b % 26) as char)
            .take(9)
            .collect();
        letters
    };
    s.devices.insert(
        device_code.clone(),
        Device {
            tenant,
            user_code: user_code.clone(),
            client_id,
            scope,
            expires_at: now + DEVICE_CODE_LIFETIME,
            interval: Duration::seconds(5),
            last_poll: None,
            slow_down_next: false,
            status: DeviceStatus::Waiting,
        },
    );
    json_response(
        StatusCode::OK,
        json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": DEVICE_CODE_LIFETIME.whole_seconds(),
            "interval": 5,
            "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
        }),
    )
}

async fn token(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    let fields = form(&body);
    let grant = fields.get("grant_type").map(String::as_str).unwrap_or("");
    let counted = match grant {
        "urn:ietf:params:oauth:grant-type:device_code" => Some(FakeRequest::DevicePoll),
        "password" => Some(FakeRequest::Password),
        "client_credentials" => Some(FakeRequest::ClientCredentials),
        "refresh_token" => Some(FakeRequest::Refresh),
        _ => None,
    };
    if let Some(request) = counted {
        s.count(request);
    }
    if let Some(fault) = s.fault(FakeEndpoint::Token) {
        return fault;
    }
    let now = s.now();
    let Some(tenant) = s.tenant(&tenant).map(|t| t.id.clone()) else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(90002),
            "Tenant not found.",
            None,
        );
    };
    let client_id = fields.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(900144),
            "The request body must contain the following parameter: 'client_id'.",
            None,
        );
    }
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    match counted {
        Some(FakeRequest::DevicePoll) => device_poll(&mut s, now, &field("device_code")),
        Some(FakeRequest::Password) => password(
            &mut s,
            now,
            &tenant,
            &client_id,
            &field("username"),
            &field("password"),
            &field("scope"),
        ),
        Some(FakeRequest::ClientCredentials) if !field("scope").ends_with("/.default") => {
            oauth_error(
                now,
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                Some(1002012),
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                None,
            )
        }
        Some(FakeRequest::ClientCredentials) => {
            client_credentials(&mut s, now, &tenant, &client_id, &field("client_secret"))
        }
        Some(FakeRequest::Refresh) => refresh(&mut s, now, &tenant, &field("refresh_token")),
        _ => oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            Some(70003),
            "The app requested an unsupported grant type.",
            None,
        ),
    }
}

fn device_poll(s: &mut State, now: OffsetDateTime, device_code: &str) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    let Some(device) = s.devices.get_mut(device_code) else {
        return oauth_error(
            now,
            bad,
            "bad_verification_code",
            Some(70018),
            "The provided value for the input parameter 'device_code' is not valid.",
            None,
        );
    };
    if now >= device.expires_at && device.status != DeviceStatus::Redeemed {
        return oauth_error(
            now,
            bad,
            "expired_token",
            Some(70019),
            "Verification code expired.",
            None,
        );
    }
    let too_fast = device
        .last_poll
        .is_some_and(|last| now - last < device.interval);
    device.last_poll = Some(now);
    match device.status {
        DeviceStatus::Redeemed => oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(90120),
            "The device code was already used.",
            None,
        ),
        DeviceStatus::Declined => oauth_error(
            now,
            bad,
            "authorization_declined",
            None,
            "The end user denied the authorization request.",
            None,
        ),
        DeviceStatus::ApprovalRequested => oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(90095),
            "Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin.",
            Some("consent_required"),
        ),
        DeviceStatus::Waiting if device.slow_down_next || too_fast => {
            device.slow_down_next = false;
            device.interval += Duration::seconds(5);
            oauth_error(
                now,
                bad,
                "slow_down",
                None,
                "The client is polling too quickly.",
                None,
            )
        }
        DeviceStatus::Waiting => oauth_error(
            now,
            bad,
            "authorization_pending",
            Some(70016),
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            None,
        ),
        DeviceStatus::SignedIn => {
            device.status = DeviceStatus::Redeemed;
            let (tenant, client_id, scope) = (
                device.tenant.clone(),
                device.client_id.clone(),
                device.scope.clone(),
            );
            json_response(StatusCode::OK, s.issue(&tenant, &client_id, &scope, false))
        }
    }
}

fn password(
    s: &mut State,
    now: OffsetDateTime,
    tenant_id: &str,
    client_id: &str,
    username: &str,
    password: &str,
    scope: &str,
) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    if client_id != s.client_id {
        return oauth_error(
            now,
            bad,
            "unauthorized_client",
            Some(700016),
            "Application was not found in the directory.",
            None,
        );
    }
    let tenant = s.tenants.get(tenant_id).expect("resolved above");
    let Some(user) = tenant.users.get(&username.to_ascii_lowercase()) else {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50034),
            "The user account does not exist in the directory.",
            None,
        );
    };
    if user.password != password {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50126),
            "Error validating credentials due to invalid username or password.",
            None,
        );
    }
    if user.mfa {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50076),
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
            Some("basic_action"),
        );
    }
    if !tenant.consented.contains(client_id) {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(65001),
            "The user or administrator has not consented to use the application.",
            Some("consent_required"),
        );
    }
    let body = s.issue(tenant_id, client_id, scope, false);
    json_response(StatusCode::OK, body)
}

fn client_credentials(
    s: &mut State,
    now: OffsetDateTime,
    tenant_id: &str,
    client_id: &str,
    secret: &str,
) -> Response {
    let tenant = s.tenants.get(tenant_id).expect("resolved above");
    let Some(expected) = tenant.apps.get(client_id) else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            Some(700016),
            "Application was not found in the directory.",
            None,
        );
    };
    if expected != secret {
        return oauth_error(
            now,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            Some(7000215),
            "Invalid client secret provided.",
            None,
        );
    }
    let body = s.issue(tenant_id, client_id, "", true);
    json_response(StatusCode::OK, body)
}

fn refresh(s: &mut State, now: OffsetDateTime, tenant_id: &str, refresh_token: &str) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    let Some(rt) = s.refresh.get_mut(refresh_token) else {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(9002313),
            "Invalid request. Request is malformed or invalid.",
            None,
        );
    };
    if rt.tenant != tenant_id {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50020),
            "The user is not in this tenant.",
            None,
        );
    }
    if rt.revoked {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50173),
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            None,
        );
    }
    if now - rt.last_used > REFRESH_INACTIVITY {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(700082),
            "The refresh token has expired due to inactivity.",
            None,
        );
    }
    rt.last_used = now;
    let (client_id, scope) = (rt.client_id.clone(), rt.scope.clone());
    let body = s.issue(tenant_id, &client_id, &scope, false);
    json_response(StatusCode::OK, body)
}

async fn adminconsent(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::AdminConsent);
    let now = s.now();
    let fields = form(query.unwrap_or_default().as_bytes());
    for required in ["client_id", "scope", "redirect_uri"] {
        if fields.get(required).is_none_or(|v| v.is_empty()) {
            return oauth_error(
                now,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some(900144),
                &format!("The request body must contain the following parameter: '{required}'."),
                None,
            );
        }
    }
    let Ok(mut redirect) = Url::parse(&fields["redirect_uri"]) else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(50011),
            "The redirect URI is not valid.",
            None,
        );
    };
    let Some(tenant) = s.tenant(&tenant) else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(90002),
            "Tenant not found.",
            None,
        );
    };
    let client_id = fields["client_id"].clone();
    {
        let mut q = redirect.query_pairs_mut();
        q.append_pair("admin_consent", "True");
        if std::mem::take(&mut tenant.decline_next_admin_consent) {
            q.append_pair("error", "consent_required").append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            );
        } else {
            tenant.consented.insert(client_id.clone());
            tenant.approval_requests.retain(|c| c != &client_id);
            q.append_pair("tenant", &tenant.id)
                .append_pair("scope", &fields["scope"]);
        }
        if let Some(state) = fields.get("state") {
            q.append_pair("state", state);
        }
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, redirect.to_string())],
    )
        .into_response()
}

async fn organization(AxumState(state): AxumState<Shared>, headers: HeaderMap) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::Organization);
    if let Some(fault) = s.fault(FakeEndpoint::Organization) {
        return fault;
    }
    let now = s.now();
    let graph_error = |status: StatusCode, code: &str, message: &str| {
        json_response(
            status,
            json!({"error": {"code": code, "message": message,
                "innerError": {"date": now.unix_timestamp(), "request-id": "00000000-0000-0000-0000-000000000000"}}}),
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(access) = s.access.get(token) else {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        );
    };
    if now >= access.expires_at {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        );
    }
    let tenant = &s.tenants[&access.tenant];
    if access.app_only && !tenant.consented.contains(&access.client_id) {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let domains: Vec<Value> = if tenant.domains.is_empty() {
        vec![
            json!({"name": format!("{}.onmicrosoft.com", &tenant.id[..8]), "isDefault": true, "isInitial": true, "type": "Managed"}),
        ]
    } else {
        tenant
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"name": d, "isDefault": i == 0, "isInitial": false, "type": "Managed"}))
            .collect()
    };
    let name = tenant
        .domains
        .first()
        .map(|d| {
            let first = d.split('.').next().unwrap_or(d);
            let mut chars = first.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "Fake tenant".into());
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization",
            "value": [{
                "id": tenant.id,
                "displayName": name,
                "verifiedDomains": domains,
                "tenantType": "AAD",
            }]
        }),
    )
}

impl FakeEntra {
    /// A FakeEntra on the system clock with the [`DEFAULT_CLIENT_ID`].
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder, to set the clock and client id.
    pub fn builder() -> FakeEntraBuilder {
        FakeEntraBuilder {
            clock: Arc::new(SystemClock),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            latency: std::time::Duration::ZERO,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Where it listens: `http://127.0.0.1:PORT/` (both the authority and the Graph host).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The MSP application's client id it knows.
    pub fn client_id(&self) -> String {
        self.lock().client_id.clone()
    }

    /// An [`EntraConfig`] pointing both hosts here, for the MSP's client id.
    pub fn entra_config(&self) -> EntraConfig {
        EntraConfig::new(self.client_id())
            .authority(self.url.as_str())
            .and_then(|c| c.graph(self.url.as_str()))
            .expect("a loopback URL is a valid host")
            .timeout(std::time::Duration::from_secs(10))
    }

    /// An [`EntraProvider`] talking to this server, waiting between retries on its clock.
    pub fn provider(&self) -> Result<EntraProvider, ProviderError> {
        Ok(EntraProvider::new(self.entra_config())?.with_clock(self.clock.clone()))
    }

    /// The same, with a custom retry policy.
    pub fn provider_with_retry(&self, retry: RetryPolicy) -> Result<EntraProvider, ProviderError> {
        Ok(EntraProvider::new(self.entra_config().retry(retry))?.with_clock(self.clock.clone()))
    }

    /// The GUID of a tenant named by GUID or domain (creating it on first use).
    pub fn tenant_id(&self, tenant: &str) -> String {
        let mut s = self.lock();
        s.tenant(tenant).map(|t| t.id.clone()).unwrap_or_default()
    }

    /// Users of `tenant` may not consent, and the admin consent workflow is on: a device
    /// sign-in ends in an approval request until a reviewer approves.
    pub fn require_admin_approval(&self, tenant: &str) {
        if let Some(t) = self.lock().tenant(tenant) {
            t.user_consent_blocked = true;
        }
    }

    /// Open admin consent requests in `tenant`.
    pub fn admin_consent_requests(&self, tenant: &str) -> usize {
        self.lock()
            .tenant(tenant)
            .map_or(0, |t| t.approval_requests.len())
    }

    /// An Admin Consent Reviewer approves every open request in `tenant`; returns how many.
    pub fn approve_admin_consent_requests(&self, tenant: &str) -> usize {
        let mut s = self.lock();
        let Some(t) = s.tenant(tenant) else { return 0 };
        let approved = std::mem::take(&mut t.approval_requests);
        t.consented.extend(approved.iter().cloned());
        approved.len()
    }

    /// An administrator consents to `client_id` in `tenant` out of band.
    pub fn grant_admin_consent(&self, tenant: &str, client_id: &str) {
        if let Some(t) = self.lock().tenant(tenant) {
            t.consented.insert(client_id.to_owned());
        }
    }

    /// The next admin consent in `tenant` is declined (AADSTS65004 on the redirect).
    pub fn decline_next_admin_consent(&self, tenant: &str) {
        if let Some(t) = self.lock().tenant(tenant) {
            t.decline_next_admin_consent = true;
        }
    }

    /// Adds a user for the password grant, MFA off.
    pub fn add_user(&self, tenant: &str, username: &str, password: &str) {
        if let Some(t) = self.lock().tenant(tenant) {
            t.users.insert(
                username.to_ascii_lowercase(),
                User {
                    password: password.to_owned(),
                    mfa: false,
                },
            );
        }
    }

    /// Turns MFA on or off for a user added with [`add_user`](Self::add_user).
    pub fn set_mfa(&self, tenant: &str, username: &str, on: bool) {
        if let Some(u) = self
            .lock()
            .tenant(tenant)
            .and_then(|t| t.users.get_mut(&username.to_ascii_lowercase()))
        {
            u.mfa = on;
        }
    }

    /// Registers an application (client id and secret) in the customer's tenant.
    pub fn add_app(&self, tenant: &str, client_id: &str, secret: &str) {
        if let Some(t) = self.lock().tenant(tenant) {
            t.apps.insert(client_id.to_owned(), secret.to_owned());
        }
    }

    fn with_device<T>(
        &self,
        user_code: &str,
        f: impl FnOnce(&mut Device, &mut Tenant) -> T,
    ) -> Option<T> {
        let mut s = self.lock();
        let now = s.now();
        let State {
            devices, tenants, ..
        } = &mut *s;
        let device = devices
            .values_mut()
            .find(|d| d.user_code.eq_ignore_ascii_case(user_code.trim()) && now < d.expires_at)?;
        let tenant = tenants.get_mut(&device.tenant)?;
        Some(f(device, tenant))
    }

    /// The customer enters `user_code` at the verification URI and signs in. If the
    /// application is not consented and users may not consent, they request approval instead.
    pub fn sign_in(&self, user_code: &str) -> SignIn {
        self.with_device(user_code, |device, tenant| {
            if device.status != DeviceStatus::Waiting {
                return SignIn::UnknownCode;
            }
            if tenant.consented.contains(&device.client_id) || !tenant.user_consent_blocked {
                tenant.consented.insert(device.client_id.clone());
                device.status = DeviceStatus::SignedIn;
                SignIn::SignedIn
            } else {
                if !tenant.approval_requests.contains(&device.client_id) {
                    tenant.approval_requests.push(device.client_id.clone());
                }
                device.status = DeviceStatus::ApprovalRequested;
                SignIn::ApprovalRequested
            }
        })
        .unwrap_or(SignIn::UnknownCode)
    }

    /// The customer declines at the verification URI. Returns whether the code was known.
    pub fn decline(&self, user_code: &str) -> bool {
        self.with_device(user_code, |device, _| {
            device.status = DeviceStatus::Declined
        })
        .is_some()
    }

    /// The device code expires now. Returns whether the code was known.
    pub fn expire(&self, user_code: &str) -> bool {
        let now = self.lock().now();
        self.with_device(user_code, |device, _| device.expires_at = now)
            .is_some()
    }

    /// The next poll of this device code answers `slow_down` (as would polling faster than
    /// the interval). Returns whether the code was known.
    pub fn slow_down(&self, user_code: &str) -> bool {
        self.with_device(user_code, |device, _| device.slow_down_next = true)
            .is_some()
    }

    /// Revokes every refresh token of `tenant` (a password change or an admin's revoke):
    /// refreshes then answer AADSTS50173.
    pub fn revoke_refresh_tokens(&self, tenant: &str) -> usize {
        let mut s = self.lock();
        let Some(id) = s.tenant(tenant).map(|t| t.id.clone()) else {
            return 0;
        };
        let mut n = 0;
        for rt in s.refresh.values_mut().filter(|rt| rt.tenant == id) {
            rt.revoked = true;
            n += 1;
        }
        n
    }

    /// Whether `refresh_token` is one FakeEntra issued and has not revoked.
    pub fn refresh_token_is_live(&self, refresh_token: &str) -> bool {
        self.lock()
            .refresh
            .get(refresh_token)
            .is_some_and(|rt| !rt.revoked)
    }

    /// The next request to `endpoint` is answered with `fault` (queue several for several).
    pub fn inject(&self, endpoint: FakeEndpoint, fault: Fault) {
        self.lock()
            .faults
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    /// A user of `tenant` has already signed in and consented: issues the delegated token set
    /// (access token with `tid`, refresh token) the token endpoint would answer after a
    /// device-code sign-in, without any request being made or counted. For seeding large
    /// fixtures (benchmarks, soak tests) without running a journey per customer. `None` for a
    /// shared tenant name such as `common`.
    pub fn issue_signed_in_tokens(&self, tenant: &str) -> Option<crate::ports::TokenResponse> {
        let mut s = self.lock();
        let client_id = s.client_id.clone();
        let tenant = s.tenant(tenant)?;
        tenant.consented.insert(client_id.clone());
        let tenant_id = tenant.id.clone();
        let scope = format!("{GRAPH_RESOURCE}/.default offline_access");
        let body = s.issue(&tenant_id, &client_id, &scope, false);
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        Some(crate::ports::TokenResponse {
            access_token: crate::model::AccessToken::new(text("access_token")?),
            refresh_token: text("refresh_token").map(crate::model::RefreshToken::new),
            expires_in: ACCESS_TOKEN_LIFETIME,
            scope: text("scope"),
        })
    }

    /// How many requests of this kind arrived (faulted ones included).
    pub fn requests(&self, request: FakeRequest) -> u64 {
        self.lock().counts.get(&request).copied().unwrap_or(0)
    }

    /// Opens an admin-consent URL as the administrator's browser would, and returns the
    /// redirect (to the portal's callback) that FakeEntra answers with. Redirects are not
    /// followed.
    pub async fn admin_consents(&self, consent_url: &Url) -> Result<Url, ProviderError> {
        let response = self
            .browser
            .get(consent_url.clone())
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        response
            .headers()
            .get(header::LOCATION.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok())
            .ok_or_else(|| {
                ProviderError::InvalidResponse(format!(
                    "admin consent answered HTTP {} without a redirect",
                    response.status()
                ))
            })
    }
}
