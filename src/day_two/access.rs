//! Silent access tokens: a per-process cache, refresh-ahead, single flight per customer, and
//! compare-and-swap across replicas.

use time::OffsetDateTime;

use crate::engine::TenantAccess;
use crate::error::{Error, FlowError, StoreError};
use crate::flow::{AnyOnboarding, ReauthRequired, RefreshOutcome, Validated};
use crate::ids::CustomerId;
use crate::secret::AccessToken;
use crate::{Onboarding, flow::StageKind};

/// How many times a refresh that lost a compare-and-swap reloads and looks again.
const CAS_RETRIES: usize = 3;

/// The stored token of a validated journey, if it is still valid at `fresh_until`.
fn stored_fresh(
    connected: &Onboarding<Validated>,
    fresh_until: OffsetDateTime,
) -> Option<(AccessToken, OffsetDateTime)> {
    connected
        .customer()
        .token
        .as_ref()
        .filter(|t| t.expires_at > fresh_until)
        .map(|t| (t.access_token.clone(), t.expires_at))
}

fn not_connected(customer: &CustomerId, stage: StageKind) -> Error {
    FlowError::NotConnected {
        customer: customer.clone(),
        stage,
    }
    .into()
}

impl TenantAccess {
    /// A valid access token for a connected customer.
    ///
    /// While the cached token is valid for longer than the refresh-ahead margin
    /// ([`Config::refresh_ahead`](crate::Config::refresh_ahead)) this touches neither the
    /// store nor the provider. Otherwise one caller per customer refreshes while the others
    /// wait for its result; across replicas the store's compare-and-swap decides, and a
    /// loser uses the winner's fresh token instead of refreshing again. If a refresh fails
    /// transiently while the old token has not expired yet, the old token is returned.
    ///
    /// A dead refresh token moves the customer to
    /// [`ReauthRequired`] (and, with
    /// [`Config::reinvite_on_reauth`](crate::Config::reinvite_on_reauth), mails a fresh
    /// invitation) and returns [`FlowError::NotConnected`].
    pub async fn access_token(&self, customer: &CustomerId) -> Result<AccessToken, Error> {
        let margin = self.config().refresh_margin();
        // The hot path: one clock read, no calendar arithmetic, one shard read lock.
        if let Some(token) = self
            .tokens()
            .fresh_at(customer, self.clock().now_unix_nanos(), margin)
        {
            return Ok(token);
        }
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        let fresh_until = self.clock().now() + margin;
        if let Some(token) = self.tokens().fresh(customer, fresh_until) {
            return Ok(token);
        }
        let mut connected = self.connected(customer).await?;
        for _ in 0..CAS_RETRIES {
            if let Some((token, expires_at)) = stored_fresh(&connected, fresh_until) {
                self.tokens().put(customer, token.clone(), expires_at);
                return Ok(token);
            }
            match self.refresh_connected(connected).await {
                Ok(Some(refreshed)) => connected = refreshed,
                Ok(None) => return Err(not_connected(customer, StageKind::ReauthRequired)),
                Err((stale, error)) => {
                    let now = self.clock().now();
                    if let Some((token, _)) = stored_fresh(&stale, now) {
                        if !matches!(error, Error::Store(StoreError::Conflict { .. })) {
                            // The old token still works: serve it, refresh next time.
                            return Ok(token);
                        }
                    }
                    if !matches!(error, Error::Store(StoreError::Conflict { .. })) {
                        return Err(error);
                    }
                    // Another replica wrote first: read its result.
                    connected = self.connected(customer).await?;
                }
            }
        }
        stored_fresh(&connected, fresh_until)
            .map(|(token, expires_at)| {
                self.tokens().put(customer, token.clone(), expires_at);
                token
            })
            .ok_or_else(|| {
                Error::Store(StoreError::Conflict {
                    customer: customer.clone(),
                    expected: connected.version(),
                    actual: None,
                })
            })
    }

    /// "Refresh token now": refreshes one customer's token whatever its expiry, sharing the
    /// single-flight lock with [`access_token`](Self::access_token). Returns the journey as it
    /// then stands: [`Validated`] with the new token, [`ReauthRequired`] when the refresh
    /// token is dead, or a fresh invitation when
    /// [`Config::reinvite_on_reauth`](crate::Config::reinvite_on_reauth) is on.
    pub async fn refresh_now(&self, customer: &CustomerId) -> Result<AnyOnboarding, Error> {
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        let connected = self.connected(customer).await?;
        match connected.refresh(self).await? {
            RefreshOutcome::Refreshed(fresh) => {
                self.cache_from(&fresh);
                Ok(fresh.into())
            }
            RefreshOutcome::ReauthRequired(dead) => {
                self.tokens().forget(customer);
                Ok(self.after_reauth(dead).await)
            }
        }
    }

    /// Loads a customer that must be in [`Validated`].
    async fn connected(&self, customer: &CustomerId) -> Result<Onboarding<Validated>, Error> {
        match self.load(customer).await? {
            AnyOnboarding::Validated(connected) => Ok(connected),
            other => {
                self.tokens().forget(customer);
                Err(not_connected(customer, other.kind()))
            }
        }
    }

    fn cache_from(&self, connected: &Onboarding<Validated>) {
        if let Some(t) = &connected.customer().token {
            self.tokens()
                .put(connected.id(), t.access_token.clone(), t.expires_at);
        }
    }

    /// One refresh: `Ok(Some)` refreshed and cached, `Ok(None)` the refresh token is dead,
    /// `Err` the unchanged journey and why.
    async fn refresh_connected(
        &self,
        connected: Onboarding<Validated>,
    ) -> Result<Option<Onboarding<Validated>>, (Onboarding<Validated>, Error)> {
        match connected.refresh(self).await {
            Ok(RefreshOutcome::Refreshed(fresh)) => {
                self.cache_from(&fresh);
                Ok(Some(fresh))
            }
            Ok(RefreshOutcome::ReauthRequired(dead)) => {
                self.tokens().forget(dead.id());
                self.after_reauth(dead).await;
                Ok(None)
            }
            Err(rejected) => Err(rejected.into_parts()),
        }
    }

    /// Applies the re-authentication policy: with
    /// [`Config::reinvite_on_reauth`](crate::Config::reinvite_on_reauth) the customer gets a
    /// fresh invitation. Returns the journey as it now stands.
    async fn after_reauth(&self, dead: Onboarding<ReauthRequired>) -> AnyOnboarding {
        if !self.config().reinvites_on_reauth() {
            return dead.into();
        }
        let id = dead.id().clone();
        let invited = match dead.reinvite(self).await {
            Ok(invited) => invited,
            Err(rejected) => {
                tracing::warn!(customer = %id, error = %rejected.error(), "automatic re-invitation failed");
                return rejected.into_onboarding().into();
            }
        };
        match invited.send(self).await {
            Ok(sent) => sent.into(),
            Err(rejected) => {
                tracing::warn!(customer = %id, error = %rejected.error(), "automatic re-invitation not sent");
                rejected.into_onboarding().into()
            }
        }
    }
}
