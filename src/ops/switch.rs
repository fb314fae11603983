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

use super::DayTwo;
use crate::error::{Error, FlowError, StoreError};
use crate::journey::{AnyOnboarding, ConsentRequired, Invited, Onboarding, StageKind};
use crate::model::{ClientSecret, Password};
use crate::model::{Customer, NewCustomer};
use crate::model::{CustomerId, EmailAddress, Method};

/// How many times cancelling reloads the switch journey after losing a compare-and-swap.
const CANCEL_RETRIES: usize = 5;

impl DayTwo {
    /// [`TenantAccess::switch_to_device_code`](crate::TenantAccess::switch_to_device_code).
    pub(crate) async fn switch_to_device_code(
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

    /// [`TenantAccess::switch_to_password`](crate::TenantAccess::switch_to_password).
    pub(crate) async fn switch_to_password(
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

    /// [`TenantAccess::switch_to_app_registration`](crate::TenantAccess::switch_to_app_registration).
    pub(crate) async fn switch_to_app_registration(
        &self,
        customer: &CustomerId,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let (credentials, client_id) =
            crate::journey::app_credentials(client_id.into(), client_secret)?;
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

    /// [`TenantAccess::pending_switch`](crate::TenantAccess::pending_switch).
    pub(crate) async fn pending_switch(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<AnyOnboarding>, Error> {
        Ok(self
            .store()
            .load(&customer.switch_journey())
            .await?
            .map(AnyOnboarding::from_record))
    }

    /// [`TenantAccess::cancel_switch`](crate::TenantAccess::cancel_switch).
    pub(crate) async fn cancel_switch(&self, customer: &CustomerId) -> Result<(), Error> {
        let id = customer.switch_journey();
        for _ in 0..CANCEL_RETRIES {
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
        if !current.kind().may_switch_method() {
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
}
