//! Switching a connected customer to another method (device code, password, app registration)
//! while the old connection keeps serving.
//!
//! The new method runs as a journey of its own, through the same stages and wizard as a first
//! onboarding, kept in the customer's record beside the connection with a fresh random id
//! ([`PendingSwitch`](crate::model::PendingSwitch)). The connection stays [`Validated`] and
//! keeps serving [`access_token`](crate::TenantAccess::access_token) meanwhile. When the new
//! journey is validated, one compare-and-swap write replaces the old connection with the new
//! one and ends the switch (the take-over). Cancelling ends the switch and leaves the
//! connection as it was; every link and wizard session made for the switch dies with it.
//!
//! The old tokens are not revoked at the take-over: on providers that revoke whole grants
//! (RFC 7009 allows it) that could end the new connection too. They expire on their own.
//!
//! [`Validated`]: crate::model::Validated

use super::DayTwo;
use crate::error::Error;
use crate::journey::{ConsentRequired, Invited, Onboarding, app_credentials};
use crate::model::{AppCredential, CustomerId, EmailAddress, Method, Password};

impl DayTwo {
    /// [`TenantAccess::switch_to_device_code`](crate::TenantAccess::switch_to_device_code).
    pub(crate) async fn switch_to_device_code(
        &self,
        customer: &CustomerId,
        admin_email: Option<EmailAddress>,
    ) -> Result<Onboarding<Invited>, Error> {
        self.start_switch(customer, Method::DeviceCode, admin_email, |new| {
            Ok((new, Invited))
        })
        .await
    }

    /// [`TenantAccess::switch_to_password`](crate::TenantAccess::switch_to_password).
    pub(crate) async fn switch_to_password(
        &self,
        customer: &CustomerId,
        username: impl Into<String>,
        password: Password,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let (credentials, client_id) = self.password_credentials(username.into(), password)?;
        self.start_switch(customer, Method::Password, None, |new| {
            self.start_consent(new, credentials.clone(), client_id.clone())
        })
        .await
    }

    /// [`TenantAccess::switch_to_app_registration`](crate::TenantAccess::switch_to_app_registration).
    pub(crate) async fn switch_to_app_registration(
        &self,
        customer: &CustomerId,
        client_id: impl Into<String>,
        credential: impl Into<AppCredential>,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let (credentials, client_id) = app_credentials(client_id.into(), credential.into())?;
        self.start_switch(customer, Method::AppRegistration, None, |new| {
            self.start_consent(new, credentials.clone(), client_id.clone())
        })
        .await
    }
}
