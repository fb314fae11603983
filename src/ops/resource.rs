//! Access tokens for other resources (Azure Resource Manager, Exchange, …) from the same
//! refresh token, in the one token cache under [`Resource::Scopes`].

use super::DayTwo;
use super::access::Job;
use super::cache::Resource;
use crate::error::Error;
use crate::model::AccessToken;
use crate::model::{CustomerId, Scopes};

impl DayTwo {
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

    /// The cached token for `scopes` if it is not yet due for refresh (the same rule as the
    /// connection's own token, applied when it was cached).
    fn fresh_for(&self, customer: &CustomerId, scopes: &Scopes) -> Option<AccessToken> {
        self.tokens().fresh_token(
            customer,
            Resource::Scopes(scopes),
            self.clock().now_unix_nanos(),
        )
    }

    /// The slow path of [`access_token_for`](Self::access_token_for): the customer's one
    /// single-flight lock (shared with `access_token`), then the replicas' lease.
    async fn refresh_access_token_for(
        &self,
        customer: &CustomerId,
        scopes: &Scopes,
    ) -> Result<AccessToken, Error> {
        let flight = self.tokens().flight(customer);
        let _one_at_a_time = flight.lock().await;
        if let Some(token) = self.fresh_for(customer, scopes) {
            return Ok(token);
        }
        match self.under_lease(customer, Job::ForScopes(scopes)).await? {
            (_, Some(token)) => {
                self.tokens().put_token(
                    customer,
                    Resource::Scopes(scopes),
                    token.access_token.clone(),
                    token.refresh_due_at(self.config().refresh_ahead()),
                );
                Ok(token.access_token)
            }
            (journey, None) => {
                self.forget_tokens(customer);
                Err(super::not_connected(customer, journey.kind()))
            }
        }
    }
}
