//! The password and app-registration journeys: admin consent, then a token from stored
//! credentials.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::tenant::{check_callback_tenant, check_token_tenant};
use super::{AnyOnboarding, Onboarding, Rejected};
use crate::error::{Error, FlowError, InputError};
use crate::model::*;
use crate::model::{AppCredential, ConsentState, Password};
use crate::model::{Credentials, Customer, NewCustomer, TokenSet};
use crate::model::{CustomerId, Method};
use crate::ports::Ports;
use crate::ports::{AdminConsentRequest, ConsentCallback, Target};

/// A fresh `state` text (admin consent, browser sign-in): the customer id (so the callback
/// finds its customer) and 256 random bits (so nobody can forge one), both base64url.
pub(super) fn new_state_text(customer: &CustomerId) -> String {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).expect("the OS random source is unavailable");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(customer.as_str()),
        URL_SAFE_NO_PAD.encode(random)
    )
}

/// A fresh consent `state` ([`new_state_text`]).
fn new_state(customer: &CustomerId) -> ConsentState {
    ConsentState::new(new_state_text(customer))
}

/// The customer id inside a state made by [`new_state_text`].
pub(super) fn customer_in_state_text(state: &str) -> Option<CustomerId> {
    let (id, _) = state.split_once('.')?;
    let id = URL_SAFE_NO_PAD.decode(id).ok()?;
    CustomerId::new(String::from_utf8(id).ok()?).ok()
}

/// The customer id inside a consent state.
fn customer_in_state(state: &ConsentState) -> Option<CustomerId> {
    customer_in_state_text(state.expose_secret())
}

/// Moves a journey whose customer signed in without consent in the tenant (AADSTS65001 on a
/// device-code poll or a browser sign-in) to [`ConsentRequired`], with the admin-consent URL
/// for the MSP's consent client. Without a consent client or redirect URL configured there is
/// nothing to offer: the stage stays as it was.
pub(super) async fn ask_admin_consent<S: StageType>(
    from: Onboarding<S>,
    ports: &Ports,
) -> Result<Onboarding<ConsentRequired>, Rejected<S>> {
    let customer = from.customer.clone();
    let client_id = ports.config().consent_client_id().map(str::to_owned);
    let stage = client_id
        .map_err(Error::from)
        .and_then(|client_id| ports.consent_stage(&customer, client_id));
    let stage = match stage {
        Ok(stage) => stage,
        Err(error) => return Err(from.reject(error)),
    };
    let note = "the application needs an administrator's consent".to_owned();
    from.transition(ports, customer, stage, Some(note)).await
}

/// Checks app-registration credentials; returns them with the client id consent is asked for.
pub(crate) fn app_credentials(
    client_id: String,
    credential: AppCredential,
) -> Result<(Credentials, String), Error> {
    if client_id.trim().is_empty() || credential.is_blank() {
        return Err(
            InputError::Credentials("client id and client secret must not be empty").into(),
        );
    }
    let credentials = Credentials::AppRegistration {
        client_id: client_id.clone(),
        credential,
    };
    Ok((credentials, client_id))
}

/// Refuses, before any request, an app registration whose credential has expired: a request
/// with it could only fail, and the customer must make a new one.
pub(crate) fn usable_credential(
    customer: &Customer,
    now: time::OffsetDateTime,
) -> Result<(), FlowError> {
    let Some(Credentials::AppRegistration { credential, .. }) = &customer.credentials else {
        return Ok(());
    };
    match credential.expiry() {
        Some(expiry) if now >= expiry.expires_at => Err(FlowError::CredentialExpired {
            credential: if expiry.name == expiry.kind {
                expiry.name
            } else {
                format!("{} {}", expiry.kind, expiry.name)
            },
            expired_at: expiry.expires_at,
        }),
        _ => Ok(()),
    }
}

impl Ports {
    /// [`TenantAccess::connect_with_password`](crate::TenantAccess::connect_with_password).
    pub(crate) async fn connect_with_password(
        &self,
        new: NewCustomer,
        username: impl Into<String>,
        password: Password,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let (credentials, client_id) = self.password_credentials(username.into(), password)?;
        let new = self.resolve_tenant(new).await?;
        let customer = Customer::new(new, Method::Password, self.clock().now());
        let (customer, stage) = self.start_consent(customer, credentials, client_id)?;
        self.create(customer, stage).await
    }

    /// Checks password credentials; returns them with the client id consent is asked for.
    pub(crate) fn password_credentials(
        &self,
        username: String,
        password: Password,
    ) -> Result<(Credentials, String), Error> {
        let client_id = self.config().consent_client_id()?.to_owned();
        if username.trim().is_empty() || password.expose_secret().is_empty() {
            return Err(InputError::Credentials("username and password must not be empty").into());
        }
        Ok((Credentials::Password { username, password }, client_id))
    }

    /// [`TenantAccess::connect_app_registration`](crate::TenantAccess::connect_app_registration).
    pub(crate) async fn connect_app_registration(
        &self,
        new: NewCustomer,
        client_id: impl Into<String>,
        credential: impl Into<AppCredential>,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let (credentials, client_id) = app_credentials(client_id.into(), credential.into())?;
        let new = self.resolve_tenant(new).await?;
        let customer = Customer::new(new, Method::AppRegistration, self.clock().now());
        let (customer, stage) = self.start_consent(customer, credentials, client_id)?;
        self.create(customer, stage).await
    }

    /// Stores `customer` with its credentials in [`ConsentRequired`], with a fresh consent
    /// state and the admin-consent URL for `client_id`.
    pub(crate) fn start_consent(
        &self,
        mut customer: Customer,
        credentials: Credentials,
        client_id: String,
    ) -> Result<(Customer, ConsentRequired), Error> {
        customer.credentials = Some(credentials);
        let stage = self.consent_stage(&customer, client_id)?;
        Ok((customer, stage))
    }

    /// A [`ConsentRequired`] stage for `customer`: a fresh consent state and the
    /// admin-consent URL for `client_id`.
    pub(crate) fn consent_stage(
        &self,
        customer: &Customer,
        client_id: String,
    ) -> Result<ConsentRequired, Error> {
        let redirect_uri = self.config().consent_redirect_url()?.clone();
        let now = self.clock().now();
        let state = new_state(&customer.id);
        let target = Target {
            customer: customer.id.clone(),
            tenant: customer.tenant.clone(),
        };
        let admin_consent_url = self.provider().admin_consent_url(
            &target,
            &AdminConsentRequest {
                client_id,
                redirect_uri,
                state: state.clone(),
            },
        )?;
        Ok(ConsentRequired {
            admin_consent_url,
            state,
            requested_at: now,
        })
    }

    /// [`TenantAccess::complete_consent`](crate::TenantAccess::complete_consent).
    pub(crate) async fn complete_consent(
        &self,
        callback: &ConsentCallback,
    ) -> Result<Onboarding<TokenAcquired>, Error> {
        let pending = self.consent_journey(callback).await?;
        Ok(pending.complete_consent(self, callback).await?)
    }

    /// [`TenantAccess::accept_consent`](crate::TenantAccess::accept_consent).
    pub(crate) async fn accept_consent(
        &self,
        callback: &ConsentCallback,
    ) -> Result<Consented, Error> {
        let pending = self.consent_journey(callback).await?;
        Ok(pending.consent_given(self, callback).await?)
    }

    /// The journey waiting for the consent `callback` answers: found by the customer id in
    /// its state.
    async fn consent_journey(
        &self,
        callback: &ConsentCallback,
    ) -> Result<Onboarding<ConsentRequired>, Error> {
        let state = callback
            .state
            .as_ref()
            .ok_or(FlowError::ConsentStateMismatch)?;
        let customer = customer_in_state(state).ok_or(FlowError::ConsentStateMismatch)?;
        let record = match self.store().load(&customer).await? {
            Some(record) => record,
            // States made before switches moved into the record name the switch journey
            // `<customer>#<suffix>`: its customer is the part before the last `#`.
            None => match legacy_owner(&customer) {
                Some(owner) => self
                    .store()
                    .load(&owner)
                    .await?
                    .ok_or(FlowError::ConsentStateMismatch)?,
                None => return Err(FlowError::ConsentStateMismatch.into()),
            },
        };
        // The state picks the journey: the customer's own, or the method switch beside it.
        // Where it matches neither, the journey waiting for consent checks it (and refuses).
        let waiting = |stage: &Stage| matches!(stage, Stage::ConsentRequired(_));
        let matches = |stage: &Stage| match stage {
            Stage::ConsentRequired(pending) => pending.state.ct_eq(state),
            _ => false,
        };
        let switch_stage = record.switch.as_ref().map(|s| &s.stage);
        let to_switch =
            switch_stage.is_some_and(|s| waiting(s) && (matches(s) || !waiting(&record.stage)));
        let pending = if to_switch {
            AnyOnboarding::switch_from_record(record).ok_or(FlowError::ConsentStateMismatch)?
        } else {
            AnyOnboarding::from_record(record)
        };
        let AnyOnboarding::ConsentRequired(pending) = pending else {
            return Err(FlowError::ConsentStateMismatch.into());
        };
        Ok(pending)
    }
}

/// The customer a state made before method switches moved into the record belongs to.
fn legacy_owner(journey: &CustomerId) -> Option<CustomerId> {
    let (owner, _) = journey.as_str().rsplit_once('#')?;
    CustomerId::new(owner).ok()
}

/// What an admin-consent callback led to ([`Onboarding::consent_given`],
/// [`TenantAccess::accept_consent`](crate::TenantAccess::accept_consent)).
#[derive(Debug)]
#[non_exhaustive]
pub enum Consented {
    /// Password and app-registration journeys: the stored credentials got a token;
    /// [`validate`](Onboarding::validate) it next.
    TokenAcquired(Onboarding<TokenAcquired>),
    /// Device-code journey: consent is in place, and the customer signs in again with a new
    /// device code ([`start_device_code`](Onboarding::start_device_code)).
    SignInAgain(Onboarding<Claimed>),
}

impl From<Consented> for AnyOnboarding {
    fn from(consented: Consented) -> Self {
        match consented {
            Consented::TokenAcquired(o) => o.into(),
            Consented::SignInAgain(o) => o.into(),
        }
    }
}

impl Onboarding<ConsentRequired> {
    /// Checks the admin-consent callback (state in constant time, tenant, errors) and then
    /// acquires the token with the stored credentials (password and app-registration
    /// journeys).
    ///
    /// A callback whose `state` is not this journey's is refused with
    /// [`FlowError::ConsentStateMismatch`], and one with this journey's state that names
    /// another tenant than the customer's GUID ([`TenantId::guid`](crate::TenantId::guid))
    /// with [`FlowError::ConsentTenantMismatch`], before anything is sent or written.
    ///
    /// A device-code journey waiting for consent (after AADSTS65001 on a poll) has no
    /// credentials to acquire a token with: it is refused with
    /// [`FlowError::WrongMethod`]; use [`consent_given`](Self::consent_given), which handles
    /// every method.
    pub async fn complete_consent(
        self,
        ports: &impl AsRef<Ports>,
        callback: &ConsentCallback,
    ) -> Result<Onboarding<TokenAcquired>, Rejected<ConsentRequired>> {
        let ports = ports.as_ref();
        if let Err(refused) = self.needs_credentials() {
            return Err(self.reject(refused));
        }
        self.accept_callback(ports, callback)
            .await?
            .acquire_token(ports)
            .await
    }

    /// Checks the admin-consent callback (state in constant time, tenant, errors), then
    /// takes the journey on: a token from the stored credentials (password and
    /// app-registration journeys, as [`complete_consent`](Self::complete_consent)), or, for
    /// the device-code journey, back to [`Claimed`] so the customer signs in again now that
    /// the application is consented.
    pub async fn consent_given(
        self,
        ports: &impl AsRef<Ports>,
        callback: &ConsentCallback,
    ) -> Result<Consented, Rejected<ConsentRequired>> {
        let ports = ports.as_ref();
        if self.customer.method != Method::DeviceCode {
            return self
                .complete_consent(ports, callback)
                .await
                .map(Consented::TokenAcquired);
        }
        let consented = self.accept_callback(ports, callback).await?;
        let mut customer = consented.customer.clone();
        super::note_success(&mut customer);
        let note = Some("an administrator consented; the customer signs in again".to_owned());
        consented
            .transition(ports, customer, Claimed, note)
            .await
            .map(Consented::SignInAgain)
    }

    /// Checks the callback: ours and for our tenant (refused before anything is sent or
    /// written), then the provider's reading of it (a refusal is recorded as the last error).
    async fn accept_callback(
        self,
        ports: &Ports,
        callback: &ConsentCallback,
    ) -> Result<Self, Rejected<ConsentRequired>> {
        if let Err(refused) = self.check_callback(callback) {
            return Err(self.reject(refused));
        }
        let checked = ports
            .provider()
            .verify_admin_consent(&self.target(), &self.stage.state, callback)
            .await;
        match checked {
            Ok(()) => Ok(self),
            Err(error) => Err(self.fail(ports, error).await),
        }
    }

    /// Refuses, before anything is written or sent, a callback whose `state` is not this
    /// journey's (compared in constant time: a forged or stale callback changes nothing), and
    /// then one that names another tenant than the customer's.
    fn check_callback(&self, callback: &ConsentCallback) -> Result<(), FlowError> {
        match &callback.state {
            Some(state) if self.stage.state.ct_eq(state) => {}
            _ => return Err(FlowError::ConsentStateMismatch),
        }
        check_callback_tenant(&self.customer.tenant, &self.stage.state, callback)
    }

    /// The device-code journey has no credentials: only [`consent_given`] moves it on.
    fn needs_credentials(&self) -> Result<(), FlowError> {
        match self.customer.method {
            Method::DeviceCode => Err(FlowError::WrongMethod {
                expected: Method::Password,
                actual: Method::DeviceCode,
            }),
            Method::Password | Method::AppRegistration => Ok(()),
        }
    }

    /// Acquires the token with the stored credentials, for when consent was given some other
    /// way. Without consent this fails with
    /// [`ProviderError::ConsentRequired`](crate::error::ProviderError::ConsentRequired) and
    /// the stage stays. A token issued in another tenant (its `tid`) than the customer's
    /// GUID is not stored: [`FlowError::TenantMismatch`], and the stage stays.
    pub async fn acquire_token(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<TokenAcquired>, Rejected<ConsentRequired>> {
        let ports = ports.as_ref();
        if let Err(refused) = self.needs_credentials() {
            return Err(self.reject(refused));
        }
        if let Err(expired) = usable_credential(&self.customer, ports.clock().now()) {
            return Err(self.fail(ports, expired).await);
        }
        let target = self.target();
        let answer = match &self.customer.credentials {
            Some(Credentials::Password { username, password }) => {
                ports
                    .provider()
                    .password_grant(&target, username, password)
                    .await
            }
            Some(Credentials::AppRegistration {
                client_id,
                credential,
            }) => {
                ports
                    .provider()
                    .client_credentials(&target, client_id, credential)
                    .await
            }
            None => {
                return Err(self.reject(FlowError::Inconsistent(
                    "consent stage without stored credentials",
                )));
            }
        };
        match answer {
            Ok(response) => {
                if let Err(error) = check_token_tenant(&target.tenant, &response.access_token) {
                    return Err(self.fail(ports, error).await);
                }
                let mut customer = self.customer.clone();
                customer.token = Some(TokenSet::from_response(response, ports.clock().now()));
                super::note_success(&mut customer);
                self.transition(ports, customer, TokenAcquired, None).await
            }
            Err(error) => Err(self.fail(ports, error).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_carries_the_customer_and_is_unguessable() {
        let id = CustomerId::new("contoso ltd/ü").unwrap();
        let a = new_state(&id);
        let b = new_state(&id);
        assert_eq!(customer_in_state(&a), Some(id));
        assert!(!a.ct_eq(&b));
        assert_eq!(customer_in_state(&ConsentState::new("garbage")), None);
        assert_eq!(customer_in_state(&ConsentState::new("!!.x")), None);
    }
}
