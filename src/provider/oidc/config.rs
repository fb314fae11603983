//! What an [`OidcProvider`](super::OidcProvider) talks to and as whom, and how it validates.

use url::Url;

use crate::error::{ProviderDetail, ProviderError};
use crate::provider::oauth::{ClientAuth, RetryPolicy};

/// How [`validate`](crate::ports::IdentityProvider::validate) proves a token works.
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

/// What an [`OidcProvider`](super::OidcProvider) talks to and as whom.
#[derive(Clone)]
pub struct OidcConfig {
    pub(super) issuer: Url,
    pub(super) client_id: String,
    pub(super) auth: ClientAuth,
    pub(super) client_secret_expires_at: Option<time::OffsetDateTime>,
    pub(super) scopes: Vec<String>,
    pub(super) client_credentials_scope: Option<String>,
    pub(super) redirect_uri: Option<Url>,
    pub(super) tenant_claim: Option<String>,
    pub(super) validation: Validation,
    pub(super) pkce_key: [u8; 32],
    pub(super) timeout: std::time::Duration,
    pub(super) user_agent: String,
    pub(super) retry: RetryPolicy,
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

/// A configuration error named `error`.
pub(super) fn misconfigured(error: &str, description: impl Into<String>) -> ProviderError {
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
            client_secret_expires_at: None,
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

    /// When the client secret of [`client_auth`](Self::client_auth) stops working, so that
    /// [`client_credential_expiry`](crate::ports::IdentityProvider::client_credential_expiry)
    /// can warn before it does (a certificate's `notAfter` is read from the certificate).
    pub fn client_secret_expires_at(mut self, expires_at: time::OffsetDateTime) -> Self {
        self.client_secret_expires_at = Some(expires_at);
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

    /// How transient faults are retried, and one call's deadline across all its attempts
    /// ([`RetryPolicy::deadline`], default 60 s). Device-code polls are never retried.
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

    /// The delegated scopes as one `scope` parameter.
    pub(super) fn scope_param(&self) -> String {
        self.scopes
            .iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}
