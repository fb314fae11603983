//! The engine: [`TenantAccess`], a thin facade over the journey and Day Two, and its builder.

use std::future::Future;
use std::sync::Arc;

use futures_util::Stream;

use crate::config::Config;
#[cfg(doc)]
use crate::error::FlowError;
use crate::error::{ConfigError, Error};
use crate::journey::{Advanced, AnyOnboarding, Onboarding, OnboardingPage};
use crate::model::{
    AccessToken, Actor, AppCredential, AuditEvent, ConsentRequired, CustomerId, EmailAddress,
    InvitationSent, Invited, JourneyId, NewCustomer, Password, Scopes, TokenAcquired, Validated,
};
#[cfg(doc)]
use crate::model::{ApprovalRequested, Claimed, DeviceCodeIssued, Expired, ReauthRequired};
use crate::ops::{DayTwo, Maintainer, MaintenancePolicy, PassReport, StatusReport, VerifyOutcome};
use crate::ops::{DispatchReport, HealthReport};
use crate::ports::{
    Clock, ConsentCallback, Filter, IdentityProvider, Journeys, Listed, Listing, Mailer,
    PageRequest, Pager, Ports, Store, SystemClock,
};
use crate::ports::{DispatchPolicy, Notifier, OutboxEntry, OutboxQuery};

/// The engine every journey runs on. Cheap to clone; clones share the same parts.
///
/// Built with [`TenantAccess::builder`]; see the crate documentation for the journeys. It
/// gives the [`Ports`] every transition takes, so `stage.poll(&ta)` works.
#[derive(Clone)]
pub struct TenantAccess {
    day_two: DayTwo,
}

impl std::fmt::Debug for TenantAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAccess")
            .field("ports", self.day_two.ports())
            .finish()
    }
}

impl AsRef<Ports> for TenantAccess {
    fn as_ref(&self) -> &Ports {
        self.day_two.ports()
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
        let store = self.store.ok_or(ConfigError::Missing("store"))?;
        let mailer = self.mailer.ok_or(ConfigError::Missing("mailer"))?;
        let provider = self
            .provider
            .ok_or(ConfigError::Missing("identity provider"))?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        provider.use_clock(Arc::clone(&clock));
        let ports = Ports::new(store, provider, mailer, clock, config);
        // Checked at start: an expired or expiring MSP credential is logged at once.
        ports.warn_about_client_credential();
        Ok(TenantAccess {
            day_two: DayTwo::new(ports),
        })
    }
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
    /// use tenant_access::model::Actor;
    /// let as_alice = ta.acting_as(Actor::Operator("alice@msp.example".into()));
    /// # }
    /// ```
    pub fn acting_as(&self, actor: Actor) -> TenantAccess {
        TenantAccess {
            day_two: self.day_two.acting_as(actor),
        }
    }

    /// The ports the engine's journeys run on (store, provider, mailer, clock, config,
    /// actor). Calling the store or provider through them directly bypasses the journey's
    /// compare-and-swap checks and audit events.
    pub fn ports(&self) -> &Ports {
        self.day_two.ports()
    }

    /// The actor recorded in audit events.
    pub fn actor(&self) -> &Actor {
        self.ports().actor()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        self.ports().config()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.ports().clock()
    }

    /// This engine instance's random id: the holder named in the refresh leases it takes
    /// (one per [`build`](TenantAccessBuilder::build); clones share it).
    pub fn instance_id(&self) -> &str {
        self.day_two.instance_id()
    }

    /// Loads a customer's journey in whatever stage it is; match on it to get the typed stage.
    pub async fn load(&self, customer: &CustomerId) -> Result<AnyOnboarding, Error> {
        self.day_two.load(customer).await
    }

    /// Takes the one step of `customer`'s journey that is due now (one poll once its interval
    /// has passed, validation once a token arrived, expiry of an invitation whose time ran
    /// out; nothing otherwise), stores it, and says when to call again. See
    /// [`AnyOnboarding::advance`].
    ///
    /// ```
    /// # async fn handler(ta: tenant_access::TenantAccess, id: tenant_access::CustomerId) -> Result<(), tenant_access::Error> {
    /// use tenant_access::journey::Next;
    /// let advanced = ta.advance(&id).await?;
    /// match advanced.next {
    ///     Next::Now => { /* call again at once (a token to validate) */ }
    ///     Next::At(when) => { /* come back at `when` (the next poll) */ }
    ///     Next::Waiting | _ => { /* nothing is due until someone acts */ }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn advance(&self, customer: &CustomerId) -> Result<Advanced, Error> {
        self.day_two.advance(customer, None).await
    }

    /// [`advance`](Self::advance) for the method switch `journey` of `customer`. Fails with
    /// [`FlowError::NoSwitchInProgress`] once that switch was cancelled or took over.
    pub async fn advance_switch(
        &self,
        customer: &CustomerId,
        journey: &JourneyId,
    ) -> Result<Advanced, Error> {
        self.day_two.advance(customer, Some(journey)).await
    }

    /// Loads the method switch `journey` of `customer`: fails with
    /// [`FlowError::NoSwitchInProgress`] once that switch was cancelled or took over (a link
    /// or session made for it must not open the next one).
    pub async fn load_switch(
        &self,
        customer: &CustomerId,
        journey: &JourneyId,
    ) -> Result<AnyOnboarding, Error> {
        self.day_two.load_journey(customer, Some(journey)).await
    }

    /// One page of journeys matching `filter`.
    pub async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<OnboardingPage, Error> {
        self.day_two.list(filter, page).await
    }

    /// Every journey matching `filter`, a [`list`](Self::list) page of `page_size` at a
    /// time, in customer-id order. A method switch under way is not an item of its own: its
    /// customer's journey says so ([`AnyOnboarding::pending_switch`]), and
    /// [`pending_switch`](Self::pending_switch) loads it.
    ///
    #[cfg_attr(feature = "mock", doc = "```")]
    #[cfg_attr(not(feature = "mock"), doc = "```ignore")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tenant_access::Error> {
    /// # use tenant_access::{*, testing::{CaptureMailer, mock::MockProvider}, store::{Filter, MemoryStore}};
    /// # let ta = TenantAccess::builder().config(Config::new("https://portal.example.com")?)
    /// #     .store(MemoryStore::new()).mailer(CaptureMailer::new()).provider(MockProvider::new())
    /// #     .build()?;
    /// for id in ["contoso", "fabrikam", "woodgrove"] {
    ///     ta.invite(NewCustomer::new(id, format!("{id}.com"), format!("admin@{id}.com"))?).await?;
    /// }
    /// let mut pages = ta.pages(Filter::all(), 2);
    /// let mut ids = Vec::new();
    /// while let Some(journeys) = pages.next_page().await? {
    ///     ids.extend(journeys.iter().map(|j| j.id().to_string()));
    /// }
    /// assert_eq!(ids, ["contoso", "fabrikam", "woodgrove"]);
    /// # Ok(()) }
    /// ```
    pub fn pages(&self, filter: Filter, page_size: usize) -> Pager<'_, TenantAccess, Journeys> {
        Pager::listing(self, filter, page_size)
    }

    /// The customer's audit trail, oldest first.
    pub async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, Error> {
        Ok(self.ports().store().events(customer).await?)
    }

    /// How many customers match `filter` (method-switch journeys are not counted): the total
    /// a progress bar for [`verify_all`](Self::verify_all) needs, read a page at a time.
    pub async fn count(&self, filter: &Filter) -> Result<usize, Error> {
        self.day_two.count(filter).await
    }

    /// One status row per customer matching `filter`, in customer-id order. A method switch
    /// under way is folded into its customer's row as
    /// [`StatusRow::switch`](crate::ops::StatusRow::switch). A customer whose
    /// record cannot be read is in [`StatusReport::unreadable`] instead of failing the report.
    pub async fn status_report(&self, filter: &Filter) -> Result<StatusReport, Error> {
        self.day_two.status_report(filter).await
    }

    /// Creates a customer for the device-code journey, in stage [`Invited`]. Nothing is
    /// mailed yet: call [`send`](Onboarding::send).
    ///
    /// Fails with [`StoreError::AlreadyExists`](crate::error::StoreError::AlreadyExists) if the
    /// customer id is taken.
    pub async fn invite(&self, new: NewCustomer) -> Result<Onboarding<Invited>, Error> {
        self.day_two.invite(new).await
    }

    /// Opens an invitation link: returns the customer's journey in whatever stage it is.
    ///
    /// Works while the journey waits for the customer (invitation sent, claimed, device code
    /// issued, approval requested). An unknown, expired, revoked, superseded or used-up code
    /// gets [`Error::InvalidInvitation`], which does not say which, nor whether the customer
    /// exists. A code found expired moves its journey to [`Expired`].
    pub async fn open_invitation(&self, code: &str) -> Result<AnyOnboarding, Error> {
        self.day_two.open_invitation(code).await
    }

    /// Mails `customer` a new invitation link, from whatever stage the journey waits in; the
    /// old link stops working.
    ///
    /// - [`Invited`]: the first link is mailed ([`send`](Onboarding::send)).
    /// - [`InvitationSent`], [`Claimed`], [`DeviceCodeIssued`], [`ApprovalRequested`]: a new
    ///   code replaces the old one ([`resend`](Onboarding::resend)).
    /// - [`Expired`], [`ReauthRequired`]: the journey starts over with a device-code
    ///   invitation ([`reinvite`](Onboarding::reinvite)), which is mailed.
    ///
    /// Fails with [`FlowError::NothingToResend`] at any other stage, leaving the record as it
    /// is, and with [`FlowError::NotFound`] for an unknown customer.
    pub async fn resend_invitation(
        &self,
        customer: &CustomerId,
    ) -> Result<Onboarding<InvitationSent>, Error> {
        let journey = self.day_two.load(customer).await?;
        self.day_two.resend(journey).await
    }

    /// [`resend_invitation`](Self::resend_invitation) for the method switch `journey` of
    /// `customer`: a new link for the switch, the old one dead. Fails with
    /// [`FlowError::NoSwitchInProgress`] once that switch was cancelled or took over.
    pub async fn resend_switch_invitation(
        &self,
        customer: &CustomerId,
        journey: &JourneyId,
    ) -> Result<Onboarding<InvitationSent>, Error> {
        let journey = self.day_two.load_journey(customer, Some(journey)).await?;
        self.day_two.resend(journey).await
    }

    /// Starts the password (ROPC) journey: stores the admin's credentials (sealed at rest by
    /// durable stores) and returns [`ConsentRequired`] with the URL where an administrator
    /// consents for the organisation.
    ///
    /// Needs [`Config::consent_client_id`](crate::Config::consent_client_id) and
    /// [`Config::consent_redirect_url`](crate::Config::consent_redirect_url); without them it
    /// fails before storing anything. The password journey does not work when the account
    /// needs MFA: the token step then fails with
    /// [`ProviderError::MfaRequired`](crate::error::ProviderError::MfaRequired).
    pub async fn connect_with_password(
        &self,
        new: NewCustomer,
        username: impl Into<String>,
        password: Password,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        self.day_two
            .connect_with_password(new, username, password)
            .await
    }

    /// Starts the app-registration journey: stores the application's client id and its
    /// credential (a [`ClientSecret`](crate::model::ClientSecret), an
    /// [`AppCredential::secret_expiring`] with its end date, or a
    /// [`ClientCertificate`](crate::model::ClientCertificate)) and returns
    /// [`ConsentRequired`] with the admin-consent URL for that application.
    ///
    /// Needs [`Config::consent_redirect_url`](crate::Config::consent_redirect_url).
    pub async fn connect_app_registration(
        &self,
        new: NewCustomer,
        client_id: impl Into<String>,
        credential: impl Into<AppCredential>,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        self.day_two
            .connect_app_registration(new, client_id, credential)
            .await
    }

    /// Handles the admin-consent redirect of a password or app-registration journey: finds
    /// the customer the `state` belongs to, checks the callback and acquires the token
    /// ([`Onboarding::complete_consent`]).
    ///
    /// A callback that matches no pending consent (unknown, forged or replayed state) is
    /// [`FlowError::ConsentStateMismatch`]; on any failure the stored journey is unchanged.
    /// A device-code journey waiting for consent is refused with [`FlowError::WrongMethod`]:
    /// a portal's callback route that serves every journey calls
    /// [`accept_consent`](Self::accept_consent).
    pub async fn complete_consent(
        &self,
        callback: &ConsentCallback,
    ) -> Result<Onboarding<TokenAcquired>, Error> {
        self.day_two.complete_consent(callback).await
    }

    /// Handles the admin-consent redirect of any journey ([`Onboarding::consent_given`]):
    /// a token from the stored credentials (password, app registration), or, for a
    /// device-code sign-in that met AADSTS65001 ([`PollOutcome::ConsentRequired`](crate::PollOutcome::ConsentRequired)), the
    /// journey back at [`Claimed`](crate::model::Claimed) so the customer signs in again.
    ///
    /// Refuses as [`complete_consent`](Self::complete_consent) does; on any failure the
    /// stored journey is unchanged.
    pub async fn accept_consent(
        &self,
        callback: &ConsentCallback,
    ) -> Result<crate::journey::Consented, Error> {
        self.day_two.accept_consent(callback).await
    }

    /// Handles the redirect back from a browser sign-in ("Sign in with Microsoft"): finds
    /// the sign-in by the callback's `state` (the customer's own journey or a method switch)
    /// and completes it ([`Onboarding::<BrowserSignIn>::complete`](Onboarding::complete)).
    ///
    /// A callback whose state matches no sign-in under way (unknown, forged, or already
    /// used) is [`FlowError::SignInStateMismatch`](crate::error::FlowError::SignInStateMismatch),
    /// one past its lifetime
    /// [`FlowError::SignInExpired`](crate::error::FlowError::SignInExpired): nothing is sent
    /// or written for either. On any failure the stored journey is unchanged but for the
    /// customer's last error.
    ///
    /// ```no_run
    /// # async fn f(ta: tenant_access::TenantAccess, query: &str) -> Result<(), tenant_access::Error> {
    /// use tenant_access::journey::SignInOutcome;
    /// use tenant_access::ports::SignInCallback;
    ///
    /// match ta.complete_sign_in(&SignInCallback::from_query(query)?).await? {
    ///     SignInOutcome::Authenticated(token) => {
    ///         token.validate(&ta).await?;
    ///     }
    ///     SignInOutcome::ConsentRequired(pending) => {
    ///         println!("ask an administrator: {}", pending.stage().admin_consent_url());
    ///     }
    ///     other => println!("{:?}", tenant_access::AnyOnboarding::from(other).kind()),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn complete_sign_in(
        &self,
        callback: &crate::ports::SignInCallback,
    ) -> Result<crate::journey::SignInOutcome, Error> {
        self.day_two.complete_sign_in(callback).await
    }

    /// A valid access token for a connected customer.
    ///
    /// While the cached token is valid for longer than the refresh-ahead margin
    /// ([`Config::refresh_ahead`](crate::Config::refresh_ahead), at most half the token's
    /// lifetime) this touches neither the
    /// store nor the provider. Otherwise one caller per customer refreshes while the others
    /// wait for its result. Across replicas a refresh lease, taken by compare-and-swap on the
    /// stored record, decides: one replica calls the provider, the others wait for its token
    /// ([`Config::refresh_lease`](crate::Config::refresh_lease)). If a refresh fails
    /// transiently while the old token has not expired yet, the old token is returned.
    ///
    /// A dead refresh token moves the customer to
    /// [`ReauthRequired`] (and, with
    /// [`Config::reinvite_on_reauth`](crate::Config::reinvite_on_reauth), mails a fresh
    /// invitation) and returns [`FlowError::NotConnected`].
    pub fn access_token(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<AccessToken, Error>> + Send {
        // The cached path is the hot path: hand back Day Two's future, no wrapper around it.
        self.day_two.access_token(customer)
    }

    /// "Refresh token now": refreshes one customer's token whatever its expiry, sharing the
    /// single-flight lock with [`access_token`](Self::access_token) and the refresh lease
    /// across replicas (a refresh another replica finishes meanwhile counts). Returns the
    /// journey as it then stands: [`Validated`] with the new token, [`ReauthRequired`] when
    /// the refresh token is dead, or a fresh invitation when
    /// [`Config::reinvite_on_reauth`](crate::Config::reinvite_on_reauth) is on.
    pub async fn refresh_now(&self, customer: &CustomerId) -> Result<AnyOnboarding, Error> {
        self.day_two.refresh_now(customer).await
    }

    /// A valid access token for other `scopes` (another resource, such as
    /// `https://management.azure.com/.default`), obtained from the connection's refresh token
    /// where the provider allows it (Entra ID does; see
    /// [`IdentityProvider::refresh_for_scopes`](crate::ports::IdentityProvider::refresh_for_scopes)).
    ///
    /// Cached in this process per customer and scopes and renewed ahead of expiry like
    /// [`access_token`](Self::access_token), under the same single flight and refresh lease;
    /// a refresh token the answer rotates in is stored. Connections without a refresh token
    /// (app registrations) get [`FlowError::WrongMethod`](crate::error::FlowError::WrongMethod); a dead refresh token moves the
    /// customer to re-authentication and returns [`FlowError::NotConnected`](crate::error::FlowError::NotConnected).
    ///
    #[cfg_attr(feature = "mock", doc = "```")]
    #[cfg_attr(not(feature = "mock"), doc = "```ignore")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use tenant_access::{*, testing::{CaptureMailer, ManualClock, mock::MockProvider}, store::MemoryStore};
    /// # let mailer = CaptureMailer::new();
    /// # let ta = TenantAccess::builder().config(Config::new("https://portal.example.com").unwrap())
    /// #     .store(MemoryStore::new()).mailer(mailer.clone()).provider(MockProvider::new())
    /// #     .clock(ManualClock::starting_now()).build().unwrap();
    /// # let new = NewCustomer::new("contoso", "contoso.onmicrosoft.com", "admin@contoso.com").unwrap();
    /// # ta.invite(new).await.unwrap().send(&ta).await.unwrap();
    /// # let code = mailer.last_code_to("admin@contoso.com").unwrap();
    /// # let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await.unwrap() else { panic!() };
    /// # let device = sent.claim(&ta).await.unwrap().start_device_code(&ta).await.unwrap();
    /// # let PollOutcome::Authenticated(token) = device.poll_until_done(&ta).await.unwrap() else { panic!() };
    /// # token.validate(&ta).await.unwrap();
    /// let contoso = CustomerId::new("contoso").unwrap();
    /// let arm = Scopes::new(["https://management.azure.com/.default"]).unwrap();
    /// let graph_token = ta.access_token(&contoso).await.unwrap();
    /// let arm_token = ta.access_token_for(&contoso, &arm).await.unwrap();
    /// assert_ne!(graph_token.expose_secret(), arm_token.expose_secret());
    /// # }
    /// ```
    pub fn access_token_for(
        &self,
        customer: &CustomerId,
        scopes: &Scopes,
    ) -> impl Future<Output = Result<AccessToken, Error>> + Send {
        // The cached path is the hot path: hand back Day Two's future, no wrapper around it.
        self.day_two.access_token_for(customer, scopes)
    }

    /// "Validate authentication" for one customer: one real call proves the stored connection
    /// still works for the invited tenant; the result (when, status, error) is stored.
    ///
    /// An expired access token is renewed first, and one the resource refuses
    /// ([`ProviderError::TokenRejected`](crate::error::ProviderError::TokenRejected)) is
    /// renewed once and the call tried again, both under the same single flight and refresh
    /// lease as [`access_token`](Self::access_token); only then is a failure reported. A dead
    /// refresh token moves the customer to [`ReauthRequired`] and returns
    /// [`FlowError::NotConnected`].
    pub async fn verify(&self, customer: &CustomerId) -> Result<Onboarding<Validated>, Error> {
        self.day_two.verify(customer).await
    }

    /// "Verify all": verifies every customer matching `filter` (by default every validated
    /// one) with at most `concurrency` provider calls in flight, and yields one outcome per
    /// customer as it finishes, with the run's counts.
    ///
    /// A `Retry-After` from the provider pauses the whole run (every task waits on the
    /// engine's clock), and the throttled customer is tried again afterwards. One failure never
    /// stops the others. Expired and refused tokens are renewed as [`verify`](Self::verify)
    /// renews them; a connection whose listed token is still valid costs no store read
    /// beyond the listing. The store is read a page at a time, so memory stays flat however many
    /// customers there are. A store failure while listing ends the run with an `Err` item; a
    /// record that cannot be read (tampered with, damaged) does not: its customer gets an
    /// outcome with [`Error::Store`] (nothing is recorded on it) and the others are verified.
    ///
    /// Read it with [`StreamExt`](crate::StreamExt) (re-exported: no `futures` dependency
    /// needed): `while let Some(outcome) = stream.next().await { .. }`, after
    /// `std::pin::pin!(stream)`.
    pub fn verify_all(
        &self,
        filter: Filter,
        concurrency: usize,
    ) -> impl Stream<Item = Result<VerifyOutcome, Error>> + '_ {
        self.day_two.verify_all(filter, concurrency)
    }

    /// One maintenance pass: refresh due tokens, earliest expiry first, then verify
    /// connections not verified within `policy.verify_every`. One customer's failure never
    /// stops the others.
    pub async fn maintenance_pass(&self, policy: &MaintenancePolicy) -> Result<PassReport, Error> {
        self.day_two.maintenance_pass(policy).await
    }

    /// Runs [`maintenance_pass`](Self::maintenance_pass) every `policy.tick` on a tokio task
    /// until [`Maintainer::shutdown`]. Needs a tokio runtime.
    pub fn spawn_maintainer(&self, policy: MaintenancePolicy) -> Maintainer {
        self.day_two.spawn_maintainer(policy)
    }

    /// Reassesses every customer's attention reasons now (page by page), writing those whose
    /// reasons changed together with their notices (one per
    /// [notification channel](Config::notify_channels)). The maintainer runs it at the end of
    /// every pass, so reasons that time alone raises (a credential nearing its end, an
    /// invitation left unanswered) appear without anyone pressing "verify all".
    pub async fn health_pass(&self) -> Result<HealthReport, Error> {
        self.day_two.health_pass().await
    }

    /// Delivers due notices of `policy.channel` from the store's outbox through `notifier`,
    /// once: claimed by compare-and-swap (so replicas dispatching together never deliver one
    /// twice while a claim holds), delivered in batches of
    /// [`Notifier::max_batch`](crate::ports::Notifier::max_batch), then settled: delivered,
    /// retried with exponential backoff, or dead-lettered after `policy.max_attempts` tries.
    /// A delivery failure never reaches a journey: it only delays the notice.
    pub async fn dispatch_notices(
        &self,
        notifier: &dyn Notifier,
        policy: &DispatchPolicy,
    ) -> Result<DispatchReport, Error> {
        self.day_two.dispatch_notices(notifier, policy).await
    }

    /// Runs [`dispatch_notices`](Self::dispatch_notices) every `tick` (at once again after a
    /// full batch) on a tokio task until [`Maintainer::shutdown`]. Needs a tokio runtime.
    pub fn spawn_dispatcher(
        &self,
        notifier: Arc<dyn Notifier>,
        policy: DispatchPolicy,
        tick: std::time::Duration,
    ) -> Maintainer {
        self.day_two.spawn_dispatcher(notifier, policy, tick)
    }

    /// The store's outbox entries in one state, newest first: pending notices, or the
    /// dead-lettered ones an operator should look at.
    pub async fn outbox(&self, query: &OutboxQuery) -> Result<Vec<OutboxEntry>, Error> {
        Ok(self.ports().store().outbox(query).await?)
    }

    /// Starts switching `customer` to the device-code method: a new invitation journey (in
    /// [`Invited`]; [`send`](Onboarding::send) mails it) to `admin_email`, or to the current
    /// admin when `None`. The old connection serves until the new one is validated.
    ///
    /// Fails with [`FlowError::SwitchInProgress`] if a switch is already under way, and with
    /// [`FlowError::NotConnected`] unless the customer is [`Validated`] or needs
    /// re-authentication.
    pub async fn switch_to_device_code(
        &self,
        customer: &CustomerId,
        admin_email: Option<EmailAddress>,
    ) -> Result<Onboarding<Invited>, Error> {
        self.day_two
            .switch_to_device_code(customer, admin_email)
            .await
    }

    /// Starts switching `customer` to the password (ROPC) method: the new credentials wait in
    /// [`ConsentRequired`] (as in
    /// [`connect_with_password`](TenantAccess::connect_with_password)) while the old
    /// connection serves.
    pub async fn switch_to_password(
        &self,
        customer: &CustomerId,
        username: impl Into<String>,
        password: Password,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        self.day_two
            .switch_to_password(customer, username, password)
            .await
    }

    /// Starts switching `customer` to an app registration in its tenant: the new credentials
    /// wait in [`ConsentRequired`] (as in
    /// [`connect_app_registration`](TenantAccess::connect_app_registration)) while the old
    /// connection serves.
    pub async fn switch_to_app_registration(
        &self,
        customer: &CustomerId,
        client_id: impl Into<String>,
        credential: impl Into<AppCredential>,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        self.day_two
            .switch_to_app_registration(customer, client_id, credential)
            .await
    }

    /// The method switch under way for `customer`, if any, in whatever stage it is.
    pub async fn pending_switch(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<AnyOnboarding>, Error> {
        self.day_two.pending_switch(customer).await
    }

    /// Cancels the method switch under way for `customer`: the switch journey (and its
    /// invitation link) is deleted, and the old connection stays exactly as it is.
    ///
    /// Fails with [`FlowError::NoSwitchInProgress`] when there is none.
    pub async fn cancel_switch(&self, customer: &CustomerId) -> Result<(), Error> {
        self.day_two.cancel_switch(customer).await
    }

    /// Bulk onboarding: creates and mails a device-code invitation for every row of `rows`
    /// (a [`BulkCsv`](crate::ops::bulk::BulkCsv) from
    /// [`parse_bulk_csv`](crate::ops::bulk::parse_bulk_csv), or a `Vec` of
    /// [`BulkRow`](crate::ops::bulk::BulkRow)s) that passes every check, and reports each
    /// row as created (mailed or not) or refused with its reason. Every row is checked before
    /// anything is created (fields, method, duplicates in the file, the store, tenant
    /// discovery); a refused row creates nothing; sends are paced by
    /// [`BulkOptions::pace`](crate::ops::bulk::BulkOptions::pace) on the engine's clock. A
    /// customer created whose mail failed stays in [`Invited`]:
    /// [`resend_invitation`](Self::resend_invitation) mails it. See [`ops::bulk`](crate::ops::bulk).
    ///
    #[cfg_attr(feature = "mock", doc = "```")]
    #[cfg_attr(not(feature = "mock"), doc = "```ignore")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tenant_access::{*, testing::{CaptureMailer, ManualClock, mock::MockProvider}, store::MemoryStore};
    /// use tenant_access::ops::bulk::{parse_bulk_csv, BulkOptions};
    /// # let ta = TenantAccess::builder().config(Config::new("https://portal.example.com")?)
    /// #     .store(MemoryStore::new()).mailer(CaptureMailer::new()).provider(MockProvider::new())
    /// #     .clock(ManualClock::starting_now()).build()?;
    /// let csv = "customer_id,tenant,admin_email,method\n\
    ///            contoso,contoso.com,admin@contoso.com,device_code\n\
    ///            fabrikam,fabrikam.com,not-an-email,device_code\n\
    ///            woodgrove,woodgrove.com,admin@woodgrove.com,password\n";
    /// let report = ta.invite_many(parse_bulk_csv(csv.as_bytes())?, &BulkOptions::default()).await;
    /// assert_eq!(report.sent(), 1);
    /// assert_eq!(report.refused.len(), 2);
    /// for refused in &report.refused {
    ///     println!("line {}: {} {}", refused.line, refused.customer_id, refused.message);
    /// }
    /// print!("{}", report.csv());
    /// # Ok(()) }
    /// ```
    pub async fn invite_many(
        &self,
        rows: impl Into<crate::ops::bulk::BulkCsv>,
        options: &crate::ops::bulk::BulkOptions,
    ) -> crate::ops::bulk::BulkReport {
        self.day_two.invite_many(rows.into(), options).await
    }
}

impl Listing<TenantAccess> for Journeys {
    type Item = AnyOnboarding;
    type Error = Error;

    async fn page<'a>(
        ta: &'a TenantAccess,
        filter: &'a Filter,
        request: &'a PageRequest,
    ) -> Result<Listed<AnyOnboarding>, Error> {
        let page = ta.list(filter, request).await?;
        Ok(Listed {
            items: page.items,
            unreadable: page.unreadable,
            next: page.next,
        })
    }
}
