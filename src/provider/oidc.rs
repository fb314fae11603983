//! Any standards-compliant OAuth 2.0 / OpenID Connect server (feature `oidc`).
//!
//! [`OidcProvider`] needs nothing Microsoft-specific. From the issuer URL it discovers the
//! endpoints (OpenID Connect Discovery 1.0 `/.well-known/openid-configuration`, falling back to
//! RFC 8414 `/.well-known/oauth-authorization-server`) and speaks:
//!
//! * the RFC 8628 device flow: `authorization_pending`, `slow_down`, `access_denied` and
//!   `expired_token` become [`DevicePoll`] answers; `invalid_grant` on a poll (an unknown or
//!   already used device code) is [`DevicePoll::Expired`];
//! * refresh tokens (`invalid_grant` is [`ProviderError::ReauthenticationRequired`]), client
//!   credentials, and the password grant where a server still offers it;
//! * the authorization code grant with PKCE (S256) as the consent step
//!   ([`IdentityProvider::admin_consent_url`] / [`IdentityProvider::verify_admin_consent`]);
//! * token revocation (RFC 7009, [`OidcProvider::revoke`]) for customer removal;
//! * validation through the userinfo endpoint or token introspection (RFC 7662).
//!
//! Clients are confidential (`client_secret_basic`, `client_secret_post`) or public (`none`),
//! see [`ClientAuth`]. The HTTP plumbing (rustls, no redirects, 1 MiB body cap, retries on a
//! [`Clock`]) is the one the Entra provider uses.
//!
//! # What "tenant" means here
//!
//! One issuer is one organisation. [`validate`](IdentityProvider::validate) answers a
//! [`TenantInfo`] whose `id` is the value of the configured tenant claim
//! ([`OidcConfig::tenant_claim`], e.g. `tid` or `org_id`) or, with none configured, the
//! issuer's host name; its `domains` hold that value and the issuer's host name, so a customer
//! invited with the issuer's host (a domain-shaped [`TenantId`](crate::model::TenantId)) matches.
//! The `iss` claim, when the answer carries one, must be the discovered issuer.
//!
//! # Consent on a non-Microsoft server
//!
//! Standard OAuth has no "admin consent for the whole organisation". The consent URL here is
//! an authorization request (`response_type=code`, PKCE S256, `prompt=consent`) for the
//! configured scopes: whoever signs in grants the client those scopes on the server's terms.
//! It is always for the configured client, the only one that can redeem the code; in the
//! app-registration journey the customer's app needs no user consent under standard OAuth 2.0
//! (its client credentials are authorised by its registration), so the step proves that a
//! customer administrator can sign in and grant the portal's client.
//! [`verify_admin_consent`](IdentityProvider::verify_admin_consent) checks the state, maps an
//! `error` to [`ProviderError::ConsentDeclined`], and redeems the `code` (with the PKCE
//! verifier and [`OidcConfig::redirect_uri`]) to prove the server granted it; the tokens are
//! then dropped. The PKCE verifier is derived from the state with a key
//! ([`OidcConfig::pkce_key`]); give a stable key when the callback may reach another process.
//!
//! ```no_run
//! use tenant_access::provider::oidc::{ClientAuth, OidcConfig, OidcProvider};
//! use tenant_access::model::ClientSecret;
//!
//! # async fn run() -> Result<(), tenant_access::error::ProviderError> {
//! let config = OidcConfig::new("https://id.example.com", "msp-portal")?
//!     .client_auth(ClientAuth::ClientSecretBasic(ClientSecret::new("s3cret")))
//!     .scopes(["openid", "offline_access"]);
//! let provider = OidcProvider::new(config)?;
//! let endpoints = provider.discover().await?; // optional: fail early at start-up
//! assert!(endpoints.device_authorization.is_some());
//! # Ok(()) }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use url::Url;

use super::http::RetryPolicy;
use super::http::{
    Answer, DEVICE_CODE_GRANT, HttpClient, classify_standard, parse_device_authorization,
    parse_error, parse_json, parse_token_response, standard_poll,
};
use crate::error::{ProviderDetail, ProviderError};
use crate::model::Scopes;
use crate::model::TenantInfo;
use crate::model::{
    AccessToken, AuthorizationCode, ClientSecret, ConsentState, DeviceCode, Password, RefreshToken,
};
use crate::ports::Clock;
use crate::ports::{
    AdminConsentRequest, ConsentCallback, DeviceAuthorization, DevicePoll, IdentityProvider,
    Target, TokenResponse,
};

/// How the client authenticates to the token, device, revocation and introspection endpoints
/// (RFC 6749 §2.3, OpenID Connect Core §9).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// A public client: only `client_id` is sent (`none`).
    None,
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`).
    ClientSecretBasic(ClientSecret),
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    ClientSecretPost(ClientSecret),
}

impl ClientAuth {
    /// The registered name of the method.
    pub fn method_name(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::ClientSecretBasic(_) => "client_secret_basic",
            ClientAuth::ClientSecretPost(_) => "client_secret_post",
        }
    }
}

/// How [`validate`](IdentityProvider::validate) proves a token works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Validation {
    /// Introspection when the server has the endpoint and the client is confidential,
    /// otherwise userinfo.
    #[default]
    Auto,
    /// `GET` the userinfo endpoint with the token (needs an `openid` user token).
    Userinfo,
    /// RFC 7662 introspection with the client's credentials (works for client-credentials
    /// tokens too).
    Introspection,
}

/// Which token [`OidcProvider::revoke`] revokes (RFC 7009 `token_type_hint`).
#[derive(Debug, Clone, Copy)]
pub enum Revocable<'a> {
    /// A refresh token (revoking it usually ends the whole grant).
    Refresh(&'a RefreshToken),
    /// An access token.
    Access(&'a AccessToken),
}

/// What an [`OidcProvider`] talks to and as whom.
#[derive(Clone)]
pub struct OidcConfig {
    issuer: Url,
    client_id: String,
    auth: ClientAuth,
    scopes: Vec<String>,
    client_credentials_scope: Option<String>,
    redirect_uri: Option<Url>,
    tenant_claim: Option<String>,
    validation: Validation,
    pkce_key: [u8; 32],
    timeout: std::time::Duration,
    user_agent: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("scopes", &self.scopes)
            .field("client_credentials_scope", &self.client_credentials_scope)
            .field("redirect_uri", &self.redirect_uri.as_ref().map(Url::as_str))
            .field("tenant_claim", &self.tenant_claim)
            .field("validation", &self.validation)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn misconfigured(error: &str, description: impl Into<String>) -> ProviderError {
    ProviderError::Misconfigured(ProviderDetail::new(error, description))
}

fn http_url(text: &str, what: &str) -> Result<Url, ProviderError> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
        .ok_or_else(|| {
            misconfigured(
                "invalid_url",
                format!("{what} {text:?} is not an http(s) URL"),
            )
        })
}

impl OidcConfig {
    /// A public client `client_id` of the server at `issuer` (an `http(s)` URL, path allowed),
    /// asking for `openid offline_access`, with a 30 s timeout and the default [`RetryPolicy`].
    pub fn new(issuer: &str, client_id: impl Into<String>) -> Result<Self, ProviderError> {
        let issuer = http_url(issuer, "the issuer")?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(misconfigured(
                "invalid_issuer",
                "the issuer URL must have no query or fragment",
            ));
        }
        let mut pkce_key = [0u8; 32];
        getrandom::fill(&mut pkce_key)
            .map_err(|e| misconfigured("random", format!("no randomness for the PKCE key: {e}")))?;
        Ok(Self {
            issuer,
            client_id: client_id.into(),
            auth: ClientAuth::None,
            scopes: vec!["openid".into(), "offline_access".into()],
            client_credentials_scope: None,
            redirect_uri: None,
            tenant_claim: None,
            validation: Validation::Auto,
            pkce_key,
            timeout: std::time::Duration::from_secs(30),
            user_agent: concat!("tenant-access/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
        })
    }

    /// How the client authenticates (default [`ClientAuth::None`], a public client).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The delegated scopes (device code, password, refresh, consent). Include
    /// `offline_access` to get a refresh token, `openid` for userinfo.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The `scope` of client-credentials requests (default: none sent, the server's default).
    pub fn client_credentials_scope(mut self, scope: impl Into<String>) -> Self {
        self.client_credentials_scope = Some(scope.into());
        self
    }

    /// The redirect URI registered for the consent step; needed to redeem its code.
    pub fn redirect_uri(mut self, uri: &str) -> Result<Self, ProviderError> {
        self.redirect_uri = Some(http_url(uri, "the redirect URI")?);
        Ok(self)
    }

    /// The claim (in userinfo or introspection answers) naming the customer's tenant, e.g.
    /// `tid`, `org_id`. Without one, the tenant is the issuer's host name.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = Some(claim.into());
        self
    }

    /// How tokens are validated (default [`Validation::Auto`]).
    pub fn validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// The key the PKCE verifier is derived from (with the consent state). Default: random per
    /// configuration, so a consent callback must reach the same process; give every portal
    /// replica the same stable secret to lift that.
    pub fn pkce_key(mut self, key: [u8; 32]) -> Self {
        self.pkce_key = key;
        self
    }

    /// The timeout of one HTTP request (default 30 s).
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How transient faults are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn scope_param(&self) -> String {
        self.scopes
            .iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The PKCE code verifier for a consent `state`: base64url(HMAC-SHA256(key, state)).
    fn pkce_verifier(&self, state: &ConsentState) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(
            &self.pkce_key,
            state.expose_secret().as_bytes(),
        ))
    }
}

fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The endpoints of a server, from its metadata (or given by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// The issuer identifier the metadata declares (the `iss` of its tokens).
    pub issuer: String,
    /// `token_endpoint` (required).
    pub token: Url,
    /// `device_authorization_endpoint` (RFC 8628).
    pub device_authorization: Option<Url>,
    /// `authorization_endpoint` (the consent step).
    pub authorization: Option<Url>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation: Option<Url>,
    /// `userinfo_endpoint` (OpenID Connect).
    pub userinfo: Option<Url>,
    /// `introspection_endpoint` (RFC 7662).
    pub introspection: Option<Url>,
    /// `code_challenge_methods_supported` (empty when not advertised).
    pub code_challenge_methods: Vec<String>,
}

impl Endpoints {
    /// Endpoints given by hand for a server without discovery: only the token endpoint.
    pub fn new(issuer: impl Into<String>, token: Url) -> Self {
        Self {
            issuer: issuer.into(),
            token,
            device_authorization: None,
            authorization: None,
            revocation: None,
            userinfo: None,
            introspection: None,
            code_challenge_methods: Vec::new(),
        }
    }

    /// Reads server metadata (OpenID Connect Discovery §3 / RFC 8414 §2).
    pub fn from_metadata(body: &[u8]) -> Result<Self, ProviderError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            token_endpoint: Option<String>,
            device_authorization_endpoint: Option<String>,
            authorization_endpoint: Option<String>,
            revocation_endpoint: Option<String>,
            userinfo_endpoint: Option<String>,
            introspection_endpoint: Option<String>,
            #[serde(default)]
            code_challenge_methods_supported: Vec<String>,
        }
        let m: Metadata = parse_json(body)?;
        let url = |v: Option<String>, name: &str| -> Result<Option<Url>, ProviderError> {
            v.map(|text| {
                Url::parse(&text)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        ProviderError::InvalidResponse(format!(
                            "the metadata's {name} {text:?} is not an http(s) URL"
                        ))
                    })
            })
            .transpose()
        };
        let token = url(m.token_endpoint, "token_endpoint")?
            .ok_or_else(|| missing_endpoint("token_endpoint"))?;
        Ok(Self {
            issuer: m.issuer,
            token,
            device_authorization: url(
                m.device_authorization_endpoint,
                "device_authorization_endpoint",
            )?,
            authorization: url(m.authorization_endpoint, "authorization_endpoint")?,
            revocation: url(m.revocation_endpoint, "revocation_endpoint")?,
            userinfo: url(m.userinfo_endpoint, "userinfo_endpoint")?,
            introspection: url(m.introspection_endpoint, "introspection_endpoint")?,
            code_challenge_methods: m.code_challenge_methods_supported,
        })
    }
}

/// The error for a call that needs an endpoint the server does not advertise.
fn missing_endpoint(name: &str) -> ProviderError {
    misconfigured(
        "missing_endpoint",
        format!("the server's metadata has no {name}"),
    )
}

fn need<'a>(endpoint: &'a Option<Url>, name: &str) -> Result<&'a Url, ProviderError> {
    endpoint.as_ref().ok_or_else(|| missing_endpoint(name))
}

/// A standards-only OAuth 2.0 / OpenID Connect provider. Cheap to clone.
///
/// Endpoints are discovered on first use (or with [`discover`](Self::discover)); a failed
/// discovery is retried on the next call.
#[derive(Clone)]
pub struct OidcProvider {
    config: Arc<OidcConfig>,
    http: HttpClient,
    endpoints: Arc<OnceCell<Endpoints>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("config", &self.config)
            .field("endpoints", &self.endpoints.get())
            .field("clock", self.http.clock())
            .finish()
    }
}

/// Which request an answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Password,
    Refresh,
    Other,
}

impl OidcProvider {
    /// A provider with `config` that discovers its endpoints on first use.
    pub fn new(config: OidcConfig) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            config.timeout,
            &config.user_agent,
            config.retry.clone(),
            "OIDC",
        )?;
        Ok(Self {
            config: Arc::new(config),
            http,
            endpoints: Arc::new(OnceCell::new()),
        })
    }

    /// A provider with endpoints given by hand: no discovery.
    pub fn with_endpoints(config: OidcConfig, endpoints: Endpoints) -> Result<Self, ProviderError> {
        let provider = Self::new(config)?;
        provider
            .endpoints
            .set(endpoints)
            .expect("a fresh cell is empty");
        Ok(provider)
    }

    /// The same provider waiting between retries on `clock` (use the engine's clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.http.set_clock(clock);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The server's endpoints, discovering them if not yet known: OpenID Connect Discovery
    /// (`{issuer}/.well-known/openid-configuration`), then RFC 8414
    /// (`{origin}/.well-known/oauth-authorization-server{path}`). The metadata's `issuer`
    /// must be the configured one.
    pub async fn discover(&self) -> Result<&Endpoints, ProviderError> {
        self.endpoints
            .get_or_try_init(|| self.fetch_metadata())
            .await
    }

    async fn fetch_metadata(&self) -> Result<Endpoints, ProviderError> {
        let issuer = &self.config.issuer;
        let mut oidc = issuer.clone();
        oidc.path_segments_mut()
            .expect("checked to be a base URL")
            .pop_if_empty()
            .extend([".well-known", "openid-configuration"]);
        let mut rfc8414 = issuer.clone();
        let path = issuer.path().trim_end_matches('/');
        rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        let mut last = None;
        for url in [oidc, rfc8414] {
            let answer = self.get(&url, None).await?;
            if answer.status == 200 {
                let endpoints = Endpoints::from_metadata(&answer.body)?;
                if endpoints.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
                    return Err(misconfigured(
                        "issuer_mismatch",
                        format!(
                            "the metadata at {url} is for issuer {:?}, not {:?}",
                            endpoints.issuer,
                            issuer.as_str()
                        ),
                    ));
                }
                return Ok(endpoints);
            }
            last = Some((url, answer.status));
        }
        let (url, status) = last.expect("two URLs tried");
        Err(misconfigured(
            "discovery_failed",
            format!("no server metadata at the issuer (last tried {url}: HTTP {status})"),
        ))
    }

    async fn get(&self, url: &Url, token: Option<&AccessToken>) -> Result<Answer, ProviderError> {
        let authorization = token.map(super::http::bearer).transpose()?;
        self.http
            .execute(|| {
                let request = self
                    .http
                    .reqwest()
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, super::http::ACCEPT_JSON);
                match &authorization {
                    Some(value) => request.header(reqwest::header::AUTHORIZATION, value.clone()),
                    None => request,
                }
            })
            .await
    }

    /// POSTs `fields` to `url` with client authentication `auth` as `client_id`.
    async fn post(
        &self,
        url: &Url,
        mut fields: Vec<(&str, &str)>,
        client_id: &str,
        auth: &ClientAuth,
    ) -> Result<Answer, ProviderError> {
        let basic = match auth {
            ClientAuth::None => {
                fields.push(("client_id", client_id));
                None
            }
            ClientAuth::ClientSecretPost(secret) => {
                fields.push(("client_id", client_id));
                fields.push(("client_secret", secret.expose_secret()));
                None
            }
            ClientAuth::ClientSecretBasic(secret) => Some((client_id, secret.expose_secret())),
        };
        self.http.post_form(url, &fields, basic).await
    }

    /// One token request as the configured client.
    async fn token_request(
        &self,
        fields: Vec<(&str, &str)>,
        client_id: &str,
        auth: &ClientAuth,
    ) -> Result<Result<TokenResponse, super::http::OAuthError>, ProviderError> {
        let endpoints = self.discover().await?;
        let answer = self.post(&endpoints.token, fields, client_id, auth).await?;
        if answer.status == 200 {
            Ok(Ok(parse_token_response(&answer.body)?))
        } else {
            let error = parse_error(answer.status, &answer.body)?;
            tracing::debug!(error = %error.detail, "OIDC token endpoint refused");
            Ok(Err(error))
        }
    }

    async fn grant(
        &self,
        grant: Grant,
        fields: Vec<(&str, &str)>,
        client_id: &str,
        auth: &ClientAuth,
    ) -> Result<TokenResponse, ProviderError> {
        match self.token_request(fields, client_id, auth).await? {
            Ok(token) => Ok(token),
            Err(error) => Err(classify(grant, error)),
        }
    }

    /// A refresh-token grant (RFC 6749 §6), narrowed to `scope` when given.
    async fn refresh_grant(
        &self,
        refresh_token: &RefreshToken,
        scope: Option<&str>,
    ) -> Result<TokenResponse, ProviderError> {
        let mut fields = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        fields.extend(scope.map(|scope| ("scope", scope)));
        self.grant(
            Grant::Refresh,
            fields,
            &self.config.client_id,
            &self.config.auth,
        )
        .await
    }

    /// Revokes a token (RFC 7009), e.g. when a customer is removed. Revoking an unknown or
    /// already revoked token succeeds, as the RFC says. A server without a
    /// `revocation_endpoint` is [`ProviderError::Misconfigured`].
    pub async fn revoke(&self, token: Revocable<'_>) -> Result<(), ProviderError> {
        let endpoints = self.discover().await?;
        let url = need(&endpoints.revocation, "revocation_endpoint")?;
        let (value, hint) = match token {
            Revocable::Refresh(t) => (t.expose_secret(), "refresh_token"),
            Revocable::Access(t) => (t.expose_secret(), "access_token"),
        };
        let fields = vec![("token", value), ("token_type_hint", hint)];
        let answer = self
            .post(url, fields, &self.config.client_id, &self.config.auth)
            .await?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(classify(
                Grant::Other,
                parse_error(answer.status, &answer.body)?,
            ))
        }
    }

    /// RFC 7662 introspection of `token`; an inactive token is an error.
    async fn introspect(&self, url: &Url, token: &AccessToken) -> Result<Value, ProviderError> {
        let fields = vec![
            ("token", token.expose_secret()),
            ("token_type_hint", "access_token"),
        ];
        let answer = self
            .post(url, fields, &self.config.client_id, &self.config.auth)
            .await?;
        if answer.status != 200 {
            return Err(classify(
                Grant::Other,
                parse_error(answer.status, &answer.body)?,
            ));
        }
        let claims: Value = parse_json(&answer.body)?;
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(ProviderError::Other(ProviderDetail::new(
                "invalid_token",
                "introspection says the token is not active",
            )));
        }
        Ok(claims)
    }

    async fn userinfo(&self, url: &Url, token: &AccessToken) -> Result<Value, ProviderError> {
        let answer = self.get(url, Some(token)).await?;
        match answer.status {
            200 => parse_json(&answer.body),
            401 | 403 => Err(ProviderError::Other(ProviderDetail::new(
                "invalid_token",
                format!("userinfo refused the token (HTTP {})", answer.status),
            ))),
            status => Err(classify(Grant::Other, parse_error(status, &answer.body)?)),
        }
    }

    /// Turns validated claims into the tenant (see the module docs).
    fn tenant_info(
        &self,
        endpoints: &Endpoints,
        claims: &Value,
    ) -> Result<TenantInfo, ProviderError> {
        if let Some(iss) = claims.get("iss").and_then(Value::as_str)
            && iss.trim_end_matches('/') != endpoints.issuer.trim_end_matches('/')
        {
            return Err(ProviderError::InvalidResponse(format!(
                "the token's issuer {iss:?} is not {:?}",
                endpoints.issuer
            )));
        }
        let host = self.config.issuer.host_str().unwrap_or_default().to_owned();
        let id = match &self.config.tenant_claim {
            Some(claim) => match claims.get(claim) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(ProviderError::InvalidResponse(format!(
                        "the token's claims have no tenant claim {claim:?}"
                    )));
                }
            },
            None => host.clone(),
        };
        let mut domains = vec![id.clone()];
        if host != id {
            domains.push(host);
        }
        Ok(TenantInfo {
            id,
            display_name: endpoints.issuer.clone(),
            domains,
        })
    }
}

/// Maps a refused token request onto a [`ProviderError`].
fn classify(grant: Grant, error: super::http::OAuthError) -> ProviderError {
    if grant == Grant::Password && error.detail.error == "invalid_grant" {
        return ProviderError::InvalidCredentials(error.detail);
    }
    if error.detail.error == "invalid_client" && error.status == 401 {
        return ProviderError::InvalidClientSecret(error.detail);
    }
    classify_standard(grant == Grant::Refresh, false, error)
}

/// Maps one refused device-code poll onto [`DevicePoll`], or an error.
fn classify_poll(error: super::http::OAuthError) -> Result<DevicePoll, ProviderError> {
    if let Some(poll) = standard_poll(&error.detail.error) {
        return Ok(poll);
    }
    if error.detail.error == "invalid_grant" {
        // An unknown, consumed or otherwise dead device code.
        return Ok(DevicePoll::Expired);
    }
    Err(classify(Grant::Other, error))
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    /// Revokes the refresh token (which ends the grant on most servers), then the access
    /// token. A server that lists no revocation endpoint has nothing to revoke.
    async fn revoke_tokens(
        &self,
        _target: &Target,
        tokens: &crate::model::TokenSet,
    ) -> Result<(), ProviderError> {
        if self.discover().await?.revocation.is_none() {
            return Ok(());
        }
        if let Some(refresh) = &tokens.refresh_token {
            self.revoke(Revocable::Refresh(refresh)).await?;
        }
        self.revoke(Revocable::Access(&tokens.access_token)).await
    }

    async fn device_authorization(
        &self,
        _target: &Target,
    ) -> Result<DeviceAuthorization, ProviderError> {
        let endpoints = self.discover().await?;
        let url = need(
            &endpoints.device_authorization,
            "device_authorization_endpoint",
        )?;
        let scope = self.config.scope_param();
        let answer = self
            .post(
                url,
                vec![("scope", &scope)],
                &self.config.client_id,
                &self.config.auth,
            )
            .await?;
        if answer.status == 200 {
            parse_device_authorization(&answer.body)
        } else {
            Err(classify(
                Grant::Other,
                parse_error(answer.status, &answer.body)?,
            ))
        }
    }

    async fn poll_device_code(
        &self,
        _target: &Target,
        device_code: &DeviceCode,
    ) -> Result<DevicePoll, ProviderError> {
        let fields = vec![
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device_code.expose_secret()),
        ];
        match self
            .token_request(fields, &self.config.client_id, &self.config.auth)
            .await?
        {
            Ok(token) => Ok(DevicePoll::Granted(token)),
            Err(error) => classify_poll(error),
        }
    }

    async fn password_grant(
        &self,
        _target: &Target,
        username: &str,
        password: &Password,
    ) -> Result<TokenResponse, ProviderError> {
        let scope = self.config.scope_param();
        let fields = vec![
            ("grant_type", "password"),
            ("scope", &scope),
            ("username", username),
            ("password", password.expose_secret()),
        ];
        self.grant(
            Grant::Password,
            fields,
            &self.config.client_id,
            &self.config.auth,
        )
        .await
    }

    /// The customer's own client authenticates like the configured client, except that a
    /// public configuration (`none`) uses `client_secret_basic` (which RFC 6749 §2.3.1 says
    /// every server supports).
    async fn client_credentials(
        &self,
        _target: &Target,
        client_id: &str,
        client_secret: &ClientSecret,
    ) -> Result<TokenResponse, ProviderError> {
        let auth = match self.config.auth {
            ClientAuth::ClientSecretPost(_) => ClientAuth::ClientSecretPost(client_secret.clone()),
            _ => ClientAuth::ClientSecretBasic(client_secret.clone()),
        };
        let mut fields = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.config.client_credentials_scope {
            fields.push(("scope", scope));
        }
        self.grant(Grant::Other, fields, client_id, &auth).await
    }

    async fn refresh(
        &self,
        _target: &Target,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ProviderError> {
        self.refresh_grant(refresh_token, None).await
    }

    /// A refresh-token grant with `scope` set to `scopes` (RFC 6749 §6): standard servers
    /// allow a subset of the granted scopes.
    async fn refresh_for_scopes(
        &self,
        _target: &Target,
        refresh_token: &RefreshToken,
        scopes: &Scopes,
    ) -> Result<TokenResponse, ProviderError> {
        self.refresh_grant(refresh_token, Some(scopes.as_str()))
            .await
    }

    /// An authorization request with PKCE S256 (see the module docs). Needs discovery to
    /// have run ([`OidcProvider::discover`]), an `authorization_endpoint`, and S256 among the
    /// server's `code_challenge_methods_supported` when it lists any.
    ///
    /// The request is always for the configured client ([`OidcConfig::client_id`]), the only
    /// one that can redeem the code in [`verify_admin_consent`](Self::verify_admin_consent);
    /// `request.client_id` (the customer's app in the app-registration journey) is not used:
    /// in standard OAuth 2.0 client credentials need no user consent at all.
    fn admin_consent_url(
        &self,
        _target: &Target,
        request: &AdminConsentRequest,
    ) -> Result<Url, ProviderError> {
        let endpoints = self.endpoints.get().ok_or_else(|| {
            misconfigured(
                "not_discovered",
                "the consent URL needs the server's endpoints: call OidcProvider::discover first",
            )
        })?;
        let mut url = need(&endpoints.authorization, "authorization_endpoint")?.clone();
        if !endpoints.code_challenge_methods.is_empty()
            && !endpoints.code_challenge_methods.iter().any(|m| m == "S256")
        {
            return Err(misconfigured(
                "pkce_unsupported",
                "the server does not support PKCE with S256",
            ));
        }
        if request.client_id != self.config.client_id {
            tracing::debug!(
                requested = %request.client_id,
                configured = %self.config.client_id,
                "OIDC consent is asked for the configured client, the only one that can redeem the code"
            );
        }
        let verifier = self.config.pkce_verifier(&request.state);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", request.redirect_uri.as_str())
            .append_pair("scope", &self.config.scope_param())
            .append_pair("state", request.state.expose_secret())
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "consent");
        Ok(url)
    }

    /// Checks the state, maps an `error` to [`ProviderError::ConsentDeclined`], and redeems the
    /// code with the PKCE verifier at the token endpoint (as the configured client, with
    /// [`OidcConfig::redirect_uri`]).
    async fn verify_admin_consent(
        &self,
        _target: &Target,
        expected_state: &ConsentState,
        callback: &ConsentCallback,
    ) -> Result<(), ProviderError> {
        if !callback
            .state
            .as_ref()
            .is_some_and(|s| s.ct_eq(expected_state))
        {
            return Err(ProviderError::ConsentCallback(
                "the state does not match the request",
            ));
        }
        if let Some(error) = &callback.error {
            return Err(ProviderError::ConsentDeclined(ProviderDetail::new(
                error.clone(),
                callback.error_description.clone().unwrap_or_default(),
            )));
        }
        let code: &AuthorizationCode = callback
            .code
            .as_ref()
            .ok_or(ProviderError::ConsentCallback("no authorization code"))?;
        let redirect = self.config.redirect_uri.as_ref().ok_or_else(|| {
            misconfigured(
                "missing_redirect_uri",
                "redeeming the consent code needs OidcConfig::redirect_uri",
            )
        })?;
        let verifier = self.config.pkce_verifier(expected_state);
        let fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", &verifier),
        ];
        match self
            .token_request(fields, &self.config.client_id, &self.config.auth)
            .await?
        {
            Ok(_) => Ok(()),
            Err(error) if error.detail.error == "invalid_grant" => Err(
                ProviderError::ConsentCallback("the server refused the authorization code"),
            ),
            Err(error) => Err(classify(Grant::Other, error)),
        }
    }

    async fn validate(
        &self,
        _target: &Target,
        access_token: &AccessToken,
    ) -> Result<TenantInfo, ProviderError> {
        let endpoints = self.discover().await?;
        let confidential = !matches!(self.config.auth, ClientAuth::None);
        let claims = match self.config.validation {
            Validation::Introspection => {
                let url = need(&endpoints.introspection, "introspection_endpoint")?;
                self.introspect(url, access_token).await?
            }
            Validation::Auto if confidential && endpoints.introspection.is_some() => {
                let url = need(&endpoints.introspection, "introspection_endpoint")?;
                self.introspect(url, access_token).await?
            }
            _ => {
                let url = need(&endpoints.userinfo, "userinfo_endpoint")?;
                self.userinfo(url, access_token).await?
            }
        };
        self.tenant_info(endpoints, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn metadata_and_claims_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Endpoints::from_metadata(&body);
            let provider = OidcProvider::new(OidcConfig::new("https://id.example", "c").unwrap().tenant_claim("tid")).unwrap();
            let endpoints = Endpoints::new("https://id.example", "https://id.example/token".parse().unwrap());
            if let Ok(claims) = serde_json::from_slice::<Value>(&body) {
                let _ = provider.tenant_info(&endpoints, &claims);
            }
        }
    }

    #[test]
    fn pkce_verifier_is_a_valid_rfc_7636_verifier_and_depends_on_key_and_state() {
        let config = OidcConfig::new("https://id.example", "c")
            .unwrap()
            .pkce_key([1; 32]);
        let v = config.pkce_verifier(&ConsentState::new("a"));
        assert_eq!(v.len(), 43);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(v, config.pkce_verifier(&ConsentState::new("a")));
        assert_ne!(v, config.pkce_verifier(&ConsentState::new("b")));
        assert_ne!(
            v,
            config
                .clone()
                .pkce_key([2; 32])
                .pkce_verifier(&ConsentState::new("a"))
        );
    }

    #[test]
    fn hmac_sha256_matches_a_reference_value() {
        // HMAC-SHA256 with a 32-byte key of 0x0b and "Hi There" (the message of RFC 4231 test
        // case 1 with a longer key); the value was computed with Python's hmac module.
        let key = [0x0bu8; 32];
        let mac = hmac_sha256(&key, b"Hi There");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn metadata_without_token_endpoint_is_misconfigured() {
        match Endpoints::from_metadata(br#"{"issuer":"https://id.example.com"}"#) {
            Err(ProviderError::Misconfigured(d)) => {
                assert!(d.description.contains("token_endpoint"))
            }
            other => panic!("{other:?}"),
        }
    }
}
