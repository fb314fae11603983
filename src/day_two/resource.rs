//! Access tokens for other resources (Azure Resource Manager, Exchange, …) from the same
//! refresh token, cached per customer and scopes.

use std::collections::HashMap;
use std::sync::RwLock;

use time::OffsetDateTime;

use super::access::Job;
use crate::engine::TenantAccess;
use crate::error::Error;
use crate::ids::{CustomerId, Scopes};
use crate::secret::AccessToken;

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

impl TenantAccess {
    /// Forgets every cached token of `customer`, its own and those for other scopes.
    pub(crate) fn forget_tokens(&self, customer: &CustomerId) {
        self.tokens().forget(customer);
        self.resource_tokens().forget(customer);
    }

    /// A valid access token for other `scopes` (another resource, such as
    /// `https://management.azure.com/.default`), obtained from the connection's refresh token
    /// where the provider allows it (Entra ID does; see
    /// [`IdentityProvider::refresh_for_scopes`](crate::provider::IdentityProvider::refresh_for_scopes)).
    ///
    /// Cached in this process per customer and scopes and renewed ahead of expiry like
    /// [`access_token`](Self::access_token), under the same single flight and refresh lease;
    /// a refresh token the answer rotates in is stored. Connections without a refresh token
    /// (app registrations) get [`FlowError::WrongMethod`](crate::error::FlowError::WrongMethod); a dead refresh token moves the
    /// customer to re-authentication and returns [`FlowError::NotConnected`](crate::error::FlowError::NotConnected).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use tenant_access::{*, clock::ManualClock, mail::CaptureMailer, provider::mock::MockProvider, store::MemoryStore};
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
    pub async fn access_token_for(
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
        let fresh_until = self.clock().now() + self.config().refresh_margin();
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
