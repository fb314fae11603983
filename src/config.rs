//! [`Config`]: what the journeys need to know about the MSP's portal.

use time::Duration;
use url::Url;

use crate::error::ConfigError;

/// What the engine needs to know about the MSP's portal.
///
/// ```
/// use tenant_access::Config;
/// use time::Duration;
///
/// let config = Config::new("https://portal.example.com")?
///     .msp_name("Northwind IT")
///     .invitation_lifetime(Duration::days(3))
///     .consent_client_id("11111111-2222-3333-4444-555555555555")
///     .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")?;
/// assert_eq!(
///     config.link_base().as_str(),
///     "https://portal.example.com/invitation/"
/// );
/// # Ok::<(), tenant_access::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    invitation_link_base: Url,
    invitation_lifetime: Duration,
    consent_client_id: Option<String>,
    consent_redirect_url: Option<Url>,
    msp_name: String,
    refresh_ahead: Duration,
    refresh_lease: Duration,
    reinvite_on_reauth: bool,
}

impl Config {
    /// A configuration for the portal at `portal_url` (http or https). Invitation links are
    /// `{portal_url}/invitation/{code}`; invitations live 7 days.
    pub fn new(portal_url: &str) -> Result<Self, ConfigError> {
        let invitation_link_base = directory_url(portal_url)?
            .join("invitation/")
            .map_err(|e| ConfigError::PortalUrl(e.to_string()))?;
        Ok(Self {
            invitation_link_base,
            invitation_lifetime: Duration::days(7),
            consent_client_id: None,
            consent_redirect_url: None,
            msp_name: "Your IT provider".to_owned(),
            refresh_ahead: Duration::minutes(5),
            refresh_lease: Duration::seconds(30),
            reinvite_on_reauth: false,
        })
    }

    /// Sets where invitation links point: the code is appended to this URL as a path segment.
    pub fn invitation_links_at(mut self, url: &str) -> Result<Self, ConfigError> {
        self.invitation_link_base = directory_url(url)?;
        Ok(self)
    }

    /// How long an invitation link works after it is sent (default 7 days).
    pub fn invitation_lifetime(mut self, lifetime: Duration) -> Self {
        self.invitation_lifetime = lifetime;
        self
    }

    /// The MSP's application (client) id that customers' admins consent to in the password
    /// journey.
    pub fn consent_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.consent_client_id = Some(client_id.into());
        self
    }

    /// Where admin consent sends the administrator back, e.g.
    /// `https://portal.example.com/authenticate/OAuth2Callback`.
    pub fn consent_redirect_url(mut self, url: &str) -> Result<Self, ConfigError> {
        self.consent_redirect_url = Some(parse_http_url(url).map_err(ConfigError::PortalUrl)?);
        Ok(self)
    }

    /// The MSP's name, used in invitation emails.
    pub fn msp_name(mut self, name: impl Into<String>) -> Self {
        self.msp_name = name.into();
        self
    }

    /// How long before expiry [`TenantAccess::access_token`](crate::TenantAccess::access_token) refreshes a token (default
    /// 5 minutes).
    pub fn refresh_ahead(mut self, margin: Duration) -> Self {
        self.refresh_ahead = margin;
        self
    }

    /// How long a replica's claim on a token refresh lasts if it never finishes (default
    /// 30 seconds). While the claim runs, other replicas wait for its result instead of
    /// refreshing too; after it lapses (the holder crashed) another replica takes over.
    pub fn refresh_lease(mut self, lease: Duration) -> Self {
        self.refresh_lease = lease;
        self
    }

    /// The refresh lease duration.
    pub fn lease_duration(&self) -> Duration {
        self.refresh_lease
    }

    /// Whether a dead refresh token automatically sends the customer a fresh device-code
    /// invitation (default: no; the journey waits in
    /// [`ReauthRequired`](crate::model::ReauthRequired) for the MSP).
    pub fn reinvite_on_reauth(mut self, yes: bool) -> Self {
        self.reinvite_on_reauth = yes;
        self
    }

    /// The refresh-ahead margin.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_ahead
    }

    /// Whether re-authentication sends a fresh invitation automatically.
    pub fn reinvites_on_reauth(&self) -> bool {
        self.reinvite_on_reauth
    }

    /// The URL invitation codes are appended to.
    pub fn link_base(&self) -> &Url {
        &self.invitation_link_base
    }

    /// How long an invitation link works.
    pub fn lifetime(&self) -> Duration {
        self.invitation_lifetime
    }

    /// The MSP's name.
    pub fn msp(&self) -> &str {
        &self.msp_name
    }

    /// The consent client id, or the error that says it is missing.
    pub fn require_consent_client_id(&self) -> Result<&str, ConfigError> {
        self.consent_client_id
            .as_deref()
            .ok_or(ConfigError::MissingConsentClientId)
    }

    /// The consent redirect URL, or the error that says it is missing.
    pub fn require_consent_redirect_url(&self) -> Result<&Url, ConfigError> {
        self.consent_redirect_url
            .as_ref()
            .ok_or(ConfigError::MissingConsentRedirectUrl)
    }
}

impl Config {
    /// Checks the durations: a positive invitation lifetime and refresh lease, a refresh-ahead
    /// margin that is not negative.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !self.invitation_lifetime.is_positive() {
            return Err(ConfigError::NotPositive("the invitation lifetime"));
        }
        if self.refresh_ahead.is_negative() {
            return Err(ConfigError::NotPositive("the refresh-ahead margin"));
        }
        if !self.refresh_lease.is_positive() {
            return Err(ConfigError::NotPositive("the refresh lease"));
        }
        Ok(())
    }
}

fn directory_url(text: &str) -> Result<Url, ConfigError> {
    let mut url = parse_http_url(text).map_err(ConfigError::PortalUrl)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!("{text:?} is not an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(url)
}
