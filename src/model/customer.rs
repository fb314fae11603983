//! What is known about one customer across every stage: who, how, the invitation, the
//! credentials, the token and the last verification.

use time::OffsetDateTime;

use super::certificate::{AppCredential, CredentialExpiry};
use super::cloud::Cloud;
use super::health::Health;
use super::ids::{CustomerId, EmailAddress, Method, TenantId};
use super::invitation::Invitation;
use super::secret::{AccessToken, Password, RefreshToken};

/// `Clone` whose `clone_from` goes field by field, so overwriting a stored value with a newer
/// one reuses the allocations it already has (a store writing a record back, say) instead of
/// building a whole copy and dropping the old one. A field left out of the list does not
/// compile.
macro_rules! clone_by_field {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Clone for $ty {
            fn clone(&self) -> Self {
                Self {
                    $($field: self.$field.clone()),*
                }
            }

            fn clone_from(&mut self, source: &Self) {
                $(self.$field.clone_from(&source.$field);)*
            }
        }
    };
}
pub(crate) use clone_by_field;

/// The facts a journey keeps about one customer, whatever its stage.
#[derive(Debug)]
pub struct Customer {
    /// The MSP's id for the customer.
    pub id: CustomerId,
    /// The customer's Entra tenant, as invited.
    pub tenant: TenantId,
    /// The customer's admin or service-account email.
    pub admin_email: EmailAddress,
    /// How the connection is obtained.
    pub method: Method,
    /// When the customer was first created.
    pub created_at: OffsetDateTime,
    /// When the record last changed.
    pub updated_at: OffsetDateTime,
    /// The current invitation (device-code journey only).
    pub invitation: Option<Invitation>,
    /// Stored credentials (password and app-registration journeys only).
    pub credentials: Option<Credentials>,
    /// The current token set, once acquired.
    pub token: Option<TokenSet>,
    /// The tenant as proven by the last successful validation.
    pub tenant_info: Option<TenantInfo>,
    /// When the customer finished the device sign-in.
    pub device_authenticated_at: Option<OffsetDateTime>,
    /// The last verification of the connection.
    pub last_verification: Option<Verification>,
    /// The last error any step met, for the status report.
    pub last_error: Option<String>,
    /// Which portal replica is refreshing the token right now, and until when; other
    /// replicas wait for its result instead of refreshing too.
    pub refresh_lease: Option<RefreshLease>,
    /// For an app registration whose credential's end is not known otherwise (a secret given
    /// without its end date): the end the application's own record in Graph names, read when
    /// the connection was last validated or verified.
    pub app_credential_expiry: Option<CredentialExpiry>,
    /// The reasons the customer needs attention, as last reported, and the failures they
    /// are computed from.
    pub health: Health,
}

clone_by_field!(Customer {
    id,
    tenant,
    admin_email,
    method,
    created_at,
    updated_at,
    invitation,
    credentials,
    token,
    tenant_info,
    device_authenticated_at,
    last_verification,
    last_error,
    refresh_lease,
    app_credential_expiry,
    health
});

/// A short claim on a token refresh, stored with the customer by compare-and-swap: while it
/// runs, other replicas wait for the holder's result instead of calling the provider too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshLease {
    /// The engine instance that holds the lease
    /// ([`TenantAccess::instance_id`](crate::TenantAccess::instance_id)).
    pub holder: String,
    /// When the lease lapses if the holder never finishes (it crashed, say).
    pub until: OffsetDateTime,
}

impl Customer {
    /// A fresh customer with nothing done yet.
    pub fn new(new: NewCustomer, method: Method, now: OffsetDateTime) -> Self {
        Self {
            id: new.id,
            tenant: new.tenant,
            admin_email: new.admin_email,
            method,
            created_at: now,
            updated_at: now,
            invitation: None,
            credentials: None,
            token: None,
            tenant_info: None,
            device_authenticated_at: None,
            last_verification: None,
            last_error: None,
            refresh_lease: None,
            app_credential_expiry: None,
            health: Health::default(),
        }
    }

    /// When the credential this customer's connection rests on stops working, where it is
    /// known: an app registration's certificate (`notAfter`) or secret (the end date the MSP
    /// gave), else the end Graph named for the application. Other methods: none.
    pub fn credential_expiry(&self) -> Option<CredentialExpiry> {
        match &self.credentials {
            Some(Credentials::AppRegistration { credential, .. }) => credential
                .expiry()
                .or_else(|| self.app_credential_expiry.clone()),
            _ => None,
        }
    }
}

/// Who a new customer is: the three facts every journey starts from.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    /// The MSP's id for the customer.
    pub id: CustomerId,
    /// The customer's Entra tenant (GUID or verified domain).
    pub tenant: TenantId,
    /// The admin or service-account email the invitation goes to.
    pub admin_email: EmailAddress,
}

impl NewCustomer {
    /// Checks the three values and returns a typed error naming the first bad one.
    ///
    /// ```
    /// use tenant_access::NewCustomer;
    /// let c = NewCustomer::new("contoso", "contoso.onmicrosoft.com", "admin@contoso.com").unwrap();
    /// assert_eq!(c.tenant.as_str(), "contoso.onmicrosoft.com");
    /// assert!(NewCustomer::new("contoso", "common", "admin@contoso.com").is_err());
    /// ```
    pub fn new(
        id: impl Into<String>,
        tenant: impl Into<String>,
        admin_email: impl Into<String>,
    ) -> Result<Self, super::input::InputError> {
        Ok(Self {
            id: CustomerId::new(id)?,
            tenant: TenantId::new(tenant)?,
            admin_email: EmailAddress::new(admin_email)?,
        })
    }

    /// The customer's tenant is in `cloud`, whatever tenant discovery would assume: its
    /// discovery and every later request go to that cloud's hosts. For tenants the public
    /// authority cannot place (a national cloud's); when discovery does name the tenant's
    /// cloud and it is another, creating the customer fails with
    /// [`InputError::CloudMismatch`](super::input::InputError::CloudMismatch). Without it the
    /// cloud is the one discovery finds, else the public cloud.
    ///
    /// ```
    /// use tenant_access::{NewCustomer, model::Cloud};
    /// let c = NewCustomer::new("army", "army.example.us", "admin@army.example.us")
    ///     .unwrap()
    ///     .cloud(Cloud::UsGovL5Dod);
    /// assert_eq!(c.tenant.cloud(), Cloud::UsGovL5Dod);
    /// ```
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.tenant = self.tenant.choosing_cloud(cloud);
        self
    }
}

/// Credentials kept for the password and app-registration journeys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A global admin's username and password (ROPC).
    Password {
        /// The sign-in name (`admin@contoso.onmicrosoft.com`).
        username: String,
        /// The password.
        password: Password,
    },
    /// An application registered in the customer's tenant.
    AppRegistration {
        /// The application (client) id.
        client_id: String,
        /// Its client secret or certificate.
        credential: AppCredential,
    },
}

/// The tokens of a connection, with absolute times.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token (absent for client credentials).
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires.
    pub expires_at: OffsetDateTime,
    /// When this token set was obtained.
    pub obtained_at: OffsetDateTime,
    /// The scopes granted, space separated, as the provider said.
    pub scope: Option<String>,
}

clone_by_field!(TokenSet {
    access_token,
    refresh_token,
    expires_at,
    obtained_at,
    scope
});

impl TokenSet {
    /// When refresh-ahead renews this access token: `margin` before it expires, but never
    /// earlier than half-way through its life. A server that issues short tokens (60 s against
    /// a 5-minute margin) would otherwise have every token due the moment it arrives, and
    /// every call would refresh; with the cap a token is served for at least half its life.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenant_access::model::{AccessToken, TokenSet};
    /// use time::macros::datetime;
    ///
    /// let at = datetime!(2026-11-23 10:00 UTC);
    /// let token = |lifetime: i64| TokenSet {
    ///     access_token: AccessToken::new("t"),
    ///     refresh_token: None,
    ///     expires_at: at + time::Duration::seconds(lifetime),
    ///     obtained_at: at,
    ///     scope: None,
    /// };
    /// let margin = Duration::from_secs(5 * 60);
    /// // An hour-long token: 5 minutes before expiry.
    /// assert_eq!(token(3600).refresh_due_at(margin), at + time::Duration::minutes(55));
    /// // A 60 s token: half-way, after 30 s.
    /// assert_eq!(token(60).refresh_due_at(margin), at + time::Duration::seconds(30));
    /// ```
    pub fn refresh_due_at(&self, margin: std::time::Duration) -> OffsetDateTime {
        // A token that expired before it was obtained (a clock step) is due at once.
        let lifetime: time::Duration = self.expires_at - self.obtained_at;
        let half_life = (lifetime / 2_i32).max(time::Duration::ZERO);
        let margin = time::Duration::try_from(margin).unwrap_or(time::Duration::MAX);
        self.expires_at.saturating_sub(margin.min(half_life))
    }
}

/// A tenant as proven by a validation call.
#[derive(Debug, PartialEq, Eq)]
pub struct TenantInfo {
    /// The tenant GUID.
    pub id: String,
    /// The organisation's display name.
    pub display_name: String,
    /// The verified domains.
    pub domains: Vec<String>,
}

clone_by_field!(TenantInfo {
    id,
    display_name,
    domains
});

/// The result of the last verification of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// When it ran.
    pub at: OffsetDateTime,
    /// What it found.
    pub status: VerificationStatus,
}

/// What a verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerificationStatus {
    /// The token worked and belongs to the invited tenant.
    Ok,
    /// The provider or network failed; the connection may still be fine.
    Transient,
    /// The connection does not work (dead token, wrong tenant, revoked consent).
    Failed,
}

impl VerificationStatus {
    /// A short, stable name (`ok`, `transient`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Ok => "ok",
            VerificationStatus::Transient => "transient",
            VerificationStatus::Failed => "failed",
        }
    }
}
