//! Microsoft Entra ID (identity platform v2) over HTTPS (feature `entra`).
//!
//! [`EntraProvider`] speaks the v2 endpoints of `login.microsoftonline.com` and one Graph call
//! (`GET /v1.0/organization`) with [`reqwest`] on rustls (no OpenSSL). It makes one logical
//! request per call: a device-code poll is a single token request, never a hidden loop.
//!
//! * Errors are decided on Entra's `error` and `error_codes` (the AADSTS numbers), never on the
//!   description text, and mapped onto [`ProviderError`]; an unknown code becomes
//!   [`ProviderError::Other`] with the raw code and description.
//! * HTTP 429 and 5xx honour `Retry-After`; timeouts and connection resets are retried with
//!   bounded exponential backoff and jitter ([`RetryPolicy`]), all attempts of one call within
//!   one deadline (default 60 s). A device-code poll is never retried inside the call: every
//!   token request for a device code is a poll (RFC 8628 §3.5). Waiting goes through a
//!   [`Clock`], so a [`ManualClock`](crate::testing::ManualClock) makes it instant in tests.
//! * Redirects are never followed; bodies over 1 MiB and malformed JSON are
//!   [`ProviderError::InvalidResponse`].
//! * Both hosts may point at `http://127.0.0.1:PORT` (a test server such as FakeEntra).
//!
//! # National clouds
//!
//! A tenant lives in one [`Cloud`]: the public one, US Government L4 (GCC High) or L5 (DoD),
//! or China (21Vianet). Each has its own authority and Graph host, its own Graph resource in
//! the `/.default` scopes, and its own registration of the MSP's application. Every request
//! for a [`Target`] goes to its tenant's cloud ([`TenantId::cloud`]: the cloud the MSP chose,
//! else the one tenant discovery found, else the public cloud), with that cloud's client id,
//! secret, hosts and scopes ([`EntraConfig::for_cloud`]): device codes and their polls, every
//! token grant, refreshes, the admin-consent and sign-in URLs, code redemption and the Graph
//! validation. A tenant in a cloud the application is not registered in
//! ([`EntraConfig::cloud_registration`]) is [`ProviderError::Misconfigured`] before any request.
//! Tenant discovery starts at the public cloud's authority, which answers for a national
//! cloud's tenant with that cloud's `cloud_instance_name` (that is how the cloud is learnt),
//! unless the tenant's cloud is already known (the MSP chose it): then it asks that cloud.
//!
//! The token requests, client authentication and retries are the shared OAuth layer's; this
//! module says what is Entra's own: `config` (authority, Graph host, scopes), `cloud` (the
//! national clouds' registrations), `codes` (how
//! AADSTS codes read) and `graph` (validation through Graph, the `tid` of a token).
//!
//! ```
//! use tenant_access::provider::entra::{EntraConfig, EntraProvider};
//! use std::time::Duration;
//!
//! let config = EntraConfig::new("11111111-2222-3333-4444-555555555555")
//!     .authority("http://127.0.0.1:8080")?
//!     .graph("http://127.0.0.1:8080")?
//!     .timeout(Duration::from_secs(10))
//!     .user_agent("northwind-portal/1.0");
//! assert_eq!(config.authority_url().as_str(), "http://127.0.0.1:8080/");
//! assert!(config.scope_list().contains(&"offline_access".to_owned()));
//! let provider = EntraProvider::new(config)?;
//! # let _ = provider;
//! # Ok::<(), tenant_access::error::ProviderError>(())
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

mod cloud;
mod codes;
mod config;
mod discovery;
mod graph;

pub use super::oauth::{DEFAULT_CALL_DEADLINE, MAX_BODY_BYTES, RetryPolicy};
pub use cloud::CloudRegistration;
pub use config::{DEFAULT_AUTHORITY, DEFAULT_GRAPH, EntraConfig, GRAPH_RESOURCE};
pub use graph::token_tenant;

use super::oauth::{self, Client, Credential, HttpClient, TokenEndpoint};
use crate::error::ProviderError;
use crate::model::Scopes;
use crate::model::{AccessToken, AppCredential, ConsentState, DeviceCode, Password, RefreshToken};
use crate::model::{Cloud, CredentialExpiry, TenantId, TenantInfo};
use crate::ports::Clock;
use crate::ports::{
    AdminConsentRequest, AuthorizationRequest, CodeRedemption, ConsentCallback,
    DeviceAuthorization, DevicePoll, IdentityProvider, Target, TenantDiscovery, TokenResponse,
    admin_consent_url, check_admin_consent,
};
use codes::DIALECT;
use graph::{application_url, graph_error, parse_application_credentials, parse_organization};

/// The Microsoft Entra ID identity provider. Cheap to clone.
#[derive(Clone)]
pub struct EntraProvider {
    config: Arc<EntraConfig>,
    http: HttpClient,
    /// What each registered cloud's requests use, the public cloud's first; built once.
    sites: Arc<[Site]>,
}

/// One registered cloud, as its requests see it.
struct Site {
    cloud: Cloud,
    /// The configuration for the cloud ([`EntraConfig::for_cloud`]).
    config: EntraConfig,
    /// Graph's `/v1.0/organization` in the cloud.
    organization: Url,
}

impl std::fmt::Debug for EntraProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraProvider")
            .field("config", &self.config)
            .field("clock", self.http.clock())
            .finish()
    }
}

impl EntraProvider {
    /// A provider with `config`; retries wait on the system clock.
    pub fn new(config: EntraConfig) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            config.timeout,
            &config.user_agent,
            config.retry.clone(),
            "Entra ID",
        )?;
        let sites = config
            .registered_clouds()
            .into_iter()
            .map(|cloud| {
                let config = config.for_cloud(cloud)?;
                let mut organization = config.graph.clone();
                organization.set_path("/v1.0/organization");
                Ok(Site {
                    cloud,
                    config,
                    organization,
                })
            })
            .collect::<Result<_, ProviderError>>()?;
        Ok(Self {
            config: Arc::new(config),
            http,
            sites,
        })
    }

    /// Where requests for `tenant` go: its cloud's site, or
    /// [`ProviderError::Misconfigured`] when the application is not registered there.
    fn site(&self, tenant: &TenantId) -> Result<&Site, ProviderError> {
        let cloud = tenant.cloud();
        match self.sites.iter().find(|site| site.cloud == cloud) {
            Some(site) => Ok(site),
            None => Err(cloud::unregistered(cloud)),
        }
    }

    /// The configuration requests for `target` use (its tenant's cloud's).
    fn config_for(&self, target: &Target) -> Result<&EntraConfig, ProviderError> {
        Ok(&self.site(&target.tenant)?.config)
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
    pub fn config(&self) -> &EntraConfig {
        &self.config
    }

    /// `GET url` on Graph with `access_token`: the body of a 200, else Graph's error.
    async fn graph_get(
        &self,
        url: &Url,
        access_token: &AccessToken,
    ) -> Result<oauth::Answer, ProviderError> {
        // Built once per token and shared: no formatting, checking or copying of the token.
        let authorization = oauth::bearer(access_token)?;
        let answer = self
            .http
            .execute(|| {
                self.http
                    .reqwest()
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, oauth::ACCEPT_JSON)
                    .header(reqwest::header::AUTHORIZATION, authorization.clone())
            })
            .await?;
        if answer.status != 200 {
            return Err(graph_error(answer.status, &answer.body));
        }
        Ok(answer)
    }

    /// The token endpoint of `url` (a tenant's), asked by `client`.
    fn token_endpoint<'a>(&'a self, url: &'a Url, client: Client<'a>) -> TokenEndpoint<'a> {
        TokenEndpoint {
            http: &self.http,
            url,
            client,
            dialect: DIALECT,
        }
    }
}

#[async_trait]
impl IdentityProvider for EntraProvider {
    fn use_clock(&self, clock: Arc<dyn Clock>) {
        EntraProvider::use_clock(self, clock);
    }

    fn client_credential_expiry(&self) -> Option<CredentialExpiry> {
        self.config.client_credential_expiry()
    }

    /// Reads the tenant's anonymous OpenID configuration: the GUID from its `issuer`, and its
    /// cloud (`cloud_instance_name`, `msgraph_host`, `tenant_region_scope`). HTTP 400
    /// `invalid_tenant` (AADSTS90002) is [`TenantDiscovery::Unknown`]. Transient faults are
    /// retried within the call's deadline, as for every other request.
    async fn discover_tenant(&self, tenant: &TenantId) -> Result<TenantDiscovery, ProviderError> {
        let url = self
            .site(tenant)?
            .config
            .openid_configuration_url(tenant.as_str());
        let answer = self.http.get(&url, None).await?;
        discovery::read_discovery(answer.status, &answer.body)
    }

    async fn device_authorization(
        &self,
        target: &Target,
    ) -> Result<DeviceAuthorization, ProviderError> {
        let config = self.config_for(target)?;
        let url = config.device_url(target.tenant.as_str());
        let scope = config.scope_param();
        let client = config.public_client();
        oauth::device_authorization(&self.http, &url, client, &scope, DIALECT).await
    }

    async fn poll_device_code(
        &self,
        target: &Target,
        device_code: &DeviceCode,
    ) -> Result<DevicePoll, ProviderError> {
        let config = self.config_for(target)?;
        let url = config.token_url(target.tenant.as_str());
        self.token_endpoint(&url, config.public_client())
            .poll_device_code(device_code)
            .await
    }

    async fn password_grant(
        &self,
        target: &Target,
        username: &str,
        password: &Password,
    ) -> Result<TokenResponse, ProviderError> {
        let config = self.config_for(target)?;
        let url = config.token_url(target.tenant.as_str());
        let scope = config.scope_param();
        self.token_endpoint(&url, config.confidential_client())
            .password(&scope, username, password)
            .await
    }

    async fn client_credentials(
        &self,
        target: &Target,
        client_id: &str,
        credential: &AppCredential,
    ) -> Result<TokenResponse, ProviderError> {
        let config = self.config_for(target)?;
        let url = config.token_url(target.tenant.as_str());
        let scope = config.default_scope();
        let client = Client {
            id: client_id,
            credential: Credential::of_app(credential, Credential::SecretPost),
        };
        self.token_endpoint(&url, client)
            .client_credentials(Some(&scope))
            .await
    }

    async fn refresh(
        &self,
        target: &Target,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ProviderError> {
        let config = self.config_for(target)?;
        let url = config.token_url(target.tenant.as_str());
        let scope = config.scope_param();
        self.token_endpoint(&url, config.confidential_client())
            .refresh(refresh_token, Some(&scope))
            .await
    }

    /// A refresh-token grant with `scope` set to `scopes` plus `offline_access`: Entra ID
    /// issues an access token for that resource and a new refresh token. Microsoft Graph
    /// scopes (`https://graph.microsoft.com/…`) are sent naming the tenant's cloud's Graph;
    /// other resources' scopes (Azure Resource Manager's, say) are sent as given, so the
    /// caller names the national cloud's resource for a national cloud's tenant.
    async fn refresh_for_scopes(
        &self,
        target: &Target,
        refresh_token: &RefreshToken,
        scopes: &Scopes,
    ) -> Result<TokenResponse, ProviderError> {
        let config = self.config_for(target)?;
        // Graph scopes name the tenant's cloud's Graph; other resources are the caller's.
        let mut scope = (scopes.iter())
            .map(|s| config.in_cloud(s))
            .collect::<Vec<_>>()
            .join(" ");
        if !scopes.iter().any(|s| s == "offline_access") {
            scope.push_str(" offline_access");
        }
        let url = config.token_url(target.tenant.as_str());
        self.token_endpoint(&url, config.confidential_client())
            .refresh(refresh_token, Some(&scope))
            .await
    }

    fn admin_consent_url(
        &self,
        target: &Target,
        request: &AdminConsentRequest,
    ) -> Result<Url, ProviderError> {
        let config = self.config_for(target)?;
        // The MSP's own application is registered anew in each cloud: consent goes to its
        // registration in the tenant's cloud. Any other application is the caller's to name.
        let client_id = if request.client_id == self.config.client_id() {
            config.client_id()
        } else {
            &request.client_id
        };
        admin_consent_url(
            &config.authority,
            target.tenant.as_str(),
            client_id,
            &config.default_scope(),
            &request.redirect_uri,
            &request.state,
        )
    }

    async fn verify_admin_consent(
        &self,
        target: &Target,
        expected_state: &ConsentState,
        callback: &ConsentCallback,
    ) -> Result<(), ProviderError> {
        check_admin_consent(target, expected_state, callback)
    }

    /// `{authority}/{tenant}/oauth2/v2.0/authorize` with the code flow's parameters, the
    /// configured scopes (the device code's), `response_mode=query`, the S256 challenge, the
    /// administrator as `login_hint` and `prompt=select_account`, so a browser already signed
    /// in to another account (the MSP technician's own) offers a choice instead of using it.
    fn authorization_url(
        &self,
        target: &Target,
        request: &AuthorizationRequest,
    ) -> Result<Url, ProviderError> {
        let config = self.config_for(target)?;
        let mut url = config.authorize_url(target.tenant.as_str());
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("client_id", config.client_id())
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", request.redirect_uri.as_str())
                .append_pair("response_mode", "query")
                .append_pair("scope", &config.scope_param())
                .append_pair("state", request.state.expose_secret())
                .append_pair("code_challenge", &request.code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = &request.login_hint {
                pairs.append_pair("login_hint", hint);
            }
            pairs.append_pair("prompt", "select_account");
        }
        Ok(url)
    }

    /// An authorization-code grant at the tenant's token endpoint as the MSP's confidential
    /// client (its secret when configured), with the PKCE verifier and the same scopes as the
    /// authorization request.
    async fn redeem_code(
        &self,
        target: &Target,
        redemption: CodeRedemption<'_>,
    ) -> Result<TokenResponse, ProviderError> {
        let config = self.config_for(target)?;
        let url = config.token_url(target.tenant.as_str());
        let scope = config.scope_param();
        self.token_endpoint(&url, config.confidential_client())
            .authorization_code_for(
                redemption.code.expose_secret(),
                redemption.redirect_uri,
                redemption.verifier.expose_secret(),
                Some(&scope),
            )
            .await
    }

    /// `GET {graph}/v1.0/applications(appId='{client_id}')?$select=passwordCredentials,keyCredentials`
    /// with `access_token` (a token of the tenant the application lives in: the customer's
    /// for their app registration, the MSP's for its own): each secret's and certificate's
    /// `endDateTime`, named by its `displayName`, secret `hint` and `keyId`. Graph's 403
    /// (no `Application.Read.All`, not an owner) is [`ProviderError::ConsentRequired`], as
    /// every Graph 403 is: the permission was not granted; 404 (no such application in that
    /// tenant) is [`ProviderError::Other`] with Graph's code.
    async fn app_credential_expiry(
        &self,
        target: &Target,
        access_token: &AccessToken,
        client_id: &str,
    ) -> Result<Vec<CredentialExpiry>, ProviderError> {
        // The application's record lives in the Graph of the tenant's cloud.
        let url = application_url(&self.config_for(target)?.graph, client_id)?;
        let answer = self.graph_get(&url, access_token).await?;
        parse_application_credentials(&answer.body)
    }

    async fn validate(
        &self,
        target: &Target,
        access_token: &AccessToken,
    ) -> Result<TenantInfo, ProviderError> {
        // Graph of the tenant's cloud: a token of one cloud means nothing to another's Graph.
        let url = &self.site(&target.tenant)?.organization;
        let answer = self.graph_get(url, access_token).await?;
        // Graph answers for the tenant the token was issued in (its `tid`), so the answer is
        // the proof; the caller checks it is the invited tenant. Decoding the token's claims
        // here too would prove nothing more and cost a base64 and JSON pass on every
        // verification.
        parse_organization(&answer.body)
    }
}

/// Every parser of an Entra ID answer, on `body` with HTTP `status` (for the fuzz targets in
/// `fuzz/`, through `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_responses(status: u16, body: &[u8]) {
    use oauth::{parse_device_authorization, parse_error, parse_token_response};
    let _ = parse_token_response(body);
    let _ = parse_device_authorization(body);
    let _ = parse_organization(body);
    let _ = graph_error(status, body);
    if let Ok(e) = parse_error(status, body) {
        let _ = codes::classify_poll(e.clone());
        for request in oauth::Request::ALL {
            let _ = codes::classify(request, e.clone());
        }
    }
    let _ = token_tenant(&String::from_utf8_lossy(body));
    let _ = discovery::read_discovery(status, body);
    let _ = discovery::read_discovery(200, body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::oauth::{parse_device_authorization, parse_error, parse_token_response};
    use proptest::prelude::*;

    /// verify_all allocates this future once per customer. glibc's allocator keeps freed
    /// blocks of up to 1,032 bytes in a per-thread cache; a bigger one is freed through the
    /// shared bins, merging neighbours each time. It was 1,048 bytes (the request builder was
    /// carried to the end of every request), and those frees cost about 1,600 instructions
    /// per verification.
    #[test]
    fn the_validate_future_fits_the_allocators_thread_cache() {
        let entra = EntraProvider::new(EntraConfig::new("client")).unwrap();
        let target = Target {
            customer: crate::CustomerId::new("contoso").unwrap(),
            tenant: crate::TenantId::new("contoso.com").unwrap(),
        };
        let token = AccessToken::new("t");
        let future = entra.validate(&target, &token);
        let size = std::mem::size_of_val(&*future);
        assert!(
            size <= 1_000,
            "EntraProvider::validate's future is {size} bytes"
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_token_response(&body);
            let _ = parse_device_authorization(&body);
            let _ = parse_organization(&body);
            let _ = graph_error(401, &body);
            if let Ok(e) = parse_error(400, &body) {
                let _ = codes::classify_poll(e.clone());
                let _ = codes::classify(oauth::Request::Refresh, e);
            }
            let _ = token_tenant(&String::from_utf8_lossy(&body));
            let _ = discovery::read_discovery(200, &body);
            let _ = discovery::read_discovery(400, &body);
        }

        #[test]
        fn parsers_never_panic_on_json_shaped_bodies(
            error in "[a-z_]{0,24}",
            codes in proptest::collection::vec(any::<i64>(), 0..4),
            expires in any::<i64>(),
            interval in any::<f64>(),
        ) {
            let body = serde_json::json!({
                "error": error, "error_codes": codes, "expires_in": expires,
                "interval": interval, "access_token": "x", "device_code": "d",
                "user_code": "u", "verification_uri": "https://microsoft.com/devicelogin",
            }).to_string();
            let _ = parse_token_response(body.as_bytes());
            let _ = parse_device_authorization(body.as_bytes());
            if let Ok(e) = parse_error(400, body.as_bytes()) {
                let _ = codes::classify_poll(e);
            }
        }
    }
}
