//! Starting, finding and cancelling a method switch: the new method's journey kept in the
//! customer's record beside the connection, which keeps serving until the switch's
//! [`validate`](super::Onboarding::validate) takes over in one write.

use super::slot::{Beside, Slot};
use super::{AnyOnboarding, Onboarding};
use crate::error::{Error, FlowError, StoreError};
use crate::model::{
    Customer, CustomerId, EmailAddress, JourneyId, Method, NewCustomer, PendingSwitch, StageKind,
    StageType, Version,
};
use crate::ports::Ports;

/// How many times starting or cancelling a switch reloads the record after losing a
/// compare-and-swap (to a token refresh of the connection, say).
const RETRIES: usize = 5;

impl Ports {
    /// Starts switching `customer` to `method`: the new journey's customer (the same id and
    /// tenant, `admin_email` or the current admin) is handed to `first`, which returns it in
    /// the journey's first stage; that journey is stored beside the connection, with a fresh
    /// random [`JourneyId`].
    ///
    /// Fails with [`FlowError::NotConnected`] unless the customer is validated or needs
    /// re-authentication, and with [`FlowError::SwitchInProgress`] if a switch is under way.
    pub(crate) async fn start_switch<S: StageType>(
        &self,
        customer: &CustomerId,
        method: Method,
        admin_email: Option<EmailAddress>,
        first: impl Fn(Customer) -> Result<(Customer, S), Error>,
    ) -> Result<Onboarding<S>, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut record = self
                .store()
                .load(customer)
                .await?
                .ok_or_else(|| FlowError::NotFound(customer.clone()))?;
            let kind = record.stage.kind();
            if !kind.may_switch_method() {
                return Err(FlowError::NotConnected {
                    customer: customer.clone(),
                    stage: kind,
                }
                .into());
            }
            if let Some(pending) = record.switch.as_ref()
                && pending.stage.kind() != StageKind::Revoked
            {
                return Err(FlowError::SwitchInProgress {
                    customer: customer.clone(),
                    method: pending.customer.method,
                }
                .into());
            }
            let new = NewCustomer {
                id: customer.clone(),
                tenant: record.customer.tenant.clone(),
                admin_email: admin_email
                    .clone()
                    .unwrap_or_else(|| record.customer.admin_email.clone()),
            };
            let (new, stage) = first(Customer::new(new, method, self.clock().now()))?;
            let journey = JourneyId::generate();
            let event = self.event(
                customer,
                None,
                S::KIND,
                Some(format!("method switch to {method} started")),
            );
            record.switch = Some(Box::new(PendingSwitch {
                journey: journey.clone(),
                version: Version(1),
                customer: new.clone(),
                stage: stage.clone().into_stage(),
            }));
            let notices = self.reassess(&mut record).unwrap_or_default();
            match self.store().update(&record, Some(&event), &notices).await {
                Ok(version) => {
                    tracing::info!(customer = %customer, to = %method, "method switch started");
                    let slot = Slot::Switch(Box::new(Beside {
                        journey,
                        version: Version(1),
                        connection: record.customer,
                        connection_stage: record.stage,
                    }));
                    return Ok(Onboarding::from_parts(new, stage, version, slot));
                }
                Err(StoreError::Conflict { .. }) if attempt < RETRIES => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// [`TenantAccess::pending_switch`](crate::TenantAccess::pending_switch).
    pub(crate) async fn pending_switch(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<AnyOnboarding>, Error> {
        Ok(self
            .store()
            .load(customer)
            .await?
            .and_then(AnyOnboarding::switch_from_record))
    }

    /// [`TenantAccess::cancel_switch`](crate::TenantAccess::cancel_switch).
    pub(crate) async fn cancel_switch(&self, customer: &CustomerId) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut record = self.store().load(customer).await?;
            let Some(switch) = record.as_mut().and_then(|r| r.switch.take()) else {
                return Err(FlowError::NoSwitchInProgress(customer.clone()).into());
            };
            let mut record = record.expect("a switch came from it");
            let notices = self.reassess(&mut record).unwrap_or_default();
            let event = self.event(
                customer,
                Some(switch.stage.kind()),
                StageKind::Revoked,
                Some(format!(
                    "method switch to {} cancelled",
                    switch.customer.method
                )),
            );
            match self.store().update(&record, Some(&event), &notices).await {
                Ok(_) => return Ok(()),
                // The record moved meanwhile (a poll, a refresh): look again.
                Err(StoreError::Conflict { .. }) if attempt < RETRIES => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}
