//! The fake tenant directory: tenants, users, app registrations, device codes, issued tokens,
//! queued faults and request counters, behind one mutex shared by the routes and the control
//! handle. Nothing here speaks HTTP.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::serde_fields::{rfc3339, seconds};
use crate::model::{ClientCertificate, Cloud};
use crate::ports::Clock;

/// How long device codes live (Entra: 15 minutes).
pub const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long authorization codes live (Entra: about 10 minutes).
pub const AUTHORIZATION_CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long access tokens live.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// How long a refresh token may go unused before it dies (AADSTS700082).
pub const REFRESH_INACTIVITY: Duration = Duration::from_secs(90 * 86_400);

/// What FakeEntra counts. In JSON (the control API, the state file): its name in snake
/// case, such as `device_poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FakeRequest {
    /// `POST /{tenant}/oauth2/v2.0/devicecode`.
    DeviceAuthorization,
    /// Token requests with the device-code grant.
    DevicePoll,
    /// Token requests with the password grant.
    Password,
    /// Token requests with the client-credentials grant.
    ClientCredentials,
    /// Token requests with the refresh-token grant.
    Refresh,
    /// `GET /{tenant}/v2.0/adminconsent`.
    AdminConsent,
    /// The browser sign-in page: `GET` and `POST /{tenant}/oauth2/v2.0/authorize`.
    Authorize,
    /// Token requests with the authorization-code grant (browser sign-in redemptions).
    AuthorizationCode,
    /// `GET /v1.0/organization`.
    Organization,
    /// `GET /{tenant}/v2.0/.well-known/openid-configuration` (tenant discovery).
    OpenIdConfiguration,
    /// Token requests carrying a client assertion (`private_key_jwt`), accepted or not; each
    /// is also counted under its grant.
    ClientAssertion,
    /// `GET /v1.0/applications(appId='…')` (an application's credential end dates).
    Application,
}

/// The endpoint an injected fault hits. In JSON: `device_code`, `token`, `organization` or
/// `open_id_configuration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FakeEndpoint {
    /// The device authorization endpoint.
    DeviceCode,
    /// The token endpoint (every grant).
    Token,
    /// Graph's `/v1.0/organization`.
    Organization,
    /// A tenant's OpenID configuration (tenant discovery).
    OpenIdConfiguration,
}

/// A fault FakeEntra answers with instead of serving the next request. In JSON:
/// `{"throttle": {"retry_after": 5}}` or `{"status": 503}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 with `Retry-After: seconds`.
    Throttle {
        /// The `Retry-After` value in seconds.
        retry_after: u32,
    },
    /// This HTTP status (e.g. 500, 503) with a `temporarily_unavailable` body.
    Status(u16),
}

pub(super) struct State {
    pub(super) clock: Arc<dyn Clock>,
    /// The cloud this server plays: its Graph resource is the only one its scopes may name,
    /// and the one its tokens are for.
    pub(super) cloud: Cloud,
    /// Counted requests per tenant GUID (those whose path or token names a tenant).
    pub(super) tenant_counts: HashMap<(String, FakeRequest), u64>,
    pub(super) client_id: String,
    /// The MSP application's secret, when it has one: then its password, refresh and
    /// authorization-code grants must carry it.
    pub(super) client_secret: Option<String>,
    /// When the MSP application's secret ends, as Graph reports it.
    pub(super) client_secret_expires_at: Option<OffsetDateTime>,
    /// The certificates registered for the MSP's application: its token requests may carry a
    /// client assertion signed with one of their keys, and must when it has no secret.
    pub(super) client_certificates: Vec<ClientCertificate>,
    /// The `(client id, jti)` of every client assertion accepted: a second use is refused.
    pub(super) used_assertions: HashSet<(String, String)>,
    /// The sign-in redirect URIs registered for the MSP's application (Web platform).
    pub(super) redirect_uris: HashSet<String>,
    /// The codes the sign-in page handed out.
    pub(super) codes: HashMap<String, IssuedCode>,
    pub(super) tenants: HashMap<String, Tenant>,
    /// Tenant names (domains and GUIDs) no tenant has: every endpoint naming one answers 400
    /// `invalid_tenant` (AADSTS90002).
    pub(super) unknown: HashSet<String>,
    pub(super) devices: HashMap<String, Device>,
    pub(super) refresh: HashMap<String, Refresh>,
    pub(super) access: HashMap<String, Access>,
    pub(super) faults: HashMap<FakeEndpoint, VecDeque<Fault>>,
    pub(super) counts: HashMap<FakeRequest, u64>,
    /// Every counted request, in arrival order, with the clock's time.
    pub(super) log: Vec<(FakeRequest, OffsetDateTime)>,
    pub(super) next: u64,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Tenant {
    pub(super) id: String,
    pub(super) domains: Vec<String>,
    pub(super) users: HashMap<String, User>,
    pub(super) apps: HashMap<String, App>,
    /// Graph refuses to read this tenant's applications (HTTP 403), as it does for a token
    /// without `Application.Read.All` or ownership.
    pub(super) application_read_denied: bool,
    pub(super) consented: HashSet<String>,
    pub(super) user_consent_blocked: bool,
    pub(super) approval_requests: Vec<String>,
    pub(super) decline_next_admin_consent: bool,
    /// What this tenant does differently (issue 17's scenarios).
    pub(super) scenario: super::scenario::Scenario,
}

/// An application registered in a customer's tenant (their app registration) and its
/// credentials. Its certificates are not written to the state file (their keys stay in
/// memory): an app restored from it has none.
#[derive(Serialize, Deserialize)]
pub(super) struct App {
    /// Its client secret, if it has one.
    pub(super) secret: Option<String>,
    /// When the secret ends (Graph's `endDateTime`).
    #[serde(with = "rfc3339")]
    pub(super) secret_expires_at: OffsetDateTime,
    /// Its certificates (`keyCredentials`): client assertions signed with their keys.
    #[serde(skip)]
    pub(super) certificates: Vec<ClientCertificate>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct User {
    pub(super) password: String,
    pub(super) mfa: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum DeviceStatus {
    Waiting,
    SignedIn,
    Declined,
    ApprovalRequested,
    /// Signed in, but nobody consented and the tenant answers AADSTS65001 on the poll.
    ConsentMissing,
    Redeemed,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Device {
    pub(super) tenant: String,
    pub(super) user_code: String,
    pub(super) client_id: String,
    pub(super) scope: String,
    #[serde(with = "rfc3339")]
    pub(super) expires_at: OffsetDateTime,
    #[serde(with = "seconds")]
    pub(super) interval: Duration,
    #[serde(with = "super::serde_fields::rfc3339_option")]
    pub(super) last_poll: Option<OffsetDateTime>,
    pub(super) slow_down_next: bool,
    pub(super) status: DeviceStatus,
}

/// An authorization code the sign-in page handed out.
#[derive(Serialize, Deserialize)]
pub(super) struct IssuedCode {
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) scope: String,
    #[serde(with = "rfc3339")]
    pub(super) expires_at: OffsetDateTime,
    pub(super) redeemed: bool,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Refresh {
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) scope: String,
    pub(super) revoked: bool,
    #[serde(with = "rfc3339")]
    pub(super) last_used: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Access {
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) app_only: bool,
    #[serde(with = "rfc3339")]
    pub(super) expires_at: OffsetDateTime,
    /// Refused by Graph before its expiry ([`FakeEntra::revoke_access_tokens`]).
    ///
    /// [`FakeEntra::revoke_access_tokens`]: super::FakeEntra::revoke_access_tokens
    pub(super) revoked: bool,
}

/// A GUID for a tenant: itself if it is one, else one derived from the domain.
pub(super) fn tenant_guid(name: &str) -> String {
    if is_guid(name) {
        return name.to_owned();
    }
    crate::model::derived_guid(name)
}

fn is_guid(s: &str) -> bool {
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

impl State {
    pub(super) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The tenant named by a GUID or domain, created on first use; `None` for shared names
    /// and forgotten ones ([`FakeEntra::forget_tenant`](super::FakeEntra::forget_tenant)).
    pub(super) fn tenant(&mut self, name: &str) -> Option<&mut Tenant> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || matches!(name.as_str(), "common" | "consumers" | "organizations") {
            return None;
        }
        let id = tenant_guid(&name);
        if self.unknown.contains(&name) || self.unknown.contains(&id) {
            return None;
        }
        let tenant = self.tenants.entry(id.clone()).or_insert_with(|| Tenant {
            id: id.clone(),
            ..Tenant::default()
        });
        if !is_guid(&name) && !tenant.domains.contains(&name) {
            tenant.domains.push(name);
        }
        Some(tenant)
    }

    /// How long access tokens issued in `tenant` (a GUID) live: its scenario's
    /// `access_token_lifetime`, else [`ACCESS_TOKEN_LIFETIME`].
    pub(super) fn access_token_lifetime(&self, tenant: &str) -> Duration {
        self.tenants
            .get(tenant)
            .and_then(|t| t.scenario.access_token_lifetime)
            .unwrap_or(ACCESS_TOKEN_LIFETIME)
    }

    pub(super) fn count(&mut self, request: FakeRequest) {
        *self.counts.entry(request).or_default() += 1;
        let now = self.now();
        self.log.push((request, now));
    }

    /// Counts `request` for the tenant `name` (a GUID or domain) too, whether or not such a
    /// tenant exists: tests ask where requests went.
    pub(super) fn count_for(&mut self, name: &str, request: FakeRequest) {
        let id = tenant_guid(&name.trim().to_ascii_lowercase());
        *self.tenant_counts.entry((id, request)).or_default() += 1;
    }

    /// The first scope in `scope` (space separated) naming another cloud's Microsoft Graph
    /// than this server's: a real authority does not know that resource (AADSTS500011).
    pub(super) fn foreign_graph_scope<'a>(&self, scope: &'a str) -> Option<&'a str> {
        scope.split(' ').find(|s| {
            Cloud::ALL.into_iter().any(|cloud| {
                cloud != self.cloud
                    && s.strip_prefix(&cloud.graph_resource())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        })
    }

    /// The next fault queued for `endpoint`, if any.
    pub(super) fn take_fault(&mut self, endpoint: FakeEndpoint) -> Option<Fault> {
        self.faults.get_mut(&endpoint)?.pop_front()
    }

    pub(super) fn random(&mut self, bytes: usize) -> String {
        self.next += 1;
        let mut buf = vec![0u8; bytes];
        getrandom::fill(&mut buf).expect("the OS random source is unavailable");
        format!("{}{}", self.next, URL_SAFE_NO_PAD.encode(buf))
    }

    /// Issues an access token (JWT-shaped, with `tid`) and, for delegated grants with
    /// `offline_access`, a refresh token.
    pub(super) fn issue(
        &mut self,
        tenant: &str,
        client_id: &str,
        scope: &str,
        app_only: bool,
    ) -> Value {
        let now = self.now();
        let lifetime = self.access_token_lifetime(tenant);
        let expires_at = now + lifetime;
        // The tenant the tokens name (`tid`): this one, unless its scenario says another.
        let claimed = self
            .tenants
            .get(tenant)
            .and_then(|t| t.scenario.token_tenant.clone());
        let tid = claimed
            .and_then(|name| self.tenant(&name).map(|t| t.id.clone()))
            .unwrap_or_else(|| tenant.to_owned());
        let tid = tid.as_str();
        let jti = self.random(16);
        let resource = self.cloud.graph_resource();
        let mut claims = json!({
            "aud": resource,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "iat": now.unix_timestamp(),
            "nbf": now.unix_timestamp(),
            "exp": expires_at.unix_timestamp(),
            "appid": client_id,
            "tid": tid,
            "uti": jti,
            "ver": "1.0",
        });
        if app_only {
            claims["roles"] = json!(["Organization.Read.All"]);
        } else {
            claims["scp"] = json!("Organization.Read.All User.Read");
        }
        let signature = self.random(64);
        let access_token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256","kid":"fake-entra"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            signature
        );
        self.access.insert(
            access_token.clone(),
            Access {
                tenant: tid.to_owned(),
                client_id: client_id.to_owned(),
                app_only,
                expires_at,
                revoked: false,
            },
        );
        let granted_scope = if app_only {
            format!("{resource}/.default")
        } else {
            let mut s = format!("{resource}/Organization.Read.All {resource}/User.Read");
            for extra in ["openid", "profile", "offline_access"] {
                if scope.split(' ').any(|x| x == extra) {
                    s.push(' ');
                    s.push_str(extra);
                }
            }
            s
        };
        let mut body = json!({
            "token_type": "Bearer",
            "scope": granted_scope,
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": access_token,
        });
        if !app_only && scope.split(' ').any(|s| s == "offline_access") {
            let refresh_token = format!("1.{}", self.random(48));
            self.refresh.insert(
                refresh_token.clone(),
                Refresh {
                    tenant: tenant.to_owned(),
                    client_id: client_id.to_owned(),
                    scope: scope.to_owned(),
                    revoked: false,
                    last_used: now,
                },
            );
            body["refresh_token"] = json!(refresh_token);
        }
        if !app_only && scope.split(' ').any(|s| s == "openid") {
            let id_claims = json!({"tid": tid, "aud": client_id, "ver": "2.0"});
            body["id_token"] = json!(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
                URL_SAFE_NO_PAD.encode(id_claims.to_string()),
                self.random(16)
            ));
        }
        body
    }
}

pub(super) type Shared = Arc<Mutex<State>>;

pub(super) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}
