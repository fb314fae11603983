//! The [`IdentityProvider`] port and what its calls carry.
//!
//! A provider makes one logical request per call and never loops on the journey's behalf:
//! polling and waiting for the customer are the journey's decisions, made with the engine's
//! [`Clock`](crate::ports::Clock). An HTTP provider may repeat the same request after a
//! transient fault (throttling, 5xx, a dropped connection) within one call, waiting on a clock.

use async_trait::async_trait;
use std::time::Duration;
use url::Url;

use super::consent::ConsentCallback;
use super::sign_in::{AuthorizationRequest, CodeRedemption};
use super::target::Target;
use crate::error::{ProviderDetail, ProviderError};
use crate::model::{
    AccessToken, AppCredential, ConsentState, CredentialExpiry, DeviceCode, DiscoveredTenant,
    Password, RefreshToken, Scopes, TenantId, TenantInfo,
};

/// An RFC 8628 device authorization response, with relative times as on the wire.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// The device code the portal polls with.
    pub device_code: DeviceCode,
    /// The code the customer types.
    pub user_code: String,
    /// Where the customer types it.
    pub verification_uri: Url,
    /// The same page with the user code already filled in (RFC 8628 §3.3.1), when the
    /// server sends one (Entra ID does not): a one-click link, or a QR code.
    pub verification_uri_complete: Option<Url>,
    /// How long the device code lives.
    pub expires_in: Duration,
    /// The minimum poll interval.
    pub interval: Duration,
    /// The provider's instruction text, if any.
    pub message: Option<String>,
}

/// A token endpoint's success answer, with relative times as on the wire.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<RefreshToken>,
    /// How long the access token lives.
    pub expires_in: Duration,
    /// The granted scopes.
    pub scope: Option<String>,
}

/// The answer to one device-code poll.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DevicePoll {
    /// The customer has not finished signing in (`authorization_pending`).
    Pending,
    /// Polling too fast (`slow_down`): widen the interval by 5 seconds.
    SlowDown,
    /// The customer asked an administrator to approve the application (admin consent
    /// workflow); the device code is of no further use.
    ApprovalRequested,
    /// The customer signed in, but nobody has consented to the application in the tenant
    /// and the customer could not (Entra AADSTS65001, `consent_required`): an administrator
    /// must consent through the admin-consent URL; the device code is of no further use.
    ConsentRequired,
    /// The customer declined (`authorization_declined`).
    Declined,
    /// The device code expired, is unknown, or was already used.
    Expired,
    /// The customer signed in and consented: here is the token.
    Granted(TokenResponse),
}

/// What [`IdentityProvider::discover_tenant`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantDiscovery {
    /// The tenant exists: its GUID and cloud.
    Found(DiscoveredTenant),
    /// No tenant has this GUID or verified domain (Entra ID: HTTP 400 `invalid_tenant`,
    /// AADSTS90002). Inviting it is an
    /// [`InputError::UnknownTenant`](crate::error::InputError::UnknownTenant).
    Unknown(ProviderDetail),
    /// The provider has no tenant discovery (a standards-only server): the tenant is kept as
    /// given, and later checks compare it as before (a GUID by GUID, a domain by the verified
    /// domains the validating call names).
    Unsupported,
}

/// What an admin-consent URL asks for.
#[derive(Debug, Clone)]
pub struct AdminConsentRequest {
    /// The application (client) id to consent to.
    pub client_id: String,
    /// Where the provider sends the administrator back.
    pub redirect_uri: Url,
    /// The unguessable value the callback must carry back.
    pub state: ConsentState,
}

/// An identity provider: Microsoft Entra ID, a standards-only OAuth2/OIDC server, or the mock.
///
/// Object-safe, `Send + Sync`: the engine holds it as `Arc<dyn IdentityProvider>`.
#[async_trait]
pub trait IdentityProvider: Send + Sync + std::fmt::Debug {
    /// Takes the engine's clock for what the provider waits on (retries of transient faults),
    /// so one clock rules the journeys and the provider. The engine calls it once when it is
    /// built; a provider that was given a clock before keeps it. The default ignores it.
    fn use_clock(&self, _clock: std::sync::Arc<dyn super::Clock>) {}

    /// Resolves `tenant` (a GUID or a verified domain) to its GUID and cloud before anything
    /// else happens, anonymously. The engine calls it when a customer is created (invitation,
    /// password and app-registration journeys) and keeps the GUID in the customer's
    /// [`TenantId`]; every later check compares GUIDs.
    ///
    /// Entra ID reads the tenant's OpenID configuration
    /// (`GET {authority}/{tenant}/v2.0/.well-known/openid-configuration`: the GUID from its
    /// `issuer`, plus `cloud_instance_name`, `msgraph_host`, `tenant_region_scope`). A
    /// transient failure is an `Err` whose action is a retry.
    ///
    /// The default, for providers without tenant discovery (a standards-only OAuth 2.0 /
    /// OpenID Connect server has none), answers [`TenantDiscovery::Unsupported`]: the tenant
    /// is kept as given.
    async fn discover_tenant(&self, _tenant: &TenantId) -> Result<TenantDiscovery, ProviderError> {
        Ok(TenantDiscovery::Unsupported)
    }

    /// Starts a device authorization (RFC 8628 §3.1).
    async fn device_authorization(
        &self,
        target: &Target,
    ) -> Result<DeviceAuthorization, ProviderError>;

    /// Makes exactly one device-code token request (RFC 8628 §3.4), never retried inside
    /// the call: every token request for a device code is a poll (§3.5), and the journey
    /// decides when the next one may go out.
    async fn poll_device_code(
        &self,
        target: &Target,
        device_code: &DeviceCode,
    ) -> Result<DevicePoll, ProviderError>;

    /// The resource-owner password grant (ROPC).
    async fn password_grant(
        &self,
        target: &Target,
        username: &str,
        password: &Password,
    ) -> Result<TokenResponse, ProviderError>;

    /// The client-credentials grant of an app registration in the customer's tenant, with
    /// its client secret or certificate (a client assertion signed for that tenant's token
    /// endpoint, RFC 7523).
    async fn client_credentials(
        &self,
        target: &Target,
        client_id: &str,
        credential: &AppCredential,
    ) -> Result<TokenResponse, ProviderError>;

    /// Redeems a refresh token. A dead token is
    /// [`ProviderError::ReauthenticationRequired`].
    async fn refresh(
        &self,
        target: &Target,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ProviderError>;

    /// Redeems the refresh token for an access token to other scopes (another resource, such
    /// as Azure Resource Manager), where the provider allows it. Entra ID does: a refresh
    /// token is good for every resource the user consented to. The answer may carry a new
    /// refresh token, which replaces the stored one. The default says
    /// [`ProviderError::Unsupported`].
    async fn refresh_for_scopes(
        &self,
        _target: &Target,
        _refresh_token: &RefreshToken,
        _scopes: &Scopes,
    ) -> Result<TokenResponse, ProviderError> {
        Err(ProviderError::Unsupported(
            "access tokens for other scopes from the refresh token",
        ))
    }

    /// Builds the URL an administrator opens to consent for the whole organisation.
    fn admin_consent_url(
        &self,
        target: &Target,
        request: &AdminConsentRequest,
    ) -> Result<Url, ProviderError>;

    /// Checks an admin-consent callback: the state, the tenant, and any error it carries.
    async fn verify_admin_consent(
        &self,
        target: &Target,
        expected_state: &ConsentState,
        callback: &ConsentCallback,
    ) -> Result<(), ProviderError>;

    /// Builds the URL a customer's browser opens for a browser sign-in: an authorization
    /// request (`response_type=code`) with the PKCE S256 challenge, the single-use state,
    /// the `login_hint` and the provider's scopes, at the authority of the customer's tenant
    /// ([`IdentityProvider::redeem_code`] redeems what comes back).
    ///
    /// The default, for providers without it, says [`ProviderError::Unsupported`].
    fn authorization_url(
        &self,
        _target: &Target,
        _request: &AuthorizationRequest,
    ) -> Result<Url, ProviderError> {
        Err(ProviderError::Unsupported(
            "browser sign-in (authorization code with PKCE)",
        ))
    }

    /// Redeems a browser sign-in's authorization code (RFC 6749 §4.1.3) with its PKCE
    /// verifier (RFC 7636) at the token endpoint of the customer's tenant, as the MSP's
    /// client. A code already redeemed, expired, or issued for another challenge is
    /// [`ProviderError::CodeRefused`].
    ///
    /// The default says [`ProviderError::Unsupported`].
    async fn redeem_code(
        &self,
        _target: &Target,
        _redemption: CodeRedemption<'_>,
    ) -> Result<TokenResponse, ProviderError> {
        Err(ProviderError::Unsupported(
            "browser sign-in (authorization code with PKCE)",
        ))
    }

    /// Proves the token works with one real call and says which tenant it reached.
    async fn validate(
        &self,
        target: &Target,
        access_token: &AccessToken,
    ) -> Result<TenantInfo, ProviderError>;

    /// The MSP's own client credential (its secret or certificate) and when it expires,
    /// where that can be known: a certificate's `notAfter`, a secret's end date when the MSP
    /// configured it. The engine reports it in the status report and checks it when it starts
    /// and on every maintenance pass. The default knows nothing.
    fn client_credential_expiry(&self) -> Option<CredentialExpiry> {
        None
    }

    /// The credentials (secrets and certificates) of the application `client_id` with their
    /// end dates, read with `access_token` where the provider can (Entra ID: Graph
    /// `GET /v1.0/applications(appId='{client_id}')?$select=passwordCredentials,keyCredentials`,
    /// which needs `Application.Read.All` or ownership of the application). The default says
    /// [`ProviderError::Unsupported`].
    async fn app_credential_expiry(
        &self,
        _target: &Target,
        _access_token: &AccessToken,
        _client_id: &str,
    ) -> Result<Vec<CredentialExpiry>, ProviderError> {
        Err(ProviderError::Unsupported(
            "reading an application's credential end dates",
        ))
    }

    /// Revokes a customer's tokens at the provider (RFC 7009) when the MSP removes the
    /// customer. Providers with no revocation endpoint (Entra ID has none for these tokens)
    /// keep this default, which does nothing.
    async fn revoke_tokens(
        &self,
        _target: &Target,
        _tokens: &crate::model::TokenSet,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}
