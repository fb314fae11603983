//! [`Config`]: what the journeys need to know about the MSP's portal, built and checked by
//! [`ConfigBuilder`].
//!
//! Each setting has one name: the builder's setter and the config's getter share it
//! (`ConfigBuilder::msp_name` sets what `Config::msp_name` reads).

use crate::model::HealthPolicy;
use std::time::Duration;
use url::Url;

use crate::error::ConfigError;

/// What the engine needs to know about the MSP's portal.
///
/// Made by [`Config::builder`] (or [`Config::new`] for all defaults), so every `Config` has
/// passed [`ConfigBuilder::build`]'s checks. Each getter has the name of the
/// [`ConfigBuilder`] setter that sets it.
///
/// ```
/// use tenant_access::Config;
/// use std::time::Duration;
///
/// let config = Config::builder("https://portal.example.com")
///     .msp_name("Northwind IT")
///     .invitation_lifetime(Duration::from_secs(3 * 86_400))
///     .consent_client_id("11111111-2222-3333-4444-555555555555")
///     .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")
///     .build()?;
/// assert_eq!(
///     config.invitation_links_at().as_str(),
///     "https://portal.example.com/invitation/"
/// );
/// assert_eq!(config.msp_name(), "Northwind IT");
/// assert_eq!(config.invitation_lifetime(), Duration::from_secs(3 * 86_400));
/// # Ok::<(), tenant_access::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    invitation_links_at: Url,
    invitation_lifetime: Duration,
    consent_client_id: Option<String>,
    consent_redirect_url: Option<Url>,
    sign_in_redirect_url: Option<Url>,
    browser_sign_in_lifetime: Duration,
    credential_warning: Duration,
    msp_name: String,
    refresh_ahead: Duration,
    refresh_lease: Duration,
    reinvite_on_reauth: bool,
    health: HealthPolicy,
    notify_channels: Vec<String>,
}

/// Builds a [`Config`]: one setter per setting, named as the [`Config`] getter that reads it.
///
/// Setters do not fail; [`build`](Self::build) checks everything at once (the URLs, and the
/// durations) and says what is wrong as a [`ConfigError`].
///
/// ```
/// use tenant_access::{Config, ConfigError};
/// use std::time::Duration;
///
/// let built = Config::builder("https://portal.example.com")
///     .refresh_lease(Duration::ZERO)
///     .build();
/// assert_eq!(built.unwrap_err(), ConfigError::NotPositive("the refresh lease"));
/// assert!(Config::builder("ftp://portal.example.com").build().is_err());
/// ```
#[derive(Debug, Clone)]
#[must_use = "a ConfigBuilder does nothing until `build` is called"]
pub struct ConfigBuilder {
    portal_url: String,
    invitation_links_at: Option<String>,
    invitation_lifetime: Duration,
    consent_client_id: Option<String>,
    consent_redirect_url: Option<String>,
    sign_in_redirect_url: Option<String>,
    browser_sign_in_lifetime: Duration,
    credential_warning: Duration,
    msp_name: String,
    refresh_ahead: Duration,
    refresh_lease: Duration,
    reinvite_on_reauth: bool,
    health: HealthPolicy,
    notify_channels: Vec<String>,
}

impl Config {
    /// Starts a configuration for the portal at `portal_url` (http or https), with every
    /// setting at its default: invitation links are `{portal_url}/invitation/{code}` and live
    /// 7 days. The URL is checked by [`ConfigBuilder::build`].
    ///
    /// ```
    /// use tenant_access::Config;
    /// let config = Config::builder("https://portal.example.com/msp")
    ///     .msp_name("Northwind IT")
    ///     .build()?;
    /// assert_eq!(
    ///     config.invitation_links_at().as_str(),
    ///     "https://portal.example.com/msp/invitation/"
    /// );
    /// # Ok::<(), tenant_access::ConfigError>(())
    /// ```
    pub fn builder(portal_url: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder {
            portal_url: portal_url.into(),
            invitation_links_at: None,
            invitation_lifetime: Duration::from_secs(7 * 86_400),
            consent_client_id: None,
            consent_redirect_url: None,
            sign_in_redirect_url: None,
            browser_sign_in_lifetime: Duration::from_secs(15 * 60),
            credential_warning: Duration::from_secs(30 * 86_400),
            msp_name: "Your IT provider".to_owned(),
            refresh_ahead: Duration::from_secs(5 * 60),
            refresh_lease: Duration::from_secs(30),
            reinvite_on_reauth: false,
            health: HealthPolicy::default(),
            notify_channels: Vec::new(),
        }
    }

    /// The configuration for the portal at `portal_url` with every setting at its default:
    /// shorthand for `Config::builder(portal_url).build()`.
    ///
    /// ```
    /// use tenant_access::Config;
    /// let config = Config::new("https://portal.example.com")?;
    /// assert_eq!(config.msp_name(), "Your IT provider");
    /// assert!(Config::new("not a url").is_err());
    /// # Ok::<(), tenant_access::ConfigError>(())
    /// ```
    pub fn new(portal_url: &str) -> Result<Self, ConfigError> {
        Self::builder(portal_url).build()
    }

    /// The URL invitation codes are appended to (default `{portal_url}/invitation/`).
    pub fn invitation_links_at(&self) -> &Url {
        &self.invitation_links_at
    }

    /// How long an invitation link works after it is sent (default 7 days).
    pub fn invitation_lifetime(&self) -> Duration {
        self.invitation_lifetime
    }

    /// The MSP's application (client) id that customers' admins consent to in the password
    /// journey, or [`ConfigError::MissingConsentClientId`] when none is configured.
    ///
    /// ```
    /// use tenant_access::{Config, ConfigError};
    /// let config = Config::new("https://portal.example.com")?;
    /// assert_eq!(config.consent_client_id(), Err(ConfigError::MissingConsentClientId));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn consent_client_id(&self) -> Result<&str, ConfigError> {
        self.consent_client_id
            .as_deref()
            .ok_or(ConfigError::MissingConsentClientId)
    }

    /// Where admin consent sends the administrator back, or
    /// [`ConfigError::MissingConsentRedirectUrl`] when none is configured.
    pub fn consent_redirect_url(&self) -> Result<&Url, ConfigError> {
        self.consent_redirect_url
            .as_ref()
            .ok_or(ConfigError::MissingConsentRedirectUrl)
    }

    /// Where the browser sign-in sends the customer back (the portal's registered redirect
    /// URI), or [`ConfigError::MissingSignInRedirectUrl`] when none is configured.
    pub fn sign_in_redirect_url(&self) -> Result<&Url, ConfigError> {
        self.sign_in_redirect_url
            .as_ref()
            .ok_or(ConfigError::MissingSignInRedirectUrl)
    }

    /// How long a browser sign-in's `state` is accepted (default 15 minutes).
    pub fn browser_sign_in_lifetime(&self) -> Duration {
        self.browser_sign_in_lifetime
    }

    /// How long before a credential expires it is reported as expiring soon (default 30
    /// days).
    pub fn credential_warning(&self) -> Duration {
        self.credential_warning
    }

    /// What makes a customer need attention: thresholds and the permissions tokens must
    /// carry (defaults: [`HealthPolicy::default`], its credential warning
    /// [`credential_warning`](Self::credential_warning)).
    pub fn health(&self) -> &HealthPolicy {
        &self.health
    }

    /// The notification channels: each change of a customer's attention reasons puts one
    /// notice per channel into the store's outbox, for that channel's dispatcher (default
    /// none: reasons are kept and reported, nothing is queued).
    pub fn notify_channels(&self) -> &[String] {
        &self.notify_channels
    }

    /// The MSP's name, used in invitation emails (default "Your IT provider").
    pub fn msp_name(&self) -> &str {
        &self.msp_name
    }

    /// How long before expiry [`TenantAccess::access_token`](crate::TenantAccess::access_token)
    /// refreshes a token (default 5 minutes), at most half the token's lifetime
    /// ([`TokenSet::refresh_due_at`](crate::model::TokenSet::refresh_due_at)).
    pub fn refresh_ahead(&self) -> Duration {
        self.refresh_ahead
    }

    /// How long a replica's claim on a token refresh lasts if it never finishes (default 30
    /// seconds).
    pub fn refresh_lease(&self) -> Duration {
        self.refresh_lease
    }

    /// Whether a dead refresh token automatically sends the customer a fresh device-code
    /// invitation (default: no).
    pub fn reinvite_on_reauth(&self) -> bool {
        self.reinvite_on_reauth
    }
}

impl ConfigBuilder {
    /// Sets where invitation links point: the code is appended to this URL as a path segment
    /// (default `{portal_url}/invitation/`). Checked by [`build`](Self::build).
    ///
    /// ```
    /// use tenant_access::Config;
    /// let config = Config::builder("https://portal.example.com")
    ///     .invitation_links_at("https://join.example.com/i")
    ///     .build()?;
    /// assert_eq!(config.invitation_links_at().as_str(), "https://join.example.com/i/");
    /// # Ok::<(), tenant_access::ConfigError>(())
    /// ```
    pub fn invitation_links_at(mut self, url: impl Into<String>) -> Self {
        self.invitation_links_at = Some(url.into());
        self
    }

    /// How long an invitation link works after it is sent (default 7 days; must be positive).
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
    /// `https://portal.example.com/authenticate/OAuth2Callback`. Checked by
    /// [`build`](Self::build).
    pub fn consent_redirect_url(mut self, url: impl Into<String>) -> Self {
        self.consent_redirect_url = Some(url.into());
        self
    }

    /// The portal's registered redirect URI for the browser sign-in ("Sign in with
    /// Microsoft"), e.g. `https://portal.example.com/authenticate/SignInCallback`: register
    /// it on the MSP's application as a Web redirect URI. Checked by [`build`](Self::build).
    pub fn sign_in_redirect_url(mut self, url: impl Into<String>) -> Self {
        self.sign_in_redirect_url = Some(url.into());
        self
    }

    /// How long a browser sign-in's `state` is accepted after it was started (default
    /// 15 minutes, as long as a device code lives; must be positive). A callback after that
    /// is refused, and the customer starts again.
    pub fn browser_sign_in_lifetime(mut self, lifetime: Duration) -> Self {
        self.browser_sign_in_lifetime = lifetime;
        self
    }

    /// How long before a credential (a customer's app-registration secret or certificate,
    /// or the MSP's own) expires the status report says it expires soon and puts the
    /// customer on the attention list (default 30 days).
    pub fn credential_warning(mut self, window: Duration) -> Self {
        self.credential_warning = window;
        self
    }

    /// What makes a customer need attention ([`HealthPolicy`]); its `credential_warning` is
    /// replaced by [`credential_warning`](Self::credential_warning)'s.
    pub fn health(mut self, policy: HealthPolicy) -> Self {
        self.health = policy;
        self
    }

    /// The notification channels (such as `["webhook", "operators"]`): one outbox notice per
    /// channel for each change of a customer's attention reasons, each delivered by its own
    /// dispatcher ([`TenantAccess::dispatch_notices`](crate::TenantAccess::dispatch_notices)).
    pub fn notify_channels<I, S>(mut self, channels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.notify_channels = channels.into_iter().map(Into::into).collect();
        self
    }

    /// The MSP's name, used in invitation emails.
    pub fn msp_name(mut self, name: impl Into<String>) -> Self {
        self.msp_name = name.into();
        self
    }

    /// How long before expiry [`TenantAccess::access_token`](crate::TenantAccess::access_token)
    /// refreshes a token (default 5 minutes; must not be negative). A token that lives less
    /// than twice as long is refreshed half-way through its life instead, so short-lived
    /// tokens are still served from the cache.
    pub fn refresh_ahead(mut self, margin: Duration) -> Self {
        self.refresh_ahead = margin;
        self
    }

    /// How long a replica's claim on a token refresh lasts if it never finishes (default
    /// 30 seconds; must be positive). While the claim runs, other replicas wait for its result
    /// instead of refreshing too; after it lapses (the holder crashed) another replica takes
    /// over.
    pub fn refresh_lease(mut self, lease: Duration) -> Self {
        self.refresh_lease = lease;
        self
    }

    /// Whether a dead refresh token automatically sends the customer a fresh device-code
    /// invitation (default: no; the journey waits in
    /// [`ReauthRequired`](crate::model::ReauthRequired) for the MSP).
    pub fn reinvite_on_reauth(mut self, yes: bool) -> Self {
        self.reinvite_on_reauth = yes;
        self
    }

    /// Checks the settings and makes the [`Config`]: the portal URL, the invitation-link URL
    /// and the consent redirect URL must be http(s) URLs without query or fragment
    /// ([`ConfigError::PortalUrl`]); the invitation lifetime and the refresh lease must be
    /// positive and the refresh-ahead margin not negative ([`ConfigError::NotPositive`]).
    ///
    /// ```
    /// use tenant_access::{Config, ConfigError};
    /// use std::time::Duration;
    /// let built = Config::builder("https://portal.example.com")
    ///     .invitation_lifetime(Duration::ZERO)
    ///     .build();
    /// assert_eq!(built.unwrap_err(), ConfigError::NotPositive("the invitation lifetime"));
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let portal = directory_url(&self.portal_url)?;
        let invitation_links_at = match &self.invitation_links_at {
            Some(url) => directory_url(url)?,
            None => portal
                .join("invitation/")
                .map_err(|e| ConfigError::PortalUrl(e.to_string()))?,
        };
        let consent_redirect_url = match &self.consent_redirect_url {
            Some(url) => Some(parse_http_url(url).map_err(ConfigError::PortalUrl)?),
            None => None,
        };
        let sign_in_redirect_url = match &self.sign_in_redirect_url {
            Some(url) => Some(parse_http_url(url).map_err(ConfigError::PortalUrl)?),
            None => None,
        };
        if self.browser_sign_in_lifetime.is_zero() {
            return Err(ConfigError::NotPositive("the browser sign-in lifetime"));
        }
        if self.invitation_lifetime.is_zero() {
            return Err(ConfigError::NotPositive("the invitation lifetime"));
        }
        if self.refresh_lease.is_zero() {
            return Err(ConfigError::NotPositive("the refresh lease"));
        }
        Ok(Config {
            invitation_links_at,
            invitation_lifetime: self.invitation_lifetime,
            consent_client_id: self.consent_client_id,
            consent_redirect_url,
            sign_in_redirect_url,
            browser_sign_in_lifetime: self.browser_sign_in_lifetime,
            credential_warning: self.credential_warning,
            msp_name: self.msp_name,
            refresh_ahead: self.refresh_ahead,
            refresh_lease: self.refresh_lease,
            reinvite_on_reauth: self.reinvite_on_reauth,
            health: HealthPolicy {
                credential_warning: self.credential_warning,
                ..self.health
            },
            notify_channels: self.notify_channels,
        })
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
