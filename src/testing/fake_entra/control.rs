//! The handle a test holds: starting FakeEntra, and playing the customer, their
//! administrators and the network through it (sign-ins, consents, users, apps, revocations,
//! injected faults, request counters).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{StatusCode, header};
use tokio::sync::watch;
use url::Url;

use super::control_api::{self, Control};
use super::directory::SignIn;
use super::routes;
use super::scenario::SignInAnswer;
use super::snapshot::Persister;
use super::state::{App, FakeEndpoint, FakeRequest, Fault, Shared, State, lock};
use crate::error::ProviderError;
use crate::model::{ClientCertificate, ClientSecret, Cloud};
use crate::ports::{Clock, SystemClock};
use crate::provider::entra::{CloudRegistration, EntraConfig, EntraProvider, RetryPolicy};

/// The MSP application's client id FakeEntra knows unless told another.
pub const DEFAULT_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

/// Builds a [`FakeEntra`].
#[derive(Debug)]
pub struct FakeEntraBuilder {
    clock: Arc<dyn Clock>,
    cloud: Cloud,
    client_id: String,
    client_secret: Option<String>,
    client_secret_expires_at: Option<time::OffsetDateTime>,
    client_certificates: Vec<ClientCertificate>,
    redirect_uris: Vec<Url>,
    latency: std::time::Duration,
    listen: SocketAddr,
    state_file: Option<PathBuf>,
}

impl FakeEntraBuilder {
    /// The clock expiry follows (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The cloud it plays (default [`Cloud::Global`]): its tenant discovery names that
    /// cloud, its tokens are for that cloud's Microsoft Graph, and requests whose scopes name
    /// another cloud's Graph are refused (HTTP 400 `invalid_resource`, AADSTS500011). Point
    /// a [`CloudRegistration`] at it with [`FakeEntra::cloud_registration`].
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// The MSP application's client id (default [`DEFAULT_CLIENT_ID`]).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// The MSP application's client secret: its password, refresh and authorization-code
    /// grants must then carry it (else HTTP 401 `invalid_client`, AADSTS7000215), and
    /// [`FakeEntra::entra_config`] sends it. Default: none, nothing is checked.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// When the MSP application's client secret ends, as Graph's
    /// `GET /v1.0/applications(appId=…)` reports it (default: none reported).
    pub fn client_secret_expires_at(mut self, expires_at: time::OffsetDateTime) -> Self {
        self.client_secret_expires_at = Some(expires_at);
        self
    }

    /// Registers a certificate for the MSP's application; call once per certificate. Its
    /// token requests may then carry a client assertion signed with the key of any of them
    /// (checked: signature, `aud`, `iss`/`sub`, time, `jti` not used before), and must carry
    /// a credential once the application has a certificate or a secret.
    /// [`FakeEntra::entra_config`] sends the first one registered (it holds its key) when
    /// there is no secret.
    pub fn client_certificate(mut self, certificate: &ClientCertificate) -> Self {
        self.client_certificates.push(certificate.clone());
        self
    }

    /// Registers a sign-in redirect URI (Web platform) for the MSP's application; call once
    /// per URI. The sign-in page refuses any other (AADSTS50011).
    pub fn sign_in_redirect_uri(mut self, uri: Url) -> Self {
        self.redirect_uris.push(uri);
        self
    }

    /// Holds every answer back this long (real time), as a far-away service would: for
    /// benchmarks that want network latency on loopback. Default: none. Tests that drive
    /// time through a `ManualClock` should leave it at zero.
    pub fn latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`: an OS-chosen port). A fixed port
    /// lets a fake that was stopped come back where its clients expect it.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keeps the fake's state in this JSON file, so that a FakeEntra started again with it
    /// goes on where the last one stopped (a device code issued before answers its polls
    /// after, tokens stay valid, counters keep counting). At start the file is read if it
    /// exists (its client id, secret, redirect URIs and cloud win over the builder's); it is
    /// written, whole and atomically (a temporary file renamed over it), after every request
    /// served (Entra's and the control API's) before the answer goes out, and within a
    /// quarter of a second of a change made through the in-process methods. Certificates
    /// (their keys) and the clock are not written. Default: none, the state lives in memory.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Binds the [`listen`](Self::listen) address (default `127.0.0.1` on an OS-chosen port)
    /// and starts serving on the current tokio runtime: Entra's endpoints and the HTTP control
    /// API under `/_control/`. With a [`state_file`](Self::state_file), loads it first (an
    /// unreadable or malformed file is an error).
    pub async fn start(self) -> std::io::Result<FakeEntra> {
        let mut state = State {
            clock: self.clock.clone(),
            cloud: self.cloud,
            tenant_counts: HashMap::new(),
            client_id: self.client_id,
            client_secret: self.client_secret,
            client_secret_expires_at: self.client_secret_expires_at,
            client_certificates: self.client_certificates,
            used_assertions: Default::default(),
            redirect_uris: self.redirect_uris.iter().map(|u| u.to_string()).collect(),
            codes: HashMap::new(),
            tenants: HashMap::new(),
            unknown: Default::default(),
            devices: HashMap::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            faults: HashMap::new(),
            counts: HashMap::new(),
            log: Vec::new(),
            next: 0,
        };
        let persister = match &self.state_file {
            Some(path) => {
                let (persister, snapshot) = Persister::open(path)?;
                if let Some(snapshot) = snapshot {
                    state.restore(snapshot);
                }
                Some(Arc::new(persister))
            }
            None => None,
        };
        let state = Arc::new(Mutex::new(state));
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}")).expect("a socket address is a URL host");
        let app = routes::router(state.clone());
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
        let app = app.merge(control_api::router(Control {
            state: state.clone(),
            url: url.clone(),
            state_file: self.state_file.clone(),
        }));
        // Dropping the sender (the last clone of the handle) stops the server and the saver.
        let (stop, stopped) = watch::channel(());
        let app = match &persister {
            Some(persister) => {
                spawn_saver(persister.clone(), state.clone(), stopped.clone());
                app.layer(axum::middleware::from_fn(saving(
                    persister.clone(),
                    state.clone(),
                )))
            }
            None => app,
        };
        let mut until = stopped;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = until.changed().await;
                })
                .await;
        });
        Ok(FakeEntra {
            inner: Arc::new(Inner {
                url,
                state,
                clock: self.clock,
                state_file: self.state_file,
                _stop: stop,
                browser: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(std::io::Error::other)?,
            }),
        })
    }
}

/// The middleware writing the state file after every request, before its answer goes out;
/// an answer whose change could not be written becomes HTTP 500.
#[allow(clippy::type_complexity)]
fn saving(
    persister: Arc<Persister>,
    state: Shared,
) -> impl Fn(
    axum::extract::Request,
    axum::middleware::Next,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |request, next| {
        let persister = persister.clone();
        let state = state.clone();
        Box::pin(async move {
            let response = next.run(request).await;
            match persister.save(&state) {
                Ok(()) => response,
                Err(e) => axum::response::IntoResponse::into_response((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "application/json")],
                    serde_json::json!({
                        "error": format!(
                            "FakeEntra could not write its state file {}: {e}",
                            persister.path().display()
                        )
                    })
                    .to_string(),
                )),
            }
        })
    }
}

/// Saves the state file every quarter second if it changed (changes made through the
/// in-process methods), and once more when the fake stops.
fn spawn_saver(persister: Arc<Persister>, state: Shared, mut stopped: watch::Receiver<()>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
            if let Err(e) = persister.save(&state) {
                tracing::warn!(error = %e, "FakeEntra could not write its state file");
            }
        }
        let _ = persister.save(&state);
    });
}

/// A running fake Entra ID. Cheap to clone (clones share one server and one state); stops
/// serving when the last clone is dropped.
#[derive(Clone)]
pub struct FakeEntra {
    inner: Arc<Inner>,
}

/// What the clones of a [`FakeEntra`] share.
struct Inner {
    url: Url,
    state: Shared,
    clock: Arc<dyn Clock>,
    state_file: Option<PathBuf>,
    /// Dropped with the last clone: stops the server (and the state file's saver).
    _stop: watch::Sender<()>,
    browser: reqwest::Client,
}

impl std::fmt::Debug for FakeEntra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEntra")
            .field("url", &self.inner.url.as_str())
            .finish()
    }
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
            cloud: Cloud::Global,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: None,
            client_secret_expires_at: None,
            client_certificates: Vec::new(),
            redirect_uris: Vec::new(),
            latency: std::time::Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            state_file: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Where it listens: `http://127.0.0.1:PORT/` (both the authority and the Graph host;
    /// the control API is under `/_control/`).
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The state file it keeps ([`FakeEntraBuilder::state_file`]), if any.
    pub fn state_file(&self) -> Option<&Path> {
        self.inner.state_file.as_deref()
    }

    /// The MSP application's client id it knows.
    pub fn client_id(&self) -> String {
        self.lock().client_id.clone()
    }

    /// An [`EntraConfig`] pointing both hosts here, for the MSP's client id, with its secret
    /// when it has one, else its first registered certificate.
    pub fn entra_config(&self) -> EntraConfig {
        let (secret, certificate) = {
            let s = self.lock();
            (
                s.client_secret.clone(),
                s.client_certificates.first().cloned(),
            )
        };
        let config = EntraConfig::new(self.client_id())
            .authority(self.inner.url.as_str())
            .and_then(|c| c.graph(self.inner.url.as_str()))
            .expect("a loopback URL is a valid host")
            .timeout(std::time::Duration::from_secs(10));
        match (secret, certificate) {
            (Some(secret), _) => config.client_secret(ClientSecret::new(secret)),
            (None, Some(certificate)) => config.client_certificate(certificate),
            (None, None) => config,
        }
    }

    /// The cloud it plays ([`FakeEntraBuilder::cloud`]).
    pub fn cloud(&self) -> Cloud {
        self.lock().cloud
    }

    /// The MSP application's registration in the cloud this server plays, with both hosts
    /// pointing here (and its secret, when it has one): for
    /// [`EntraConfig::cloud_registration`], so a national cloud's tenants are served here.
    pub fn cloud_registration(&self) -> CloudRegistration {
        let secret = self.lock().client_secret.clone();
        let registration = CloudRegistration::new(self.client_id())
            .authority(self.inner.url.as_str())
            .and_then(|r| r.graph(self.inner.url.as_str()))
            .expect("a loopback URL is a valid host");
        match secret {
            Some(secret) => registration.client_secret(ClientSecret::new(secret)),
            None => registration,
        }
    }

    /// Registers a sign-in redirect URI for the MSP's application from now on (see
    /// [`FakeEntraBuilder::sign_in_redirect_uri`]).
    pub fn register_sign_in_redirect_uri(&self, uri: &Url) {
        self.lock().redirect_uris.insert(uri.to_string());
    }

    /// The number of authorization codes the sign-in page handed out and nobody redeemed
    /// yet (expired ones included).
    pub fn unredeemed_codes(&self) -> usize {
        self.lock().codes.values().filter(|c| !c.redeemed).count()
    }

    /// An [`EntraProvider`] talking to this server, waiting between retries on its clock.
    pub fn provider(&self) -> Result<EntraProvider, ProviderError> {
        Ok(EntraProvider::new(self.entra_config())?.with_clock(self.inner.clock.clone()))
    }

    /// The same, with a custom retry policy.
    pub fn provider_with_retry(&self, retry: RetryPolicy) -> Result<EntraProvider, ProviderError> {
        Ok(EntraProvider::new(self.entra_config().retry(retry))?
            .with_clock(self.inner.clock.clone()))
    }

    /// The GUID of a tenant named by GUID or domain (creating it on first use); empty for a
    /// name no tenant has ([`forget_tenant`](Self::forget_tenant), `common`).
    pub fn tenant_id(&self, tenant: &str) -> String {
        let mut s = self.lock();
        s.tenant(tenant).map(|t| t.id.clone()).unwrap_or_default()
    }

    /// From now on no tenant has this name (a domain or GUID), nor the GUID the fake gives
    /// it: every endpoint naming it, tenant discovery included, answers HTTP 400
    /// `invalid_tenant` (AADSTS90002), as Entra ID does for a domain nobody verified. Tenants
    /// are otherwise created on first use. Returns whether the tenant existed (it is dropped
    /// with everything in it).
    ///
    /// ```
    /// # use tenant_access::testing::fake_entra::FakeEntra;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = FakeEntra::start().await?;
    /// fake.forget_tenant("nobody.example");
    /// assert_eq!(fake.tenant_id("nobody.example"), "");
    /// # Ok(())
    /// # }
    /// ```
    pub fn forget_tenant(&self, tenant: &str) -> bool {
        self.lock().forget_tenant(tenant)
    }

    /// Changes what `tenant` does differently (see [`Scenario`](super::Scenario)); the
    /// change applies to every later request.
    ///
    /// ```
    /// # use tenant_access::testing::fake_entra::FakeEntra;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = FakeEntra::start().await?;
    /// fake.scenario("contoso.com", |s| s.access_token_lifetime = Some(std::time::Duration::from_secs(60)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn scenario(&self, tenant: &str, change: impl FnOnce(&mut super::Scenario)) {
        if let Some(t) = self.lock().tenant(tenant) {
            change(&mut t.scenario);
        }
    }

    /// Users of `tenant` may not consent, and the admin consent workflow is on: a device
    /// sign-in ends in an approval request until a reviewer approves.
    pub fn require_admin_approval(&self, tenant: &str) {
        self.lock().require_admin_approval(tenant);
    }

    /// Open admin consent requests in `tenant`.
    pub fn admin_consent_requests(&self, tenant: &str) -> usize {
        self.lock()
            .tenant(tenant)
            .map_or(0, |t| t.approval_requests.len())
    }

    /// An Admin Consent Reviewer approves every open request in `tenant`; returns how many.
    pub fn approve_admin_consent_requests(&self, tenant: &str) -> usize {
        self.lock().approve_admin_consent_requests(tenant)
    }

    /// An administrator consents to `client_id` in `tenant` out of band.
    pub fn grant_admin_consent(&self, tenant: &str, client_id: &str) {
        self.lock().grant_admin_consent(tenant, client_id);
    }

    /// The next admin consent in `tenant` is declined (AADSTS65004 on the redirect).
    pub fn decline_next_admin_consent(&self, tenant: &str) {
        self.lock().decline_next_admin_consent(tenant);
    }

    /// Adds a user for the password grant, MFA off.
    pub fn add_user(&self, tenant: &str, username: &str, password: &str) {
        self.lock().add_user(tenant, username, password, false);
    }

    /// Turns MFA on or off for a user added with [`add_user`](Self::add_user).
    pub fn set_mfa(&self, tenant: &str, username: &str, on: bool) {
        self.lock().set_mfa(tenant, username, on);
    }

    /// Registers an application (client id and secret) in the customer's tenant. Graph
    /// reports the secret as ending 24 months from now (Entra's longest) unless
    /// [`set_app_secret_expiry`](Self::set_app_secret_expiry) says otherwise.
    pub fn add_app(&self, tenant: &str, client_id: &str, secret: &str) {
        self.with_app(tenant, client_id, |app| {
            app.secret = Some(secret.to_owned())
        });
    }

    /// Registers a certificate for an application in the customer's tenant (registering the
    /// application, without a secret, if it is new): its client-credentials requests may
    /// then carry a client assertion signed with the certificate's key, and Graph lists the
    /// certificate among its `keyCredentials` with its `notAfter`.
    pub fn add_app_certificate(
        &self,
        tenant: &str,
        client_id: &str,
        certificate: &ClientCertificate,
    ) {
        self.with_app(tenant, client_id, |app| {
            app.certificates.push(certificate.clone())
        });
    }

    /// The end date Graph reports for the secret of an application in the customer's tenant.
    pub fn set_app_secret_expiry(
        &self,
        tenant: &str,
        client_id: &str,
        expires_at: time::OffsetDateTime,
    ) {
        self.with_app(tenant, client_id, |app| app.secret_expires_at = expires_at);
    }

    /// From now on Graph refuses to read the tenant's applications (HTTP 403
    /// `Authorization_RequestDenied`), as for a token without `Application.Read.All`.
    pub fn deny_application_read(&self, tenant: &str) {
        if let Some(t) = self.lock().tenant(tenant) {
            t.application_read_denied = true;
        }
    }

    /// Changes the application `client_id` of `tenant`, registering it first if new.
    fn with_app(&self, tenant: &str, client_id: &str, change: impl FnOnce(&mut App)) {
        self.lock().with_app(tenant, client_id, change);
    }

    /// The customer enters `user_code` at the verification URI and signs in. If the
    /// application is not consented and users may not consent, they request approval instead.
    pub fn sign_in(&self, user_code: &str) -> SignIn {
        self.lock().sign_in(user_code)
    }

    /// The user codes still waiting for the customer's sign-in, oldest first: of `tenant` (a
    /// GUID or domain), or of every tenant when `None`.
    pub fn waiting_user_codes(&self, tenant: Option<&str>) -> Vec<String> {
        self.lock().waiting_user_codes(tenant)
    }

    /// The customer declines at the verification URI. Returns whether the code was known.
    pub fn decline(&self, user_code: &str) -> bool {
        self.lock().decline(user_code)
    }

    /// The device code expires now. Returns whether the code was known.
    pub fn expire(&self, user_code: &str) -> bool {
        self.lock().expire(user_code)
    }

    /// The next poll of this device code answers `slow_down` (as would polling faster than
    /// the interval). Returns whether the code was known.
    pub fn slow_down(&self, user_code: &str) -> bool {
        self.lock().slow_down(user_code)
    }

    /// Revokes every refresh token of `tenant` (a password change or an admin's revoke):
    /// refreshes then answer AADSTS50173.
    pub fn revoke_refresh_tokens(&self, tenant: &str) -> usize {
        self.lock().revoke_refresh_tokens(tenant)
    }

    /// Makes every access token issued so far in `tenant` inactive (a Continuous Access
    /// Evaluation revocation): Graph refuses them with HTTP 401 `InvalidAuthenticationToken`
    /// before they expire, while tokens issued later work. Returns how many were revoked.
    /// [`Scenario::inactive_tokens`](super::Scenario::inactive_tokens) refuses the later ones
    /// too.
    pub fn revoke_access_tokens(&self, tenant: &str) -> usize {
        self.lock().revoke_access_tokens(tenant)
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
        self.lock().inject(endpoint, fault);
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
        let scope = format!("{}/.default offline_access", s.cloud.graph_resource());
        let body = s.issue(&tenant_id, &client_id, &scope, false);
        let expires_in = s.access_token_lifetime(&tenant_id);
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        Some(crate::ports::TokenResponse {
            access_token: crate::model::AccessToken::new(text("access_token")?),
            refresh_token: text("refresh_token").map(crate::model::RefreshToken::new),
            expires_in,
            scope: text("scope"),
        })
    }

    /// How many requests of this kind arrived (faulted ones included).
    pub fn requests(&self, request: FakeRequest) -> u64 {
        self.lock().counts.get(&request).copied().unwrap_or(0)
    }

    /// How many requests of this kind named `tenant` (a GUID or domain, counted as its GUID):
    /// in their path, or for Graph, in their token. Requests for a tenant other tenants'
    /// tokens claim are counted for the token's tenant.
    pub fn requests_for(&self, tenant: &str, request: FakeRequest) -> u64 {
        self.lock().requests_for(tenant, request)
    }

    /// How many requests of any kind arrived (faulted ones included).
    pub fn total_requests(&self) -> u64 {
        self.lock().counts.values().sum()
    }

    /// When each request of this kind arrived (faulted ones included), on FakeEntra's
    /// clock, in arrival order: the request log to measure poll spacing with.
    pub fn request_times(&self, request: FakeRequest) -> Vec<time::OffsetDateTime> {
        self.lock()
            .log
            .iter()
            .filter(|(kind, _)| *kind == request)
            .map(|(_, at)| *at)
            .collect()
    }

    /// Opens an admin-consent URL as the administrator's browser would, and returns the
    /// redirect (to the portal's callback) that FakeEntra answers with. Redirects are not
    /// followed.
    pub async fn admin_consents(&self, consent_url: &Url) -> Result<Url, ProviderError> {
        self.redirect_of(self.inner.browser.get(consent_url.clone()), "admin consent")
            .await
    }

    /// Opens a browser sign-in's authorization URL and presses `answer`'s button on the page,
    /// as the customer's browser would: the page's form (its action and hidden fields) is
    /// read from the HTML and posted. Returns the redirect back to the portal. The button
    /// must be on the page (no "Accept" where only approval can be requested). With a
    /// scripted [`Scenario::sign_in`](super::Scenario::sign_in) the first request already
    /// redirects, and `answer` is not used.
    pub async fn signs_in(
        &self,
        authorize_url: &Url,
        answer: SignInAnswer,
    ) -> Result<Url, ProviderError> {
        let page = self
            .inner
            .browser
            .get(authorize_url.clone())
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        if page.status().is_redirection() {
            return location(&page, "the sign-in page");
        }
        let status = page.status();
        let html = page
            .text()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        let form = SignInForm::read(&html).ok_or_else(|| {
            ProviderError::InvalidResponse(format!("the sign-in page (HTTP {status}) has no form"))
        })?;
        let decision = match answer {
            SignInAnswer::Approve => "accept",
            SignInAnswer::Cancel => "cancel",
            SignInAnswer::RequestApproval => "request_approval",
            SignInAnswer::Blocked => "back",
        };
        if !form.buttons.iter().any(|b| b == decision) {
            return Err(ProviderError::InvalidResponse(format!(
                "the sign-in page has no {decision:?} button"
            )));
        }
        let action = authorize_url
            .join(&form.action)
            .map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        let mut fields = form.fields;
        fields.push(("decision".into(), decision.into()));
        self.redirect_of(
            self.inner.browser.post(action).form(&fields),
            "the sign-in page",
        )
        .await
    }

    /// Sends `request` and reads the `Location` of its redirect.
    async fn redirect_of(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Url, ProviderError> {
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?;
        location(&response, what)
    }
}

/// The `Location` of a redirect.
fn location(response: &reqwest::Response, what: &str) -> Result<Url, ProviderError> {
    response
        .headers()
        .get(header::LOCATION.as_str())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Url::parse(v).ok())
        .ok_or_else(|| {
            ProviderError::InvalidResponse(format!(
                "{what} answered HTTP {} without a redirect",
                response.status()
            ))
        })
}

/// The form of FakeEntra's sign-in page, read back from its HTML as a browser would: its
/// action, hidden fields and the values of its buttons. Only FakeEntra's own markup is read.
struct SignInForm {
    action: String,
    fields: Vec<(String, String)>,
    buttons: Vec<String>,
}

impl SignInForm {
    fn read(html: &str) -> Option<Self> {
        let form = &html[html.find("<form ")?..];
        let form = &form[..form.find("</form>")?];
        let action = attribute(&form[..form.find('>')?], "action")?;
        let tags = |name: &'static str| form.split('<').filter(move |t| t.starts_with(name));
        let fields = tags("input ")
            .filter_map(|t| Some((attribute(t, "name")?, attribute(t, "value")?)))
            .collect();
        let buttons = tags("button ")
            .filter_map(|t| attribute(t, "value"))
            .collect();
        Some(Self {
            action,
            fields,
            buttons,
        })
    }
}

/// The unescaped value of the double-quoted attribute `name` in one tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
