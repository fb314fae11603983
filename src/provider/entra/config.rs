//! What an [`EntraProvider`](super::EntraProvider) talks to and as whom: the authority and
//! Graph hosts, the MSP's application, its scopes, and the HTTP settings.
//!
//! An [`EntraConfig`] made with [`EntraConfig::new`] is the MSP's application in the public
//! cloud ([`Cloud::Global`](crate::model::Cloud::Global)): [`authority`](EntraConfig::authority),
//! [`graph`](EntraConfig::graph), [`client_secret`](EntraConfig::client_secret) and the scopes
//! are that cloud's. The application's registrations in national clouds are added with
//! [`EntraConfig::cloud_registration`] (see `cloud.rs`).

use oauth2::{ClientId, Scope};
use url::Url;

use crate::error::{ProviderDetail, ProviderError};
use crate::model::{AppCredential, ClientCertificate, ClientSecret, CredentialExpiry};
use crate::provider::oauth::{Client, Credential, RetryPolicy};

/// The public cloud's authority host.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The public cloud's Microsoft Graph host.
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com";
/// Microsoft Graph's resource identifier, used in `/.default` scopes whatever the Graph host.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// What an [`EntraProvider`](super::EntraProvider) talks to and as whom.
#[derive(Clone)]
pub struct EntraConfig {
    pub(super) authority: Url,
    pub(super) graph: Url,
    pub(super) resource: String,
    pub(super) client_id: ClientId,
    pub(super) client_secret: Option<ClientSecret>,
    /// When the client secret stops working, if the MSP said.
    pub(super) client_secret_expires_at: Option<time::OffsetDateTime>,
    /// The MSP application's certificate, sent as a client assertion instead of a secret.
    pub(super) client_certificate: Option<ClientCertificate>,
    pub(super) scopes: Vec<Scope>,
    pub(super) timeout: std::time::Duration,
    pub(super) user_agent: String,
    pub(super) retry: RetryPolicy,
    /// The application's registrations in the national clouds (`cloud.rs`).
    pub(super) clouds: Vec<(crate::model::Cloud, super::cloud::CloudRegistration)>,
}

impl std::fmt::Debug for EntraConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraConfig")
            .field("authority", &self.authority.as_str())
            .field("graph", &self.graph.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("client_secret", &self.client_secret)
            .field("client_secret_expires_at", &self.client_secret_expires_at)
            .field("client_certificate", &self.client_certificate)
            .field("scopes", &self.scope_list())
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("clouds", &self.clouds)
            .finish()
    }
}

pub(super) fn host_url(text: &str) -> Result<Url, ProviderError> {
    let bad = |why: String| {
        ProviderError::Misconfigured(ProviderDetail::new(
            "invalid_host",
            format!("{text:?} {why}"),
        ))
    };
    let url = Url::parse(text).map_err(|e| bad(format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad("is not an http(s) URL".into()));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must be a bare host, without path or query".into()));
    }
    Ok(url)
}

impl EntraConfig {
    /// A configuration for the MSP's application `client_id` on the public cloud, with the
    /// default delegated scopes (`https://graph.microsoft.com/.default offline_access openid
    /// profile`), a 30 s timeout and the default [`RetryPolicy`].
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            authority: Url::parse(DEFAULT_AUTHORITY).expect("static URL"),
            graph: Url::parse(DEFAULT_GRAPH).expect("static URL"),
            resource: GRAPH_RESOURCE.to_owned(),
            client_id: ClientId::new(client_id.into()),
            client_secret: None,
            client_secret_expires_at: None,
            client_certificate: None,
            scopes: [
                &format!("{GRAPH_RESOURCE}/.default"),
                "offline_access",
                "openid",
                "profile",
            ]
            .iter()
            .map(|s| Scope::new((*s).to_owned()))
            .collect(),
            timeout: std::time::Duration::from_secs(30),
            user_agent: concat!("tenant-access/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            clouds: Vec::new(),
        }
    }

    /// The authority host (default `https://login.microsoftonline.com`); a bare
    /// `http(s)://host[:port]`.
    pub fn authority(mut self, url: &str) -> Result<Self, ProviderError> {
        self.authority = host_url(url)?;
        Ok(self)
    }

    /// The Microsoft Graph host (default `https://graph.microsoft.com`).
    pub fn graph(mut self, url: &str) -> Result<Self, ProviderError> {
        self.graph = host_url(url)?;
        Ok(self)
    }

    /// The MSP application's client secret, sent with the password, refresh and
    /// authorization-code grants (confidential client). Device-code requests never carry it.
    /// The MSP's application authenticates with a secret or a certificate, not both: this
    /// drops a [`client_certificate`](Self::client_certificate) given before.
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.client_secret = Some(secret);
        self.client_certificate = None;
        self
    }

    /// When the [`client_secret`](Self::client_secret) stops working (Entra shows it on the
    /// app registration's *Certificates & secrets* page), so that
    /// [`client_credential_expiry`](crate::ports::IdentityProvider::client_credential_expiry)
    /// can warn before it does.
    pub fn client_secret_expires_at(mut self, expires_at: time::OffsetDateTime) -> Self {
        self.client_secret_expires_at = Some(expires_at);
        self
    }

    /// The MSP application's certificate (`private_key_jwt`, RFC 7523), which Microsoft
    /// recommends over a secret: wherever a secret would be sent (password, refresh and
    /// authorization-code grants), a client assertion signed with its key for that tenant's
    /// token endpoint is sent instead. Device-code requests stay public, as with a secret
    /// (Entra refuses a credential on a public-client flow, AADSTS700025). This drops a
    /// [`client_secret`](Self::client_secret) given before.
    pub fn client_certificate(mut self, certificate: ClientCertificate) -> Self {
        self.client_certificate = Some(certificate);
        self.client_secret = None;
        self.client_secret_expires_at = None;
        self
    }

    /// The delegated scopes asked for (device code, password, refresh). Add
    /// `offline_access` to get a refresh token.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(|s| Scope::new(s.into())).collect();
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

    /// How transient faults are retried, and one call's deadline across all its attempts
    /// ([`RetryPolicy::deadline`], default 60 s). Device-code polls are never retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The authority host.
    pub fn authority_url(&self) -> &Url {
        &self.authority
    }

    /// The Graph host.
    pub fn graph_url(&self) -> &Url {
        &self.graph
    }

    /// The MSP application's client id.
    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }

    /// The delegated scopes.
    pub fn scope_list(&self) -> Vec<String> {
        self.scopes.iter().map(|s| s.as_ref().to_owned()).collect()
    }

    pub(super) fn scope_param(&self) -> String {
        self.scope_list()
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn default_scope(&self) -> String {
        format!("{}/.default", self.resource)
    }

    fn tenant_endpoint(&self, tenant: &str, tail: &[&str]) -> Url {
        let mut url = self.authority.clone();
        url.path_segments_mut()
            .expect("checked to be a base URL")
            .pop_if_empty()
            .push(tenant)
            .extend(tail);
        url
    }

    pub(super) fn token_url(&self, tenant: &str) -> Url {
        self.tenant_endpoint(tenant, &["oauth2", "v2.0", "token"])
    }

    pub(super) fn openid_configuration_url(&self, tenant: &str) -> Url {
        self.tenant_endpoint(tenant, &["v2.0", ".well-known", "openid-configuration"])
    }

    pub(super) fn authorize_url(&self, tenant: &str) -> Url {
        self.tenant_endpoint(tenant, &["oauth2", "v2.0", "authorize"])
    }

    pub(super) fn device_url(&self, tenant: &str) -> Url {
        self.tenant_endpoint(tenant, &["oauth2", "v2.0", "devicecode"])
    }

    /// The MSP's application as a public client: device-code requests never carry a secret.
    pub(super) fn public_client(&self) -> Client<'_> {
        Client::public(self.client_id.as_str())
    }

    /// The MSP's application with its certificate or secret when it has one (password,
    /// refresh and authorization-code grants).
    pub(super) fn confidential_client(&self) -> Client<'_> {
        match &self.client_certificate {
            Some(certificate) => Client {
                id: self.client_id.as_str(),
                credential: Credential::Assertion(certificate),
            },
            None => Client::secret_post(self.client_id.as_str(), self.client_secret.as_ref()),
        }
    }

    /// The MSP application's credential and when it stops working, where that is known: the
    /// certificate's `notAfter`, or the secret's configured end date.
    pub(super) fn client_credential_expiry(&self) -> Option<CredentialExpiry> {
        let credential = match (&self.client_certificate, &self.client_secret) {
            (Some(certificate), _) => AppCredential::Certificate(certificate.clone()),
            (None, Some(secret)) => AppCredential::Secret {
                secret: secret.clone(),
                expires_at: self.client_secret_expires_at,
            },
            (None, None) => return None,
        };
        credential.expiry()
    }
}
