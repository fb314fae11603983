//! The HTTP control API under `/_control/`: the in-process control methods as JSON routes,
//! for a test driving a FakeEntra in another process (the `fake-entra` binary). The route
//! table is in the module docs of `fake_entra` (`CONTROL_API.md`). Control requests are not
//! counted as Entra requests.

use std::path::PathBuf;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use url::Url;

use super::answer::{form, json_response};
use super::directory::SignIn;
use super::scenario::Scenario;
use super::state::{FakeEndpoint, FakeRequest, Fault, Shared, State, Tenant, lock, tenant_guid};

/// What the control routes share.
#[derive(Clone)]
pub(super) struct Control {
    pub(super) state: Shared,
    pub(super) url: Url,
    pub(super) state_file: Option<PathBuf>,
}

/// The router of the control API, on `control`.
pub(super) fn router(control: Control) -> Router {
    Router::new()
        .route("/_control/health", get(health))
        .route("/_control/tenants", get(tenants))
        .route("/_control/tenants/{tenant}", get(tenant).delete(forget))
        .route(
            "/_control/tenants/{tenant}/scenario",
            get(scenario).patch(patch_scenario).put(put_scenario),
        )
        .route(
            "/_control/tenants/{tenant}/require-admin-approval",
            post(require_admin_approval),
        )
        .route(
            "/_control/tenants/{tenant}/admin-consent/approve",
            post(approve_admin_consent),
        )
        .route(
            "/_control/tenants/{tenant}/admin-consent/grant",
            post(grant_admin_consent),
        )
        .route(
            "/_control/tenants/{tenant}/admin-consent/decline-next",
            post(decline_next_admin_consent),
        )
        .route("/_control/tenants/{tenant}/users", post(add_user))
        .route("/_control/tenants/{tenant}/apps", post(add_app))
        .route(
            "/_control/tenants/{tenant}/revoke-refresh-tokens",
            post(revoke_refresh_tokens),
        )
        .route(
            "/_control/tenants/{tenant}/revoke-access-tokens",
            post(revoke_access_tokens),
        )
        .route("/_control/device-codes", get(device_codes))
        .route("/_control/device-codes/approve", post(approve_device_code))
        .route("/_control/device-codes/decline", post(decline_device_code))
        .route("/_control/device-codes/expire", post(expire_device_code))
        .route(
            "/_control/device-codes/slow-down",
            post(slow_down_device_code),
        )
        .route("/_control/faults", post(inject_fault))
        .route("/_control/counters", get(counters))
        .route("/_control/counters/reset", post(reset_counters))
        .route("/_control/reset", post(reset))
        .route("/_control/{*rest}", axum::routing::any(unknown_route))
        .with_state(control)
}

/// A control request refused: its status and JSON body.
struct Refusal(StatusCode, Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        json_response(self.0, self.1)
    }
}

type Answer = Result<Response, Refusal>;

fn ok(body: Value) -> Answer {
    Ok(json_response(StatusCode::OK, body))
}

fn error(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal(status, json!({ "error": message.into() }))
}

/// The JSON body as `T` (an empty body reads as `{}`), or 400.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Refusal> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// The tenant named in the path, created on first use, or 404 for `common` and forgotten
/// names.
fn known<'s>(s: &'s mut State, name: &str) -> Result<&'s mut Tenant, Refusal> {
    s.tenant(name).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("no tenant has the name {name:?}"),
        )
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

async fn unknown_route() -> Refusal {
    error(StatusCode::NOT_FOUND, "no such control route")
}

async fn health(AxumState(c): AxumState<Control>) -> Answer {
    let s = lock(&c.state);
    let mut tenants: Vec<Value> = s
        .tenants
        .values()
        .map(|t| json!({ "id": t.id, "domains": t.domains }))
        .collect();
    tenants.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    ok(json!({
        "status": "ok",
        "url": c.url.as_str(),
        "client_id": s.client_id,
        "cloud": s.cloud.as_str(),
        "state_file": c.state_file.as_ref().map(|p| p.display().to_string()),
        "now": rfc3339(s.now()),
        "tenants": tenants,
    }))
}

fn describe(t: &Tenant) -> Value {
    let mut consented: Vec<&String> = t.consented.iter().collect();
    consented.sort();
    let mut users: Vec<Value> = t
        .users
        .iter()
        .map(|(name, u)| json!({ "username": name, "mfa": u.mfa }))
        .collect();
    users.sort_by(|a, b| a["username"].as_str().cmp(&b["username"].as_str()));
    let mut apps: Vec<Value> = t
        .apps
        .iter()
        .map(|(id, a)| {
            json!({
                "client_id": id,
                "has_secret": a.secret.is_some(),
                "secret_expires_at": rfc3339(a.secret_expires_at),
            })
        })
        .collect();
    apps.sort_by(|a, b| a["client_id"].as_str().cmp(&b["client_id"].as_str()));
    json!({
        "id": t.id,
        "domains": t.domains,
        "consented": consented,
        "user_consent_blocked": t.user_consent_blocked,
        "admin_consent_requests": t.approval_requests,
        "decline_next_admin_consent": t.decline_next_admin_consent,
        "application_read_denied": t.application_read_denied,
        "users": users,
        "apps": apps,
        "scenario": t.scenario,
    })
}

async fn tenants(AxumState(c): AxumState<Control>) -> Answer {
    let s = lock(&c.state);
    let mut all: Vec<&Tenant> = s.tenants.values().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    ok(json!({ "tenants": all.into_iter().map(describe).collect::<Vec<_>>() }))
}

async fn tenant(AxumState(c): AxumState<Control>, Path(name): Path<String>) -> Answer {
    let mut s = lock(&c.state);
    ok(describe(known(&mut s, &name)?))
}

async fn forget(AxumState(c): AxumState<Control>, Path(name): Path<String>) -> Answer {
    let existed = lock(&c.state).forget_tenant(&name);
    ok(json!({ "forgotten": existed }))
}

async fn scenario(AxumState(c): AxumState<Control>, Path(name): Path<String>) -> Answer {
    let mut s = lock(&c.state);
    ok(json!(known(&mut s, &name)?.scenario))
}

/// `PATCH`: the body's fields are set, the others kept.
async fn patch_scenario(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Answer {
    let changes: Map<String, Value> = body(&bytes)?;
    let mut s = lock(&c.state);
    let tenant = known(&mut s, &name)?;
    let mut merged = match serde_json::to_value(&tenant.scenario) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    merged.extend(changes);
    let scenario: Scenario = serde_json::from_value(Value::Object(merged))
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad scenario: {e}")))?;
    tenant.scenario = scenario;
    ok(json!(tenant.scenario))
}

/// `PUT`: the body is the whole scenario (missing fields off).
async fn put_scenario(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Answer {
    let scenario: Scenario = body(&bytes)?;
    let mut s = lock(&c.state);
    let tenant = known(&mut s, &name)?;
    tenant.scenario = scenario;
    ok(json!(tenant.scenario))
}

async fn require_admin_approval(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
) -> Answer {
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    s.require_admin_approval(&name);
    ok(json!({ "user_consent_blocked": true }))
}

async fn approve_admin_consent(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
) -> Answer {
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    ok(json!({ "approved": s.approve_admin_consent_requests(&name) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    client_id: Option<String>,
}

async fn grant_admin_consent(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Answer {
    let grant: Grant = body(&bytes)?;
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    let client_id = grant.client_id.unwrap_or_else(|| s.client_id.clone());
    s.grant_admin_consent(&name, &client_id);
    ok(json!({ "consented": client_id }))
}

async fn decline_next_admin_consent(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
) -> Answer {
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    s.decline_next_admin_consent(&name);
    ok(json!({ "decline_next_admin_consent": true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    mfa: bool,
}

async fn add_user(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Answer {
    let user: NewUser = body(&bytes)?;
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    s.add_user(&name, &user.username, &user.password, user.mfa);
    ok(json!({ "username": user.username.to_ascii_lowercase(), "mfa": user.mfa }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    client_id: String,
    secret: Option<String>,
    #[serde(default, with = "super::serde_fields::rfc3339_option")]
    secret_expires_at: Option<time::OffsetDateTime>,
}

async fn add_app(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Answer {
    let app: NewApp = body(&bytes)?;
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    let NewApp {
        client_id,
        secret,
        secret_expires_at,
    } = app;
    s.with_app(&name, &client_id, |a| {
        if let Some(secret) = secret {
            a.secret = Some(secret);
        }
        if let Some(ends) = secret_expires_at {
            a.secret_expires_at = ends;
        }
    });
    ok(json!({ "client_id": client_id }))
}

async fn revoke_refresh_tokens(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
) -> Answer {
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    ok(json!({ "revoked": s.revoke_refresh_tokens(&name) }))
}

async fn revoke_access_tokens(
    AxumState(c): AxumState<Control>,
    Path(name): Path<String>,
) -> Answer {
    let mut s = lock(&c.state);
    known(&mut s, &name)?;
    ok(json!({ "revoked": s.revoke_access_tokens(&name) }))
}

/// `?tenant=NAME` of a query, if given.
fn tenant_of(query: Option<String>) -> Option<String> {
    form(query.unwrap_or_default().as_bytes())
        .remove("tenant")
        .filter(|t| !t.is_empty())
}

async fn device_codes(AxumState(c): AxumState<Control>, RawQuery(query): RawQuery) -> Answer {
    let id = tenant_of(query).map(|t| tenant_guid(&t.trim().to_ascii_lowercase()));
    let s = lock(&c.state);
    let now = s.now();
    let mut codes: Vec<_> = s
        .devices
        .values()
        .filter(|d| id.as_ref().is_none_or(|id| &d.tenant == id))
        .collect();
    codes.sort_by(|a, b| (a.expires_at, &a.user_code).cmp(&(b.expires_at, &b.user_code)));
    let codes: Vec<Value> = codes
        .into_iter()
        .map(|d| {
            json!({
                "user_code": d.user_code,
                "tenant": d.tenant,
                "status": d.status,
                "expires_at": rfc3339(d.expires_at),
                "expired": now >= d.expires_at,
                "interval": d.interval.as_secs_f64(),
            })
        })
        .collect();
    ok(json!({ "device_codes": codes }))
}

/// Which device code a device-code route acts on: `user_code`, or the oldest code of
/// `tenant` still waiting for a sign-in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Which {
    user_code: Option<String>,
    tenant: Option<String>,
}

impl Which {
    fn user_code(self, s: &mut State) -> Result<String, Refusal> {
        match (self.user_code, self.tenant) {
            (Some(code), None) => Ok(code),
            (None, Some(tenant)) => s
                .waiting_user_codes(Some(&tenant))
                .into_iter()
                .next()
                .ok_or_else(|| {
                    error(
                        StatusCode::NOT_FOUND,
                        format!("no device code of {tenant:?} is waiting for a sign-in"),
                    )
                }),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                "name the device code by exactly one of user_code and tenant",
            )),
        }
    }
}

fn unknown_code(user_code: &str) -> Refusal {
    error(
        StatusCode::NOT_FOUND,
        format!("no live device code has the user code {user_code:?}"),
    )
}

async fn approve_device_code(AxumState(c): AxumState<Control>, bytes: Bytes) -> Answer {
    let which: Which = body(&bytes)?;
    let mut s = lock(&c.state);
    let user_code = which.user_code(&mut s)?;
    let outcome = s.sign_in(&user_code);
    let answer = json!({ "user_code": user_code, "sign_in": outcome });
    if outcome == SignIn::UnknownCode {
        return Err(Refusal(StatusCode::NOT_FOUND, answer));
    }
    ok(answer)
}

/// A device-code route that only says whether the code was known.
fn device_change(
    c: &Control,
    bytes: &[u8],
    change: impl FnOnce(&mut State, &str) -> bool,
    done: &str,
) -> Answer {
    let which: Which = body(bytes)?;
    let mut s = lock(&c.state);
    let user_code = which.user_code(&mut s)?;
    if !change(&mut s, &user_code) {
        return Err(unknown_code(&user_code));
    }
    ok(json!({ "user_code": user_code, done: true }))
}

async fn decline_device_code(AxumState(c): AxumState<Control>, bytes: Bytes) -> Answer {
    device_change(&c, &bytes, |s, code| s.decline(code), "declined")
}

async fn expire_device_code(AxumState(c): AxumState<Control>, bytes: Bytes) -> Answer {
    device_change(&c, &bytes, |s, code| s.expire(code), "expired")
}

async fn slow_down_device_code(AxumState(c): AxumState<Control>, bytes: Bytes) -> Answer {
    device_change(&c, &bytes, |s, code| s.slow_down(code), "slow_down")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Injection {
    endpoint: FakeEndpoint,
    fault: Fault,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

async fn inject_fault(AxumState(c): AxumState<Control>, bytes: Bytes) -> Answer {
    let injection: Injection = body(&bytes)?;
    let mut s = lock(&c.state);
    for _ in 0..injection.times {
        s.inject(injection.endpoint, injection.fault);
    }
    let queued = s.faults.get(&injection.endpoint).map_or(0, |q| q.len());
    ok(json!({ "queued": queued }))
}

/// `{"device_poll": 2, …}`, every kind with a count, in name order.
fn by_kind(counts: impl Iterator<Item = (FakeRequest, u64)>) -> Value {
    let mut counts: Vec<(FakeRequest, u64)> = counts.filter(|(_, n)| *n > 0).collect();
    counts.sort();
    let mut fields = Map::new();
    for (request, n) in counts {
        if let Ok(Value::String(name)) = serde_json::to_value(request) {
            fields.insert(name, json!(n));
        }
    }
    Value::Object(fields)
}

async fn counters(AxumState(c): AxumState<Control>, RawQuery(query): RawQuery) -> Answer {
    let only = tenant_of(query).map(|t| tenant_guid(&t.trim().to_ascii_lowercase()));
    let s = lock(&c.state);
    let mut tenants: Vec<&String> = s.tenant_counts.keys().map(|(t, _)| t).collect();
    tenants.sort();
    tenants.dedup();
    let mut per_tenant = Map::new();
    for tenant in tenants {
        if only.as_ref().is_some_and(|only| only != tenant) {
            continue;
        }
        let counts = s
            .tenant_counts
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, request), n)| (*request, *n));
        per_tenant.insert(tenant.clone(), by_kind(counts));
    }
    if let Some(only) = only {
        per_tenant
            .entry(only)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    ok(json!({
        "total": s.counts.values().sum::<u64>(),
        "requests": by_kind(s.counts.iter().map(|(r, n)| (*r, *n))),
        "tenants": per_tenant,
    }))
}

async fn reset_counters(AxumState(c): AxumState<Control>) -> Answer {
    lock(&c.state).reset_counters();
    ok(json!({ "reset": "counters" }))
}

async fn reset(AxumState(c): AxumState<Control>) -> Answer {
    lock(&c.state).reset();
    ok(json!({ "reset": "everything" }))
}
