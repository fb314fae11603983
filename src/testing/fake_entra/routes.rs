//! The Entra ID and Graph endpoints FakeEntra serves: form posts in, Entra-shaped JSON and
//! `AADSTS` codes out (shared/entra-wire.md).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use super::answer::{error_body, form, json_response, oauth_error, unknown_client};
use super::client_auth::{Proof, authenticate, client_error};
use super::sign_in;
use super::state::{
    Access, DEVICE_CODE_LIFETIME, Device, DeviceStatus, FakeEndpoint, FakeRequest, Fault,
    REFRESH_INACTIVITY, Shared, State, lock,
};
use crate::model::Cloud;

/// The router of every served endpoint, on `state`.
pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(sign_in::authorize_page).post(sign_in::authorize_decide),
        )
        .route("/{tenant}/v2.0/adminconsent", get(adminconsent))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/v1.0/organization", get(organization))
        .route("/v1.0/{application}", get(application))
        .with_state(state)
}

/// The queued fault for `endpoint` as Entra would answer it, if one is queued.
fn fault(s: &mut State, endpoint: FakeEndpoint) -> Option<Response> {
    let fault = s.take_fault(endpoint)?;
    let now = s.now();
    Some(match fault {
        Fault::Throttle { retry_after } => {
            let mut response = oauth_error(
                now,
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                Some(90055),
                "The request was throttled.",
                None,
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
            );
            response
        }
        Fault::Status(status) => oauth_error(
            now,
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "temporarily_unavailable",
            None,
            "The service is temporarily unavailable.",
            None,
        ),
    })
}

/// The `claims` challenge Entra sends with AADSTS50079 (MFA enrolment): a JSON document in a
/// string.
pub(super) const ENROLMENT_CLAIMS: &str = r#"{"access_token":{"capolids":{"essential":true,"values":["e2f6b2a5-0000-4000-8000-000000050079"]}}}"#;

/// Holds the answer for `tenant` back by its scenario's latency (the real clock), without
/// holding the state's lock.
async fn hold_back(state: &Shared, tenant: &str) {
    let latency = lock(state).tenant(tenant).and_then(|t| t.scenario.latency);
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
}

/// Entra's answer for a tenant name no tenant has: 400 `invalid_tenant`, AADSTS90002.
fn unknown_tenant(now: OffsetDateTime, name: &str) -> Response {
    oauth_error(
        now,
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        Some(90002),
        &format!(
            "Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        ),
        None,
    )
}

/// Entra's answer for a scope naming a resource this cloud does not have (another cloud's
/// Microsoft Graph): 400 `invalid_resource`, AADSTS500011.
fn unknown_resource(now: OffsetDateTime, scope: &str) -> Response {
    oauth_error(
        now,
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        Some(500011),
        &format!(
            "The resource principal named {scope} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
        None,
    )
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the tenant's anonymous OpenID
/// configuration (tenant discovery), its issuer naming the tenant GUID, with the cloud facts
/// of the tenant's cloud (its scenario's, else the server's). Endpoints point at this server.
async fn openid_configuration(
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::OpenIdConfiguration);
    s.count_for(&name, FakeRequest::OpenIdConfiguration);
    if let Some(fault) = fault(&mut s, FakeEndpoint::OpenIdConfiguration) {
        return fault;
    }
    let now = s.now();
    let server_cloud = s.cloud;
    let Some(tenant) = s.tenant(&name) else {
        return unknown_tenant(now, &name);
    };
    // Any authority answers discovery for any cloud's tenant with that tenant's cloud.
    let cloud = tenant.scenario.cloud.unwrap_or(server_cloud);
    let region = match cloud {
        Cloud::UsGovL4 | Cloud::UsGovL5Dod => "USGov",
        Cloud::China => "AS",
        _ => "NA",
    };
    let base = format!("http://{}/{}", host(&headers), tenant.id);
    json_response(
        StatusCode::OK,
        json!({
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported":
                ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{base}/v2.0"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "name", "email"],
            "kerberos_endpoint": format!("{base}/kerberos"),
            "tenant_region_scope": region,
            "cloud_instance_name": cloud.cloud_instance_name(),
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": cloud.graph_host(),
            "rbac_url": "https://pas.windows.net",
        }),
    )
}

async fn devicecode(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    hold_back(&state, &tenant).await;
    let mut s = lock(&state);
    s.count(FakeRequest::DeviceAuthorization);
    s.count_for(&tenant, FakeRequest::DeviceAuthorization);
    if let Some(fault) = fault(&mut s, FakeEndpoint::DeviceCode) {
        return fault;
    }
    let now = s.now();
    let fields = form(&body);
    let client_id = fields.get("client_id").cloned().unwrap_or_default();
    if client_id != s.client_id {
        return unknown_client(now);
    }
    let Some(scope) = fields.get("scope").cloned() else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(900144),
            "The request body must contain the following parameter: 'scope'.",
            None,
        );
    };
    if let Some(foreign) = s.foreign_graph_scope(&scope) {
        return unknown_resource(now, foreign);
    }
    let Some((tenant, one_click)) = s
        .tenant(&tenant)
        .map(|t| (t.id.clone(), t.scenario.verification_uri_complete))
    else {
        return unknown_tenant(now, &tenant);
    };
    let device_code = format!("DAQABAAEAAA{}", s.random(48));
    let user_code: String = {
        let raw = s.random(12);
        let letters: String = raw
            .bytes()
            .map(|b| (b'A' + b % 26) as char)
            .take(9)
            .collect();
        letters
    };
    s.devices.insert(
        device_code.clone(),
        Device {
            tenant,
            user_code: user_code.clone(),
            client_id,
            scope,
            expires_at: now + DEVICE_CODE_LIFETIME,
            interval: Duration::from_secs(5),
            last_poll: None,
            slow_down_next: false,
            status: DeviceStatus::Waiting,
        },
    );
    let mut body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
        "interval": 5,
        "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
    });
    if one_click {
        body["verification_uri_complete"] = json!(format!(
            "https://microsoft.com/devicelogin?user_code={user_code}"
        ));
    }
    json_response(StatusCode::OK, body)
}

/// The host a request reached (`127.0.0.1:PORT`), for the URLs FakeEntra names itself by.
fn host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
}

async fn token(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hold_back(&state, &tenant).await;
    let mut s = lock(&state);
    let fields = form(&body);
    let grant = fields.get("grant_type").map(String::as_str).unwrap_or("");
    let counted = match grant {
        "urn:ietf:params:oauth:grant-type:device_code" => Some(FakeRequest::DevicePoll),
        "password" => Some(FakeRequest::Password),
        "client_credentials" => Some(FakeRequest::ClientCredentials),
        "refresh_token" => Some(FakeRequest::Refresh),
        "authorization_code" => Some(FakeRequest::AuthorizationCode),
        _ => None,
    };
    if let Some(request) = counted {
        s.count(request);
        s.count_for(&tenant, request);
    }
    if let Some(fault) = fault(&mut s, FakeEndpoint::Token) {
        return fault;
    }
    let now = s.now();
    let named = tenant;
    let Some(tenant) = s.tenant(&named).map(|t| t.id.clone()) else {
        return unknown_tenant(now, &named);
    };
    let client_id = fields.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(900144),
            "The request body must contain the following parameter: 'client_id'.",
            None,
        );
    }
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    // The token endpoint's URL as the client may name it: the tenant as in the path, or its
    // GUID; a client assertion's `aud` must be one of them.
    let audiences: Vec<String> = [named.as_str(), tenant.as_str()]
        .iter()
        .map(|t| format!("http://{}/{t}/oauth2/v2.0/token", host(&headers)))
        .collect();
    let proof = match authenticate(&mut s, now, &tenant, &audiences, &client_id, &fields) {
        Ok(proof) => proof,
        Err(refused) => return *refused,
    };
    if let Some(foreign) = s.foreign_graph_scope(&field("scope")) {
        return unknown_resource(now, foreign);
    }
    let msp_grant = matches!(
        counted,
        Some(FakeRequest::Password | FakeRequest::Refresh | FakeRequest::AuthorizationCode)
    );
    if msp_grant
        && client_id == s.client_id
        && let Some(refused) = msp_client_refusal(&s, now, &proof)
    {
        return refused;
    }
    match counted {
        Some(FakeRequest::DevicePoll) => device_poll(&mut s, now, &field("device_code")),
        Some(FakeRequest::Password) => password(
            &mut s,
            now,
            &tenant,
            &client_id,
            &field("username"),
            &field("password"),
            &field("scope"),
        ),
        Some(FakeRequest::ClientCredentials) if !field("scope").ends_with("/.default") => {
            oauth_error(
                now,
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                Some(1002012),
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                None,
            )
        }
        Some(FakeRequest::ClientCredentials) => {
            client_credentials(&mut s, now, &tenant, &client_id, &proof)
        }
        Some(FakeRequest::Refresh) => refresh(&mut s, now, &tenant, &field("refresh_token")),
        Some(FakeRequest::AuthorizationCode) if client_id != s.client_id => unknown_client(now),
        Some(FakeRequest::AuthorizationCode) => {
            sign_in::redeem(&mut s, now, &tenant, &client_id, &fields)
        }
        _ => oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            Some(70003),
            "The app requested an unsupported grant type.",
            None,
        ),
    }
}

fn device_poll(s: &mut State, now: OffsetDateTime, device_code: &str) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    let Some(device) = s.devices.get_mut(device_code) else {
        return oauth_error(
            now,
            bad,
            "bad_verification_code",
            Some(70018),
            "The provided value for the input parameter 'device_code' is not valid.",
            None,
        );
    };
    if now >= device.expires_at && device.status != DeviceStatus::Redeemed {
        return oauth_error(
            now,
            bad,
            "expired_token",
            Some(70019),
            "Verification code expired.",
            None,
        );
    }
    let too_fast = device
        .last_poll
        .is_some_and(|last| now - last < device.interval);
    device.last_poll = Some(now);
    let scenario = s.tenants.get(&device.tenant).map(|t| &t.scenario);
    let unknown = scenario.and_then(|s| s.unknown_error_code);
    if scenario.is_some_and(|s| s.device_code_blocked) {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(53003),
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            None,
        );
    }
    if let Some(code) = unknown {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(code),
            "Something went wrong.",
            None,
        );
    }
    let device = s.devices.get_mut(device_code).expect("found above");
    match device.status {
        DeviceStatus::ConsentMissing => oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(65001),
            "The user or administrator has not consented to use the application.",
            Some("consent_required"),
        ),
        DeviceStatus::Redeemed => oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(90120),
            "The device code was already used.",
            None,
        ),
        DeviceStatus::Declined => oauth_error(
            now,
            bad,
            "authorization_declined",
            None,
            "The end user denied the authorization request.",
            None,
        ),
        DeviceStatus::ApprovalRequested => oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(90095),
            "Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin.",
            Some("consent_required"),
        ),
        DeviceStatus::Waiting if device.slow_down_next || too_fast => {
            device.slow_down_next = false;
            device.interval += Duration::from_secs(5);
            oauth_error(
                now,
                bad,
                "slow_down",
                None,
                "The client is polling too quickly.",
                None,
            )
        }
        DeviceStatus::Waiting => oauth_error(
            now,
            bad,
            "authorization_pending",
            Some(70016),
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            None,
        ),
        DeviceStatus::SignedIn => {
            device.status = DeviceStatus::Redeemed;
            let (tenant, client_id, scope) = (
                device.tenant.clone(),
                device.client_id.clone(),
                device.scope.clone(),
            );
            json_response(StatusCode::OK, s.issue(&tenant, &client_id, &scope, false))
        }
    }
}

fn password(
    s: &mut State,
    now: OffsetDateTime,
    tenant_id: &str,
    client_id: &str,
    username: &str,
    password: &str,
    scope: &str,
) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    if client_id != s.client_id {
        return unknown_client(now);
    }
    let tenant = s.tenants.get(tenant_id).expect("resolved above");
    if let Some(code) = tenant.scenario.unknown_error_code {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(code),
            "Something went wrong.",
            None,
        );
    }
    let Some(user) = tenant.users.get(&username.to_ascii_lowercase()) else {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50034),
            "The user account does not exist in the directory.",
            None,
        );
    };
    if user.password != password {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50126),
            "Error validating credentials due to invalid username or password.",
            None,
        );
    }
    if user.mfa && tenant.scenario.mfa_enrolment_claims {
        let mut body = error_body(
            now,
            "interaction_required",
            Some(50079),
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
            Some("basic_action"),
        );
        body["claims"] = json!(ENROLMENT_CLAIMS);
        return json_response(bad, body);
    }
    if user.mfa {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50076),
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
            Some("basic_action"),
        );
    }
    if !tenant.consented.contains(client_id) {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(65001),
            "The user or administrator has not consented to use the application.",
            Some("consent_required"),
        );
    }
    let body = s.issue(tenant_id, client_id, scope, false);
    json_response(StatusCode::OK, body)
}

/// Why the MSP application's confidential grant is refused, if it is: it must prove itself
/// once it has a secret or certificates registered (a verified assertion always does).
fn msp_client_refusal(s: &State, now: OffsetDateTime, proof: &Proof) -> Option<Response> {
    match (proof, &s.client_secret) {
        (Proof::Assertion, _) => None,
        (Proof::Secret(sent), Some(expected)) if sent == expected => None,
        (_, Some(_)) => Some(wrong_secret(now)),
        (_, None) if !s.client_certificates.is_empty() => Some(no_credential(now)),
        (_, None) => None,
    }
}

/// HTTP 401 `invalid_client` AADSTS7000215: the secret is not the application's.
fn wrong_secret(now: OffsetDateTime) -> Response {
    client_error(
        now,
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
    )
}

/// HTTP 401 `invalid_client` AADSTS7000218: a confidential client sent no credential.
fn no_credential(now: OffsetDateTime) -> Response {
    client_error(
        now,
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

fn client_credentials(
    s: &mut State,
    now: OffsetDateTime,
    tenant_id: &str,
    client_id: &str,
    proof: &Proof,
) -> Response {
    let tenant = s.tenants.get(tenant_id).expect("resolved above");
    let Some(app) = tenant.apps.get(client_id) else {
        return unknown_client(now);
    };
    match (proof, &app.secret) {
        // Verified against this app's certificates by `authenticate`.
        (Proof::Assertion, _) => {}
        (Proof::Secret(sent), Some(expected)) if sent == expected => {}
        // No secret is a wrong secret here, as before certificates: a customer's app always
        // has a credential, and the portal sends one.
        (Proof::Secret(_) | Proof::None, _) => return wrong_secret(now),
    }
    let body = s.issue(tenant_id, client_id, "", true);
    json_response(StatusCode::OK, body)
}

fn refresh(s: &mut State, now: OffsetDateTime, tenant_id: &str, refresh_token: &str) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    let Some(rt) = s.refresh.get_mut(refresh_token) else {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(9002313),
            "Invalid request. Request is malformed or invalid.",
            None,
        );
    };
    if rt.tenant != tenant_id {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50020),
            "The user is not in this tenant.",
            None,
        );
    }
    if rt.revoked {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(50173),
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            None,
        );
    }
    if now - rt.last_used > REFRESH_INACTIVITY {
        return oauth_error(
            now,
            bad,
            "invalid_grant",
            Some(700082),
            "The refresh token has expired due to inactivity.",
            None,
        );
    }
    rt.last_used = now;
    let (client_id, scope) = (rt.client_id.clone(), rt.scope.clone());
    let body = s.issue(tenant_id, &client_id, &scope, false);
    json_response(StatusCode::OK, body)
}

async fn adminconsent(
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::AdminConsent);
    s.count_for(&name, FakeRequest::AdminConsent);
    let now = s.now();
    let fields = form(query.unwrap_or_default().as_bytes());
    if let Some(foreign) = fields
        .get("scope")
        .and_then(|scope| s.foreign_graph_scope(scope))
    {
        return unknown_resource(now, foreign);
    }
    for required in ["client_id", "scope", "redirect_uri"] {
        if fields.get(required).is_none_or(|v| v.is_empty()) {
            return oauth_error(
                now,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some(900144),
                &format!("The request body must contain the following parameter: '{required}'."),
                None,
            );
        }
    }
    let Ok(mut redirect) = Url::parse(&fields["redirect_uri"]) else {
        return oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(50011),
            "The redirect URI is not valid.",
            None,
        );
    };
    let Some(tenant) = s.tenant(&name) else {
        return unknown_tenant(now, &name);
    };
    let client_id = fields["client_id"].clone();
    {
        let mut q = redirect.query_pairs_mut();
        q.append_pair("admin_consent", "True");
        if std::mem::take(&mut tenant.decline_next_admin_consent) {
            q.append_pair("error", "consent_required").append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            );
        } else {
            tenant.consented.insert(client_id.clone());
            tenant.approval_requests.retain(|c| c != &client_id);
            // A scenario may make the redirect name another tenant than the one consented in.
            let named = tenant.scenario.consent_callback_tenant.as_deref();
            q.append_pair("tenant", named.unwrap_or(&tenant.id))
                .append_pair("scope", &fields["scope"]);
        }
        if let Some(state) = fields.get("state") {
            q.append_pair("state", state);
        }
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, redirect.to_string())],
    )
        .into_response()
}

/// Graph's error answer.
fn graph_error(now: OffsetDateTime, status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"date": now.unix_timestamp(), "request-id": "00000000-0000-0000-0000-000000000000"}}}),
    )
}

/// The live access token a Graph request carries as its bearer, or Graph's 401.
fn bearer<'s>(
    s: &'s State,
    now: OffsetDateTime,
    headers: &HeaderMap,
) -> Result<&'s Access, Box<Response>> {
    let unauthorized = |message: &str| {
        graph_error(
            now,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(access) = s.access.get(token) else {
        return Err(Box::new(unauthorized(
            "Access token validation failure. Invalid audience.",
        )));
    };
    if now >= access.expires_at {
        return Err(Box::new(unauthorized(
            "Lifetime validation failed, the token is expired.",
        )));
    }
    // What Graph answers to a token revoked before its expiry (a Continuous Access
    // Evaluation event: the user's sessions revoked, the account disabled).
    if access.revoked || s.tenants[&access.tenant].scenario.inactive_tokens {
        return Err(Box::new(unauthorized("Access token has been revoked.")));
    }
    Ok(access)
}

/// `GET /v1.0/applications(appId='{client id}')`: the application's secrets and
/// certificates with their end dates (`passwordCredentials`, `keyCredentials`), for an
/// application registered in the token's tenant, or the MSP's own.
async fn application(
    AxumState(state): AxumState<Shared>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::Application);
    let now = s.now();
    let Some(app_id) = segment
        .strip_prefix("applications(appId='")
        .and_then(|rest| rest.strip_suffix("')"))
    else {
        return graph_error(
            now,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{segment}'."),
        );
    };
    let access = match bearer(&s, now, &headers) {
        Ok(access) => access,
        Err(refused) => return *refused,
    };
    let tenant = &s.tenants[&access.tenant];
    if tenant.application_read_denied {
        return graph_error(
            now,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let key_credential = |c: &crate::model::ClientCertificate| {
        json!({
            "customKeyIdentifier": null,
            "displayName": c.subject(),
            "endDateTime": rfc3339(c.not_after()),
            "key": null,
            "keyId": super::state::tenant_guid(c.thumbprint()),
            "startDateTime": rfc3339(c.not_before()),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        })
    };
    let password_credential = |secret: &str, ends: OffsetDateTime| {
        json!({
            "customKeyIdentifier": null,
            "displayName": "tenant-access",
            "endDateTime": rfc3339(ends),
            "hint": secret.chars().take(3).collect::<String>(),
            "keyId": super::state::tenant_guid(&format!("secret:{secret}")),
            "secretText": null,
            "startDateTime": rfc3339(ends - time::Duration::days(730)),
        })
    };
    let (passwords, keys): (Vec<Value>, Vec<Value>) = if let Some(app) = tenant.apps.get(app_id) {
        (
            app.secret
                .iter()
                .map(|secret| password_credential(secret, app.secret_expires_at))
                .collect(),
            app.certificates.iter().map(key_credential).collect(),
        )
    } else if app_id == s.client_id {
        (
            s.client_secret
                .iter()
                .zip(s.client_secret_expires_at)
                .map(|(secret, ends)| password_credential(secret, ends))
                .collect(),
            s.client_certificates.iter().map(key_credential).collect(),
        )
    } else {
        return graph_error(
            now,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{app_id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications(passwordCredentials,keyCredentials)/$entity",
            "passwordCredentials": passwords,
            "keyCredentials": keys,
        }),
    )
}

async fn organization(AxumState(state): AxumState<Shared>, headers: HeaderMap) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::Organization);
    if let Some(fault) = fault(&mut s, FakeEndpoint::Organization) {
        return fault;
    }
    let now = s.now();
    // Graph's path names no tenant: the request is counted for its token's.
    let owner = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| s.access.get(token))
        .map(|a| a.tenant.clone());
    if let Some(owner) = owner {
        s.count_for(&owner, FakeRequest::Organization);
    }
    let access = match bearer(&s, now, &headers) {
        Ok(access) => access,
        Err(refused) => return *refused,
    };
    let tenant = &s.tenants[&access.tenant];
    if access.app_only && !tenant.consented.contains(&access.client_id) {
        return graph_error(
            now,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let domains: Vec<Value> = if tenant.domains.is_empty() {
        vec![
            json!({"name": format!("{}.onmicrosoft.com", &tenant.id[..8]), "isDefault": true, "isInitial": true, "type": "Managed"}),
        ]
    } else {
        tenant
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"name": d, "isDefault": i == 0, "isInitial": false, "type": "Managed"}))
            .collect()
    };
    let name = tenant
        .domains
        .first()
        .map(|d| {
            let first = d.split('.').next().unwrap_or(d);
            let mut chars = first.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "Fake tenant".into());
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization",
            "value": [{
                "id": tenant.id,
                "displayName": name,
                "verifiedDomains": domains,
                "tenantType": "AAD",
            }]
        }),
    )
}
