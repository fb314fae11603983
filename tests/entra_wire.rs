//! The Entra ID provider against mockito: every grant, every mapped error code, exact outgoing
//! form fields, payloads shaped as Entra sends them (shared/entra-wire.md), throttling,
//! transient faults, oversized and malformed bodies.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mockito::{Server, ServerGuard};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tenant_access::Action;
use tenant_access::error::{Error, ProviderError};
use tenant_access::model::{
    AccessToken, ClientSecret, ConsentState, DeviceCode, Password, RefreshToken,
};
use tenant_access::model::{AuthorizationCode, PkceVerifier, SignInState};
use tenant_access::model::{CustomerId, TenantId};
use tenant_access::ports::{AuthorizationRequest, CodeRedemption};
use tenant_access::provider::entra::{EntraConfig, EntraProvider, RetryPolicy};
use tenant_access::provider::{
    AdminConsentRequest, ConsentCallback, DevicePoll, IdentityProvider, Target,
};
use tenant_access::{ports::Clock, testing::ManualClock};
use time::macros::datetime;
use url::Url;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SCOPE: &str = "https://graph.microsoft.com/.default offline_access openid profile";
const TOKEN_PATH: &str = "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";
const DEVICE_PATH: &str = "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/devicecode";

fn target() -> Target {
    Target {
        customer: CustomerId::new("contoso").unwrap(),
        tenant: TenantId::new(TENANT).unwrap(),
    }
}

fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-11-23 10:00 UTC))
}

fn config(server: &ServerGuard) -> EntraConfig {
    EntraConfig::new(CLIENT)
        .authority(&server.url())
        .unwrap()
        .graph(&server.url())
        .unwrap()
        .user_agent("tenant-access-tests/1")
}

fn provider(server: &ServerGuard, clock: &ManualClock) -> EntraProvider {
    EntraProvider::new(config(server))
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
}

/// Matches a form body whose fields are exactly `expected` (no more, no fewer).
fn form_is(
    expected: &[(&str, &str)],
) -> impl Fn(&mockito::Request) -> bool + Send + Sync + 'static {
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |request| {
        let body = request.utf8_lossy_body().unwrap_or_default().into_owned();
        let got: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        got == expected
    }
}

/// An Entra error body with every field the real service sends.
fn entra_error(error: &str, codes: &[u32], suberror: Option<&str>) -> String {
    let first = codes.first().copied().unwrap_or(0);
    let mut body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{first}: Something happened. Trace ID: 0b5f8e1a-0000-0000-0000-000000000000 Correlation ID: 6c1c7a3e-0000-0000-0000-000000000000 Timestamp: 2026-11-23 10:00:00Z"),
        "error_codes": codes,
        "timestamp": "2026-11-23 10:00:00Z",
        "trace_id": "0b5f8e1a-0000-0000-0000-000000000000",
        "correlation_id": "6c1c7a3e-0000-0000-0000-000000000000",
        "error_uri": format!("https://login.microsoftonline.com/error?code={first}"),
    });
    if let Some(s) = suberror {
        body["suberror"] = serde_json::json!(s);
    }
    if error == "interaction_required" {
        body["claims"] = serde_json::json!(
            "{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"0000\"]}}}"
        );
    }
    body.to_string()
}

fn jwt(tid: &str) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"aud":"https://graph.microsoft.com","tid":"{tid}"}}"#
        ))
    )
}

fn token_body(with_refresh: bool) -> String {
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "scope": "https://graph.microsoft.com/User.Read https://graph.microsoft.com/.default",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": jwt(TENANT),
    });
    if with_refresh {
        body["refresh_token"] = serde_json::json!("1.AXkA-rotated-refresh-token");
        body["id_token"] = serde_json::json!(jwt(TENANT));
    }
    body.to_string()
}

async fn mock_error(
    server: &mut ServerGuard,
    path: &str,
    status: usize,
    body: String,
) -> mockito::Mock {
    server
        .mock("POST", path)
        .with_status(status)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(body)
        .create_async()
        .await
}

#[tokio::test]
async fn device_authorization_sends_client_id_and_scope() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", DEVICE_PATH)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_header("user-agent", "tenant-access-tests/1")
        .match_request(form_is(&[("client_id", CLIENT), ("scope", SCOPE)]))
        .with_status(200)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(r#"{"device_code":"DAQABAAEAAA-device","user_code":"FQK5HW3UF","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FQK5HW3UF to authenticate."}"#)
        .create_async()
        .await;
    let clock = clock();
    let device = provider(&server, &clock)
        .device_authorization(&target())
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(device.device_code.expose_secret(), "DAQABAAEAAA-device");
    assert_eq!(device.user_code, "FQK5HW3UF");
    assert_eq!(
        device.verification_uri.as_str(),
        "https://microsoft.com/devicelogin"
    );
    assert_eq!(device.expires_in, Duration::from_secs(900));
    assert_eq!(device.interval, Duration::from_secs(5));
    assert!(device.message.unwrap().contains("FQK5HW3UF"));
}

#[tokio::test]
async fn device_poll_sends_exactly_the_rfc8628_fields_and_gets_the_token() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLIENT),
            ("device_code", "DAQABAAEAAA-device"),
        ]))
        .with_status(200)
        .with_body(token_body(true))
        .create_async()
        .await;
    let clock = clock();
    let poll = provider(&server, &clock)
        .poll_device_code(&target(), &DeviceCode::new("DAQABAAEAAA-device"))
        .await
        .unwrap();
    m.assert_async().await;
    let DevicePoll::Granted(token) = poll else {
        panic!("{poll:?}")
    };
    assert_eq!(token.access_token.expose_secret(), jwt(TENANT));
    assert_eq!(
        token.refresh_token.unwrap().expose_secret(),
        "1.AXkA-rotated-refresh-token"
    );
    assert_eq!(token.expires_in, Duration::from_secs(3599));
}

#[tokio::test]
async fn device_poll_error_codes_map_onto_poll_outcomes() {
    let table: &[(&str, &[u32], &str)] = &[
        ("authorization_pending", &[70016], "Pending"),
        ("slow_down", &[], "SlowDown"),
        ("authorization_declined", &[], "Declined"),
        ("bad_verification_code", &[70018], "Expired"),
        ("expired_token", &[70019], "Expired"),
        ("expired_token", &[70020], "Expired"),
        ("invalid_grant", &[90120], "Expired"),
        ("invalid_grant", &[90094], "ApprovalRequested"),
        ("invalid_grant", &[90095], "ApprovalRequested"),
        ("invalid_grant", &[65001], "ConsentRequired"),
    ];
    for (error, codes, expected) in table {
        let mut server = Server::new_async().await;
        let m = mock_error(
            &mut server,
            TOKEN_PATH,
            400,
            entra_error(error, codes, None),
        )
        .await;
        let clock = clock();
        let poll = provider(&server, &clock)
            .poll_device_code(&target(), &DeviceCode::new("dc"))
            .await
            .unwrap_or_else(|e| panic!("{error} {codes:?}: {e:?}"));
        m.assert_async().await;
        let got = format!("{poll:?}");
        assert!(got.starts_with(expected), "{error} {codes:?} gave {got}");
    }
}

#[tokio::test]
async fn device_poll_unknown_code_is_a_typed_error_keeping_the_raw_detail() {
    let mut server = Server::new_async().await;
    mock_error(
        &mut server,
        TOKEN_PATH,
        400,
        entra_error("invalid_grant", &[123456], None),
    )
    .await;
    let clock = clock();
    match provider(&server, &clock)
        .poll_device_code(&target(), &DeviceCode::new("dc"))
        .await
    {
        Err(ProviderError::Other(d)) => {
            assert_eq!(d.error, "invalid_grant");
            assert_eq!(d.codes, vec![123456]);
            assert!(d.description.starts_with("AADSTS123456"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn password_grant_sends_credentials_and_client_secret_when_configured() {
    let mut server = Server::new_async().await;
    let public = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("scope", SCOPE),
            ("username", "admin@contoso.com"),
            ("password", "correct horse & battery=staple"),
        ]))
        .with_body(token_body(true))
        .create_async()
        .await;
    let clock = clock();
    let token = provider(&server, &clock)
        .password_grant(
            &target(),
            "admin@contoso.com",
            &Password::new("correct horse & battery=staple"),
        )
        .await
        .unwrap();
    public.assert_async().await;
    assert!(token.refresh_token.is_some());

    let confidential = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("scope", SCOPE),
            ("username", "admin@contoso.com"),
            ("password", "pw"),
            ("client_secret", "msp-secret"),
        ]))
        .with_body(token_body(true))
        .create_async()
        .await;
    let with_secret =
        EntraProvider::new(config(&server).client_secret(ClientSecret::new("msp-secret")))
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
    with_secret
        .password_grant(&target(), "admin@contoso.com", &Password::new("pw"))
        .await
        .unwrap();
    confidential.assert_async().await;
}

fn kind(e: &ProviderError) -> String {
    let d = format!("{e:?}");
    d.split('(')
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn password_grant_error_codes_are_typed() {
    let table: &[(&str, u32, Option<&str>, &str)] = &[
        ("invalid_grant", 50126, None, "InvalidCredentials"),
        ("invalid_grant", 50076, Some("basic_action"), "MfaRequired"),
        ("interaction_required", 50079, None, "MfaRequired"),
        ("invalid_grant", 50158, None, "MfaRequired"),
        ("invalid_grant", 50055, None, "AccountUnusable"),
        ("invalid_grant", 50053, None, "AccountUnusable"),
        ("invalid_grant", 50057, None, "AccountUnusable"),
        (
            "invalid_grant",
            65001,
            Some("consent_required"),
            "ConsentRequired",
        ),
        ("invalid_grant", 65004, None, "ConsentDeclined"),
        ("invalid_grant", 90094, None, "AdminApprovalRequired"),
        ("invalid_grant", 90095, None, "AdminApprovalRequired"),
        ("invalid_grant", 50020, None, "UserNotInTenant"),
        ("invalid_grant", 50034, None, "UserNotInTenant"),
        ("invalid_grant", 53003, None, "ConditionalAccessBlocked"),
        ("invalid_request", 900144, None, "Misconfigured"),
        ("invalid_grant", 4242, None, "Other"),
    ];
    for (error, code, suberror, expected) in table {
        let mut server = Server::new_async().await;
        mock_error(
            &mut server,
            TOKEN_PATH,
            400,
            entra_error(error, &[*code], *suberror),
        )
        .await;
        let clock = clock();
        let got = provider(&server, &clock)
            .password_grant(&target(), "admin@contoso.com", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(kind(&got), *expected, "{error} {code}: {got:?}");
        let text = got.to_string();
        assert!(text.contains(&format!("AADSTS{code}")), "{text}");
        assert!(!text.contains("pw\""), "{text}");
    }
}

#[tokio::test]
async fn client_credentials_sends_the_apps_secret_and_default_scope() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "client_credentials"),
            ("client_id", "99999999-8888-7777-6666-555555555555"),
            ("client_secret", "app-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ]))
        .with_body(format!(
            r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{}"}}"#,
            jwt(TENANT)
        ))
        .create_async()
        .await;
    let clock = clock();
    let token = provider(&server, &clock)
        .client_credentials(
            &target(),
            "99999999-8888-7777-6666-555555555555",
            &ClientSecret::new("app-secret").into(),
        )
        .await
        .unwrap();
    m.assert_async().await;
    assert!(token.refresh_token.is_none());
    assert_eq!(token.scope, None);
}

#[tokio::test]
async fn client_credentials_error_codes_are_typed() {
    let table: &[(usize, &str, u32, &str)] = &[
        (401, "invalid_client", 7000215, "InvalidClientSecret"),
        (401, "invalid_client", 7000222, "ClientSecretExpired"),
        (400, "unauthorized_client", 700016, "AppNotInTenant"),
        (400, "invalid_client", 4711, "InvalidClientSecret"),
    ];
    for (status, error, code, expected) in table {
        let mut server = Server::new_async().await;
        mock_error(
            &mut server,
            TOKEN_PATH,
            *status,
            entra_error(error, &[*code], None),
        )
        .await;
        let clock = clock();
        let got = provider(&server, &clock)
            .client_credentials(&target(), "app", &ClientSecret::new("s").into())
            .await
            .unwrap_err();
        assert_eq!(kind(&got), *expected, "{code}: {got:?}");
    }
}

#[tokio::test]
async fn refresh_sends_the_token_and_returns_the_rotated_one() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", "1.AXkA-old"),
            ("scope", SCOPE),
        ]))
        .with_body(token_body(true))
        .create_async()
        .await;
    let clock = clock();
    let token = provider(&server, &clock)
        .refresh(&target(), &RefreshToken::new("1.AXkA-old"))
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(
        token.refresh_token.unwrap().expose_secret(),
        "1.AXkA-rotated-refresh-token"
    );
}

#[tokio::test]
async fn a_token_for_another_resource_comes_from_the_same_refresh_token() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", "1.AXkA-old"),
            (
                "scope",
                "https://management.azure.com/.default offline_access",
            ),
        ]))
        .with_body(token_body(true))
        .create_async()
        .await;
    let clock = clock();
    let arm = tenant_access::Scopes::new(["https://management.azure.com/.default"]).unwrap();
    let token = provider(&server, &clock)
        .refresh_for_scopes(&target(), &RefreshToken::new("1.AXkA-old"), &arm)
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(
        token.refresh_token.unwrap().expose_secret(),
        "1.AXkA-rotated-refresh-token"
    );
}

#[tokio::test]
async fn dead_refresh_tokens_require_reauthentication() {
    let table: &[(&str, u32, Option<&str>, &str)] = &[
        ("invalid_grant", 70000, None, "ReauthenticationRequired"),
        ("invalid_grant", 700082, None, "ReauthenticationRequired"),
        ("invalid_grant", 50173, None, "ReauthenticationRequired"),
        ("invalid_grant", 70008, None, "ReauthenticationRequired"),
        (
            "interaction_required",
            70043,
            Some("token_expired"),
            "ReauthenticationRequired",
        ),
        ("invalid_grant", 700084, None, "ReauthenticationRequired"),
        ("invalid_grant", 50078, None, "ReauthenticationRequired"),
        ("invalid_grant", 53003, None, "ConditionalAccessBlocked"),
        ("invalid_grant", 31337, None, "Other"),
    ];
    for (error, code, suberror, expected) in table {
        let mut server = Server::new_async().await;
        mock_error(
            &mut server,
            TOKEN_PATH,
            400,
            entra_error(error, &[*code], *suberror),
        )
        .await;
        let clock = clock();
        let got = provider(&server, &clock)
            .refresh(&target(), &RefreshToken::new("1.old"))
            .await
            .unwrap_err();
        assert_eq!(kind(&got), *expected, "{code}: {got:?}");
        if let ProviderError::ReauthenticationRequired(d) = got {
            assert_eq!(d.codes, vec![*code]);
            assert_eq!(&d.error, error);
        }
    }
}

#[tokio::test]
async fn validation_reads_the_organization_graph_answers() {
    let mut server = Server::new_async().await;
    let org = format!(
        r#"{{"value":[{{"id":"{TENANT}","displayName":"Contoso","verifiedDomains":[{{"name":"contoso.com","isDefault":true,"isInitial":false,"type":"Managed"}},{{"name":"contoso.onmicrosoft.com","isDefault":false,"isInitial":true,"type":"Managed"}}],"tenantType":"AAD"}}]}}"#
    );
    let token = jwt(TENANT);
    let m = server
        .mock("GET", "/v1.0/organization")
        .match_header("authorization", format!("Bearer {token}").as_str())
        .with_body(org.clone())
        .create_async()
        .await;
    let clock = clock();
    let entra = provider(&server, &clock);
    let info = entra
        .validate(&target(), &AccessToken::new(token))
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(info.id, TENANT);
    assert_eq!(info.display_name, "Contoso");
    assert_eq!(info.domains, ["contoso.com", "contoso.onmicrosoft.com"]);

    // Graph's answer is the proof, whatever the token looks like inside (an opaque token,
    // or claims naming another tenant): the engine then checks the organization is the
    // invited tenant (`FlowError::TenantMismatch`).
    server
        .mock("GET", "/v1.0/organization")
        .with_body(org.clone())
        .create_async()
        .await;
    for token in [
        "opaque-token".to_owned(),
        jwt("00000000-0000-0000-0000-000000000001"),
    ] {
        let info = entra
            .validate(&target(), &AccessToken::new(token))
            .await
            .unwrap();
        assert_eq!(info.id, TENANT);
    }
}

#[tokio::test]
async fn validation_errors_are_typed() {
    let clock = clock();
    for (status, body, expected) in [
        (
            401,
            r#"{"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired."}}"#,
            "TokenRejected",
        ),
        (
            403,
            r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#,
            "ConsentRequired",
        ),
        (200, r#"{"value":[]}"#, "InvalidResponse"),
        (200, r#"{"value":"#, "InvalidResponse"),
    ] {
        let mut server = Server::new_async().await;
        server
            .mock("GET", "/v1.0/organization")
            .with_status(status)
            .with_body(body)
            .create_async()
            .await;
        let got = provider(&server, &clock)
            .validate(&target(), &AccessToken::new("t"))
            .await
            .unwrap_err();
        assert_eq!(kind(&got), expected, "{status} {body}: {got:?}");
    }
}

#[tokio::test]
async fn throttling_honours_retry_after_on_the_injected_clock() {
    let mut server = Server::new_async().await;
    let throttled = server
        .mock("POST", TOKEN_PATH)
        .with_status(429)
        .with_header("retry-after", "7")
        .with_body(entra_error("temporarily_unavailable", &[90055], None))
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("POST", TOKEN_PATH)
        .with_body(token_body(true))
        .expect(1)
        .create_async()
        .await;
    let clock = clock();
    let start = clock.now();
    provider(&server, &clock)
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap();
    throttled.assert_async().await;
    ok.assert_async().await;
    assert_eq!(clock.now() - start, Duration::from_secs(7));
}

/// The engine hands its clock to a provider built without one (and perhaps cloned already):
/// every clone waits on it, and the first clock given stays.
#[tokio::test]
async fn a_clock_given_after_construction_reaches_every_clone_and_the_first_one_stays() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", TOKEN_PATH)
        .with_status(429)
        .with_header("retry-after", "7")
        .with_body(entra_error("temporarily_unavailable", &[90055], None))
        .expect(1)
        .create_async()
        .await;
    server
        .mock("POST", TOKEN_PATH)
        .with_body(token_body(true))
        .expect(1)
        .create_async()
        .await;
    let entra = EntraProvider::new(config(&server)).unwrap();
    let clone = entra.clone();
    let clock = clock();
    assert!(entra.use_clock(Arc::new(clock.clone())));
    assert!(!entra.use_clock(Arc::new(ManualClock::new(datetime!(2030-01-01 0:00 UTC)))));
    let start = clock.now();
    clone
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap();
    assert_eq!(clock.now() - start, Duration::from_secs(7));
    let explicit = EntraProvider::new(config(&server))
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    assert!(!explicit.use_clock(Arc::new(ManualClock::new(datetime!(2030-01-01 0:00 UTC)))));
}

/// The clock given once to the engine is the one the provider's retries wait on: a provider
/// built without a clock, handed to the builder, waits on the engine's manual clock.
#[tokio::test]
async fn the_engines_clock_reaches_the_provider() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", TOKEN_PATH)
        .with_status(429)
        .with_header("retry-after", "7")
        .with_body(entra_error("temporarily_unavailable", &[90055], None))
        .expect(1)
        .create_async()
        .await;
    server
        .mock("POST", TOKEN_PATH)
        .with_body(token_body(true))
        .expect(1)
        .create_async()
        .await;
    let clock = clock();
    let ta = tenant_access::TenantAccess::builder()
        .config(tenant_access::Config::new("https://portal.example.com").unwrap())
        .store(tenant_access::store::MemoryStore::new())
        .mailer(tenant_access::testing::CaptureMailer::new())
        .provider(EntraProvider::new(config(&server)).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let start = clock.now();
    ta.ports()
        .provider()
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap();
    assert_eq!(clock.now() - start, Duration::from_secs(7));
}

#[tokio::test]
async fn throttling_without_retries_hands_retry_after_to_the_caller() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", TOKEN_PATH)
        .with_status(429)
        .with_header("retry-after", "120")
        .expect(1)
        .create_async()
        .await;
    let clock = clock();
    let start = clock.now();
    // 120 s is longer than the policy waits inside a call: give up at once.
    let got = provider(&server, &clock)
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap_err();
    m.assert_async().await;
    assert_eq!(
        got,
        ProviderError::Throttled {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert_eq!(clock.now(), start);
}

#[tokio::test]
async fn server_errors_are_retried_with_bounded_backoff_then_typed() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", TOKEN_PATH)
        .with_status(503)
        .with_body("<html>Service Unavailable</html>")
        .expect(4)
        .create_async()
        .await;
    let clock = clock();
    let start = clock.now();
    let got = provider(&server, &clock)
        .password_grant(&target(), "u", &Password::new("p"))
        .await
        .unwrap_err();
    m.assert_async().await;
    assert_eq!(
        got,
        ProviderError::Unavailable {
            status: 503,
            retry_after: None
        }
    );
    // 0.5 + 1 + 2 s of backoff, plus at most 50 % jitter.
    let waited = clock.now() - start;
    assert!(
        waited >= Duration::from_millis(3500) && waited <= Duration::from_millis(5250),
        "{waited:?}"
    );
}

#[tokio::test]
async fn connection_failures_are_retried_then_typed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let clock = clock();
    let start = clock.now();
    let entra = EntraProvider::new(EntraConfig::new(CLIENT).authority(&url).unwrap().retry(
        RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        },
    ))
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let got = entra.device_authorization(&target()).await.unwrap_err();
    assert!(matches!(got, ProviderError::Transport(_)), "{got:?}");
    assert!(got.is_transient());
    assert!(clock.now() - start >= Duration::from_millis(1500));
}

#[tokio::test]
async fn timeouts_are_transport_errors() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let clock = clock();
    let entra = EntraProvider::new(
        EntraConfig::new(CLIENT)
            .authority(&url)
            .unwrap()
            .timeout(std::time::Duration::from_millis(150))
            .retry(RetryPolicy::none()),
    )
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let got = entra.device_authorization(&target()).await.unwrap_err();
    match got {
        ProviderError::Transport(text) => assert!(text.starts_with("timed out"), "{text}"),
        other => panic!("{other:?}"),
    }
    hold.abort();
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_invalid_responses() {
    let clock = clock();
    let huge = format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{}"}}"#,
        "a".repeat(1024 * 1024 + 1)
    );
    for (status, body) in [
        (200, huge.as_str()),
        (200, "not json at all"),
        (200, r#"{"token_type":"Bearer","expires_in":3599}"#),
        (200, r#"{"token_type":"mac","access_token":"a"}"#),
        (400, "<html><body>Bad Request</body></html>"),
        (400, r#"{"error_description":"no error field"}"#),
    ] {
        let mut server = Server::new_async().await;
        server
            .mock("POST", TOKEN_PATH)
            .with_status(status)
            .with_body(body)
            .create_async()
            .await;
        let got = provider(&server, &clock)
            .refresh(&target(), &RefreshToken::new("1.old"))
            .await
            .unwrap_err();
        assert!(
            matches!(got, ProviderError::InvalidResponse(_)),
            "{status} {}: {got:?}",
            &body[..body.len().min(60)]
        );
    }
}

#[tokio::test]
async fn a_wrong_authority_is_a_configuration_error() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", DEVICE_PATH)
        .with_status(404)
        .with_body("<html>Not Found</html>")
        .create_async()
        .await;
    let clock = clock();
    let got = provider(&server, &clock)
        .device_authorization(&target())
        .await
        .unwrap_err();
    assert!(matches!(got, ProviderError::Misconfigured(_)), "{got:?}");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let mut server = Server::new_async().await;
    let elsewhere = server
        .mock("POST", "/elsewhere")
        .expect(0)
        .create_async()
        .await;
    server
        .mock("POST", TOKEN_PATH)
        .with_status(307)
        .with_header("location", &format!("{}/elsewhere", server.url()))
        .create_async()
        .await;
    let clock = clock();
    let got = provider(&server, &clock)
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap_err();
    assert!(matches!(got, ProviderError::InvalidResponse(_)), "{got:?}");
    elsewhere.assert_async().await;
}

#[tokio::test]
async fn string_typed_numbers_and_ext_expires_in_are_accepted() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", TOKEN_PATH)
        .with_body(r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"10799","access_token":"opaque","refresh_token":"1.r"}"#)
        .create_async()
        .await;
    server
        .mock("POST", DEVICE_PATH)
        .with_body(r#"{"device_code":"d","user_code":"U","verification_uri":"https://microsoft.com/devicelogin","expires_in":"900","interval":"5"}"#)
        .create_async()
        .await;
    let clock = clock();
    let entra = provider(&server, &clock);
    let token = entra
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap();
    assert_eq!(token.expires_in, Duration::from_secs(3599));
    let device = entra.device_authorization(&target()).await.unwrap();
    assert_eq!(device.expires_in, Duration::from_secs(900));
    assert_eq!(device.interval, Duration::from_secs(5));
    assert_eq!(device.message, None);
}

#[tokio::test]
async fn admin_consent_url_and_callback() {
    let server = Server::new_async().await;
    let clock = clock();
    let entra = provider(&server, &clock);
    let state = ConsentState::new("state-1");
    let url = entra
        .admin_consent_url(
            &target(),
            &AdminConsentRequest {
                client_id: CLIENT.into(),
                redirect_uri: Url::parse("https://portal.example.com/authenticate/OAuth2Callback")
                    .unwrap(),
                state: state.clone(),
            },
        )
        .unwrap();
    assert_eq!(url.path(), format!("/{TENANT}/v2.0/adminconsent"));
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT);
    assert_eq!(query["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(
        query["redirect_uri"],
        "https://portal.example.com/authenticate/OAuth2Callback"
    );
    assert_eq!(query["state"], "state-1");

    let ok = ConsentCallback::from_query(&format!(
        "admin_consent=True&tenant={TENANT}&scope=x&state=state-1"
    ))
    .unwrap();
    entra
        .verify_admin_consent(&target(), &state, &ok)
        .await
        .unwrap();
    let replayed =
        ConsentCallback::from_query(&format!("admin_consent=True&tenant={TENANT}&state=state-0"))
            .unwrap();
    assert!(matches!(
        entra
            .verify_admin_consent(&target(), &state, &replayed)
            .await,
        Err(ProviderError::ConsentCallback(_))
    ));
    let other = ConsentCallback::from_query(
        "admin_consent=True&tenant=00000000-0000-0000-0000-000000000001&state=state-1",
    )
    .unwrap();
    assert!(
        entra
            .verify_admin_consent(&target(), &state, &other)
            .await
            .is_err()
    );
    let declined = ConsentCallback::from_query("admin_consent=True&error=consent_required&error_description=AADSTS65004%3A+User+declined+to+consent&state=state-1").unwrap();
    assert!(matches!(
        entra
            .verify_admin_consent(&target(), &state, &declined)
            .await,
        Err(ProviderError::ConsentDeclined(_))
    ));
}

#[test]
fn secrets_stay_out_of_debug() {
    let config = EntraConfig::new(CLIENT).client_secret(ClientSecret::new("super-secret-value"));
    let printed = format!(
        "{config:?} {:?}",
        EntraProvider::new(config.clone()).unwrap()
    );
    assert!(!printed.contains("super-secret-value"), "{printed}");
    assert!(printed.contains(CLIENT));
}

#[test]
fn hosts_must_be_bare_http_urls() {
    assert!(EntraConfig::new(CLIENT).authority("ftp://x").is_err());
    assert!(
        EntraConfig::new(CLIENT)
            .authority("https://login.example/tenant")
            .is_err()
    );
    assert!(
        EntraConfig::new(CLIENT)
            .graph("http://127.0.0.1:9/")
            .is_ok()
    );
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_past_one_mebibyte() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that streams 2 MiB without a Content-Length.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..32 {
            let frame = format!("{:x}\r\n", chunk.len());
            if socket.write_all(frame.as_bytes()).await.is_err()
                || socket.write_all(&chunk).await.is_err()
                || socket.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    let clock = clock();
    let entra = EntraProvider::new(
        EntraConfig::new(CLIENT)
            .authority(&url)
            .unwrap()
            .retry(RetryPolicy::none()),
    )
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let got = entra.device_authorization(&target()).await.unwrap_err();
    match got {
        ProviderError::InvalidResponse(text) => assert!(text.contains("larger than"), "{text}"),
        other => panic!("{other:?}"),
    }
    server.abort();
}

// ---- poll timing and call deadlines (issue 17, items 1-3) ---------------------------------

/// Every token request for a device code is a poll (RFC 8628 §3.5): with the default retry
/// policy, a 503, a 429 and a refused connection each cost exactly one request and no wait.
#[tokio::test]
async fn a_device_poll_is_never_retried_inside_the_call() {
    let mut server = Server::new_async().await;
    let clock = clock();
    let start = clock.now();
    let entra = provider(&server, &clock);
    let code = DeviceCode::new("DAQABAAEAAA-device");
    for (status, retry_after) in [(503, None), (429, Some("1")), (500, Some("2"))] {
        let mut mock = server
            .mock("POST", TOKEN_PATH)
            .with_status(status)
            .with_body(entra_error("temporarily_unavailable", &[], None));
        if let Some(after) = retry_after {
            mock = mock.with_header("retry-after", after);
        }
        let mock = mock.expect(1).create_async().await;
        let got = entra.poll_device_code(&target(), &code).await.unwrap_err();
        assert!(got.is_transient(), "{got:?}");
        mock.assert_async().await;
        mock.remove_async().await;
    }
    assert_eq!(clock.now(), start, "no backoff was waited inside a poll");
    // Other requests keep their retries.
    let throttled = server
        .mock("POST", TOKEN_PATH)
        .with_status(503)
        .expect(4)
        .create_async()
        .await;
    entra
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap_err();
    throttled.assert_async().await;

    // A refused connection: one attempt, no wait.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let clock = self::clock();
    let entra = EntraProvider::new(EntraConfig::new(CLIENT).authority(&url).unwrap())
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let got = entra.poll_device_code(&target(), &code).await.unwrap_err();
    assert!(matches!(got, ProviderError::Transport(_)), "{got:?}");
    assert_eq!(clock.now(), start);
}

/// One call's attempts and waits all fit in its deadline: Retry-After 4 s against a 10 s
/// deadline allows the attempts at 0, 4 and 8 s, not a fourth at 12 s, however many retries
/// the policy would allow.
#[tokio::test]
async fn one_calls_attempts_fit_in_its_deadline() {
    let mut server = Server::new_async().await;
    let throttled = server
        .mock("POST", TOKEN_PATH)
        .with_status(429)
        .with_header("retry-after", "4")
        .with_body(entra_error("temporarily_unavailable", &[], None))
        .expect(3)
        .create_async()
        .await;
    let clock = clock();
    let start = clock.now();
    let policy = RetryPolicy {
        max_retries: 10,
        ..RetryPolicy::default()
    }
    .with_deadline(Duration::from_secs(10));
    let entra = EntraProvider::new(config(&server).retry(policy))
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let got = entra
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap_err();
    assert_eq!(
        got,
        ProviderError::Throttled {
            retry_after: Some(Duration::from_secs(4))
        }
    );
    throttled.assert_async().await;
    assert_eq!(clock.now() - start, Duration::from_secs(8));
    assert_eq!(
        RetryPolicy::default().deadline,
        tenant_access::provider::DEFAULT_CALL_DEADLINE
    );
    assert_eq!(
        tenant_access::provider::DEFAULT_CALL_DEADLINE,
        Duration::from_secs(60)
    );
}

/// Against an endpoint that never answers, the deadline (not the 30 s request timeout,
/// nor four of them) bounds the call in real time.
#[tokio::test]
async fn a_slow_endpoint_is_cut_off_at_the_call_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let clock = clock();
    let entra = EntraProvider::new(
        EntraConfig::new(CLIENT)
            .authority(&url)
            .unwrap()
            .retry(RetryPolicy::default().with_deadline(Duration::from_millis(300))),
    )
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let started = std::time::Instant::now();
    let got = entra
        .refresh(&target(), &RefreshToken::new("1.old"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    match got {
        ProviderError::Transport(text) => assert!(text.starts_with("timed out"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    hold.abort();
}

/// The MSP's own client's requests, each refused by `status`/`body`: what each one answered.
async fn msp_requests_refused(status: usize, body: &str) -> Vec<(&'static str, ProviderError)> {
    let clock = clock();
    let mut got = Vec::new();
    for request in [
        "device authorization",
        "poll",
        "password",
        "refresh",
        "refresh for scopes",
    ] {
        let mut server = Server::new_async().await;
        let path = if request == "device authorization" {
            DEVICE_PATH
        } else {
            TOKEN_PATH
        };
        let m = server
            .mock("POST", path)
            .with_status(status)
            .with_header("content-type", "application/json; charset=utf-8")
            .with_body(body)
            .expect(1)
            .create_async()
            .await;
        let p = provider(&server, &clock);
        let (t, rt) = (target(), RefreshToken::new("1.old"));
        let error = match request {
            "device authorization" => p.device_authorization(&t).await.map(|_| ()),
            "poll" => p
                .poll_device_code(&t, &DeviceCode::new("dc"))
                .await
                .map(|_| ()),
            "password" => p
                .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
                .await
                .map(|_| ()),
            "refresh" => p.refresh(&t, &rt).await.map(|_| ()),
            _ => p
                .refresh_for_scopes(
                    &t,
                    &rt,
                    &tenant_access::model::Scopes::new(["https://management.azure.com/.default"])
                        .unwrap(),
                )
                .await
                .map(|_| ()),
        }
        .unwrap_err();
        m.assert_async().await;
        got.push((request, error));
    }
    got
}

/// Issue 17 item 4: a refusal that is not `temporarily_unavailable` (and not a 429/5xx) is
/// terminal, whatever its code: sent once, never `Retry`.
#[tokio::test]
async fn unknown_refusals_are_terminal() {
    for (error, codes) in [
        ("invalid_grant", &[99_999_999][..]),
        ("invalid_grant", &[]),
        ("something_new", &[]),
    ] {
        let body = entra_error(error, codes, None);
        for (request, got) in msp_requests_refused(400, &body).await {
            let action = tenant_access::Error::from(got.clone()).action();
            assert!(
                !matches!(action, Action::Retry { .. }),
                "{request} {error} {codes:?}: {got:?} says {action:?}"
            );
            assert!(!got.is_transient(), "{request}: {got:?}");
        }
    }
    // The unknown code on a poll stays raw, and asks the customer.
    let body = entra_error("invalid_grant", &[99_999_999], None);
    let refused = msp_requests_refused(400, &body).await;
    let (_, poll) = refused.iter().find(|(r, _)| *r == "poll").unwrap();
    assert!(
        matches!(poll, ProviderError::Other(d) if d.codes == [99_999_999]),
        "{poll:?}"
    );
    assert_eq!(
        tenant_access::Error::from(poll.clone()).action(),
        Action::AskCustomer
    );
    // `temporarily_unavailable` is the one refusal worth a retry, after the default wait.
    let body = entra_error("temporarily_unavailable", &[], None);
    for (request, got) in msp_requests_refused(400, &body).await {
        assert_eq!(
            tenant_access::Error::from(got).action(),
            Action::Retry {
                after: Action::DEFAULT_RETRY_AFTER
            },
            "{request}"
        );
    }
}

/// Issue 17 item 4: a malformed or oversized answer is retried only after a bounded backoff.
#[tokio::test]
async fn malformed_and_oversized_answers_retry_after_a_bounded_backoff() {
    let huge = format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{}"}}"#,
        "a".repeat(1024 * 1024 + 1)
    );
    for (status, body) in [
        (200, huge.as_str()),
        (200, "not json at all"),
        (400, "<html><body>Bad Request</body></html>"),
    ] {
        for (request, got) in msp_requests_refused(status, body).await {
            assert!(
                matches!(got, ProviderError::InvalidResponse(_)),
                "{request} {status}: {got:?}"
            );
            assert_eq!(
                tenant_access::Error::from(got).action(),
                Action::Retry {
                    after: Action::SLOW_RETRY_AFTER
                },
                "{request} {status}"
            );
            assert!(Action::SLOW_RETRY_AFTER <= Action::MAX_RETRY_AFTER);
        }
    }
}

/// Issue 17 item 7: the MSP's own client failing to authenticate is the MSP's configuration
/// on every request it makes; only a customer's app registration failing client credentials
/// asks the customer.
#[tokio::test]
async fn the_msps_client_failing_is_configuration_a_customers_app_asks_the_customer() {
    let table: &[(usize, &str, &[u32])] = &[
        (401, "invalid_client", &[7000215]),
        (401, "invalid_client", &[7000222]),
        (400, "unauthorized_client", &[700016]),
        (401, "invalid_client", &[700027]),
        (401, "invalid_client", &[]),
        (400, "invalid_client", &[99_999_999]),
    ];
    for (status, error, codes) in table {
        let body = entra_error(error, codes, None);
        for (request, got) in msp_requests_refused(*status, &body).await {
            assert!(
                matches!(&got, ProviderError::Misconfigured(d) if d.codes == *codes),
                "{request} {error} {codes:?}: {got:?}"
            );
            assert_eq!(
                tenant_access::Error::from(got).action(),
                Action::FixConfiguration,
                "{request} {error} {codes:?}"
            );
        }
        let mut server = Server::new_async().await;
        mock_error(&mut server, TOKEN_PATH, *status, body).await;
        let clock = clock();
        let got = provider(&server, &clock)
            .client_credentials(&target(), "customer-app", &ClientSecret::new("s").into())
            .await
            .unwrap_err();
        assert_eq!(
            tenant_access::Error::from(got.clone()).action(),
            Action::AskCustomer,
            "client credentials {error} {codes:?}: {got:?}"
        );
    }
}

// Browser sign-in (authorization code with PKCE): the authorization URL, the redemption
// form, and every refusal a portal must tell apart, with its typed error and action.

const REDIRECT: &str = "https://portal.example.com/authenticate/SignInCallback";

fn with_secret(server: &ServerGuard, secret: Option<&str>) -> EntraProvider {
    let config = match secret {
        Some(secret) => config(server).client_secret(ClientSecret::new(secret)),
        None => config(server),
    };
    EntraProvider::new(config)
        .unwrap()
        .with_clock(Arc::new(clock()))
}

/// Redeems `code` with `verifier` for the sign-in redirect, as the MSP's client with `secret`.
async fn redeem(
    server: &ServerGuard,
    secret: Option<&str>,
    code: &AuthorizationCode,
    verifier: &PkceVerifier,
) -> Result<tenant_access::ports::TokenResponse, ProviderError> {
    let redirect = Url::parse(REDIRECT).unwrap();
    let redemption = CodeRedemption {
        code,
        redirect_uri: &redirect,
        verifier,
    };
    with_secret(server, secret)
        .redeem_code(&target(), redemption)
        .await
}

fn sign_in_kind(e: &ProviderError) -> String {
    match e {
        ProviderError::CodeRefused { reason, .. } => format!("CodeRefused({reason:?})"),
        other => format!("{other:?}")
            .split('(')
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned(),
    }
}

#[tokio::test]
async fn the_authorization_url_names_every_parameter_and_the_s256_challenge() {
    let server = Server::new_async().await;
    let entra = with_secret(&server, Some("msp-secret"));
    let verifier = PkceVerifier::generate();
    let request = AuthorizationRequest {
        redirect_uri: Url::parse(REDIRECT).unwrap(),
        state: SignInState::new("state-123"),
        code_challenge: verifier.challenge(),
        login_hint: Some("admin@contoso.com".into()),
    };
    let url = entra.authorization_url(&target(), &request).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/{TENANT}/oauth2/v2.0/authorize", server.url())
    );
    let expected_challenge =
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()));
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected: Vec<(String, String)> = [
        ("client_id", CLIENT),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("response_mode", "query"),
        ("scope", SCOPE),
        ("state", "state-123"),
        ("code_challenge", expected_challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", "admin@contoso.com"),
        ("prompt", "select_account"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(pairs, expected);
    // The secret never appears in a URL the browser sees.
    assert!(!url.as_str().contains("msp-secret"));
    assert!(!url.as_str().contains(verifier.expose_secret()));
}

#[tokio::test]
async fn redeeming_sends_exactly_the_code_grant_with_the_msps_secret() {
    let mut server = Server::new_async().await;
    let verifier = PkceVerifier::new("verifier-0123456789-0123456789-0123456789");
    let code = AuthorizationCode::new("0.AXkA-code");
    let body = token_body(true);
    let mock = server
        .mock("POST", TOKEN_PATH)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_request(form_is(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("client_secret", "msp-secret"),
            ("code", "0.AXkA-code"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.expose_secret()),
            ("scope", SCOPE),
        ]))
        .with_status(200)
        .with_body(body.clone())
        .expect(1)
        .create_async()
        .await;
    let token = redeem(&server, Some("msp-secret"), &code, &verifier)
        .await
        .unwrap();
    assert_eq!(token.access_token.expose_secret(), jwt(TENANT));
    assert_eq!(
        token.refresh_token.unwrap().expose_secret(),
        "1.AXkA-rotated-refresh-token"
    );
    mock.assert_async().await;

    // Without a configured secret, the client id alone (no empty client_secret field).
    let public = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", "0.AXkA-code"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.expose_secret()),
            ("scope", SCOPE),
        ]))
        .with_status(200)
        .with_body(body)
        .expect(1)
        .create_async()
        .await;
    redeem(&server, None, &code, &verifier).await.unwrap();
    public.assert_async().await;
}

/// HTTP status, `error`, AADSTS code, `suberror`, the expected kind and its action.
type Row = (
    u16,
    &'static str,
    u32,
    Option<&'static str>,
    &'static str,
    Action,
);

#[tokio::test]
async fn every_redemption_refusal_is_typed_with_its_action() {
    let rows: &[Row] = &[
        (
            400,
            "invalid_grant",
            54005,
            None,
            "CodeRefused(AlreadyRedeemed)",
            Action::Reload,
        ),
        (
            400,
            "invalid_grant",
            70008,
            None,
            "CodeRefused(Expired)",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            50148,
            None,
            "CodeRefused(VerifierMismatch)",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            65001,
            Some("consent_required"),
            "ConsentRequired",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            53003,
            Some("basic_action"),
            "ConditionalAccessBlocked",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            90095,
            Some("consent_required"),
            "AdminApprovalRequired",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            50076,
            Some("basic_action"),
            "MfaRequired",
            Action::AskCustomer,
        ),
        (
            401,
            "invalid_client",
            7000215,
            None,
            "Misconfigured",
            Action::FixConfiguration,
        ),
        (
            401,
            "invalid_client",
            7000222,
            None,
            "Misconfigured",
            Action::FixConfiguration,
        ),
    ];
    let verifier = PkceVerifier::generate();
    let code = AuthorizationCode::new("0.AXkA-code");
    for &(status, error, code_number, suberror, expected, action) in rows {
        let mut server = Server::new_async().await;
        let mock = server
            .mock("POST", TOKEN_PATH)
            .with_status(status.into())
            .with_body(entra_error(error, &[code_number], suberror))
            .expect(1)
            .create_async()
            .await;
        let e = redeem(&server, Some("msp-secret"), &code, &verifier)
            .await
            .unwrap_err();
        assert_eq!(sign_in_kind(&e), expected, "AADSTS{code_number}");
        assert_eq!(
            Error::from(e.clone()).action(),
            action,
            "AADSTS{code_number}"
        );
        // A refusal is terminal: one request, never a retry.
        mock.assert_async().await;
        let detail = match &e {
            ProviderError::CodeRefused { detail, .. }
            | ProviderError::ConsentRequired(detail)
            | ProviderError::ConditionalAccessBlocked(detail)
            | ProviderError::AdminApprovalRequired(detail)
            | ProviderError::MfaRequired(detail)
            | ProviderError::Misconfigured(detail) => detail,
            other => panic!("{other:?}"),
        };
        assert_eq!(detail.codes, vec![code_number]);
        assert_eq!(detail.suberror(), suberror, "AADSTS{code_number}");
        assert_eq!(detail.claims().is_some(), error == "interaction_required");
    }
}

#[tokio::test]
async fn the_code_refusal_code_on_a_refresh_still_means_signing_in_again() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", TOKEN_PATH)
        .with_status(400)
        .with_body(entra_error("invalid_grant", &[70008], None))
        .create_async()
        .await;
    let e = with_secret(&server, None)
        .refresh(&target(), &tenant_access::model::RefreshToken::new("1.rt"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::ReauthenticationRequired(_)),
        "{e:?}"
    );
}
