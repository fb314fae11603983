//! A scripted, in-process [`IdentityProvider`] (feature `mock`) for this crate's tests,
//! downstream test suites and demos.
//!
//! Every customer succeeds at once unless scripted otherwise. A script lists what the device
//! polls answer (pending, slow down, declined, expired), switches on behaviours (admin consent
//! workflow, MFA on the password grant, consent required, dead refresh tokens) and queues
//! faults per operation (throttling with `Retry-After`, 5xx). Every call is recorded.
//!
//! Tenant discovery answers as Entra ID would: every tenant exists, its GUID derived from its
//! name ([`MockProvider::tenant_guid`]) unless [`MockProvider::discovers_as`] says another,
//! in the public cloud; [`MockProvider::unknown_tenant`] makes a name unknown and
//! [`MockProvider::without_tenant_discovery`] turns discovery off (as a standards-only server).
//!
//! ```
//! use tenant_access::testing::mock::{MockProvider, Operation};
//! use std::time::Duration;
//!
//! # use tenant_access::CustomerId;
//! let mock = MockProvider::new();
//! let contoso = CustomerId::new("contoso").unwrap();
//! mock.script(&contoso, |s| {
//!     s.pending(2)
//!         .slow_down()
//!         .approval_workflow()
//!         .throttle(Operation::PollDeviceCode, Duration::from_secs(3));
//! });
//! assert_eq!(mock.calls().len(), 0);
//! // No call for contoso yet: its script is unused.
//! assert_eq!(mock.unused_scripts(), [contoso]);
//! ```
//!
//! Scripts are keyed by [`CustomerId`] and apply to every call for that customer: its device
//! code, password, app registration and browser sign-in journeys, a method switch under way
//! (which keeps the customer's id) and Day Two. End a test with
//! [`MockProvider::assert_all_scripts_used`], so a script for a customer no call was made for
//! (a typo in the id) fails the test instead of scripting nothing in silence.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use std::time::Duration;
use url::Url;

use crate::error::{ProviderDetail, ProviderError};
use crate::model::TenantInfo;
use crate::model::{AccessToken, AppCredential, ConsentState, DeviceCode, Password, RefreshToken};
use crate::model::{CredentialExpiry, CustomerId, DiscoveredTenant, Scopes, TenantId};
use crate::ports::{
    AdminConsentRequest, AuthorizationRequest, CodeRedemption, ConsentCallback,
    DeviceAuthorization, DevicePoll, IdentityProvider, Target, TenantDiscovery, TokenResponse,
    admin_consent_url, check_admin_consent,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

mod sign_in;

/// The provider operations, for scripting faults and counting calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`IdentityProvider::device_authorization`].
    DeviceAuthorization,
    /// [`IdentityProvider::poll_device_code`].
    PollDeviceCode,
    /// [`IdentityProvider::password_grant`].
    PasswordGrant,
    /// [`IdentityProvider::client_credentials`].
    ClientCredentials,
    /// [`IdentityProvider::refresh`].
    Refresh,
    /// [`IdentityProvider::refresh_for_scopes`].
    RefreshForScopes,
    /// [`IdentityProvider::admin_consent_url`].
    AdminConsentUrl,
    /// [`IdentityProvider::verify_admin_consent`].
    VerifyAdminConsent,
    /// [`IdentityProvider::validate`].
    Validate,
    /// [`IdentityProvider::revoke_tokens`].
    RevokeTokens,
    /// [`IdentityProvider::authorization_url`].
    AuthorizationUrl,
    /// [`IdentityProvider::redeem_code`].
    RedeemCode,
    /// [`IdentityProvider::app_credential_expiry`].
    AppCredentialExpiry,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// What was called.
    pub operation: Operation,
    /// For which customer.
    pub customer: CustomerId,
    /// For which tenant.
    pub tenant: TenantId,
}

/// One scripted answer to a device-code poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStep {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`.
    SlowDown,
    /// `authorization_declined`.
    Declined,
    /// `expired_token`.
    Expired,
}

/// What one customer's calls answer. Built inside [`MockProvider::script`].
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Whether a call for the customer has been made since the script was written.
    used: bool,
    polls: VecDeque<PollStep>,
    approval_workflow: bool,
    approved: bool,
    mfa_required: bool,
    consent_required: bool,
    consent_granted: bool,
    invalid_credentials: bool,
    refresh_dead: bool,
    validates_as: Option<TenantInfo>,
    token_tenant: Option<String>,
    granted: Option<serde_json::Value>,
    conditional_access_blocks: bool,
    device_code_blocked: bool,
    app_credentials: Option<Vec<CredentialExpiry>>,
    faults: HashMap<Operation, VecDeque<ProviderError>>,
}

impl Script {
    /// The next `n` device polls answer `authorization_pending`.
    pub fn pending(&mut self, n: usize) -> &mut Self {
        self.polls.extend(std::iter::repeat_n(PollStep::Pending, n));
        self
    }

    /// The next device poll answers `slow_down`.
    pub fn slow_down(&mut self) -> &mut Self {
        self.polls.push_back(PollStep::SlowDown);
        self
    }

    /// The next device poll answers `authorization_declined`.
    pub fn decline(&mut self) -> &mut Self {
        self.polls.push_back(PollStep::Declined);
        self
    }

    /// The next device poll answers `expired_token`.
    pub fn expire_code(&mut self) -> &mut Self {
        self.polls.push_back(PollStep::Expired);
        self
    }

    /// The tenant runs the admin consent workflow: once the scripted polls are used up, polls
    /// answer "approval requested" until [`MockProvider::approve`] is called.
    pub fn approval_workflow(&mut self) -> &mut Self {
        self.approval_workflow = true;
        self
    }

    /// The password grant answers MFA required (AADSTS50076).
    pub fn mfa_required(&mut self) -> &mut Self {
        self.mfa_required = true;
        self
    }

    /// The password and client-credentials grants answer consent required (AADSTS65001), and
    /// device-code polls (once the scripted ones are used up) [`DevicePoll::ConsentRequired`],
    /// until an admin-consent callback is verified or [`MockProvider::grant_consent`] is called.
    pub fn consent_required(&mut self) -> &mut Self {
        self.consent_required = true;
        self
    }

    /// The password grant answers bad credentials (AADSTS50126).
    pub fn invalid_credentials(&mut self) -> &mut Self {
        self.invalid_credentials = true;
        self
    }

    /// Refresh answers `invalid_grant` (AADSTS700082, expired for inactivity).
    pub fn refresh_invalid_grant(&mut self) -> &mut Self {
        self.refresh_dead = true;
        self
    }

    /// A Conditional Access policy blocks the customer's sign-in: the browser sign-in page
    /// redirects back with AADSTS53003 ([`MockProvider::signs_in`]).
    pub fn conditional_access_blocks(&mut self) -> &mut Self {
        self.conditional_access_blocks = true;
        self
    }

    /// A Conditional Access policy on authentication flows blocks the device-code flow: once
    /// the scripted polls are used up, polls answer AADSTS53003. The browser sign-in still
    /// passes.
    pub fn device_code_blocked(&mut self) -> &mut Self {
        self.device_code_blocked = true;
        self
    }

    /// Graph answers these end dates for the customer's app registration
    /// ([`IdentityProvider::app_credential_expiry`]); without this the mock says it cannot
    /// read them.
    pub fn app_credentials(&mut self, credentials: Vec<CredentialExpiry>) -> &mut Self {
        self.app_credentials = Some(credentials);
        self
    }

    /// Validation proves this tenant instead of the invited one.
    pub fn validates_as(&mut self, tenant: TenantInfo) -> &mut Self {
        self.validates_as = Some(tenant);
        self
    }

    /// Access tokens are JWT-shaped (unsigned) and grant these delegated permissions in
    /// their `scp` claim (space-separated), as Entra's do; tokens issued later follow a
    /// later call.
    pub fn grants_scopes(&mut self, scp: impl Into<String>) -> &mut Self {
        self.granted = Some(serde_json::json!({ "scp": scp.into() }));
        self
    }

    /// Access tokens are JWT-shaped (unsigned) and grant these application permissions in
    /// their `roles` claim, as app-only tokens do.
    pub fn grants_roles<I, S>(&mut self, roles: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        self.granted = Some(serde_json::json!({ "roles": roles }));
        self
    }

    /// Access tokens are JWT-shaped (unsigned) and name `tenant` (a GUID) in their `tid`
    /// claim, as when the customer signed in or consented in another tenant. Without this,
    /// access tokens are opaque (no `tid` to check).
    pub fn token_tenant(&mut self, tenant: impl Into<String>) -> &mut Self {
        self.token_tenant = Some(tenant.into());
        self
    }

    /// The next call of `operation` fails with `error` (queue several for several failures).
    pub fn fail(&mut self, operation: Operation, error: ProviderError) -> &mut Self {
        self.faults.entry(operation).or_default().push_back(error);
        self
    }

    /// The next call of `operation` is throttled (HTTP 429 with `Retry-After`).
    pub fn throttle(&mut self, operation: Operation, retry_after: Duration) -> &mut Self {
        self.fail(
            operation,
            ProviderError::Throttled {
                retry_after: Some(retry_after),
            },
        )
    }

    /// The next call of `operation` meets a transient server error with this HTTP status.
    pub fn transient_failure(&mut self, operation: Operation, status: u16) -> &mut Self {
        self.fail(
            operation,
            ProviderError::Unavailable {
                status,
                retry_after: None,
            },
        )
    }
}

/// The scripted provider. Cheap to clone; clones share scripts and the call log.
#[derive(Debug, Clone, Default)]
pub struct MockProvider {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    scripts: HashMap<CustomerId, Script>,
    calls: Vec<Call>,
    issued: u64,
    /// Tenant discovery, by tenant name (lower-case).
    tenants: HashMap<String, Discovery>,
    discovery_off: bool,
    discoveries: usize,
    /// The MSP's own client credential's end, as [`MockProvider::client_credential_expires`] set it.
    client_credential: Option<CredentialExpiry>,
    /// Authorization codes handed out by the browser sign-in page.
    codes: HashMap<String, sign_in::IssuedCode>,
}

/// What tenant discovery answers for one tenant name.
#[derive(Debug)]
enum Discovery {
    Unknown,
    Found(DiscoveredTenant),
    Fails(ProviderError),
}

const AUTHORITY: &str = "https://login.mock.invalid";

static VERIFICATION_URI: std::sync::LazyLock<Url> = std::sync::LazyLock::new(|| {
    Url::parse("https://microsoft.com/devicelogin").expect("static URL")
});

impl MockProvider {
    /// A provider where everything succeeds at once.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scripts one customer's answers (adds to any script it has), for every journey of
    /// that customer (see the [module docs](self)).
    ///
    /// The script counts as unused ([`unused_scripts`](Self::unused_scripts)) until the next
    /// call for the customer.
    pub fn script(&self, customer: &CustomerId, edit: impl FnOnce(&mut Script)) {
        let mut inner = self.lock();
        let script = inner.scripts.entry(customer.clone()).or_default();
        script.used = false;
        edit(script);
    }

    /// A reviewer approves the application in the admin consent workflow: from now on the
    /// customer's device sign-in succeeds.
    pub fn approve(&self, customer: &CustomerId) {
        self.script(customer, |s| s.approved = true);
    }

    /// An administrator consented out of band: the grants stop answering consent required.
    pub fn grant_consent(&self, customer: &CustomerId) {
        self.script(customer, |s| s.consent_granted = true);
    }

    /// The customer's refresh tokens die (as after a password change or an admin revoke).
    pub fn revoke_refresh_tokens(&self, customer: &CustomerId) {
        self.script(customer, |s| s.refresh_dead = true);
    }

    /// The customers scripted ([`script`](Self::script), [`approve`](Self::approve),
    /// [`grant_consent`](Self::grant_consent),
    /// [`revoke_refresh_tokens`](Self::revoke_refresh_tokens)) for whom no call has been
    /// made since they were last scripted, in id order.
    pub fn unused_scripts(&self) -> Vec<CustomerId> {
        let mut unused: Vec<CustomerId> = self
            .lock()
            .scripts
            .iter()
            .filter(|(_, script)| !script.used)
            .map(|(id, _)| id.clone())
            .collect();
        unused.sort();
        unused
    }

    /// Panics unless every script has been used: a call was made for each scripted
    /// customer (a browser sign-in at one of its URLs counts). The message names the unused
    /// scripts and the customers calls were made for, so a typo shows.
    #[track_caller]
    pub fn assert_all_scripts_used(&self) {
        let unused = self.unused_scripts();
        if unused.is_empty() {
            return;
        }
        let mut called: Vec<CustomerId> = self
            .lock()
            .calls
            .iter()
            .map(|c| c.customer.clone())
            .collect();
        called.sort();
        called.dedup();
        let names = |ids: &[CustomerId]| {
            ids.iter()
                .map(|id| format!("{:?}", id.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        panic!(
            "MockProvider: no call was made for the scripted customer(s) {} (calls were made for: {})",
            names(&unused),
            if called.is_empty() {
                "none".to_owned()
            } else {
                names(&called)
            },
        );
    }

    /// What an administrator's browser is redirected to after consenting at `url` (an
    /// admin-consent URL this provider built): the portal's callback with
    /// `admin_consent=True`, the tenant and the state.
    pub fn admin_consents(&self, url: &Url) -> Url {
        self.consent_redirect(url, &[("admin_consent", "True")], true)
    }

    /// What an administrator's browser is redirected to after declining at `url`.
    pub fn admin_declines(&self, url: &Url) -> Url {
        self.consent_redirect(
            url,
            &[
                ("admin_consent", "True"),
                ("error", "consent_required"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
            ],
            false,
        )
    }

    fn consent_redirect(&self, url: &Url, extra: &[(&str, &str)], with_tenant: bool) -> Url {
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let tenant = url
            .path_segments()
            .and_then(|mut s| s.next())
            .unwrap_or_default()
            .to_owned();
        let guid = self.tenant_guid(&tenant);
        let mut redirect = query
            .get("redirect_uri")
            .and_then(|r| Url::parse(r).ok())
            .unwrap_or_else(|| Url::parse("http://127.0.0.1/").expect("static URL"));
        {
            let mut pairs = redirect.query_pairs_mut();
            for (k, v) in extra {
                pairs.append_pair(k, v);
            }
            if with_tenant {
                pairs.append_pair("tenant", &guid);
                if let Some(scope) = query.get("scope") {
                    pairs.append_pair("scope", scope);
                }
            }
            if let Some(state) = query.get("state") {
                pairs.append_pair("state", state);
            }
        }
        redirect
    }

    /// The GUID the mock gives a tenant named by GUID or domain: the one
    /// [`discovers_as`](Self::discovers_as) set, else itself for a GUID, else one derived
    /// from the domain. Consent callbacks and validation name it.
    pub fn tenant_guid(&self, tenant: &str) -> String {
        self.lock().guid_of(tenant)
    }

    /// Tenant discovery finds `found` for `tenant` (a GUID or domain).
    pub fn discovers_as(&self, tenant: &str, found: DiscoveredTenant) {
        let name = tenant.trim().to_ascii_lowercase();
        self.lock().tenants.insert(name, Discovery::Found(found));
    }

    /// No tenant has this name: discovery answers [`TenantDiscovery::Unknown`] (AADSTS90002).
    pub fn unknown_tenant(&self, tenant: &str) {
        let name = tenant.trim().to_ascii_lowercase();
        self.lock().tenants.insert(name, Discovery::Unknown);
    }

    /// The next discovery of `tenant` fails with `error` (once; then it finds the tenant).
    pub fn fail_discovery(&self, tenant: &str, error: ProviderError) {
        let name = tenant.trim().to_ascii_lowercase();
        self.lock().tenants.insert(name, Discovery::Fails(error));
    }

    /// Tenant discovery answers [`TenantDiscovery::Unsupported`] from now on, as a
    /// standards-only server would: tenants are kept as given.
    pub fn without_tenant_discovery(&self) {
        self.lock().discovery_off = true;
    }

    /// The MSP's own client credential ends at `expiry`
    /// ([`IdentityProvider::client_credential_expiry`]).
    pub fn client_credential_expires(&self, expiry: CredentialExpiry) {
        self.lock().client_credential = Some(expiry);
    }

    /// How many tenant discoveries were asked for.
    pub fn discoveries(&self) -> usize {
        self.lock().discoveries
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many calls of `operation` were made.
    pub fn count(&self, operation: Operation) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Records the call, and returns the next queued fault for it, if any.
    fn begin(
        &self,
        operation: Operation,
        target: &Target,
    ) -> (MutexGuard<'_, Inner>, Option<ProviderError>) {
        let mut inner = self.lock();
        inner.calls.push(Call {
            operation,
            customer: target.customer.clone(),
            tenant: target.tenant.clone(),
        });
        let fault = inner.scripts.get_mut(&target.customer).and_then(|s| {
            s.used = true;
            s.faults.get_mut(&operation).and_then(VecDeque::pop_front)
        });
        (inner, fault)
    }
}

impl MockProvider {
    /// A refresh-token grant: the scripted fault, a dead token, or fresh tokens.
    fn redeem_refresh_token(
        &self,
        operation: Operation,
        target: &Target,
    ) -> Result<TokenResponse, ProviderError> {
        let (mut inner, fault) = self.begin(operation, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        if inner.script(target).refresh_dead {
            return Err(ProviderError::ReauthenticationRequired(detail(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity.",
            )));
        }
        Ok(inner.tokens(target, true))
    }
}

impl Inner {
    /// [`MockProvider::tenant_guid`].
    fn guid_of(&self, tenant: &str) -> String {
        let name = tenant.trim().to_ascii_lowercase();
        match self.tenants.get(&name) {
            Some(Discovery::Found(found)) => found.id.clone(),
            _ => tenant_guid(&name),
        }
    }

    fn script(&mut self, target: &Target) -> &mut Script {
        let script = self.scripts.entry(target.customer.clone()).or_default();
        script.used = true;
        script
    }

    fn tokens(&mut self, target: &Target, with_refresh: bool) -> TokenResponse {
        self.issued += 1;
        let n = self.issued;
        let opaque = format!("mock-at-{}-{n}", target.customer);
        let script = self.script(target);
        let mut claims = script
            .granted
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(tid) = &script.token_tenant {
            claims["tid"] = serde_json::json!(tid);
        }
        let access_token = match claims.as_object().is_some_and(|c| !c.is_empty()) {
            // Unsigned but JWT-shaped, with the scripted claims.
            true => format!(
                "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.{}.{opaque}",
                URL_SAFE_NO_PAD.encode(claims.to_string())
            ),
            false => opaque,
        };
        TokenResponse {
            access_token: AccessToken::new(access_token),
            refresh_token: with_refresh
                .then(|| RefreshToken::new(format!("mock-rt-{}-{n}", target.customer))),
            expires_in: Duration::from_secs(3599),
            scope: Some("https://graph.microsoft.com/.default offline_access".into()),
        }
    }
}

/// A GUID for a tenant: itself if it is one, else one derived from the domain.
fn tenant_guid(tenant: &str) -> String {
    if TenantId::new(tenant).is_ok_and(|t| t.is_guid()) {
        return tenant.to_ascii_lowercase();
    }
    crate::model::derived_guid(tenant)
}

/// Entra's answer when nobody has consented to the application (AADSTS65001).
fn consent_missing() -> ProviderError {
    ProviderError::ConsentRequired(detail(
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application.",
    ))
}

fn detail(error: &str, code: u32, text: &str) -> ProviderDetail {
    ProviderDetail::new(error, format!("AADSTS{code}: {text}")).with_code(code)
}

#[async_trait]
impl IdentityProvider for MockProvider {
    async fn discover_tenant(&self, tenant: &TenantId) -> Result<TenantDiscovery, ProviderError> {
        let mut inner = self.lock();
        inner.discoveries += 1;
        if inner.discovery_off {
            return Ok(TenantDiscovery::Unsupported);
        }
        let name = tenant.as_str();
        match inner.tenants.remove(name) {
            Some(Discovery::Unknown) => {
                inner.tenants.insert(name.to_owned(), Discovery::Unknown);
                Ok(TenantDiscovery::Unknown(detail(
                    "invalid_tenant",
                    90002,
                    &format!("Tenant '{name}' not found."),
                )))
            }
            Some(Discovery::Fails(error)) => Err(error),
            found => {
                let found = match found {
                    Some(Discovery::Found(found)) => found,
                    _ => {
                        let mut found = DiscoveredTenant::new(tenant_guid(name))
                            .expect("tenant_guid makes GUIDs");
                        found.cloud_instance_name = Some("microsoftonline.com".into());
                        found.msgraph_host = Some("graph.microsoft.com".into());
                        found.tenant_region_scope = Some("NA".into());
                        found
                    }
                };
                inner
                    .tenants
                    .insert(name.to_owned(), Discovery::Found(found.clone()));
                Ok(TenantDiscovery::Found(found))
            }
        }
    }

    async fn device_authorization(
        &self,
        target: &Target,
    ) -> Result<DeviceAuthorization, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::DeviceAuthorization, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        inner.issued += 1;
        let n = inner.issued;
        let letters: String = (0..9)
            .map(|i| (b'A' + ((n * 7 + i * 3) % 26) as u8) as char)
            .collect();
        Ok(DeviceAuthorization {
            device_code: DeviceCode::new(format!("mock-dc-{}-{n}", target.customer)),
            user_code: letters.clone(),
            verification_uri: VERIFICATION_URI.clone(),
            // Entra ID sends none; the mock answers as Entra does.
            verification_uri_complete: None,
            expires_in: Duration::from_secs(15 * 60),
            interval: Duration::from_secs(5),
            message: Some(format!(
                "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {letters} to authenticate."
            )),
        })
    }

    async fn poll_device_code(
        &self,
        target: &Target,
        _device_code: &DeviceCode,
    ) -> Result<DevicePoll, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::PollDeviceCode, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        let script = inner.script(target);
        if let Some(step) = script.polls.pop_front() {
            return Ok(match step {
                PollStep::Pending => DevicePoll::Pending,
                PollStep::SlowDown => DevicePoll::SlowDown,
                PollStep::Declined => DevicePoll::Declined,
                PollStep::Expired => DevicePoll::Expired,
            });
        }
        if script.device_code_blocked {
            return Err(ProviderError::ConditionalAccessBlocked(detail(
                "invalid_grant",
                53003,
                "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            )));
        }
        if script.approval_workflow && !script.approved {
            return Ok(DevicePoll::ApprovalRequested);
        }
        if script.consent_required && !script.consent_granted {
            return Ok(DevicePoll::ConsentRequired);
        }
        Ok(DevicePoll::Granted(inner.tokens(target, true)))
    }

    async fn password_grant(
        &self,
        target: &Target,
        _username: &str,
        _password: &Password,
    ) -> Result<TokenResponse, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::PasswordGrant, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        let script = inner.script(target);
        if script.invalid_credentials {
            return Err(ProviderError::InvalidCredentials(detail(
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            )));
        }
        if script.mfa_required {
            return Err(ProviderError::MfaRequired(detail(
                "invalid_grant",
                50076,
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.",
            )));
        }
        if script.consent_required && !script.consent_granted {
            return Err(consent_missing());
        }
        Ok(inner.tokens(target, true))
    }

    async fn client_credentials(
        &self,
        target: &Target,
        _client_id: &str,
        _credential: &AppCredential,
    ) -> Result<TokenResponse, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::ClientCredentials, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        let script = inner.script(target);
        if script.consent_required && !script.consent_granted {
            return Err(ProviderError::AppNotInTenant(detail(
                "unauthorized_client",
                700016,
                "Application was not found in the directory.",
            )));
        }
        Ok(inner.tokens(target, false))
    }

    async fn refresh(
        &self,
        target: &Target,
        _refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ProviderError> {
        self.redeem_refresh_token(Operation::Refresh, target)
    }

    async fn refresh_for_scopes(
        &self,
        target: &Target,
        _refresh_token: &RefreshToken,
        scopes: &Scopes,
    ) -> Result<TokenResponse, ProviderError> {
        let mut tokens = self.redeem_refresh_token(Operation::RefreshForScopes, target)?;
        tokens.scope = Some(format!("{scopes} offline_access"));
        Ok(tokens)
    }

    fn admin_consent_url(
        &self,
        target: &Target,
        request: &AdminConsentRequest,
    ) -> Result<Url, ProviderError> {
        let (_inner, fault) = self.begin(Operation::AdminConsentUrl, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        admin_consent_url(
            &Url::parse(AUTHORITY).expect("static URL"),
            target.tenant.as_str(),
            &request.client_id,
            "https://graph.microsoft.com/.default",
            &request.redirect_uri,
            &request.state,
        )
    }

    async fn verify_admin_consent(
        &self,
        target: &Target,
        expected_state: &ConsentState,
        callback: &ConsentCallback,
    ) -> Result<(), ProviderError> {
        let (mut inner, fault) = self.begin(Operation::VerifyAdminConsent, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        check_admin_consent(target, expected_state, callback)?;
        let expected = inner.guid_of(target.tenant.as_str());
        if callback
            .tenant
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case(&expected))
        {
            return Err(ProviderError::ConsentCallback(
                "consent came from another tenant than the invited one",
            ));
        }
        inner.script(target).consent_granted = true;
        Ok(())
    }

    fn authorization_url(
        &self,
        target: &Target,
        request: &AuthorizationRequest,
    ) -> Result<Url, ProviderError> {
        let (_inner, fault) = self.begin(Operation::AuthorizationUrl, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        Ok(sign_in::authorization_url(target, request))
    }

    async fn redeem_code(
        &self,
        target: &Target,
        redemption: CodeRedemption<'_>,
    ) -> Result<TokenResponse, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::RedeemCode, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        inner.redeem_code(target, redemption)
    }

    fn client_credential_expiry(&self) -> Option<CredentialExpiry> {
        self.lock().client_credential.clone()
    }

    async fn app_credential_expiry(
        &self,
        target: &Target,
        _access_token: &AccessToken,
        _client_id: &str,
    ) -> Result<Vec<CredentialExpiry>, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::AppCredentialExpiry, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        inner
            .script(target)
            .app_credentials
            .clone()
            .ok_or(ProviderError::Unsupported(
                "the mock reads app credentials only when scripted",
            ))
    }

    async fn revoke_tokens(
        &self,
        target: &Target,
        _tokens: &crate::model::TokenSet,
    ) -> Result<(), ProviderError> {
        let (mut inner, fault) = self.begin(Operation::RevokeTokens, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        inner.script(target).refresh_dead = true;
        Ok(())
    }

    async fn validate(
        &self,
        target: &Target,
        _access_token: &AccessToken,
    ) -> Result<TenantInfo, ProviderError> {
        let (mut inner, fault) = self.begin(Operation::Validate, target);
        if let Some(fault) = fault {
            return Err(fault);
        }
        if let Some(info) = &inner.script(target).validates_as {
            return Ok(info.clone());
        }
        let tenant = target.tenant.as_str();
        let domains = if target.tenant.is_guid() {
            vec![]
        } else {
            vec![tenant.to_owned()]
        };
        let id = inner.guid_of(tenant);
        Ok(TenantInfo {
            id,
            display_name: format!("Mock tenant {tenant}"),
            domains,
        })
    }
}
