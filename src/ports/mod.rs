//! The ports: the traits the journey and Day Two are written against, and the data they
//! carry. [`Store`] keeps journeys, [`IdentityProvider`] talks to Entra ID (or any OAuth 2.0
//! server), [`Mailer`] sends invitations and [`Clock`] says what time it is.
//!
//! [`Ports`] bundles one of each with the [`Config`] and the acting [`Actor`]: it is what a
//! transition takes. [`TenantAccess`](crate::TenantAccess) gives it (`stage.poll(&ta)`), and
//! so does a `Ports` of its own.

mod clock;
mod consent;
mod mailer;
mod notify;
mod pager;
mod provider;
mod sign_in;
mod store;
mod target;

use std::fmt;
use std::sync::Arc;

pub use clock::{Clock, SystemClock};
pub use consent::{ConsentCallback, admin_consent_url, check_admin_consent};
pub use mailer::{InvitationMessage, Mailer, OperatorMessage};
pub use notify::{
    Claim, DispatchPolicy, Notifier, NotifyError, OutboxEntry, OutboxQuery, OutboxState,
    Settlement, newest_first,
};
pub use pager::{Connections, Journeys, Listed, Listing, Pager, Records};
pub use provider::{
    AdminConsentRequest, DeviceAuthorization, DevicePoll, IdentityProvider, TenantDiscovery,
    TokenResponse,
};
pub use sign_in::{AuthorizationRequest, CodeRedemption, SignInCallback, sign_in_refusal};
pub(crate) use store::verification_target;
pub use store::{
    AttentionFilter, ConnectionPage, Filter, ListedConnection, Page, PageRequest, Record, Store,
    Unreadable, VerifiedConnection,
};
pub use target::Target;

use std::pin::Pin;

use crate::config::Config;
use crate::error::Error;
use crate::model::{AccessToken, Actor, AuditEvent, CredentialStatus, CustomerId, StageKind};

/// Called when a customer's connection is replaced or ends (a method switch took over, the
/// journey was revoked), so caches of its tokens can drop them.
pub(crate) type ConnectionChanged = Arc<dyn Fn(&CustomerId) + Send + Sync>;

/// Renews a customer's stored access token, which the caller holds as the third argument and
/// found expired or refused, under the engine's single flight and refresh lease, and answers
/// the record as it then stands. Day Two sets it, so a journey step that needs a new token
/// (a verification) takes the same path as
/// [`TenantAccess::access_token`](crate::TenantAccess::access_token) without the journey
/// layer knowing about the engine.
pub(crate) type RenewToken = Arc<
    dyn Fn(
            &Ports,
            &CustomerId,
            Option<AccessToken>,
        ) -> Pin<Box<dyn Future<Output = Result<Record, Error>> + Send>>
        + Send
        + Sync,
>;

/// The parts a journey step uses: store, identity provider, mailer, clock, configuration, and
/// the actor recorded in audit events. Cheap to clone; clones share the parts.
///
/// Every transition takes `&impl AsRef<Ports>`, so `stage.poll(&ta)` works with the engine
/// ([`TenantAccess`](crate::TenantAccess)) as well as with a `Ports`.
#[derive(Clone)]
pub struct Ports {
    store: Arc<dyn Store>,
    provider: Arc<dyn IdentityProvider>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    actor: Actor,
    connection_changed: Option<ConnectionChanged>,
    renew_token: Option<RenewToken>,
}

impl Ports {
    /// One of each part, acting as [`Actor::System`].
    pub fn new(
        store: Arc<dyn Store>,
        provider: Arc<dyn IdentityProvider>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Self {
        Self {
            store,
            provider,
            mailer,
            clock,
            config: Arc::new(config),
            actor: Actor::System,
            connection_changed: None,
            renew_token: None,
        }
    }

    /// The same parts, recording `actor` in audit events.
    pub fn acting_as(&self, actor: Actor) -> Self {
        Self {
            actor,
            ..self.clone()
        }
    }

    /// The same parts, calling `changed` when a customer's connection is replaced or ends.
    pub(crate) fn on_connection_changed(mut self, changed: ConnectionChanged) -> Self {
        self.connection_changed = Some(changed);
        self
    }

    /// The same parts, renewing access tokens with `renew` (see [`RenewToken`]).
    pub(crate) fn on_renew_token(mut self, renew: RenewToken) -> Self {
        self.renew_token = Some(renew);
        self
    }

    /// How to renew an access token under the engine's single flight and lease, if these
    /// ports belong to an engine (a bare `Ports` has none).
    pub(crate) fn token_renewer(&self) -> Option<&RenewToken> {
        self.renew_token.as_ref()
    }

    /// The store. Writing to it directly bypasses the journey's checks and audit events.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The identity provider.
    pub fn provider(&self) -> &dyn IdentityProvider {
        &*self.provider
    }

    /// The mailer.
    pub fn mailer(&self) -> &dyn Mailer {
        &*self.mailer
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The MSP's own client credential and where it stands now, warning
    /// [`Config::credential_warning`] ahead, when the provider knows its end
    /// ([`IdentityProvider::client_credential_expiry`]).
    pub fn client_credential_status(&self) -> Option<CredentialStatus> {
        self.provider().client_credential_expiry().map(|expiry| {
            CredentialStatus::at(
                expiry,
                self.clock().now(),
                self.config().credential_warning(),
            )
        })
    }

    /// Logs the MSP's own client credential when it expires soon or has expired: every
    /// customer depends on it.
    pub(crate) fn warn_about_client_credential(&self) -> Option<CredentialStatus> {
        let status = self.client_credential_status()?;
        match status.state {
            crate::model::ExpiryState::Expired => tracing::error!(
                credential = %status.expiry.name,
                expired_at = %status.expiry.expires_at,
                "the MSP's client {} has expired: no customer can be served until it is replaced",
                status.expiry.kind
            ),
            crate::model::ExpiryState::ExpiresSoon => tracing::warn!(
                credential = %status.expiry.name,
                expires_at = %status.expiry.expires_at,
                "the MSP's client {} expires soon: replace it",
                status.expiry.kind
            ),
            _ => {}
        }
        Some(status)
    }

    /// Reassesses `record`'s attention reasons now ([`crate::model::assess`]) and stores them
    /// in the record (a reason still there keeps its `since`, its evidence refreshed).
    /// Returns `None` when no reason was gained or cleared; otherwise the notices the changes
    /// make, one per [notification channel](Config::notify_channels) (none when no channel
    /// is configured): what a write of the record puts into the outbox in the same step.
    pub fn reassess(&self, record: &mut Record) -> Option<Vec<crate::model::Notice>> {
        let now = self.clock.now();
        let current = crate::model::assess(
            &record.customer,
            &record.stage,
            record.switch.as_deref(),
            now,
            self.config.health(),
        );
        if current.is_empty() && record.customer.health.attention.is_empty() {
            return None;
        }
        let (kept, changes) = crate::model::reconcile(&record.customer.health.attention, current);
        record.customer.health.attention = kept;
        if changes.is_empty() {
            return None;
        }
        for (change, attention) in &changes {
            tracing::info!(
                customer = %record.customer.id,
                change = change.as_str(),
                reason = %attention.reason,
                "attention reason {}",
                change.as_str()
            );
        }
        Some(crate::model::Notice::for_changes(
            &record.customer,
            &changes,
            self.config.notify_channels(),
            now,
        ))
    }

    /// The actor recorded in audit events.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Tells the token caches that `customer`'s connection was replaced or ended.
    pub(crate) fn connection_changed(&self, customer: &CustomerId) {
        if let Some(changed) = &self.connection_changed {
            changed(customer);
        }
    }

    /// An audit event for `customer`, now, by this actor.
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
            at: self.clock.now(),
            actor: self.actor.clone(),
            note,
        }
    }
}

impl AsRef<Ports> for Ports {
    fn as_ref(&self) -> &Ports {
        self
    }
}

impl fmt::Debug for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ports")
            .field("store", &self.store)
            .field("provider", &self.provider)
            .field("mailer", &self.mailer)
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("actor", &self.actor)
            .finish()
    }
}
