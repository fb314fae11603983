//! The engine: [`TenantAccess`], its [`Config`] and its builder.

use std::collections::HashMap;
use std::sync::Arc;

use time::Duration;
use url::Url;

use crate::audit::{Actor, AuditEvent};
use crate::clock::{Clock, SystemClock};
use crate::day_two::{ResourceCache, TokenCache};
use crate::error::{ConfigError, Error, FlowError};
use crate::flow::{AnyOnboarding, StageKind};
use crate::ids::CustomerId;
use crate::mail::Mailer;
use crate::provider::IdentityProvider;
use crate::report::{PendingSwitchStatus, StatusRow};
use crate::store::{Filter, PageRequest, Record, Store};

/// How many records [`TenantAccess::status_report`] asks the store for at a time.
const STATUS_PAGE: usize = 500;

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

    /// How long before expiry [`TenantAccess::access_token`] refreshes a token (default
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
    /// [`ReauthRequired`](crate::flow::ReauthRequired) for the MSP).
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

/// The engine every journey runs on. Cheap to clone; clones share the same parts.
///
/// Built with [`TenantAccess::builder`]; see the crate documentation for the journeys.
#[derive(Clone)]
pub struct TenantAccess {
    parts: Arc<Parts>,
    actor: Actor,
}

struct Parts {
    store: Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    provider: Arc<dyn IdentityProvider>,
    clock: Arc<dyn Clock>,
    config: Config,
    tokens: TokenCache,
    resource_tokens: ResourceCache,
    instance: String,
}

/// A random id for one engine instance: 64 bits from the OS, hex.
fn new_instance_id() -> String {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("the OS random source is unavailable");
    random.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for TenantAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAccess")
            .field("store", &self.parts.store)
            .field("mailer", &self.parts.mailer)
            .field("provider", &self.parts.provider)
            .field("clock", &self.parts.clock)
            .field("config", &self.parts.config)
            .field("actor", &self.actor)
            .finish()
    }
}

/// Builds a [`TenantAccess`]. The store, mailer, provider and config are required; the clock
/// defaults to [`SystemClock`].
#[derive(Default)]
pub struct TenantAccessBuilder {
    store: Option<Arc<dyn Store>>,
    mailer: Option<Arc<dyn Mailer>>,
    provider: Option<Arc<dyn IdentityProvider>>,
    clock: Option<Arc<dyn Clock>>,
    config: Option<Config>,
}

impl TenantAccessBuilder {
    /// The store journeys are kept in.
    pub fn store(self, store: impl Store + 'static) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// A store already shared behind an `Arc`.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The mailer invitations go through.
    pub fn mailer(mut self, mailer: impl Mailer + 'static) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// The identity provider.
    pub fn provider(self, provider: impl IdentityProvider + 'static) -> Self {
        self.shared_provider(Arc::new(provider))
    }

    /// An identity provider already shared behind an `Arc`.
    pub fn shared_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Checks that every required part is there and builds the engine.
    pub fn build(self) -> Result<TenantAccess, ConfigError> {
        let config = self.config.ok_or(ConfigError::Missing("config"))?;
        if !config.invitation_lifetime.is_positive() {
            return Err(ConfigError::NotPositive("the invitation lifetime"));
        }
        if config.refresh_ahead.is_negative() {
            return Err(ConfigError::NotPositive("the refresh-ahead margin"));
        }
        if !config.refresh_lease.is_positive() {
            return Err(ConfigError::NotPositive("the refresh lease"));
        }
        Ok(TenantAccess {
            parts: Arc::new(Parts {
                store: self.store.ok_or(ConfigError::Missing("store"))?,
                mailer: self.mailer.ok_or(ConfigError::Missing("mailer"))?,
                provider: self
                    .provider
                    .ok_or(ConfigError::Missing("identity provider"))?,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                config,
                tokens: TokenCache::default(),
                resource_tokens: ResourceCache::default(),
                instance: new_instance_id(),
            }),
            actor: Actor::System,
        })
    }
}

/// One page of journeys from [`TenantAccess::list`].
#[derive(Debug)]
pub struct OnboardingPage {
    /// The journeys, in customer-id order.
    pub items: Vec<AnyOnboarding>,
    /// The request for the next page, if there may be more.
    pub next: Option<PageRequest>,
}

impl TenantAccess {
    /// Starts building an engine.
    pub fn builder() -> TenantAccessBuilder {
        TenantAccessBuilder::default()
    }

    /// The same engine, recording `actor` in the audit events of the transitions it runs.
    ///
    /// ```
    /// # fn f(ta: tenant_access::TenantAccess) {
    /// use tenant_access::audit::Actor;
    /// let as_alice = ta.acting_as(Actor::Operator("alice@msp.example".into()));
    /// # }
    /// ```
    pub fn acting_as(&self, actor: Actor) -> TenantAccess {
        TenantAccess {
            parts: Arc::clone(&self.parts),
            actor,
        }
    }

    /// The actor recorded in audit events.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.parts.config
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.parts.store
    }

    /// The identity provider.
    pub fn provider(&self) -> &dyn IdentityProvider {
        &*self.parts.provider
    }

    /// The mailer.
    pub fn mailer(&self) -> &dyn Mailer {
        &*self.parts.mailer
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.parts.clock
    }

    /// This engine instance's random id: the holder named in the refresh leases it takes
    /// (one per [`build`](TenantAccessBuilder::build); clones share it).
    pub fn instance_id(&self) -> &str {
        &self.parts.instance
    }

    pub(crate) fn resource_tokens(&self) -> &ResourceCache {
        &self.parts.resource_tokens
    }

    pub(crate) fn tokens(&self) -> &TokenCache {
        &self.parts.tokens
    }

    /// Loads a customer's journey in whatever stage it is; match on it to get the typed stage.
    pub async fn load(&self, customer: &CustomerId) -> Result<AnyOnboarding, Error> {
        match self.store().load(customer).await? {
            Some(record) => Ok(AnyOnboarding::from_record(record)),
            None => Err(FlowError::NotFound(customer.clone()).into()),
        }
    }

    /// One page of journeys matching `filter`.
    pub async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<OnboardingPage, Error> {
        let page = self.store().list(filter, page).await?;
        Ok(OnboardingPage {
            items: page
                .records
                .into_iter()
                .map(AnyOnboarding::from_record)
                .collect(),
            next: page.next,
        })
    }

    /// The customer's audit trail, oldest first.
    pub async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, Error> {
        Ok(self.store().events(customer).await?)
    }

    /// How many customers match `filter` (method-switch journeys are not counted): the total
    /// a progress bar for [`verify_all`](Self::verify_all) needs, read a page at a time.
    pub async fn count(&self, filter: &Filter) -> Result<usize, Error> {
        let mut count = 0;
        let mut page = Some(PageRequest::first(STATUS_PAGE));
        while let Some(request) = page {
            let result = self.store().list(filter, &request).await?;
            count += result
                .records
                .iter()
                .filter(|r| !r.id().is_switch_journey())
                .count();
            page = result.next;
        }
        Ok(count)
    }

    /// One status row per customer matching `filter`, in customer-id order.
    ///
    /// A method switch under way (the journey stored under
    /// [`CustomerId::switch_journey`]) has no row of its own: it is folded into its customer's
    /// row as [`StatusRow::switch`], whether or not the switch journey itself matches
    /// `filter`. A switch journey whose customer does not match (or no longer exists) is left
    /// out.
    pub async fn status_report(&self, filter: &Filter) -> Result<Vec<StatusRow>, Error> {
        let mut rows = Vec::new();
        let mut switches = HashMap::new();
        self.each_record(filter, |record| match record.customer.id.switching() {
            Some(owner) => {
                switches.insert(owner, PendingSwitchStatus::from_record(record));
            }
            None => rows.push(StatusRow::from_record(record)),
        })
        .await?;
        // The switch journey sorts after its customer, not always right after (`a b` comes
        // between `a` and `a#switch`), and may be on a later page: fold once all are read.
        for row in &mut rows {
            row.switch = switches.remove(&row.customer);
        }
        if !filter.is_all() {
            self.fold_filtered_out_switches(&mut rows).await?;
        }
        Ok(rows)
    }

    /// Folds in the switch journeys a filter may have hidden (their stage or method differs
    /// from their customer's): by key for up to a page of rows, else in one pass over every
    /// record, which costs less than that many reads by key.
    async fn fold_filtered_out_switches(&self, rows: &mut [StatusRow]) -> Result<(), Error> {
        let without: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].switch.is_none())
            .collect();
        if without.len() <= STATUS_PAGE {
            for i in without {
                let journey = rows[i].customer.switch_journey();
                rows[i].switch = self
                    .store()
                    .load(&journey)
                    .await?
                    .as_ref()
                    .map(PendingSwitchStatus::from_record);
            }
            return Ok(());
        }
        let index: HashMap<CustomerId, usize> = without
            .into_iter()
            .map(|i| (rows[i].customer.clone(), i))
            .collect();
        self.each_record(&Filter::all(), |record| {
            let owner = record.customer.id.switching();
            if let Some(&i) = owner.and_then(|owner| index.get(&owner)) {
                rows[i].switch = Some(PendingSwitchStatus::from_record(record));
            }
        })
        .await
    }

    /// Calls `each` with every record matching `filter`, in customer-id order, a page of the
    /// store at a time.
    async fn each_record(
        &self,
        filter: &Filter,
        mut each: impl FnMut(&Record),
    ) -> Result<(), Error> {
        let mut page = Some(PageRequest::first(STATUS_PAGE));
        while let Some(request) = page {
            let result = self.store().list(filter, &request).await?;
            result.records.iter().for_each(&mut each);
            page = result.next;
        }
        Ok(())
    }

    pub(crate) fn event(
        &self,
        customer: &CustomerId,
        from: Option<StageKind>,
        to: StageKind,
        note: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            customer: customer.clone(),
            from,
            to,
            at: self.clock().now(),
            actor: self.actor.clone(),
            note,
        }
    }
}
