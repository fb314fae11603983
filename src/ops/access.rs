//! Silent access tokens: a per-process cache, refresh-ahead, single flight per customer, and
//! compare-and-swap across replicas.

use std::time::Duration;

use time::OffsetDateTime;

use super::DayTwo;
use super::not_connected;
use crate::Onboarding;
use crate::error::{Error, FlowError, StoreError};
use crate::journey::{AnyOnboarding, ReauthRequired, RefreshOutcome, ScopedRefresh, Validated};
use crate::model::AccessToken;
use crate::model::RefreshLease;
use crate::model::TokenSet;
use crate::model::{CustomerId, Scopes};

/// How often a replica waiting for another replica's refresh looks at the store again.
const LEASE_POLL: Duration = Duration::from_millis(100);

/// What to do under the refresh lease.
pub(super) enum Job<'a> {
    /// Renew the connection's own token until it is what [`Wanted`] says.
    Renew(Wanted),
    /// Get a token for other scopes from the refresh token (storing a rotated one).
    ForScopes(&'a Scopes),
}

/// What a refresh must achieve.
pub(super) enum Wanted {
    /// A stored token not yet due for refresh at this moment (`access_token`): the
    /// refresh-ahead rule of [`TokenSet::refresh_due_at`].
    NotDueAt(OffsetDateTime),
    /// Any stored token other than this one (`refresh_now`): a refresh another replica
    /// finished meanwhile counts.
    Replacing(Option<AccessToken>),
    /// A stored token other than `than` (which expired or was refused) that is still valid
    /// at `valid_at` (a verification): another caller's or replica's refresh counts.
    ValidInsteadOf {
        than: Option<AccessToken>,
        valid_at: OffsetDateTime,
    },
}

impl Wanted {
    /// Whether the stored token of `connected` is what was wanted, refreshing `margin`
    /// ahead ([`Config::refresh_ahead`](crate::Config::refresh_ahead)).
    fn is_met(&self, connected: &Onboarding<Validated>, margin: Duration) -> bool {
        let token = connected.customer().token.as_ref();
        let differs = |t: &TokenSet, old: &Option<AccessToken>| {
            old.as_ref()
                .is_none_or(|old| t.access_token.expose_secret() != old.expose_secret())
        };
        match self {
            Wanted::NotDueAt(at) => token.is_some_and(|t| t.refresh_due_at(margin) > *at),
            Wanted::Replacing(old) => old.is_some() && token.is_some_and(|t| differs(t, old)),
            Wanted::ValidInsteadOf { than, valid_at } => {
                token.is_some_and(|t| t.expires_at > *valid_at && differs(t, than))
            }
        }
    }
}

/// The stored token of a validated journey, if it is still valid at `at`.
fn stored_valid(connected: &Onboarding<Validated>, at: OffsetDateTime) -> Option<AccessToken> {
    connected
        .customer()
        .token
        .as_ref()
        .filter(|t| t.expires_at > at)
        .map(|t| t.access_token.clone())
}

impl DayTwo {
    /// [`TenantAccess::access_token`](crate::TenantAccess::access_token).
    pub(crate) async fn access_token(&self, customer: &CustomerId) -> Result<AccessToken, Error> {
        // The hot path: one clock read, no calendar arithmetic (the refresh-ahead moment was
        // worked out when the token was cached), one shard read lock.
        if let Some(token) = self
            .tokens()
            .fresh_at(customer, self.clock().now_unix_nanos())
        {
            return Ok(token);
        }
        // Boxed: inline, the refresh's state would make every call's future kilobytes long,
        // and a caller moving it (to pin or spawn it) would copy all of it on the hot path.
        Box::pin(self.refresh_access_token(customer)).await
    }

    /// The slow path of [`access_token`](Self::access_token): single flight, then a refresh
    /// under the replicas' lease.
    async fn refresh_access_token(&self, customer: &CustomerId) -> Result<AccessToken, Error> {
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        let now = self.clock().now();
        if let Some(token) = self.tokens().fresh(customer, now) {
            return Ok(token);
        }
        match self.refresh_leased(customer, Wanted::NotDueAt(now)).await {
            // Cached by the refresh (`cache_from`), until its own refresh-ahead moment.
            Ok(AnyOnboarding::Validated(connected)) => stored_valid(&connected, self.clock().now())
                .ok_or_else(|| {
                    FlowError::Inconsistent("a refreshed journey without a token").into()
                }),
            Ok(other) => Err(not_connected(customer, other.kind())),
            Err(error) if error.is_retryable() => {
                // The old token still works: serve it, refresh next time.
                match self.connected(customer).await {
                    Ok(connected) => match stored_valid(&connected, self.clock().now()) {
                        Some(token) => Ok(token),
                        None => Err(error),
                    },
                    Err(_) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// [`TenantAccess::refresh_now`](crate::TenantAccess::refresh_now).
    pub(crate) async fn refresh_now(&self, customer: &CustomerId) -> Result<AnyOnboarding, Error> {
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        let connected = self.connected(customer).await?;
        let current = connected
            .customer()
            .token
            .as_ref()
            .map(|t| t.access_token.clone());
        self.refresh_leased(customer, Wanted::Replacing(current))
            .await
    }

    /// Renews `customer`'s stored access token because `old`, the one the caller holds,
    /// expired or was refused: under the single flight and the refresh lease, as
    /// [`access_token`](Self::access_token) does. A token another caller or replica stored
    /// meanwhile counts if it is still valid. Returns the connection with its new token; a
    /// dead refresh token moves the customer to re-authentication (and the policy's
    /// re-invitation) and is [`FlowError::NotConnected`], as for `access_token`.
    pub(super) async fn renew_token(
        &self,
        customer: &CustomerId,
        old: Option<AccessToken>,
    ) -> Result<Onboarding<Validated>, Error> {
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        let wanted = Wanted::ValidInsteadOf {
            than: old,
            valid_at: self.clock().now(),
        };
        match self.refresh_leased(customer, wanted).await? {
            AnyOnboarding::Validated(connected) => Ok(connected),
            other => Err(not_connected(customer, other.kind())),
        }
    }

    /// Refreshes under the replicas' refresh lease until the stored token is what `wanted`
    /// asks for. Returns the journey as it then stands ([`Validated`], or wherever a dead
    /// refresh token took it).
    async fn refresh_leased(
        &self,
        customer: &CustomerId,
        wanted: Wanted,
    ) -> Result<AnyOnboarding, Error> {
        self.under_lease(customer, Job::Renew(wanted))
            .await
            .map(|(journey, _)| journey)
    }

    /// Runs `job` under the replicas' refresh lease on `customer`'s stored connection: waits
    /// while another replica holds the lease, claims it by compare-and-swap, then calls the
    /// provider. Returns the journey as it then stands and, for [`Job::ForScopes`], the token.
    pub(super) async fn under_lease(
        &self,
        customer: &CustomerId,
        job: Job<'_>,
    ) -> Result<(AnyOnboarding, Option<TokenSet>), Error> {
        let mut journey = self.load(customer).await?;
        loop {
            let connected = match journey {
                AnyOnboarding::Validated(connected) => connected,
                other => {
                    self.forget_tokens(customer);
                    return Ok((other, None));
                }
            };
            if let Job::Renew(wanted) = &job
                && wanted.is_met(&connected, self.config().refresh_ahead())
            {
                self.cache_from(&connected);
                return Ok((connected.into(), None));
            }
            let now = self.clock().now();
            if let Some(lease) = &connected.customer().refresh_lease
                && lease.holder != self.instance_id()
                && lease.until > now
            {
                // Another replica is refreshing: wait for its result.
                let wake = (now + LEASE_POLL).min(lease.until);
                self.clock().sleep_until(wake).await;
                journey = self.load(customer).await?;
                continue;
            }
            let mut claim = connected.customer().clone();
            claim.refresh_lease = Some(RefreshLease {
                holder: self.instance_id().to_owned(),
                until: now + self.config().refresh_lease(),
            });
            let stage = connected.stage().clone();
            let claimed = match connected.save(self, claim, stage).await {
                Ok(claimed) => claimed,
                Err(rejected) => {
                    let (_, error) = rejected.into_parts();
                    if !matches!(error, Error::Store(StoreError::Conflict { .. })) {
                        return Err(error);
                    }
                    // Another replica wrote first (perhaps its own claim): look again.
                    journey = self.load(customer).await?;
                    continue;
                }
            };
            let dead = match job {
                Job::Renew(_) => match claimed.refresh(self).await {
                    Ok(RefreshOutcome::Refreshed(fresh)) => {
                        self.cache_from(&fresh);
                        return Ok((fresh.into(), None));
                    }
                    Ok(RefreshOutcome::ReauthRequired(dead)) => dead,
                    Err(rejected) => return Err(rejected.into_parts().1),
                },
                Job::ForScopes(scopes) => match claimed.refresh_for_scopes(self, scopes).await {
                    Ok(ScopedRefresh::Token { connection, token }) => {
                        return Ok((connection.into(), Some(token)));
                    }
                    Ok(ScopedRefresh::ReauthRequired(dead)) => dead,
                    Err(rejected) => return Err(rejected.into_parts().1),
                },
            };
            self.forget_tokens(customer);
            return Ok((self.after_reauth(dead).await, None));
        }
    }

    /// Loads a customer that must be in [`Validated`].
    async fn connected(&self, customer: &CustomerId) -> Result<Onboarding<Validated>, Error> {
        match self.load(customer).await? {
            AnyOnboarding::Validated(connected) => Ok(connected),
            other => {
                self.forget_tokens(customer);
                Err(not_connected(customer, other.kind()))
            }
        }
    }

    /// Caches the stored token of `connected`, served until its refresh-ahead moment.
    fn cache_from(&self, connected: &Onboarding<Validated>) {
        if let Some(t) = &connected.customer().token {
            let due_at = t.refresh_due_at(self.config().refresh_ahead());
            self.tokens()
                .put(connected.id(), t.access_token.clone(), due_at);
        }
    }

    /// Applies the re-authentication policy: with
    /// [`Config::reinvite_on_reauth`](crate::Config::reinvite_on_reauth) the customer gets a
    /// fresh invitation. Returns the journey as it now stands.
    async fn after_reauth(&self, dead: Onboarding<ReauthRequired>) -> AnyOnboarding {
        if !self.config().reinvite_on_reauth() {
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
