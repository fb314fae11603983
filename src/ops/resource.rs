//! Access tokens for other resources (Azure Resource Manager, Exchange, …) from the same
//! refresh token, cached per customer and scopes.

use std::collections::HashMap;
use std::sync::RwLock;

use time::OffsetDateTime;

use super::DayTwo;
use super::access::Job;
use crate::error::Error;
use crate::model::AccessToken;
use crate::model::{CustomerId, Scopes};

/// Tokens for other scopes known to this process (never stored: they are cheap to get again
/// from the stored refresh token).
#[derive(Default)]
pub(crate) struct ResourceCache {
    tokens: RwLock<HashMap<(CustomerId, Scopes), (AccessToken, OffsetDateTime)>>,
}

impl ResourceCache {
    fn fresh(
        &self,
        customer: &CustomerId,
        scopes: &Scopes,
        fresh_until: OffsetDateTime,
    ) -> Option<AccessToken> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(&(customer.clone(), scopes.clone()))
            .filter(|(_, expires_at)| *expires_at > fresh_until)
            .map(|(token, _)| token.clone())
    }

    fn put(&self, customer: &CustomerId, scopes: &Scopes, token: AccessToken, at: OffsetDateTime) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.insert((customer.clone(), scopes.clone()), (token, at));
    }

    /// Forgets every token of `customer` (re-authentication, revocation, a method switch).
    pub(crate) fn forget(&self, customer: &CustomerId) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|(c, _), _| c != customer);
    }
}

impl DayTwo {
    /// Forgets every cached token of `customer`, its own and those for other scopes.
    pub(crate) fn forget_tokens(&self, customer: &CustomerId) {
        self.tokens().forget(customer);
        self.resource_tokens().forget(customer);
    }

    /// [`TenantAccess::access_token_for`](crate::TenantAccess::access_token_for).
    pub(crate) async fn access_token_for(
        &self,
        customer: &CustomerId,
        scopes: &Scopes,
    ) -> Result<AccessToken, Error> {
        match self.fresh_for(customer, scopes) {
            Some(token) => Ok(token),
            // Boxed, as in `access_token`: the hit path's future stays small.
            None => Box::pin(self.refresh_access_token_for(customer, scopes)).await,
        }
    }

    /// The cached token for `scopes` if it is valid beyond the refresh-ahead margin.
    fn fresh_for(&self, customer: &CustomerId, scopes: &Scopes) -> Option<AccessToken> {
        let fresh_until = self.clock().now() + self.config().refresh_ahead();
        self.resource_tokens().fresh(customer, scopes, fresh_until)
    }

    /// The slow path of [`access_token_for`](Self::access_token_for).
    async fn refresh_access_token_for(
        &self,
        customer: &CustomerId,
        scopes: &Scopes,
    ) -> Result<AccessToken, Error> {
        let cache = self.resource_tokens();
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        if let Some(token) = self.fresh_for(customer, scopes) {
            return Ok(token);
        }
        match self.under_lease(customer, Job::ForScopes(scopes)).await? {
            (_, Some(token)) => {
                cache.put(
                    customer,
                    scopes,
                    token.access_token.clone(),
                    token.expires_at,
                );
                Ok(token.access_token)
            }
            (journey, None) => {
                cache.forget(customer);
                Err(super::not_connected(customer, journey.kind()))
            }
        }
    }
}
