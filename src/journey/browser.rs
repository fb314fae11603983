//! The browser sign-in part of the journey ("Sign in with Microsoft": authorization code with
//! PKCE): start it, and take the redirect back to one typed outcome.

use super::consent::{ask_admin_consent, customer_in_state_text, new_state_text};
use super::device::issue;
use super::tenant::check_token_tenant;
use super::{AnyOnboarding, Onboarding, Rejected};
use crate::error::{Error, FlowError, InputError, ProviderError};
use crate::model::*;
use crate::model::{Method, PkceVerifier, SignInState, TokenSet};
use crate::ports::{AuthorizationRequest, CodeRedemption, Ports, SignInCallback};

/// What the redirect back from a browser sign-in led to
/// ([`Onboarding::<BrowserSignIn>::complete`](Onboarding::complete),
/// [`TenantAccess::complete_sign_in`](crate::TenantAccess::complete_sign_in)).
#[derive(Debug)]
#[non_exhaustive]
pub enum SignInOutcome {
    /// The customer signed in and consented: a token was acquired;
    /// [`validate`](Onboarding::validate) it next.
    Authenticated(Onboarding<TokenAcquired>),
    /// The customer cancelled, or declined the permissions (`access_denied`): back to the
    /// start, where a new attempt (either way of signing in) is possible.
    Cancelled(Onboarding<Claimed>),
    /// The customer may not consent and asked a reviewer to approve the application (the
    /// tenant's admin consent workflow): once approved, the customer signs in again
    /// ([`start_browser_sign_in`](Onboarding::start_browser_sign_in) or
    /// [`continue_authentication`](Onboarding::continue_authentication)).
    ApprovalRequested(Onboarding<ApprovalRequested>),
    /// Nobody has consented to the application in the tenant and the customer could not
    /// (AADSTS65001): offer the stage's admin-consent URL to an administrator; after
    /// [`consent_given`](Onboarding::consent_given) the customer signs in again.
    ConsentRequired(Onboarding<ConsentRequired>),
    /// A Conditional Access policy of the customer's tenant blocked the sign-in (AADSTS53003
    /// and kin): back to the start, with the refusal as the customer's last error. Only the
    /// customer's administrator can change the policy; signing in from a compliant device
    /// may pass it.
    Blocked(Onboarding<Claimed>),
}

impl From<SignInOutcome> for AnyOnboarding {
    fn from(outcome: SignInOutcome) -> Self {
        match outcome {
            SignInOutcome::Authenticated(o) => o.into(),
            SignInOutcome::Cancelled(o) | SignInOutcome::Blocked(o) => o.into(),
            SignInOutcome::ApprovalRequested(o) => o.into(),
            SignInOutcome::ConsentRequired(o) => o.into(),
        }
    }
}

impl<S: SignInStart> Onboarding<S> {
    /// "Sign in with Microsoft": starts a browser sign-in (authorization code with PKCE) and
    /// returns the stage holding the URL to send the customer's browser to.
    ///
    /// A fresh PKCE verifier (kept sealed in the stage, only its S256 challenge goes in the
    /// URL) and a fresh single-use `state` bound to this journey are made for every start;
    /// the URL names the invited administrator as `login_hint` and the authority of the
    /// customer's tenant. The state is accepted for
    /// [`Config::browser_sign_in_lifetime`](crate::Config::browser_sign_in_lifetime).
    ///
    /// Starting from a sign-in under way (a device code, or an earlier browser sign-in)
    /// abandons it: its code or state no longer counts.
    ///
    /// Needs [`Config::sign_in_redirect_url`](crate::Config::sign_in_redirect_url) and a
    /// provider that supports it; otherwise, as for a journey of another method, it is
    /// refused and nothing is written or sent.
    pub async fn start_browser_sign_in(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<BrowserSignIn>, Rejected<S>> {
        let ports = ports.as_ref();
        if self.customer.method != Method::DeviceCode {
            let actual = self.customer.method;
            return Err(self.reject(FlowError::WrongMethod {
                expected: Method::DeviceCode,
                actual,
            }));
        }
        let redirect_uri = match ports.config().sign_in_redirect_url() {
            Ok(url) => url.clone(),
            Err(error) => return Err(self.reject(error)),
        };
        let state = SignInState::new(new_state_text(&self.customer.id));
        let verifier = PkceVerifier::generate();
        let request = AuthorizationRequest {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            code_challenge: verifier.challenge(),
            login_hint: Some(self.customer.admin_email.to_string()),
        };
        let authorize_url = match ports.provider().authorization_url(&self.target(), &request) {
            Ok(url) => url,
            Err(error) => return Err(self.reject(error)),
        };
        let now = ports.clock().now();
        let stage = BrowserSignIn {
            authorize_url,
            state,
            verifier,
            redirect_uri,
            started_at: now,
            expires_at: now + ports.config().browser_sign_in_lifetime(),
        };
        let customer = self.customer.clone();
        let note = Some("browser sign-in started".to_owned());
        self.transition(ports, customer, stage, note).await
    }
}

impl Onboarding<BrowserSignIn> {
    /// Takes the redirect back from the sign-in page to its outcome, checked in this order:
    ///
    /// 1. the `state` must be this sign-in's (compared in constant time), else
    ///    [`FlowError::SignInStateMismatch`]; and not past
    ///    [`expires_at`](BrowserSignIn::expires_at), else [`FlowError::SignInExpired`]. Both
    ///    are refused before anything is sent or written.
    /// 2. an `error` on the redirect is read by
    ///    [`sign_in_refusal`](crate::ports::sign_in_refusal): cancelled, approval requested,
    ///    consent required and Conditional Access are [`SignInOutcome`]s; any other refusal is
    ///    recorded as the customer's last error and the stage stays.
    /// 3. the code is redeemed once, with the PKCE verifier, at the token endpoint of the
    ///    customer's tenant. Consent required, approval and Conditional Access at the token
    ///    endpoint are outcomes as above; a code already redeemed, expired or issued for
    ///    another challenge is [`ProviderError::CodeRefused`], whose
    ///    [`Action`](crate::Action) says whether to reload or sign in again. A token of
    ///    another tenant (its `tid`) is refused with [`FlowError::TenantMismatch`] and not
    ///    stored.
    pub async fn complete(
        self,
        ports: &impl AsRef<Ports>,
        callback: &SignInCallback,
    ) -> Result<SignInOutcome, Rejected<BrowserSignIn>> {
        let ports = ports.as_ref();
        match &callback.state {
            Some(state) if self.stage.state.ct_eq(state) => {}
            _ => return Err(self.reject(FlowError::SignInStateMismatch)),
        }
        if ports.clock().now() >= self.stage.expires_at {
            let expired_at = self.stage.expires_at;
            return Err(self.reject(FlowError::SignInExpired { expired_at }));
        }
        if let Some(refusal) = callback.refusal() {
            return self.refused(ports, refusal).await;
        }
        let Some(code) = &callback.code else {
            return Err(self.reject(InputError::SignInCallback(
                "has neither a code nor an error",
            )));
        };
        let redemption = CodeRedemption {
            code,
            redirect_uri: &self.stage.redirect_uri,
            verifier: &self.stage.verifier,
        };
        let answer = ports
            .provider()
            .redeem_code(&self.target(), redemption)
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) => return self.refused(ports, error).await,
        };
        if let Err(error) = check_token_tenant(&self.customer.tenant, &response.access_token) {
            return Err(self.fail(ports, error).await);
        }
        let now = ports.clock().now();
        let mut customer = self.customer.clone();
        customer.token = Some(TokenSet::from_response(response, now));
        customer.device_authenticated_at = Some(now);
        super::note_success(&mut customer);
        let note = Some("signed in with the browser".to_owned());
        self.transition(ports, customer, TokenAcquired, note)
            .await
            .map(SignInOutcome::Authenticated)
    }

    /// "Use a code on another device" instead: abandons this browser sign-in and asks the
    /// provider for a device code.
    pub async fn start_device_code(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<DeviceCodeIssued>, Rejected<BrowserSignIn>> {
        issue(self, ports.as_ref()).await
    }

    /// Gives the sign-in up (its state no longer counts) and goes back to the start: the
    /// customer closed the page, or its time ran out
    /// ([`advance`](AnyOnboarding::advance) does this at
    /// [`expires_at`](BrowserSignIn::expires_at)).
    pub async fn abandon(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<Claimed>, Rejected<BrowserSignIn>> {
        let ports = ports.as_ref();
        let customer = self.customer.clone();
        let note = Some("browser sign-in abandoned".to_owned());
        self.transition(ports, customer, Claimed, note).await
    }

    /// The outcome of a refusal, on the redirect or at the token endpoint.
    async fn refused(
        self,
        ports: &Ports,
        refusal: ProviderError,
    ) -> Result<SignInOutcome, Rejected<BrowserSignIn>> {
        let now = ports.clock().now();
        match refusal {
            ProviderError::SignInCancelled(_) => {
                let customer = self.customer.clone();
                let note = Some("the customer cancelled the browser sign-in".to_owned());
                self.transition(ports, customer, Claimed, note)
                    .await
                    .map(SignInOutcome::Cancelled)
            }
            ProviderError::AdminApprovalRequired(_) => {
                let customer = self.customer.clone();
                let stage = ApprovalRequested { requested_at: now };
                self.transition(ports, customer, stage, None)
                    .await
                    .map(SignInOutcome::ApprovalRequested)
            }
            ProviderError::ConsentRequired(_) => ask_admin_consent(self, ports)
                .await
                .map(SignInOutcome::ConsentRequired),
            blocked @ ProviderError::ConditionalAccessBlocked(_) => self
                .blocked_by_policy(ports, blocked, "browser")
                .await
                .map(SignInOutcome::Blocked),
            other => Err(self.fail(ports, other).await),
        }
    }
}

impl Ports {
    /// [`TenantAccess::complete_sign_in`](crate::TenantAccess::complete_sign_in).
    pub(crate) async fn complete_sign_in(
        &self,
        callback: &SignInCallback,
    ) -> Result<SignInOutcome, Error> {
        let pending = self.sign_in_journey(callback).await?;
        Ok(pending.complete(self, callback).await?)
    }

    /// The browser sign-in the callback's `state` belongs to: the customer's own journey or
    /// the method switch beside it, whichever waits with that state. A state that matches
    /// neither (unknown, forged, or already used) is [`FlowError::SignInStateMismatch`], and
    /// nothing is written.
    async fn sign_in_journey(
        &self,
        callback: &SignInCallback,
    ) -> Result<Onboarding<BrowserSignIn>, Error> {
        let state = callback
            .state
            .as_ref()
            .ok_or(FlowError::SignInStateMismatch)?;
        let customer =
            customer_in_state_text(state.expose_secret()).ok_or(FlowError::SignInStateMismatch)?;
        let record = self
            .store()
            .load(&customer)
            .await?
            .ok_or(FlowError::SignInStateMismatch)?;
        let waits =
            |stage: &Stage| matches!(stage, Stage::BrowserSignIn(s) if s.state.ct_eq(state));
        let journey = if waits(&record.stage) {
            AnyOnboarding::from_record(record)
        } else if record.switch.as_ref().is_some_and(|s| waits(&s.stage)) {
            AnyOnboarding::switch_from_record(record).ok_or(FlowError::SignInStateMismatch)?
        } else {
            return Err(FlowError::SignInStateMismatch.into());
        };
        match journey {
            AnyOnboarding::BrowserSignIn(pending) => Ok(pending),
            _ => Err(FlowError::SignInStateMismatch.into()),
        }
    }
}
