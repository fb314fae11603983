//! A connection's life after the token: validate, verify again, refresh.

use super::tenant::check_token_tenant;
use super::{Onboarding, Rejected, Slot};
use crate::error::{Error, FlowError, ProviderError, StoreError};
use crate::journey::AnyOnboarding;
use crate::model::AccessToken;
use crate::model::*;
use crate::model::{
    CredentialExpiry, Credentials, Customer, TenantInfo, TokenSet, Verification, VerificationStatus,
};
use crate::model::{Method, Scopes};
use crate::ports::Ports;
use crate::ports::{Record, VerifiedConnection};
use crate::ports::{Target, TokenResponse};

/// How many times a refreshed token set is re-applied to a newer record after losing a
/// compare-and-swap.
const MERGE_RETRIES: usize = 3;

/// How many times the take-over reloads the customer after losing a compare-and-swap (for
/// example to a token refresh of the old connection).
const TAKE_OVER_RETRIES: usize = 5;

/// What [`Onboarding::<Validated>::refresh`](Onboarding::refresh) found.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// A new token set is stored.
    Refreshed(Onboarding<Validated>),
    /// The refresh token is dead: the customer must authenticate again
    /// ([`reinvite`](Onboarding::reinvite)).
    ReauthRequired(Onboarding<ReauthRequired>),
}

/// Makes one validation call and checks the tenant it proves.
async fn prove(ports: &Ports, customer: &Customer) -> Result<TenantInfo, Error> {
    let target = Target {
        customer: customer.id.clone(),
        tenant: customer.tenant.clone(),
    };
    prove_token(
        ports,
        &target,
        customer.token.as_ref().map(|t| &t.access_token),
    )
    .await
}

/// One real call with `token` proves the connection is to the invited tenant: the tenant as
/// the provider answered.
pub(crate) async fn prove_token(
    ports: &Ports,
    target: &Target,
    token: Option<&AccessToken>,
) -> Result<TenantInfo, Error> {
    let token = token.ok_or(FlowError::Inconsistent("no token to validate"))?;
    let info = ports.provider().validate(target, token).await?;
    if !target.tenant.matches(&info.id, &info.domains) {
        return Err(FlowError::TenantMismatch {
            expected: target.tenant.to_string(),
            actual: info.id,
        }
        .into());
    }
    Ok(info)
}

/// For an app registration whose credential's end is not known (a secret given without its
/// end date), the end Graph names for the application's credentials of that kind (the
/// earliest, when it has several: the one in use cannot be told apart). Reading it needs
/// permissions the token may lack: any failure leaves it unknown and never fails the step.
async fn graph_credential_expiry(ports: &Ports, customer: &Customer) -> Option<CredentialExpiry> {
    let Some(Credentials::AppRegistration {
        client_id,
        credential,
    }) = &customer.credentials
    else {
        return None;
    };
    if credential.expires_at().is_some() {
        return None;
    }
    let token = &customer.token.as_ref()?.access_token;
    let target = Target {
        customer: customer.id.clone(),
        tenant: customer.tenant.clone(),
    };
    match ports
        .provider()
        .app_credential_expiry(&target, token, client_id)
        .await
    {
        Ok(found) => found
            .into_iter()
            .filter(|e| e.kind == credential.kind())
            .min_by_key(|e| e.expires_at),
        Err(ProviderError::Unsupported(_)) => None,
        Err(error) => {
            tracing::info!(customer = %customer.id, %error, "the application's credential end dates could not be read");
            None
        }
    }
}

/// Records `error`, a failed renewal of `customer`'s token for a verification, as that
/// verification's failure, on the record as the renewal left it (its lease ended, its error
/// written). Hands the error back unrecorded when the customer is no longer validated: a dead
/// refresh token was recorded as such.
pub(crate) async fn renewal_failed(
    ports: &Ports,
    customer: &CustomerId,
    error: Error,
) -> Result<Rejected<Validated>, Error> {
    match ports.load(customer).await {
        Ok(AnyOnboarding::Validated(latest)) => Ok(latest.verification_failed(ports, error).await),
        _ => Err(error),
    }
}

/// The customer after a successful proof now, and the stage that records it.
fn proven(ports: &Ports, customer: &Customer, info: TenantInfo) -> (Customer, Validated) {
    let now = ports.clock().now();
    let mut customer = customer.clone();
    VerifiedConnection {
        at: now,
        tenant_info: info,
    }
    .apply_to_customer(&mut customer);
    (customer, Validated { validated_at: now })
}

fn verification_status(error: &Error) -> VerificationStatus {
    if error.is_retryable() {
        VerificationStatus::Transient
    } else {
        VerificationStatus::Failed
    }
}

impl<S: StageType> Onboarding<S> {
    /// Records a failed verification (status and error) and rejects with the error.
    pub(crate) async fn verification_failed(self, ports: &Ports, error: Error) -> Rejected<S> {
        let mut customer = self.customer.clone();
        customer.last_verification = Some(Verification {
            at: ports.clock().now(),
            status: verification_status(&error),
        });
        super::note_failure(&mut customer, &error, ports.clock().now());
        let stage = self.stage.clone();
        match self.save(ports, customer, stage).await {
            Ok(saved) => saved.reject(error),
            Err(rejected) => rejected.into_onboarding().reject(error),
        }
    }
}

impl Onboarding<TokenAcquired> {
    /// Proves the token with one real call (Graph `GET /organization` for Entra ID) and
    /// checks that it reached the invited tenant.
    ///
    /// For the journey of a method switch
    /// ([`TenantAccess::switch_to_device_code`](crate::TenantAccess::switch_to_device_code)
    /// and siblings) this is the take-over: in one compare-and-swap write the proven
    /// connection replaces the customer's old one and the switch ends (its links and wizard
    /// sessions with it); the customer's own journey is returned.
    pub async fn validate(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<Validated>, Rejected<TokenAcquired>> {
        let ports = ports.as_ref();
        match prove(ports, &self.customer).await {
            Ok(info) => {
                let (mut customer, validated) = proven(ports, &self.customer, info);
                if let Some(found) = graph_credential_expiry(ports, &customer).await {
                    customer.app_credential_expiry = Some(found);
                }
                if self.is_switch() {
                    return self.take_over(ports, customer, validated).await;
                }
                self.transition(ports, customer, validated, None).await
            }
            Err(error) => Err(self.verification_failed(ports, error).await),
        }
    }

    /// The take-over: the proven switch replaces its customer's connection and leaves the
    /// record in one compare-and-swap write. A write that lost to a change of the old
    /// connection (a refresh, a verification) is tried again on the newer record while the
    /// switch itself is unchanged. On failure the switch journey comes back unchanged and the
    /// old connection is untouched.
    async fn take_over(
        self,
        ports: &Ports,
        proven: Customer,
        validated: Validated,
    ) -> Result<Onboarding<Validated>, Rejected<TokenAcquired>> {
        let owner = self.customer.id.clone();
        let mut current = self.clone_record();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !current.stage.kind().may_switch_method() {
                let stage = current.stage.kind();
                return Err(self.reject(FlowError::NotConnected {
                    customer: owner,
                    stage,
                }));
            }
            let mut customer = proven.clone();
            customer.created_at = current.customer.created_at;
            customer.updated_at = ports.clock().now();
            // The invitation stays as history (sent, when); its link dies with the switch.
            if let Some(invitation) = customer.invitation.as_mut() {
                invitation.code_hash = None;
            }
            let old_method = current.customer.method;
            let event = ports.event(
                &owner,
                Some(current.stage.kind()),
                StageKind::Validated,
                Some(format!(
                    "method switched from {old_method} to {}",
                    customer.method
                )),
            );
            // The reasons reported for the connection being replaced are reassessed on the
            // new one: those that no longer hold are reported cleared.
            customer.health.attention = current.customer.health.attention.clone();
            let mut record = Record {
                customer,
                stage: Stage::Validated(validated.clone()),
                version: current.version,
                switch: None,
            };
            let notices = ports.reassess(&mut record).unwrap_or_default();
            match ports.store().update(&record, Some(&event), &notices).await {
                Ok(version) => {
                    ports.connection_changed(&owner);
                    tracing::info!(customer = %owner, from = %old_method, to = %record.customer.method, "method switched");
                    let Record { customer, .. } = record;
                    let slot = Slot::Connection(None);
                    return Ok(Onboarding::from_parts(customer, validated, version, slot));
                }
                Err(StoreError::Conflict { .. }) if attempt < TAKE_OVER_RETRIES => {
                    match ports.store().load(&owner).await {
                        Ok(Some(fresh)) if self.slot.same_switch(&fresh) => current = fresh,
                        Ok(_) => {
                            return Err(self.reject(StoreError::Conflict {
                                customer: owner,
                                expected: current.version,
                                actual: None,
                            }));
                        }
                        Err(error) => return Err(self.reject(error)),
                    }
                }
                Err(error) => return Err(self.reject(error)),
            }
        }
    }
}

impl Onboarding<Validated> {
    /// Stores a freshly obtained token set (ending any refresh lease). If another write came
    /// first (a verification, another replica), the tokens are applied to the newer record
    /// instead, so a token obtained from the provider is never thrown away.
    async fn store_refreshed(
        self,
        ports: &Ports,
        note: &str,
        apply: impl Fn(&mut Option<TokenSet>),
    ) -> Result<Onboarding<Validated>, Rejected<Validated>> {
        let with_token = |mut customer: Customer| {
            apply(&mut customer.token);
            super::note_success(&mut customer);
            customer.refresh_lease = None;
            customer
        };
        let customer = with_token(self.customer.clone());
        let stage = self.stage.clone();
        let note = || Some(note.to_owned());
        let (unchanged, mut error) = match self.transition(ports, customer, stage, note()).await {
            Ok(stored) => return Ok(stored),
            Err(rejected) => rejected.into_parts(),
        };
        for _ in 0..MERGE_RETRIES {
            if !matches!(error, Error::Store(StoreError::Conflict { .. })) {
                break;
            }
            let latest = match ports.load(unchanged.id()).await {
                Ok(AnyOnboarding::Validated(latest)) => latest,
                // No longer connected (revoked, switched away): the tokens have no home.
                Ok(_) => break,
                Err(e) => {
                    error = e;
                    break;
                }
            };
            let customer = with_token(latest.customer.clone());
            let stage = latest.stage.clone();
            match latest.transition(ports, customer, stage, note()).await {
                Ok(stored) => return Ok(stored),
                Err(rejected) => error = rejected.into_parts().1,
            }
        }
        Err(unchanged.reject(error))
    }

    /// Proves the stored connection again today with one real call, and records the result
    /// (when last verified, status, error).
    ///
    /// An access token that has expired is renewed first, and one the resource refuses
    /// ([`ProviderError::TokenRejected`]) is renewed once and the call tried again, before
    /// anything is reported: with the engine (`&ta`) through the same single flight and
    /// refresh lease as [`TenantAccess::access_token`](crate::TenantAccess::access_token),
    /// with a bare [`Ports`] by a plain [`refresh`](Self::refresh). A dead refresh token
    /// moves the customer to [`ReauthRequired`] and rejects with
    /// [`FlowError::NotConnected`], as `access_token` does.
    // Not an `async fn`: one copies its arguments into the future twice (rust-lang/rust#62958).
    #[allow(clippy::manual_async_fn)]
    pub fn verify(
        self,
        ports: &impl AsRef<Ports>,
    ) -> impl Future<Output = Result<Onboarding<Validated>, Rejected<Validated>>> + Send + '_ {
        let ports = ports.as_ref();
        async move {
            let mut connected = self;
            // An expired token proves nothing but that it expired: renew it first.
            let expired = connected
                .customer
                .token
                .as_ref()
                .is_some_and(|t| t.expires_at <= ports.clock().now());
            let mut renewed = false;
            if expired {
                // Boxed, as every path off the happy one: its state would otherwise sit in
                // every verification's future.
                connected = Box::pin(connected.renewed(ports)).await?;
                renewed = true;
            }
            loop {
                let info = match prove(ports, &connected.customer).await {
                    Ok(info) => info,
                    // Refused before its expiry (revoked, a CAE event): one new token, one
                    // more try.
                    Err(Error::Provider(ProviderError::TokenRejected(_))) if !renewed => {
                        connected = Box::pin(connected.renewed(ports)).await?;
                        renewed = true;
                        continue;
                    }
                    // Boxed: the failure path's state (a copy of the record, its write) would
                    // otherwise make every verification's future several kilobytes larger.
                    Err(error) => {
                        return Err(Box::pin(connected.verification_failed(ports, error)).await);
                    }
                };
                let (customer, validated) = proven(ports, &connected.customer, info);
                // Boxed, as the failure path: the write's state would otherwise sit in every
                // verification's future.
                return Box::pin(connected.save(ports, customer, validated)).await;
            }
        }
    }

    /// The connection with a new access token, for a verification whose token expired or was
    /// refused: through the engine's single flight and lease when `ports` have them
    /// ([`Ports::token_renewer`]), else a plain [`refresh`](Self::refresh). A failed refresh
    /// is recorded as the verification's failure; a dead refresh token (the customer is now
    /// in [`ReauthRequired`], recorded there) rejects with [`FlowError::NotConnected`].
    async fn renewed(self, ports: &Ports) -> Result<Onboarding<Validated>, Rejected<Validated>> {
        let id = self.customer.id.clone();
        let error = match ports.token_renewer() {
            Some(renew) => {
                let old = self.customer.token.as_ref().map(|t| t.access_token.clone());
                match renew(ports, &id, old).await.map(AnyOnboarding::from_record) {
                    Ok(AnyOnboarding::Validated(renewed)) => return Ok(renewed),
                    Ok(other) => FlowError::NotConnected {
                        customer: id.clone(),
                        stage: other.kind(),
                    }
                    .into(),
                    Err(error) => error,
                }
            }
            None => {
                // Kept to hand back if the refresh token is dead: the journey moves on then.
                let before = self.clone_record();
                match self.refresh(ports).await {
                    Ok(RefreshOutcome::Refreshed(renewed)) => return Ok(renewed),
                    Ok(RefreshOutcome::ReauthRequired(dead)) => {
                        let AnyOnboarding::Validated(before) = AnyOnboarding::from_record(before)
                        else {
                            unreachable!("a record of a validated journey")
                        };
                        return Err(before.reject(FlowError::NotConnected {
                            customer: id,
                            stage: dead.kind(),
                        }));
                    }
                    // The refresh recorded its error (and ended its lease): record the
                    // verification's on what it stored.
                    Err(rejected) => {
                        let (latest, error) = rejected.into_parts();
                        return Err(latest.verification_failed(ports, error).await);
                    }
                }
            }
        };
        Err(renewal_failed(ports, &id, error)
            .await
            .unwrap_or_else(|error| self.reject(error)))
    }

    /// Gets a new token set now: the refresh token for delegated connections (password
    /// journeys without one fall back to the password grant), client credentials for app
    /// registrations. A dead refresh token moves the journey to [`ReauthRequired`].
    pub async fn refresh(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<RefreshOutcome, Rejected<Validated>> {
        let ports = ports.as_ref();
        if let Err(expired) = super::consent::usable_credential(&self.customer, ports.clock().now())
        {
            return Err(self.fail(ports, expired).await);
        }
        let target = self.target();
        let provider = ports.provider();
        let refresh_token = self
            .customer
            .token
            .as_ref()
            .and_then(|t| t.refresh_token.clone());
        let answer: Result<TokenResponse, ProviderError> =
            match (&self.customer.credentials, refresh_token) {
                (
                    Some(Credentials::AppRegistration {
                        client_id,
                        credential,
                    }),
                    _,
                ) => {
                    provider
                        .client_credentials(&target, client_id, credential)
                        .await
                }
                (_, Some(refresh_token)) => provider.refresh(&target, &refresh_token).await,
                (Some(Credentials::Password { username, password }), None) => {
                    provider.password_grant(&target, username, password).await
                }
                (None, None) => {
                    return Err(self.reject(FlowError::Inconsistent(
                        "no refresh token and no credentials to refresh with",
                    )));
                }
            };
        let answer = answer.map_err(Error::from).and_then(|response| {
            check_token_tenant(&target.tenant, &response.access_token)?;
            Ok(response)
        });
        match answer {
            Ok(response) => {
                let now = ports.clock().now();
                let old_refresh = self
                    .customer
                    .token
                    .as_ref()
                    .and_then(|t| t.refresh_token.clone());
                let mut token = TokenSet::from_response(response, now);
                // A refresh that does not rotate the refresh token keeps the old one.
                if token.refresh_token.is_none() {
                    token.refresh_token = old_refresh;
                }
                self.store_refreshed(ports, "token refreshed", move |stored| {
                    *stored = Some(token.clone());
                })
                .await
                .map(RefreshOutcome::Refreshed)
            }
            Err(Error::Provider(ProviderError::ReauthenticationRequired(detail)))
                if self.customer.method == Method::DeviceCode
                    || self.customer.method == Method::Password =>
            {
                self.refresh_token_dead(ports, detail)
                    .await
                    .map(RefreshOutcome::ReauthRequired)
            }
            Err(error) => Err(self.fail(ports, error).await),
        }
    }

    /// Gets an access token for other `scopes` (another resource) from the stored refresh
    /// token, and stores the refresh token the answer rotated in. The connection's own token
    /// is kept. A dead refresh token moves the journey to [`ReauthRequired`].
    pub(crate) async fn refresh_for_scopes(
        self,
        ports: &Ports,
        scopes: &Scopes,
    ) -> Result<ScopedRefresh, Rejected<Validated>> {
        let Some(refresh_token) = self
            .customer
            .token
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
        else {
            let actual = self.customer.method;
            return Err(self
                .fail(
                    ports,
                    FlowError::WrongMethod {
                        expected: Method::DeviceCode,
                        actual,
                    },
                )
                .await);
        };
        let target = self.target();
        let answer = ports
            .provider()
            .refresh_for_scopes(&target, &refresh_token, scopes)
            .await
            .map_err(Error::from)
            .and_then(|response| {
                check_token_tenant(&target.tenant, &response.access_token)?;
                Ok(response)
            });
        match answer {
            Ok(response) => {
                let resource = TokenSet::from_response(response, ports.clock().now());
                let rotated = resource.refresh_token.clone();
                let stored = self
                    .store_refreshed(ports, "refresh token rotated", move |token| {
                        if let (Some(token), Some(rotated)) = (token.as_mut(), &rotated) {
                            token.refresh_token = Some(rotated.clone());
                        }
                    })
                    .await?;
                Ok(ScopedRefresh::Token {
                    connection: stored,
                    token: resource,
                })
            }
            Err(Error::Provider(ProviderError::ReauthenticationRequired(detail))) => self
                .refresh_token_dead(ports, detail)
                .await
                .map(ScopedRefresh::ReauthRequired),
            Err(error) => Err(self.fail(ports, error).await),
        }
    }

    /// The refresh token is dead: to [`ReauthRequired`], recording why.
    async fn refresh_token_dead(
        self,
        ports: &Ports,
        detail: crate::error::ProviderDetail,
    ) -> Result<Onboarding<ReauthRequired>, Rejected<Validated>> {
        let now = ports.clock().now();
        let mut customer = self.customer.clone();
        let reason = detail.to_string();
        let error = Error::Provider(crate::error::ProviderError::ReauthenticationRequired(
            detail.clone(),
        ));
        super::note_failure(&mut customer, &error, now);
        customer.last_error = Some(reason.clone());
        customer.refresh_lease = None;
        customer.last_verification = Some(Verification {
            at: now,
            status: VerificationStatus::Failed,
        });
        self.transition(
            ports,
            customer,
            ReauthRequired { since: now, reason },
            Some(format!("refresh token dead: {}", detail.error)),
        )
        .await
    }
}

/// What a refresh for other scopes found.
pub(crate) enum ScopedRefresh {
    /// The token for the other scopes, and the connection with any rotated refresh token
    /// stored.
    Token {
        connection: Onboarding<Validated>,
        token: TokenSet,
    },
    /// The refresh token is dead.
    ReauthRequired(Onboarding<ReauthRequired>),
}
