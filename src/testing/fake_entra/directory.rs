//! What the customer, their administrators and the network do to the fake directory, as
//! operations on its state: one place shared by the in-process handle (`control`) and the
//! HTTP control API (`control_api`). Nothing here speaks HTTP.

use serde::Serialize;

use super::state::{
    App, Device, DeviceStatus, FakeEndpoint, FakeRequest, Fault, State, Tenant, User, tenant_guid,
};

/// What happened when the customer signed in with a user code
/// ([`FakeEntra::sign_in`](super::FakeEntra::sign_in)). In JSON: its name in snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignIn {
    /// Signed in and consented; the next poll gets the token.
    SignedIn,
    /// User consent is not allowed and the admin consent workflow is on: the user requested
    /// approval; polls answer AADSTS90095 until a new device code is used after approval.
    ApprovalRequested,
    /// No such user code (or it is no longer waiting for a sign-in).
    UnknownCode,
    /// Signed in, but the application is not consented in the tenant and the tenant's
    /// [`Scenario::consent_required_on_poll`](super::Scenario::consent_required_on_poll) is
    /// on: polls answer AADSTS65001 until an administrator consents and the customer signs in
    /// with a new device code.
    ConsentRequired,
}

impl State {
    /// Makes the name (and the GUID the fake gives it) unknown; drops the tenant. Returns
    /// whether it existed.
    pub(super) fn forget_tenant(&mut self, tenant: &str) -> bool {
        let name = tenant.trim().to_ascii_lowercase();
        let id = tenant_guid(&name);
        self.unknown.insert(name);
        self.unknown.insert(id.clone());
        self.tenants.remove(&id).is_some()
    }

    /// Users of `tenant` may not consent, and the admin consent workflow is on.
    pub(super) fn require_admin_approval(&mut self, tenant: &str) {
        if let Some(t) = self.tenant(tenant) {
            t.user_consent_blocked = true;
        }
    }

    /// A reviewer approves every open admin consent request in `tenant`; returns how many.
    pub(super) fn approve_admin_consent_requests(&mut self, tenant: &str) -> usize {
        let Some(t) = self.tenant(tenant) else {
            return 0;
        };
        let approved = std::mem::take(&mut t.approval_requests);
        t.consented.extend(approved.iter().cloned());
        approved.len()
    }

    /// An administrator consents to `client_id` in `tenant` out of band.
    pub(super) fn grant_admin_consent(&mut self, tenant: &str, client_id: &str) {
        if let Some(t) = self.tenant(tenant) {
            t.consented.insert(client_id.to_owned());
        }
    }

    /// The next admin consent in `tenant` is declined.
    pub(super) fn decline_next_admin_consent(&mut self, tenant: &str) {
        if let Some(t) = self.tenant(tenant) {
            t.decline_next_admin_consent = true;
        }
    }

    /// Adds (or replaces) a user for the password grant.
    pub(super) fn add_user(&mut self, tenant: &str, username: &str, password: &str, mfa: bool) {
        if let Some(t) = self.tenant(tenant) {
            t.users.insert(
                username.to_ascii_lowercase(),
                User {
                    password: password.to_owned(),
                    mfa,
                },
            );
        }
    }

    /// Turns MFA on or off for a user; whether the user exists.
    pub(super) fn set_mfa(&mut self, tenant: &str, username: &str, on: bool) -> bool {
        match self
            .tenant(tenant)
            .and_then(|t| t.users.get_mut(&username.to_ascii_lowercase()))
        {
            Some(user) => {
                user.mfa = on;
                true
            }
            None => false,
        }
    }

    /// Changes the application `client_id` of `tenant`, registering it first if new (its
    /// secret, if any, ending 24 months from now).
    pub(super) fn with_app(
        &mut self,
        tenant: &str,
        client_id: &str,
        change: impl FnOnce(&mut App),
    ) {
        let now = self.now();
        if let Some(t) = self.tenant(tenant) {
            let app = t.apps.entry(client_id.to_owned()).or_insert_with(|| App {
                secret: None,
                secret_expires_at: now + time::Duration::days(730),
                certificates: Vec::new(),
            });
            change(app);
        }
    }

    fn with_device<T>(
        &mut self,
        user_code: &str,
        f: impl FnOnce(&mut Device, &mut Tenant) -> T,
    ) -> Option<T> {
        let now = self.now();
        let State {
            devices, tenants, ..
        } = self;
        let device = devices
            .values_mut()
            .find(|d| d.user_code.eq_ignore_ascii_case(user_code.trim()) && now < d.expires_at)?;
        let tenant = tenants.get_mut(&device.tenant)?;
        Some(f(device, tenant))
    }

    /// The user codes still waiting for a sign-in, of `tenant` (a GUID or domain) or of every
    /// tenant, oldest first.
    pub(super) fn waiting_user_codes(&mut self, tenant: Option<&str>) -> Vec<String> {
        let id = tenant.map(|t| tenant_guid(&t.trim().to_ascii_lowercase()));
        let now = self.now();
        let mut waiting: Vec<&Device> = self
            .devices
            .values()
            .filter(|d| d.status == DeviceStatus::Waiting && now < d.expires_at)
            .filter(|d| id.as_ref().is_none_or(|id| &d.tenant == id))
            .collect();
        waiting.sort_by(|a, b| (a.expires_at, &a.user_code).cmp(&(b.expires_at, &b.user_code)));
        waiting.iter().map(|d| d.user_code.clone()).collect()
    }

    /// The customer enters `user_code` at the verification URI and signs in.
    pub(super) fn sign_in(&mut self, user_code: &str) -> SignIn {
        self.with_device(user_code, |device, tenant| {
            if device.status != DeviceStatus::Waiting {
                return SignIn::UnknownCode;
            }
            let consented = tenant.consented.contains(&device.client_id);
            if !consented && tenant.scenario.consent_required_on_poll {
                device.status = DeviceStatus::ConsentMissing;
                return SignIn::ConsentRequired;
            }
            if consented || !tenant.user_consent_blocked {
                tenant.consented.insert(device.client_id.clone());
                device.status = DeviceStatus::SignedIn;
                SignIn::SignedIn
            } else {
                if !tenant.approval_requests.contains(&device.client_id) {
                    tenant.approval_requests.push(device.client_id.clone());
                }
                device.status = DeviceStatus::ApprovalRequested;
                SignIn::ApprovalRequested
            }
        })
        .unwrap_or(SignIn::UnknownCode)
    }

    /// The customer declines at the verification URI; whether the code was known.
    pub(super) fn decline(&mut self, user_code: &str) -> bool {
        self.with_device(user_code, |device, _| {
            device.status = DeviceStatus::Declined
        })
        .is_some()
    }

    /// The device code expires now; whether the code was known.
    pub(super) fn expire(&mut self, user_code: &str) -> bool {
        let now = self.now();
        self.with_device(user_code, |device, _| device.expires_at = now)
            .is_some()
    }

    /// The next poll of this device code answers `slow_down`; whether the code was known.
    pub(super) fn slow_down(&mut self, user_code: &str) -> bool {
        self.with_device(user_code, |device, _| device.slow_down_next = true)
            .is_some()
    }

    /// Revokes every refresh token of `tenant`; returns how many.
    pub(super) fn revoke_refresh_tokens(&mut self, tenant: &str) -> usize {
        let Some(id) = self.tenant(tenant).map(|t| t.id.clone()) else {
            return 0;
        };
        let mut n = 0;
        for rt in self.refresh.values_mut().filter(|rt| rt.tenant == id) {
            rt.revoked = true;
            n += 1;
        }
        n
    }

    /// Makes every access token issued so far in `tenant` inactive; returns how many.
    pub(super) fn revoke_access_tokens(&mut self, tenant: &str) -> usize {
        let Some(id) = self.tenant(tenant).map(|t| t.id.clone()) else {
            return 0;
        };
        let mut n = 0;
        for access in self
            .access
            .values_mut()
            .filter(|a| a.tenant == id && !a.revoked)
        {
            access.revoked = true;
            n += 1;
        }
        n
    }

    /// The next request to `endpoint` is answered with `fault`.
    pub(super) fn inject(&mut self, endpoint: FakeEndpoint, fault: Fault) {
        self.faults.entry(endpoint).or_default().push_back(fault);
    }

    /// How many requests of this kind named `tenant` (a GUID or domain).
    pub(super) fn requests_for(&self, tenant: &str, request: FakeRequest) -> u64 {
        let id = tenant_guid(&tenant.trim().to_ascii_lowercase());
        self.tenant_counts.get(&(id, request)).copied().unwrap_or(0)
    }

    /// Forgets every request counted so far (counters and request log).
    pub(super) fn reset_counters(&mut self) {
        self.counts.clear();
        self.tenant_counts.clear();
        self.log.clear();
    }

    /// Back to a fresh directory: no tenant, code, token, fault or count. The MSP's
    /// application (client id, secret, certificates, redirect URIs) and the cloud stay.
    pub(super) fn reset(&mut self) {
        self.reset_counters();
        self.tenants.clear();
        self.unknown.clear();
        self.devices.clear();
        self.codes.clear();
        self.refresh.clear();
        self.access.clear();
        self.faults.clear();
        self.used_assertions.clear();
    }
}
