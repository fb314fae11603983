//! Switching a connected customer to another method (device code, password, app registration)
//! while the old connection keeps serving.
//!
//! The new method runs as its own journey under the id
//! [`CustomerId::switch_journey`] (`contoso#switch`), through the same stages and wizard as a
//! first onboarding. The customer's own record stays [`Validated`] and keeps serving
//! [`access_token`](TenantAccess::access_token) meanwhile. When the new journey is validated,
//! one compare-and-swap write replaces the old connection with the new one (the take-over),
//! and the switch journey is deleted. Cancelling deletes the switch journey and leaves the old
//! connection as it was.
//!
//! The old tokens are not revoked at the take-over: on providers that revoke whole grants
//! (RFC 7009 allows it) that could end the new connection too. They expire on their own.

use crate::customer::{Customer, NewCustomer};
use crate::engine::TenantAccess;
use crate::error::{Error, FlowError, StoreError};
use crate::flow::{
    AnyOnboarding, ConsentRequired, Invited, Onboarding, Rejected, Stage, StageKind, TokenAcquired,
    Validated,
};
use crate::ids::{CustomerId, EmailAddress, Method};
use crate::secret::{ClientSecret, Password};
use crate::store::Record;

/// How many times the take-over reloads the customer after losing a compare-and-swap (for
/// example to a token refresh of the old connection).
const TAKE_OVER_RETRIES: usize = 5;

/// The stages a customer may switch from: a working connection, or one that needs
/// re-authentication.
fn may_switch(stage: StageKind) -> bool {
    matches!(stage, StageKind::Validated | StageKind::ReauthRequired)
}

impl TenantAccess {
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
        let (journey, kind) = self
            .switch_customer(customer, Method::DeviceCode, admin_email)
            .await?;
        let invited = self.create(journey, Invited).await?;
        self.note_switch(
            customer,
            kind,
            format!("method switch to {} started", Method::DeviceCode),
        )
        .await;
        Ok(invited)
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
        let (credentials, client_id) = self.password_credentials(username.into(), password)?;
        let (journey, kind) = self
            .switch_customer(customer, Method::Password, None)
            .await?;
        let pending = self.start_consent(journey, credentials, client_id).await?;
        self.note_switch(
            customer,
            kind,
            format!("method switch to {} started", Method::Password),
        )
        .await;
        Ok(pending)
    }

    /// Starts switching `customer` to an app registration in its tenant: the new credentials
    /// wait in [`ConsentRequired`] (as in
    /// [`connect_app_registration`](TenantAccess::connect_app_registration)) while the old
    /// connection serves.
    pub async fn switch_to_app_registration(
        &self,
        customer: &CustomerId,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let (credentials, client_id) =
            crate::flow::app_credentials(client_id.into(), client_secret)?;
        let (journey, kind) = self
            .switch_customer(customer, Method::AppRegistration, None)
            .await?;
        let pending = self.start_consent(journey, credentials, client_id).await?;
        self.note_switch(
            customer,
            kind,
            format!("method switch to {} started", Method::AppRegistration),
        )
        .await;
        Ok(pending)
    }

    /// The method switch under way for `customer`, if any, in whatever stage it is.
    pub async fn pending_switch(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<AnyOnboarding>, Error> {
        Ok(self
            .store()
            .load(&customer.switch_journey())
            .await?
            .map(AnyOnboarding::from_record))
    }

    /// Cancels the method switch under way for `customer`: the switch journey (and its
    /// invitation link) is deleted, and the old connection stays exactly as it is.
    ///
    /// Fails with [`FlowError::NoSwitchInProgress`] when there is none.
    pub async fn cancel_switch(&self, customer: &CustomerId) -> Result<(), Error> {
        let id = customer.switch_journey();
        for _ in 0..TAKE_OVER_RETRIES {
            let Some(journey) = self.store().load(&id).await? else {
                return Err(FlowError::NoSwitchInProgress(customer.clone()).into());
            };
            let method = journey.customer.method;
            let event = self.event(
                &id,
                Some(journey.stage.kind()),
                StageKind::Revoked,
                Some("method switch cancelled".into()),
            );
            match self.store().delete(&id, journey.version, &event).await {
                Ok(()) => {
                    if let Ok(Some(owner)) = self.store().load(customer).await {
                        let note = format!("method switch to {method} cancelled");
                        self.note_switch(customer, owner.stage.kind(), note).await;
                    }
                    return Ok(());
                }
                // The journey moved meanwhile (a poll, a resend): look again.
                Err(StoreError::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(FlowError::NoSwitchInProgress(customer.clone()).into())
    }

    /// The new journey's customer: the same tenant, the new method and admin, nothing else.
    async fn switch_customer(
        &self,
        customer: &CustomerId,
        method: Method,
        admin_email: Option<EmailAddress>,
    ) -> Result<(Customer, StageKind), Error> {
        let current = self.load(customer).await?;
        if !may_switch(current.kind()) {
            return Err(super::not_connected(customer, current.kind()));
        }
        if let Some(pending) = self.store().load(&customer.switch_journey()).await? {
            return Err(FlowError::SwitchInProgress {
                customer: customer.clone(),
                method: pending.customer.method,
            }
            .into());
        }
        let old = current.customer();
        let new = NewCustomer {
            id: customer.switch_journey(),
            tenant: old.tenant.clone(),
            admin_email: admin_email.unwrap_or_else(|| old.admin_email.clone()),
        };
        Ok((
            Customer::new(new, method, self.clock().now()),
            current.kind(),
        ))
    }

    /// Records a switch milestone in the customer's own audit trail (best effort: the
    /// switch journey's own events are the record of its steps).
    async fn note_switch(&self, customer: &CustomerId, kind: StageKind, note: String) {
        let event = self.event(customer, Some(kind), kind, Some(note));
        if let Err(error) = self.store().append_event(&event).await {
            tracing::warn!(customer = %customer, %error, "switch audit event not stored");
        }
    }

    /// The take-over: a validated switch journey replaces its customer's connection in one
    /// compare-and-swap write, then the switch journey is deleted. On failure the switch
    /// journey comes back unchanged and the old connection is untouched.
    pub(crate) async fn take_over(
        &self,
        journey: Onboarding<TokenAcquired>,
        proven: Customer,
        validated: Validated,
        owner: CustomerId,
    ) -> Result<Onboarding<Validated>, Rejected<TokenAcquired>> {
        let mut attempt = 0;
        let (taken, old_method) = loop {
            attempt += 1;
            let current = match self.store().load(&owner).await {
                Ok(Some(record)) => record,
                Ok(None) => return Err(journey.reject(FlowError::NotFound(owner))),
                Err(error) => return Err(journey.reject(error)),
            };
            if !may_switch(current.stage.kind()) {
                let stage = current.stage.kind();
                return Err(journey.reject(FlowError::NotConnected {
                    customer: owner,
                    stage,
                }));
            }
            let mut customer = proven.clone();
            customer.id = owner.clone();
            customer.created_at = current.customer.created_at;
            customer.updated_at = self.clock().now();
            // The invitation stays as history (sent, when); its link dies with the journey.
            if let Some(invitation) = customer.invitation.as_mut() {
                invitation.code_hash = None;
            }
            let old_method = current.customer.method;
            let event = self.event(
                &owner,
                Some(current.stage.kind()),
                StageKind::Validated,
                Some(format!(
                    "method switched from {old_method} to {}",
                    customer.method
                )),
            );
            let record = Record {
                customer,
                stage: Stage::Validated(validated.clone()),
                version: current.version,
            };
            match self.store().update(&record, Some(&event)).await {
                Ok(version) => {
                    let Record { customer, .. } = record;
                    let taken = Onboarding::from_parts(customer, validated.clone(), version);
                    break (taken, old_method);
                }
                Err(StoreError::Conflict { .. }) if attempt < TAKE_OVER_RETRIES => continue,
                Err(error) => return Err(journey.reject(error)),
            }
        };
        self.forget_tokens(&owner);
        tracing::info!(customer = %owner, from = %old_method, to = %taken.customer().method, "method switched");
        let event = self.event(
            journey.id(),
            Some(StageKind::TokenAcquired),
            StageKind::Revoked,
            Some(format!("taken over by {owner}")),
        );
        if let Err(error) = self
            .store()
            .delete(journey.id(), journey.version(), &event)
            .await
        {
            // The connection has switched; the leftover journey is harmless (validating it
            // again repeats the take-over, cancel_switch removes it).
            tracing::warn!(customer = %owner, %error, "switch journey not deleted after take-over");
        }
        Ok(taken)
    }
}
