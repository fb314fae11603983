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
//! * browser sign-in, the authorization code grant with PKCE (S256)
//!   ([`IdentityProvider::authorization_url`] / [`IdentityProvider::redeem_code`]): see
//!   [below](#browser-sign-in);
//! * the same grant as the consent step
//!   ([`IdentityProvider::admin_consent_url`] / [`IdentityProvider::verify_admin_consent`]);
//! * token revocation (RFC 7009, [`OidcProvider::revoke`]) for customer removal;
//! * validation through the userinfo endpoint or token introspection (RFC 7662).
//!
//! Clients are confidential (`client_secret_basic`, `client_secret_post`, or `private_key_jwt`
//! with a certificate, RFC 7523) or public (`none`), see [`ClientAuth`]. A `private_key_jwt`
//! client signs one assertion per request whose `aud` is the URL of the endpoint it goes to
//! (token, device authorization, revocation, introspection), which RFC 7523 §3 allows and
//! servers such as panva's oidc-provider accept beside the issuer. The OAuth layer under it (rustls, no redirects, 1 MiB body cap, retries
//! on a [`Clock`], client authentication, the token requests) is the one the Entra provider
//! uses; this module says only what a standard server does differently: `config`,
//! `discovery`, `sign_in` (the sign-in's authorization request), `consent` (PKCE),
//! `validation` (userinfo, introspection), `revocation`, and `errors` (how its refusals read).
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
//! # Browser sign-in
//!
//! [`authorization_url`](IdentityProvider::authorization_url) is the discovered
//! `authorization_endpoint` with `response_type=code`, the configured client and scopes, the
//! engine's `redirect_uri`, `state` and S256 `code_challenge`, the invited administrator as
//! `login_hint`, and `prompt=login` (the person at the browser authenticates now, not a
//! session the browser already holds), plus `consent` when `offline_access` is among the
//! scopes, since OpenID Connect Core §11 requires it for a refresh token. Unlike the consent
//! step, it is for whoever is invited and needs no [`OidcConfig::redirect_uri`]: the engine
//! names its own ([`Config::sign_in_redirect_url`](crate::Config::sign_in_redirect_url)),
//! which must be registered for the client. It needs discovery to have run (the URL is built
//! without I/O), and S256 when the server lists its PKCE methods.
//!
//! [`redeem_code`](IdentityProvider::redeem_code) redeems the code with the engine's PKCE
//! verifier as the configured client. A standard server answers every dead code (used,
//! expired, another verifier) with the same `invalid_grant`, so it reads as
//! [`CodeRefused`](ProviderError::CodeRefused) with reason
//! [`Expired`](crate::error::CodeRefusal::Expired) (sign in again), or
//! [`VerifierMismatch`](crate::error::CodeRefusal::VerifierMismatch) when the description
//! names the verifier; never [`AlreadyRedeemed`](crate::error::CodeRefusal::AlreadyRedeemed),
//! whose reload would not help a code that merely expired. `invalid_client` is
//! [`Misconfigured`](ProviderError::Misconfigured).
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
use tokio::sync::OnceCell;
use url::Url;

mod config;
mod consent;
mod discovery;
mod errors;
mod revocation;
mod sign_in;
mod validation;

pub use super::oauth::ClientAuth;
pub use config::{OidcConfig, Validation};
pub use discovery::Endpoints;
pub use revocation::Revocable;

use super::oauth::{self, Client, Credential, HttpClient, TokenEndpoint};
use crate::error::ProviderError;
use crate::model::{
    AccessToken, AppCredential, ConsentState, CredentialExpiry, DeviceCode, Password, RefreshToken,
    Scopes, TenantInfo,
};
use crate::ports::Clock;
use crate::ports::{
    AdminConsentRequest, AuthorizationRequest, CodeRedemption, ConsentCallback,
    DeviceAuthorization, DevicePoll, IdentityProvider, Target, TokenResponse,
};
use config::misconfigured;
use discovery::need;
use errors::{DIALECT, SIGN_IN_DIALECT};

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
            .field("clock", &self.http.clock())
            .finish()
    }
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

    /// The same provider waiting between retries on `clock`, whatever clock it had.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.http.set_clock(clock);
        self
    }

    /// Waits between retries on `clock` from now on, unless it was given a clock before
    /// ([`with_clock`](Self::with_clock) or an earlier call): the first clock given wins, and
    /// clones share it. The engine hands its clock over this way, so one clock rules the
    /// journeys and the provider's retries. Returns whether `clock` was taken.
    pub fn use_clock(&self, clock: Arc<dyn Clock>) -> bool {
        self.http.use_clock(clock)
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The server's endpoints, discovering them if not yet known: OpenID Connect Discovery
    /// (`{issuer}/.well-known/openid-configuration`), then RFC 8414
    /// (`{origin}/.well-known/oauth-authorization-server{path}`). The metadata's `issuer`
    /// must be the configured one.
    ///
    /// A client configured for `private_key_jwt` is refused with
    /// [`ProviderError::Misconfigured`] (`auth_method_not_supported`) when the metadata lists
    /// its `token_endpoint_auth_methods_supported` without it: every request would fail.
    pub async fn discover(&self) -> Result<&Endpoints, ProviderError> {
        let endpoints = self
            .endpoints
            .get_or_try_init(|| discovery::fetch(&self.http, &self.config.issuer))
            .await?;
        let method = self.config.auth.method_name();
        if matches!(self.config.auth, ClientAuth::PrivateKeyJwt(_))
            && !endpoints.token_endpoint_auth_methods.is_empty()
            && !endpoints
                .token_endpoint_auth_methods
                .iter()
                .any(|m| m == method)
        {
            return Err(misconfigured(
                "auth_method_not_supported",
                format!(
                    "the server does not support {method} (its token_endpoint_auth_methods_supported: {})",
                    endpoints.token_endpoint_auth_methods.join(", ")
                ),
            ));
        }
        Ok(endpoints)
    }

    /// The endpoints discovery found, for `what` (a URL built synchronously, which cannot
    /// discover them itself).
    fn discovered(&self, what: &str) -> Result<&Endpoints, ProviderError> {
        self.endpoints.get().ok_or_else(|| {
            misconfigured(
                "not_discovered",
                format!("{what} needs the server's endpoints: call OidcProvider::discover first"),
            )
        })
    }

    /// The configured client.
    fn client(&self) -> Client<'_> {
        Client::new(&self.config.client_id, &self.config.auth)
    }

    /// The token endpoint, discovered, asked by `client`.
    async fn token_endpoint<'a>(
        &'a self,
        client: Client<'a>,
    ) -> Result<TokenEndpoint<'a>, ProviderError> {
        let endpoints = self.discover().await?;
        Ok(TokenEndpoint {
            http: &self.http,
            url: &endpoints.token,
            client,
            dialect: DIALECT,
        })
    }

    /// Revokes a token (RFC 7009), e.g. when a customer is removed. Revoking an unknown or
    /// already revoked token succeeds, as the RFC says. A server without a
    /// `revocation_endpoint` is [`ProviderError::Misconfigured`].
    pub async fn revoke(&self, token: Revocable<'_>) -> Result<(), ProviderError> {
        let endpoints = self.discover().await?;
        let url = need(&endpoints.revocation, "revocation_endpoint")?;
        revocation::revoke(&self.http, url, self.client(), token).await
    }
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    fn use_clock(&self, clock: Arc<dyn Clock>) {
        OidcProvider::use_clock(self, clock);
    }

    /// The configured client's certificate (its `notAfter`), or its secret when
    /// [`OidcConfig::client_secret_expires_at`] said when it ends.
    fn client_credential_expiry(&self) -> Option<CredentialExpiry> {
        let credential = match &self.config.auth {
            ClientAuth::None => return None,
            ClientAuth::PrivateKeyJwt(certificate) => {
                AppCredential::Certificate(certificate.clone())
            }
            ClientAuth::ClientSecretBasic(secret) | ClientAuth::ClientSecretPost(secret) => {
                AppCredential::Secret {
                    secret: secret.clone(),
                    expires_at: self.config.client_secret_expires_at,
                }
            }
        };
        credential.expiry()
    }

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
        oauth::device_authorization(&self.http, url, self.client(), &scope, DIALECT).await
    }

    async fn poll_device_code(
        &self,
        _target: &Target,
        device_code: &DeviceCode,
    ) -> Result<DevicePoll, ProviderError> {
        self.token_endpoint(self.client())
            .await?
            .poll_device_code(device_code)
            .await
    }

    async fn password_grant(
        &self,
        _target: &Target,
        username: &str,
        password: &Password,
    ) -> Result<TokenResponse, ProviderError> {
        let scope = self.config.scope_param();
        self.token_endpoint(self.client())
            .await?
            .password(&scope, username, password)
            .await
    }

    /// The customer's own client authenticates like the configured client, except that a
    /// public configuration (`none`) uses `client_secret_basic` (which RFC 6749 §2.3.1 says
    /// every server supports).
    async fn client_credentials(
        &self,
        _target: &Target,
        client_id: &str,
        credential: &AppCredential,
    ) -> Result<TokenResponse, ProviderError> {
        let credential = match self.config.auth {
            ClientAuth::ClientSecretPost(_) => {
                Credential::of_app(credential, Credential::SecretPost)
            }
            _ => Credential::of_app(credential, Credential::SecretBasic),
        };
        let client = Client {
            id: client_id,
            credential,
        };
        let scope = self.config.client_credentials_scope.as_deref();
        self.token_endpoint(client)
            .await?
            .client_credentials(scope)
            .await
    }

    async fn refresh(
        &self,
        _target: &Target,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ProviderError> {
        self.token_endpoint(self.client())
            .await?
            .refresh(refresh_token, None)
            .await
    }

    /// A refresh-token grant with `scope` set to `scopes` (RFC 6749 §6): standard servers
    /// allow a subset of the granted scopes.
    async fn refresh_for_scopes(
        &self,
        _target: &Target,
        refresh_token: &RefreshToken,
        scopes: &Scopes,
    ) -> Result<TokenResponse, ProviderError> {
        self.token_endpoint(self.client())
            .await?
            .refresh(refresh_token, Some(scopes.as_str()))
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
        let endpoints = self.discovered("the consent URL")?;
        consent::consent_url(&self.config, endpoints, request)
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
        let redemption = consent::check_callback(&self.config, expected_state, callback)?;
        self.token_endpoint(self.client())
            .await?
            .authorization_code(
                redemption.code.expose_secret(),
                redemption.redirect_uri,
                &redemption.verifier,
            )
            .await
            .map(drop)
    }

    /// A browser sign-in's authorization request (see the module docs): the configured
    /// client and scopes, the request's state, S256 challenge and `login_hint`, and
    /// `prompt=login` (plus `consent` when `offline_access` is asked for). Needs discovery to
    /// have run ([`OidcProvider::discover`]), an `authorization_endpoint`, and S256 among the
    /// server's `code_challenge_methods_supported` when it lists any; otherwise
    /// [`ProviderError::Misconfigured`].
    fn authorization_url(
        &self,
        _target: &Target,
        request: &AuthorizationRequest,
    ) -> Result<Url, ProviderError> {
        let endpoints = self.discovered("the sign-in URL")?;
        sign_in::authorization_url(&self.config, endpoints, request)
    }

    /// Redeems the code with its PKCE verifier and the request's redirect URI, as the
    /// configured client (confidential or public). A dead code (`invalid_grant`) is
    /// [`ProviderError::CodeRefused`]: see the module docs for which reason.
    async fn redeem_code(
        &self,
        _target: &Target,
        redemption: CodeRedemption<'_>,
    ) -> Result<TokenResponse, ProviderError> {
        let endpoint = TokenEndpoint {
            dialect: SIGN_IN_DIALECT,
            ..self.token_endpoint(self.client()).await?
        };
        endpoint
            .authorization_code(
                redemption.code.expose_secret(),
                redemption.redirect_uri,
                redemption.verifier.expose_secret(),
            )
            .await
    }

    async fn validate(
        &self,
        _target: &Target,
        access_token: &AccessToken,
    ) -> Result<TenantInfo, ProviderError> {
        let endpoints = self.discover().await?;
        let confidential = self.config.auth.is_confidential();
        let claims = match self.config.validation {
            Validation::Introspection => {
                let url = need(&endpoints.introspection, "introspection_endpoint")?;
                validation::introspect(&self.http, url, self.client(), access_token).await?
            }
            Validation::Auto if confidential && endpoints.introspection.is_some() => {
                let url = need(&endpoints.introspection, "introspection_endpoint")?;
                validation::introspect(&self.http, url, self.client(), access_token).await?
            }
            _ => {
                let url = need(&endpoints.userinfo, "userinfo_endpoint")?;
                validation::userinfo(&self.http, url, access_token).await?
            }
        };
        validation::tenant_info(&self.config, endpoints, &claims)
    }
}

/// Every parser of an OIDC server's answer, on `body` with HTTP `status` (for the fuzz targets
/// in `fuzz/`, through `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_responses(status: u16, body: &[u8]) {
    let _ = Endpoints::from_metadata(body);
    if let Ok(e) = oauth::parse_error(status, body) {
        let _ = (DIALECT.poll)(e.clone());
        for request in oauth::Request::ALL {
            let _ = errors::classify(request, e.clone());
            let _ = errors::classify_sign_in(request, e.clone());
        }
    }
}
