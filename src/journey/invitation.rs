//! The invitation part of the journey: invite, send, resend, open the link, claim, expire,
//! reinvite and revoke.

use super::{AnyOnboarding, Onboarding, Rejected, Slot};
use crate::error::{Error, FlowError};
use crate::model::InvitationLink;
use crate::model::Method;
use crate::model::*;
use crate::model::{Customer, NewCustomer};
use crate::model::{Delivery, Invitation, InvitationCode};
use crate::ports::InvitationMessage;
use crate::ports::Ports;
use crate::ports::Record;

/// The length of a well-formed invitation code (32 bytes in base64url without padding).
const CODE_LEN: usize = 43;

impl Ports {
    /// [`TenantAccess::invite`](crate::TenantAccess::invite): the tenant is resolved first
    /// ([`resolve_tenant`](Self::resolve_tenant)).
    pub(crate) async fn invite(&self, new: NewCustomer) -> Result<Onboarding<Invited>, Error> {
        let new = self.resolve_tenant(new).await?;
        let customer = Customer::new(new, Method::DeviceCode, self.clock().now());
        self.create(customer, Invited).await
    }

    /// Stores a new customer in `stage`, with its first audit event.
    pub(crate) async fn create<S: StageType>(
        &self,
        customer: Customer,
        stage: S,
    ) -> Result<Onboarding<S>, Error> {
        let event = self.event(&customer.id, None, S::KIND, None);
        let record = Record::new(customer, stage.into_stage());
        let version = self.store().create(&record, &event).await?;
        tracing::info!(customer = %record.customer.id, to = %S::KIND, actor = %event.actor, "created");
        let Record {
            customer, stage, ..
        } = record;
        let stage = S::from_stage(stage).expect("the stage just wrapped");
        Ok(Onboarding::from_parts(
            customer,
            stage,
            version,
            Slot::Connection(None),
        ))
    }

    /// [`TenantAccess::open_invitation`](crate::TenantAccess::open_invitation).
    pub(crate) async fn open_invitation(&self, code: &str) -> Result<AnyOnboarding, Error> {
        let code = code.trim();
        if code.len() != CODE_LEN {
            return Err(Error::InvalidInvitation);
        }
        let hash = InvitationCode::from_received(code).hash();
        let Some(record) = self.store().load_by_invitation(&hash).await? else {
            tracing::debug!("invitation code not found");
            return Err(Error::InvalidInvitation);
        };
        let live = |h: Option<CodeHash>| h.is_some_and(|h| h.ct_eq(&hash));
        // The code may be the customer's own invitation or that of a method switch.
        let journey = if live(record.invitation_hash()) {
            AnyOnboarding::from_record(record)
        } else if live(record.switch_invitation_hash()) {
            AnyOnboarding::switch_from_record(record).ok_or(Error::InvalidInvitation)?
        } else {
            tracing::debug!(customer = %record.customer.id, "invitation code no longer live");
            return Err(Error::InvalidInvitation);
        };
        if !journey.kind().accepts_invitation_link() {
            tracing::debug!(customer = %journey.id(), "invitation code no longer live");
            return Err(Error::InvalidInvitation);
        }
        let expires_at = journey.customer().invitation.as_ref().map(|i| i.expires_at);
        if expires_at.is_some_and(|at| self.clock().now() >= at) {
            tracing::debug!(customer = %journey.id(), "invitation code expired");
            self.expire(journey).await?;
            return Err(Error::InvalidInvitation);
        }
        Ok(journey)
    }

    /// [`TenantAccess::resend_invitation`](crate::TenantAccess::resend_invitation) and
    /// [`TenantAccess::resend_switch_invitation`](crate::TenantAccess::resend_switch_invitation):
    /// a new link for `journey`, from whatever stage it waits in.
    pub(crate) async fn resend(
        &self,
        journey: AnyOnboarding,
    ) -> Result<Onboarding<InvitationSent>, Error> {
        Ok(match journey {
            AnyOnboarding::Invited(o) => o.send(self).await?,
            AnyOnboarding::InvitationSent(o) => o.resend(self).await?,
            AnyOnboarding::Claimed(o) => o.resend(self).await?,
            AnyOnboarding::DeviceCodeIssued(o) => o.resend(self).await?,
            AnyOnboarding::BrowserSignIn(o) => o.resend(self).await?,
            AnyOnboarding::ApprovalRequested(o) => o.resend(self).await?,
            AnyOnboarding::Expired(o) => o.reinvite(self).await?.send(self).await?,
            AnyOnboarding::ReauthRequired(o) => o.reinvite(self).await?.send(self).await?,
            other => {
                return Err(FlowError::NothingToResend {
                    customer: other.id().clone(),
                    stage: other.kind(),
                }
                .into());
            }
        })
    }

    /// Moves a journey whose invitation expired to [`Expired`] and kills the code.
    pub(crate) async fn expire(&self, journey: AnyOnboarding) -> Result<AnyOnboarding, Error> {
        Ok(match journey {
            AnyOnboarding::InvitationSent(o) => o.invitation_expired(self).await?.into(),
            AnyOnboarding::Claimed(o) => o.invitation_expired(self).await?.into(),
            AnyOnboarding::DeviceCodeIssued(o) => o.invitation_expired(self).await?.into(),
            AnyOnboarding::BrowserSignIn(o) => o.invitation_expired(self).await?.into(),
            AnyOnboarding::ApprovalRequested(o) => o.invitation_expired(self).await?.into(),
            other => other,
        })
    }
}

impl<S: StageType> Onboarding<S> {
    /// To [`Expired`]: the invitation's time ran out. Its code dies.
    async fn invitation_expired(self, ports: &Ports) -> Result<Onboarding<Expired>, Rejected<S>> {
        let now = ports.clock().now();
        let mut customer = self.customer.clone();
        if let Some(invitation) = customer.invitation.as_mut() {
            invitation.code_hash = None;
        }
        let expired = Expired { expired_at: now };
        self.transition(ports, customer, expired, Some("invitation expired".into()))
            .await
    }
}

impl<S: StageType> Onboarding<S> {
    /// Issues a fresh code and mails it. The new code replaces the old one only once the
    /// mailer has accepted the message; on failure the old code (if any) still works and the
    /// mail error is kept as the customer's last error.
    async fn deliver(self, ports: &Ports) -> Result<Onboarding<InvitationSent>, Rejected<S>> {
        if self.customer.method != Method::DeviceCode {
            let actual = self.customer.method;
            return Err(self.reject(FlowError::WrongMethod {
                expected: Method::DeviceCode,
                actual,
            }));
        }
        let now = ports.clock().now();
        let code = InvitationCode::generate();
        let link = match ports
            .config()
            .invitation_links_at()
            .join(code.expose_secret())
        {
            Ok(link) => InvitationLink::new(String::from(link)),
            Err(_) => {
                return Err(self.reject(FlowError::Inconsistent(
                    "the invitation link base cannot carry a code",
                )));
            }
        };
        let expires_at = now + ports.config().invitation_lifetime();
        let message = InvitationMessage {
            customer: self.customer.id.clone(),
            tenant: self.customer.tenant.clone(),
            to: self.customer.admin_email.clone(),
            link,
            code: code.clone(),
            expires_at,
            msp_name: ports.config().msp_name().to_owned(),
        };
        let message_id = match ports.mailer().send_invitation(&message).await {
            Ok(id) => id,
            Err(error) => return Err(self.fail(ports, error).await),
        };
        // Accepted now, after any retries inside the mailer, not when the send began.
        let accepted_at = ports.clock().now();
        let mut customer = self.customer.clone();
        let codes_issued = customer.invitation.as_ref().map_or(0, |i| i.codes_issued) + 1;
        customer.invitation = Some(Invitation {
            code_hash: Some(code.hash()),
            issued_at: now,
            expires_at,
            delivery: Some(Delivery {
                message_id,
                sent_at: accepted_at,
            }),
            opened_at: None,
            codes_issued,
        });
        super::note_success(&mut customer);
        let note = (codes_issued > 1).then(|| format!("invitation resent (code {codes_issued})"));
        self.transition(ports, customer, InvitationSent, note).await
    }
}

impl Onboarding<Invited> {
    /// Mails the invitation link. The stage becomes [`InvitationSent`] only once the mailer
    /// accepted the message.
    pub async fn send(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<InvitationSent>, Rejected<Invited>> {
        let ports = ports.as_ref();
        self.deliver(ports).await
    }
}

impl<S: Resendable> Onboarding<S> {
    /// Mails a new invitation link. The new code replaces the old one once the mailer has
    /// accepted it; the journey restarts at [`InvitationSent`].
    pub async fn resend(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<InvitationSent>, Rejected<S>> {
        let ports = ports.as_ref();
        self.deliver(ports).await
    }
}

impl Onboarding<InvitationSent> {
    /// The customer opened the link: the journey is theirs to continue.
    pub async fn claim(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<Claimed>, Rejected<InvitationSent>> {
        let ports = ports.as_ref();
        let mut customer = self.customer.clone();
        if let Some(invitation) = customer.invitation.as_mut() {
            invitation.opened_at.get_or_insert(ports.clock().now());
        }
        self.transition(ports, customer, Claimed, None).await
    }
}

impl<S: Reinvitable> Onboarding<S> {
    /// Starts over with a device-code invitation (the method becomes
    /// [`Method::DeviceCode`]); call [`send`](Onboarding::send) next.
    pub async fn reinvite(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<Invited>, Rejected<S>> {
        let ports = ports.as_ref();
        let mut customer = self.customer.clone();
        customer.method = Method::DeviceCode;
        customer.credentials = None;
        if let Some(invitation) = customer.invitation.as_mut() {
            invitation.code_hash = None;
        }
        self.transition(ports, customer, Invited, Some("re-invited".into()))
            .await
    }
}

impl<S: Revocable> Onboarding<S> {
    /// Ends the journey for good: the customer's tokens are revoked at the provider (where
    /// it has a revocation endpoint), the invitation code dies and every stored secret (token,
    /// password, client secret) is dropped. If the provider cannot revoke now, nothing changes
    /// and the error says whether to retry.
    pub async fn revoke(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<Revoked>, Rejected<S>> {
        let ports = ports.as_ref();
        if let Some(tokens) = &self.customer.token
            && let Err(error) = ports.provider().revoke_tokens(&self.target(), tokens).await
        {
            return Err(self.fail(ports, error).await);
        }
        ports.connection_changed(&self.customer.id);
        let mut customer = self.customer.clone();
        if let Some(invitation) = customer.invitation.as_mut() {
            invitation.code_hash = None;
        }
        customer.token = None;
        customer.credentials = None;
        let revoked = Revoked {
            revoked_at: ports.clock().now(),
        };
        self.transition(ports, customer, revoked, None).await
    }
}
