//! [`InputError`]: a malformed value from the caller.

/// A malformed value from the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A customer id.
    #[error("customer id {0}")]
    CustomerId(&'static str),
    /// A tenant id or domain.
    #[error("tenant {0}")]
    Tenant(&'static str),
    /// The tenant (GUID or domain) is unknown to the identity provider: no tenant has this GUID
    /// or verified domain (Entra ID: `invalid_tenant`, AADSTS90002, at tenant discovery).
    #[error(
        "tenant {0} is not known to the identity provider (no tenant has this GUID or verified domain)"
    )]
    UnknownTenant(String),
    /// The cloud the MSP chose for a new customer
    /// ([`NewCustomer::cloud`](crate::NewCustomer::cloud)) is not the one tenant discovery
    /// found the tenant in. Discovery says what the tenant really is; the MSP's choice is for
    /// tenants discovery cannot place.
    #[error(
        "tenant {tenant} was given the {chosen} cloud, but tenant discovery found it in the {discovered} cloud"
    )]
    CloudMismatch {
        /// The tenant as given.
        tenant: String,
        /// The cloud the MSP chose.
        chosen: super::cloud::Cloud,
        /// The cloud discovery found.
        discovered: super::cloud::Cloud,
    },
    /// An email address.
    #[error("email address {0}")]
    Email(&'static str),
    /// A URL.
    #[error("URL {0}")]
    Url(String),
    /// An admin-consent callback.
    #[error("admin-consent callback {0}")]
    ConsentCallback(&'static str),
    /// A client certificate or its private key is unusable (not PEM, not parseable, a key of
    /// another kind, or not the certificate's key).
    #[error("certificate: {0}")]
    Certificate(String),
    /// A browser sign-in callback could not be read.
    #[error("the sign-in callback {0}")]
    SignInCallback(&'static str),
    /// A scope list for [`Scopes`](crate::Scopes) is malformed.
    #[error("invalid scopes: {0}")]
    Scopes(&'static str),
    /// Credentials for the password or app-registration journey.
    #[error("credentials: {0}")]
    Credentials(&'static str),
}
