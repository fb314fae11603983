//! The `oidc` provider against mockito: discovery and its fallbacks, missing endpoints, the
//! exact request of each client authentication method, error mapping, retries on the clock,
//! the PKCE consent step, and browser sign-in (its authorization URL and code redemption).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mockito::{Matcher, Server, ServerGuard};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tenant_access::Action;
use tenant_access::error::CodeRefusal;
use tenant_access::error::ProviderError;
use tenant_access::model::{
    AccessToken, AuthorizationCode, ClientSecret, ConsentState, DeviceCode, Password, PkceVerifier,
    RefreshToken, SignInState,
};
use tenant_access::model::{CustomerId, TenantId};
use tenant_access::ports::{AuthorizationRequest, CodeRedemption};
use tenant_access::provider::oidc::{ClientAuth, Endpoints, OidcConfig, OidcProvider, Revocable};
use tenant_access::provider::{
    AdminConsentRequest, ConsentCallback, DevicePoll, IdentityProvider, RetryPolicy, Target,
};
use tenant_access::{ports::Clock, testing::ManualClock};
use time::macros::datetime;

const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn target() -> Target {
    Target {
        customer: CustomerId::new("fabrikam").unwrap(),
        tenant: TenantId::new("fabrikam.example").unwrap(),
    }
}

fn metadata(issuer: &str, skip: &[&str]) -> String {
    let mut m = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "device_authorization_endpoint": format!("{issuer}/device"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "code_challenge_methods_supported": ["S256"],
    });
    for key in skip {
        m.as_object_mut().unwrap().remove(*key);
    }
    m.to_string()
}

/// A server whose discovery document lists every endpoint but those in `skip`.
async fn discoverable(skip: &[&str]) -> ServerGuard {
    let mut server = Server::new_async().await;
    let body = metadata(&server.url(), skip);
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_header("content-type", "application/json")
        .with_body(body)
        .create_async()
        .await;
    server
}

fn provider(server: &ServerGuard, auth: ClientAuth) -> OidcProvider {
    OidcProvider::new(
        OidcConfig::new(&server.url(), "portal")
            .unwrap()
            .client_auth(auth)
            .retry(RetryPolicy::none()),
    )
    .unwrap()
}

/// Matches a form body whose fields are exactly `expected`.
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

fn token_body() -> &'static str {
    r#"{"access_token":"at-1","token_type":"Bearer","expires_in":600,"refresh_token":"rt-1","scope":"openid offline_access"}"#
}

fn oauth_error(error: &str) -> String {
    serde_json::json!({"error": error, "error_description": "from the server"}).to_string()
}

async fn token_error(server: &mut ServerGuard, status: usize, error: &str) {
    server
        .mock("POST", "/token")
        .with_status(status)
        .with_header("content-type", "application/json")
        .with_body(oauth_error(error))
        .create_async()
        .await;
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn discovery_reads_every_endpoint() {
    let server = discoverable(&[]).await;
    let p = provider(&server, ClientAuth::None);
    let e = p.discover().await.unwrap();
    let base = server.url();
    assert_eq!(e.issuer, base);
    assert_eq!(e.token.as_str(), format!("{base}/token"));
    assert_eq!(
        e.device_authorization.as_ref().unwrap().as_str(),
        format!("{base}/device")
    );
    assert_eq!(
        e.revocation.as_ref().unwrap().as_str(),
        format!("{base}/revoke")
    );
    assert_eq!(
        e.userinfo.as_ref().unwrap().as_str(),
        format!("{base}/userinfo")
    );
    assert_eq!(
        e.introspection.as_ref().unwrap().as_str(),
        format!("{base}/introspect")
    );
    assert_eq!(e.code_challenge_methods, ["S256"]);
}

#[tokio::test]
async fn discovery_falls_back_to_rfc_8414_with_the_issuer_path_after_the_well_known_part() {
    let mut server = Server::new_async().await;
    let issuer = format!("{}/tenants/t1", server.url());
    server
        .mock("GET", "/tenants/t1/.well-known/openid-configuration")
        .with_status(404)
        .create_async()
        .await;
    let rfc8414 = server
        .mock("GET", "/.well-known/oauth-authorization-server/tenants/t1")
        .with_header("content-type", "application/json")
        .with_body(metadata(&issuer, &["userinfo_endpoint"]))
        .expect(1)
        .create_async()
        .await;
    let p = OidcProvider::new(OidcConfig::new(&issuer, "portal").unwrap()).unwrap();
    let e = p.discover().await.unwrap();
    assert_eq!(e.issuer, issuer);
    assert!(e.userinfo.is_none());
    // Cached: a second call makes no request.
    p.discover().await.unwrap();
    rfc8414.assert_async().await;
}

#[tokio::test]
async fn no_metadata_anywhere_is_a_configuration_error() {
    let mut server = Server::new_async().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        server
            .mock("GET", path)
            .with_status(404)
            .create_async()
            .await;
    }
    let p = provider(&server, ClientAuth::None);
    match p.discover().await {
        Err(ProviderError::Misconfigured(d)) => {
            assert_eq!(d.error, "discovery_failed");
            assert!(d.description.contains("oauth-authorization-server"), "{d}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn metadata_for_another_issuer_is_refused() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_body(metadata("https://evil.example", &[]))
        .create_async()
        .await;
    match provider(&server, ClientAuth::None).discover().await {
        Err(ProviderError::Misconfigured(d)) => assert_eq!(d.error, "issuer_mismatch"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn each_missing_endpoint_is_named_when_a_call_needs_it() {
    let t = target();
    let server = discoverable(&[
        "device_authorization_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "introspection_endpoint",
        "authorization_endpoint",
    ])
    .await;
    let p = provider(&server, ClientAuth::None);
    let named = |result: ProviderError, name: &str| match result {
        ProviderError::Misconfigured(d) => {
            assert_eq!(d.error, "missing_endpoint");
            assert!(d.description.contains(name), "{d}");
        }
        other => panic!("{name}: {other:?}"),
    };
    named(
        p.device_authorization(&t).await.unwrap_err(),
        "device_authorization_endpoint",
    );
    named(
        p.revoke(Revocable::Refresh(&RefreshToken::new("r")))
            .await
            .unwrap_err(),
        "revocation_endpoint",
    );
    named(
        p.validate(&t, &AccessToken::new("a")).await.unwrap_err(),
        "userinfo_endpoint",
    );
    let request = AdminConsentRequest {
        client_id: "portal".into(),
        redirect_uri: "https://portal.example.com/cb".parse().unwrap(),
        state: ConsentState::new("s"),
    };
    named(
        p.admin_consent_url(&t, &request).unwrap_err(),
        "authorization_endpoint",
    );
}

#[tokio::test]
async fn consent_url_before_discovery_is_a_clear_error() {
    let server = discoverable(&[]).await;
    let p = provider(&server, ClientAuth::None);
    let request = AdminConsentRequest {
        client_id: "portal".into(),
        redirect_uri: "https://portal.example.com/cb".parse().unwrap(),
        state: ConsentState::new("s"),
    };
    match p.admin_consent_url(&target(), &request) {
        Err(ProviderError::Misconfigured(d)) => assert_eq!(d.error, "not_discovered"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Client authentication: the exact request of each method

#[tokio::test]
async fn client_secret_basic_sends_an_encoded_authorization_header_and_no_secret_in_the_body() {
    let mut server = discoverable(&[]).await;
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    let expected = format!("Basic {}", STANDARD.encode("portal:s%3Ac+r%2Fet"));
    let m = server
        .mock("POST", "/token")
        .match_header("authorization", expected.as_str())
        .match_request(form_is(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-0"),
        ]))
        .with_body(token_body())
        .create_async()
        .await;
    let p = provider(
        &server,
        ClientAuth::ClientSecretBasic(ClientSecret::new("s:c r/et")),
    );
    let token = p
        .refresh(&target(), &RefreshToken::new("rt-0"))
        .await
        .unwrap();
    assert_eq!(token.access_token.expose_secret(), "at-1");
    assert_eq!(token.expires_in, Duration::from_secs(600));
    m.assert_async().await;
}

#[tokio::test]
async fn client_secret_post_puts_both_in_the_body_and_sends_no_authorization_header() {
    let mut server = discoverable(&[]).await;
    let m = server
        .mock("POST", "/device")
        .match_header("authorization", Matcher::Missing)
        .match_request(form_is(&[
            ("scope", "openid offline_access"),
            ("client_id", "portal"),
            ("client_secret", "post-secret"),
        ]))
        .with_body(
            r#"{"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"https://id.example/device","expires_in":600}"#,
        )
        .create_async()
        .await;
    let p = provider(
        &server,
        ClientAuth::ClientSecretPost(ClientSecret::new("post-secret")),
    );
    let auth = p.device_authorization(&target()).await.unwrap();
    assert_eq!(auth.user_code, "ABCD-EFGH");
    assert_eq!(auth.interval, Duration::from_secs(5), "RFC 8628 default");
    m.assert_async().await;
}

#[tokio::test]
async fn a_public_client_sends_only_its_id() {
    let mut server = discoverable(&[]).await;
    let m = server
        .mock("POST", "/token")
        .match_header("authorization", Matcher::Missing)
        .match_request(form_is(&[
            ("grant_type", DEVICE),
            ("device_code", "dc"),
            ("client_id", "portal"),
        ]))
        .with_body(token_body())
        .create_async()
        .await;
    let p = provider(&server, ClientAuth::None);
    let poll = p
        .poll_device_code(&target(), &DeviceCode::new("dc"))
        .await
        .unwrap();
    assert!(matches!(poll, DevicePoll::Granted(t) if t.refresh_token.is_some()));
    m.assert_async().await;
}

#[tokio::test]
async fn client_credentials_authenticate_as_the_customers_app() {
    let mut server = discoverable(&[]).await;
    let expected = format!("Basic {}", STANDARD.encode("customer-app:app-secret"));
    let m = server
        .mock("POST", "/token")
        .match_header("authorization", expected.as_str())
        .match_request(form_is(&[
            ("grant_type", "client_credentials"),
            ("scope", "api.read"),
        ]))
        .with_body(r#"{"access_token":"cc","token_type":"bearer","expires_in":300}"#)
        .create_async()
        .await;
    let p = OidcProvider::new(
        OidcConfig::new(&server.url(), "portal")
            .unwrap()
            .client_credentials_scope("api.read"),
    )
    .unwrap();
    let token = p
        .client_credentials(
            &target(),
            "customer-app",
            &ClientSecret::new("app-secret").into(),
        )
        .await
        .unwrap();
    assert!(token.refresh_token.is_none());
    m.assert_async().await;
}

#[tokio::test]
async fn revocation_sends_the_token_and_its_type_hint() {
    let mut server = discoverable(&[]).await;
    let m = server
        .mock("POST", "/revoke")
        .match_request(form_is(&[
            ("token", "at-9"),
            ("token_type_hint", "access_token"),
            ("client_id", "portal"),
            ("client_secret", "pw"),
        ]))
        .with_status(200)
        .create_async()
        .await;
    let p = provider(
        &server,
        ClientAuth::ClientSecretPost(ClientSecret::new("pw")),
    );
    p.revoke(Revocable::Access(&AccessToken::new("at-9")))
        .await
        .unwrap();
    m.assert_async().await;
}

// ---------------------------------------------------------------------------------------------
// Error mapping

#[tokio::test]
async fn device_poll_errors_map_onto_poll_answers() {
    for (error, expected) in [
        ("authorization_pending", "Pending"),
        ("slow_down", "SlowDown"),
        ("access_denied", "Declined"),
        ("expired_token", "Expired"),
        ("invalid_grant", "Expired"),
        ("consent_required", "ConsentRequired"),
    ] {
        let mut server = discoverable(&[]).await;
        token_error(&mut server, 400, error).await;
        let poll = provider(&server, ClientAuth::None)
            .poll_device_code(&target(), &DeviceCode::new("dc"))
            .await
            .unwrap();
        let got = match poll {
            DevicePoll::Pending => "Pending",
            DevicePoll::SlowDown => "SlowDown",
            DevicePoll::Declined => "Declined",
            DevicePoll::Expired => "Expired",
            DevicePoll::ConsentRequired => "ConsentRequired",
            other => panic!("{error}: {other:?}"),
        };
        assert_eq!(got, expected, "{error}");
    }
}

/// Issue 17 item 9: `suberror` and `claims` survive on every refusal, the claims as the raw
/// string and, when it parses, as JSON (a server that sends an object instead of a string is
/// tolerated).
#[tokio::test]
async fn suberror_and_claims_are_kept_on_refusals() {
    let raw = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
    for claims in [serde_json::json!(raw), serde_json::from_str(raw).unwrap()] {
        let mut server = discoverable(&[]).await;
        let body = serde_json::json!({
            "error": "interaction_required",
            "error_description": "step up",
            "suberror": "basic_action",
            "claims": claims,
        });
        server
            .mock("POST", "/token")
            .with_status(400)
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
            .create_async()
            .await;
        let error = provider(&server, ClientAuth::None)
            .password_grant(&target(), "alice", &Password::new("pw"))
            .await
            .unwrap_err();
        let ProviderError::MfaRequired(detail) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(detail.suberror(), Some("basic_action"));
        let kept = detail.claims().expect("claims kept");
        assert_eq!(
            kept.parsed().unwrap()["access_token"]["acrs"]["value"],
            "c1"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(kept.raw()).unwrap(),
            serde_json::from_str::<serde_json::Value>(raw).unwrap()
        );
    }
}

#[tokio::test]
async fn token_errors_map_onto_provider_errors() {
    let t = target();
    let mut server = discoverable(&[]).await;
    token_error(&mut server, 400, "invalid_grant").await;
    let p = provider(&server, ClientAuth::None);
    assert!(matches!(
        p.refresh(&t, &RefreshToken::new("dead")).await.unwrap_err(),
        ProviderError::ReauthenticationRequired(d) if d.error == "invalid_grant" && d.description == "from the server"
    ));
    assert!(matches!(
        p.password_grant(&t, "alice", &Password::new("wrong"))
            .await
            .unwrap_err(),
        ProviderError::InvalidCredentials(_)
    ));

    let mut server = Server::new_async().await;
    let body = metadata(&server.url(), &[]);
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_body(body)
        .create_async()
        .await;
    token_error(&mut server, 401, "invalid_client").await;
    assert!(matches!(
        provider(&server, ClientAuth::None)
            .client_credentials(&t, "app", &ClientSecret::new("bad").into())
            .await
            .unwrap_err(),
        ProviderError::InvalidClientSecret(_)
    ));

    for (error, misconfigured) in [
        ("invalid_scope", true),
        ("unauthorized_client", true),
        ("unsupported_grant_type", true),
        ("something_new", false),
    ] {
        let mut server = discoverable(&[]).await;
        token_error(&mut server, 400, error).await;
        let e = provider(&server, ClientAuth::None)
            .refresh(&t, &RefreshToken::new("r"))
            .await
            .unwrap_err();
        match (misconfigured, &e) {
            (true, ProviderError::Misconfigured(d)) | (false, ProviderError::Other(d)) => {
                assert_eq!(d.error, error)
            }
            _ => panic!("{error}: {e:?}"),
        }
    }
}

#[tokio::test]
async fn a_5xx_is_retried_after_retry_after_on_the_clock() {
    let mut server = discoverable(&[]).await;
    let failing = server
        .mock("POST", "/token")
        .with_status(503)
        .with_header("retry-after", "7")
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("POST", "/token")
        .with_body(token_body())
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let p = OidcProvider::new(OidcConfig::new(&server.url(), "portal").unwrap())
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let started = clock.now();
    let token = p.refresh(&target(), &RefreshToken::new("r")).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "at-1");
    failing.assert_async().await;
    ok.assert_async().await;
    assert_eq!(clock.now() - started, Duration::from_secs(7));
}

/// A clock given after construction (as the engine gives its own) is the one retries wait on,
/// in every clone.
#[tokio::test]
async fn a_clock_given_after_construction_is_waited_on_by_every_clone() {
    let mut server = discoverable(&[]).await;
    server
        .mock("POST", "/token")
        .with_status(503)
        .with_header("retry-after", "7")
        .expect(1)
        .create_async()
        .await;
    server
        .mock("POST", "/token")
        .with_body(token_body())
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let p = OidcProvider::new(OidcConfig::new(&server.url(), "portal").unwrap()).unwrap();
    let clone = p.clone();
    assert!(p.use_clock(Arc::new(clock.clone())));
    let started = clock.now();
    clone
        .refresh(&target(), &RefreshToken::new("r"))
        .await
        .unwrap();
    assert_eq!(clock.now() - started, Duration::from_secs(7));
}

#[tokio::test]
async fn an_oversized_metadata_body_is_an_invalid_response() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_body(vec![b' '; 1024 * 1024 + 1])
        .create_async()
        .await;
    assert!(matches!(
        provider(&server, ClientAuth::None).discover().await,
        Err(ProviderError::InvalidResponse(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Validation

#[tokio::test]
async fn userinfo_validation_maps_claims_and_checks_the_issuer() {
    let mut server = discoverable(&["introspection_endpoint"]).await;
    let issuer = server.url();
    server
        .mock("GET", "/userinfo")
        .match_header("authorization", "Bearer at-1")
        .with_body(
            serde_json::json!({"sub": "alice", "org": "fabrikam.example", "iss": issuer})
                .to_string(),
        )
        .create_async()
        .await;
    let p = OidcProvider::new(
        OidcConfig::new(&issuer, "portal")
            .unwrap()
            .tenant_claim("org"),
    )
    .unwrap();
    let info = p
        .validate(&target(), &AccessToken::new("at-1"))
        .await
        .unwrap();
    assert_eq!(info.id, "fabrikam.example");
    assert_eq!(info.domains, ["fabrikam.example", "127.0.0.1"]);

    // A refused token (RFC 6750 §3.1) is a rejected token, keeping the server's words; with
    // no error body, the status says it.
    server
        .mock("GET", "/userinfo")
        .match_header("authorization", "Bearer revoked")
        .with_status(401)
        .with_header(
            "www-authenticate",
            r#"Bearer error="invalid_token", error_description="invalid token provided""#,
        )
        .with_body(r#"{"error":"invalid_token","error_description":"invalid token provided"}"#)
        .create_async()
        .await;
    server
        .mock("GET", "/userinfo")
        .match_header("authorization", "Bearer bare")
        .with_status(401)
        .create_async()
        .await;
    match p.validate(&target(), &AccessToken::new("revoked")).await {
        Err(ProviderError::TokenRejected(d)) => {
            assert_eq!(d.error, "invalid_token");
            assert_eq!(d.description, "invalid token provided");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.validate(&target(), &AccessToken::new("bare")).await,
        Err(ProviderError::TokenRejected(d)) if d.error == "invalid_token" && d.description.contains("401")
    ));

    // A configured tenant claim that is missing is an invalid response.
    let p = OidcProvider::new(
        OidcConfig::new(&issuer, "portal")
            .unwrap()
            .tenant_claim("tid"),
    )
    .unwrap();
    assert!(matches!(
        p.validate(&target(), &AccessToken::new("at-1")).await,
        Err(ProviderError::InvalidResponse(m)) if m.contains("tid")
    ));
}

#[tokio::test]
async fn introspection_is_used_by_confidential_clients_and_inactive_tokens_fail() {
    let mut server = discoverable(&[]).await;
    let issuer = server.url();
    server
        .mock("POST", "/introspect")
        .match_request(form_is(&[
            ("token", "good"),
            ("token_type_hint", "access_token"),
            ("client_id", "portal"),
            ("client_secret", "pw"),
        ]))
        .with_body(serde_json::json!({"active": true, "iss": issuer, "sub": "x"}).to_string())
        .create_async()
        .await;
    server
        .mock("POST", "/introspect")
        .match_request(|r| r.utf8_lossy_body().unwrap().contains("token=old"))
        .with_body(r#"{"active":false}"#)
        .create_async()
        .await;
    server
        .mock("POST", "/introspect")
        .match_request(|r| r.utf8_lossy_body().unwrap().contains("token=foreign"))
        .with_body(r#"{"active":true,"iss":"https://elsewhere.example"}"#)
        .create_async()
        .await;
    let p = provider(
        &server,
        ClientAuth::ClientSecretPost(ClientSecret::new("pw")),
    );
    let info = p
        .validate(&target(), &AccessToken::new("good"))
        .await
        .unwrap();
    assert_eq!(info.id, "127.0.0.1", "no tenant claim: the issuer's host");
    assert!(matches!(
        p.validate(&target(), &AccessToken::new("old")).await,
        Err(ProviderError::TokenRejected(d)) if d.error == "invalid_token"
    ));
    assert!(matches!(
        p.validate(&target(), &AccessToken::new("foreign")).await,
        Err(ProviderError::InvalidResponse(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Consent: authorization code with PKCE

#[tokio::test]
async fn consent_redeems_the_code_with_the_verifier_of_the_challenge_sent() {
    let mut server = discoverable(&[]).await;
    let redirect = "https://portal.example.com/cb";
    let p = OidcProvider::new(
        OidcConfig::new(&server.url(), "portal")
            .unwrap()
            .client_auth(ClientAuth::ClientSecretBasic(ClientSecret::new("pw")))
            .redirect_uri(redirect)
            .unwrap()
            .pkce_key([7; 32]),
    )
    .unwrap();
    p.discover().await.unwrap();
    let state = ConsentState::new("st-1");
    let url = p
        .admin_consent_url(
            &target(),
            &AdminConsentRequest {
                client_id: "customer-app".into(),
                redirect_uri: redirect.parse().unwrap(),
                state: state.clone(),
            },
        )
        .unwrap();
    assert_eq!(url.path(), "/authorize");
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    // Always the configured client: the only one that can redeem the code.
    assert_eq!(q["client_id"], "portal");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["redirect_uri"], redirect);
    assert_eq!(q["code_challenge_method"], "S256");
    let challenge = q["code_challenge"].clone();

    // The token request must carry a verifier whose S256 is the challenge.
    let m = server
        .mock("POST", "/token")
        .match_request(move |r| {
            let body = r.utf8_lossy_body().unwrap().into_owned();
            let f: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            f.get("grant_type").map(String::as_str) == Some("authorization_code")
                && f.get("code").map(String::as_str) == Some("the-code")
                && f.get("redirect_uri").map(String::as_str) == Some(redirect)
                && f.get("code_verifier").is_some_and(|v| {
                    (43..=128).contains(&v.len())
                        && URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == challenge
                })
        })
        .with_body(token_body())
        .expect(1)
        .create_async()
        .await;
    let ok = ConsentCallback::from_query("code=the-code&state=st-1").unwrap();
    p.verify_admin_consent(&target(), &state, &ok)
        .await
        .unwrap();
    m.assert_async().await;

    let wrong = ConsentCallback::from_query("code=the-code&state=other").unwrap();
    assert!(matches!(
        p.verify_admin_consent(&target(), &state, &wrong).await,
        Err(ProviderError::ConsentCallback(_))
    ));
    let declined =
        ConsentCallback::from_query("error=access_denied&error_description=no&state=st-1").unwrap();
    assert!(matches!(
        p.verify_admin_consent(&target(), &state, &declined).await,
        Err(ProviderError::ConsentDeclined(d)) if d.error == "access_denied"
    ));
}

#[tokio::test]
async fn consent_is_refused_when_the_server_lacks_s256() {
    let mut server = Server::new_async().await;
    let mut m: serde_json::Value = serde_json::from_str(&metadata(&server.url(), &[])).unwrap();
    m["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_body(m.to_string())
        .create_async()
        .await;
    let p = provider(&server, ClientAuth::None);
    p.discover().await.unwrap();
    let request = AdminConsentRequest {
        client_id: "portal".into(),
        redirect_uri: "https://portal.example.com/cb".parse().unwrap(),
        state: ConsentState::new("s"),
    };
    assert!(matches!(
        p.admin_consent_url(&target(), &request),
        Err(ProviderError::Misconfigured(d)) if d.error == "pkce_unsupported"
    ));
}

// ---------------------------------------------------------------------------------------------
// Browser sign-in: authorization code with PKCE

/// RFC 7636 appendix B's verifier, and its S256 challenge computed here (not by the crate).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const SIGN_IN_REDIRECT: &str = "https://portal.example.com/sign-in/callback";

fn sign_in_request(login_hint: Option<&str>) -> AuthorizationRequest {
    AuthorizationRequest {
        redirect_uri: SIGN_IN_REDIRECT.parse().unwrap(),
        state: SignInState::new("fabrikam.st-1"),
        code_challenge: PkceVerifier::new(VERIFIER).challenge(),
        login_hint: login_hint.map(str::to_owned),
    }
}

#[tokio::test]
async fn sign_in_url_carries_exactly_the_request_and_the_s256_of_the_verifier() {
    let server = discoverable(&[]).await;
    let p = provider(&server, ClientAuth::None);
    p.discover().await.unwrap();
    let url = p
        .authorization_url(&target(), &sign_in_request(Some("admin@fabrikam.example")))
        .unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/authorize", server.url())
    );
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let expected: BTreeMap<String, String> = [
        ("response_type", "code"),
        ("client_id", "portal"),
        ("redirect_uri", SIGN_IN_REDIRECT),
        ("scope", "openid offline_access"),
        ("state", "fabrikam.st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        // offline_access asks for consent (OpenID Connect Core §11); login, so the person at
        // the browser signs in now.
        ("prompt", "login consent"),
        ("login_hint", "admin@fabrikam.example"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(q, expected);

    // Without offline_access no consent is forced, and no hint is sent without one.
    let p = OidcProvider::new(
        OidcConfig::new(&server.url(), "portal")
            .unwrap()
            .scopes(["openid"]),
    )
    .unwrap();
    p.discover().await.unwrap();
    let url = p
        .authorization_url(&target(), &sign_in_request(None))
        .unwrap();
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["scope"], "openid");
    assert!(!q.contains_key("login_hint"), "{url}");
}

#[tokio::test]
async fn sign_in_url_needs_discovery_an_authorization_endpoint_and_s256() {
    let request = sign_in_request(None);
    let server = discoverable(&[]).await;
    let p = provider(&server, ClientAuth::None);
    match p.authorization_url(&target(), &request) {
        Err(ProviderError::Misconfigured(d)) => assert_eq!(d.error, "not_discovered"),
        other => panic!("{other:?}"),
    }

    let server = discoverable(&["authorization_endpoint"]).await;
    let p = provider(&server, ClientAuth::None);
    p.discover().await.unwrap();
    match p.authorization_url(&target(), &request) {
        Err(ProviderError::Misconfigured(d)) => {
            assert_eq!(d.error, "missing_endpoint");
            assert!(d.description.contains("authorization_endpoint"), "{d}");
        }
        other => panic!("{other:?}"),
    }

    let mut server = Server::new_async().await;
    let mut m: serde_json::Value = serde_json::from_str(&metadata(&server.url(), &[])).unwrap();
    m["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_body(m.to_string())
        .create_async()
        .await;
    let p = provider(&server, ClientAuth::None);
    p.discover().await.unwrap();
    let refused = p.authorization_url(&target(), &request).unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Misconfigured(d) if d.error == "pkce_unsupported"),
        "{refused:?}"
    );
    assert_eq!(
        tenant_access::Error::from(refused).action(),
        Action::FixConfiguration
    );
}

/// Redeems `code` with [`VERIFIER`] at `p`.
async fn redeem(
    p: &OidcProvider,
    code: &str,
) -> Result<tenant_access::provider::TokenResponse, ProviderError> {
    let verifier = PkceVerifier::new(VERIFIER);
    let redirect = SIGN_IN_REDIRECT.parse().unwrap();
    p.redeem_code(
        &target(),
        CodeRedemption {
            code: &AuthorizationCode::new(code),
            redirect_uri: &redirect,
            verifier: &verifier,
        },
    )
    .await
}

#[tokio::test]
async fn sign_in_code_is_redeemed_with_the_verifier_as_each_kind_of_client() {
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", "the-code"),
        ("redirect_uri", SIGN_IN_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut fields = grant.to_vec();
        fields.extend_from_slice(extra);
        fields
    };

    // Confidential, client_secret_basic: the secret in the header only.
    let mut server = discoverable(&[]).await;
    let m = server
        .mock("POST", "/token")
        .match_header(
            "authorization",
            format!("Basic {}", STANDARD.encode("portal:pw")).as_str(),
        )
        .match_request(form_is(&grant))
        .with_body(token_body())
        .expect(1)
        .create_async()
        .await;
    let p = provider(
        &server,
        ClientAuth::ClientSecretBasic(ClientSecret::new("pw")),
    );
    let token = redeem(&p, "the-code").await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "at-1");
    assert_eq!(token.refresh_token.unwrap().expose_secret(), "rt-1");
    m.assert_async().await;

    // Confidential, client_secret_post: id and secret in the form.
    let mut server = discoverable(&[]).await;
    let m = server
        .mock("POST", "/token")
        .match_header("authorization", Matcher::Missing)
        .match_request(form_is(&with(&[
            ("client_id", "portal"),
            ("client_secret", "post-secret"),
        ])))
        .with_body(token_body())
        .expect(1)
        .create_async()
        .await;
    let p = provider(
        &server,
        ClientAuth::ClientSecretPost(ClientSecret::new("post-secret")),
    );
    redeem(&p, "the-code").await.unwrap();
    m.assert_async().await;

    // Public: only its id; the PKCE verifier is what proves it is the requester.
    let mut server = discoverable(&[]).await;
    let m = server
        .mock("POST", "/token")
        .match_header("authorization", Matcher::Missing)
        .match_request(form_is(&with(&[("client_id", "portal")])))
        .with_body(token_body())
        .expect(1)
        .create_async()
        .await;
    let p = provider(&server, ClientAuth::None);
    redeem(&p, "the-code").await.unwrap();
    m.assert_async().await;
}

#[tokio::test]
async fn a_refused_sign_in_code_is_code_refused_asking_for_a_new_sign_in() {
    // What a standard server says for a used, expired or mismatched code alike
    // (oidc-provider's own words): no reason can be read, so Expired, whose Action is the
    // right one for all three. Never AlreadyRedeemed, whose reload would not help.
    let refused = |description: &'static str| async move {
        let mut server = discoverable(&[]).await;
        server
            .mock("POST", "/token")
            .with_status(400)
            .with_header("content-type", "application/json")
            .with_body(
                serde_json::json!({"error": "invalid_grant", "error_description": description})
                    .to_string(),
            )
            .create_async()
            .await;
        redeem(&provider(&server, ClientAuth::None), "dead-code")
            .await
            .unwrap_err()
    };
    let got = refused("grant request is invalid").await;
    match &got {
        ProviderError::CodeRefused { reason, detail } => {
            assert_eq!(*reason, CodeRefusal::Expired);
            assert_eq!(detail.error, "invalid_grant");
            assert_eq!(detail.description, "grant request is invalid");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        tenant_access::Error::from(got).action(),
        Action::AskCustomer
    );

    // A server that names the verifier (Keycloak's words) is read as such.
    let got = refused("PKCE verification failed: Code mismatch").await;
    assert!(
        matches!(
            &got,
            ProviderError::CodeRefused {
                reason: CodeRefusal::VerifierMismatch,
                ..
            }
        ),
        "{got:?}"
    );
    assert_eq!(
        tenant_access::Error::from(got).action(),
        Action::AskCustomer
    );
}

#[tokio::test]
async fn the_msps_client_refused_on_sign_in_redemption_is_configuration() {
    for (status, error) in [(401, "invalid_client"), (400, "invalid_client")] {
        let mut server = discoverable(&[]).await;
        token_error(&mut server, status, error).await;
        let p = provider(
            &server,
            ClientAuth::ClientSecretBasic(ClientSecret::new("old")),
        );
        let got = redeem(&p, "the-code").await.unwrap_err();
        assert!(
            matches!(&got, ProviderError::Misconfigured(d) if d.error == "invalid_client"),
            "{status}: {got:?}"
        );
        assert_eq!(
            tenant_access::Error::from(got).action(),
            Action::FixConfiguration
        );
    }
}

#[tokio::test]
async fn the_consent_steps_refused_code_stays_a_consent_callback_error() {
    // The same invalid_grant on the consent step's redemption keeps its own reading, which
    // the consent journey relies on.
    let mut server = discoverable(&[]).await;
    token_error(&mut server, 400, "invalid_grant").await;
    let p = OidcProvider::new(
        OidcConfig::new(&server.url(), "portal")
            .unwrap()
            .redirect_uri("https://portal.example.com/cb")
            .unwrap(),
    )
    .unwrap();
    let state = ConsentState::new("st-1");
    let callback = ConsentCallback::from_query("code=dead&state=st-1").unwrap();
    assert!(matches!(
        p.verify_admin_consent(&target(), &state, &callback).await,
        Err(ProviderError::ConsentCallback(_))
    ));
}

#[test]
fn endpoints_can_be_given_by_hand() {
    let e = Endpoints::new(
        "https://id.example",
        "https://id.example/token".parse().unwrap(),
    );
    let p = OidcProvider::with_endpoints(
        OidcConfig::new("https://id.example", "portal").unwrap(),
        e.clone(),
    )
    .unwrap();
    assert!(format!("{p:?}").contains("\"/token\""), "{p:?}");
    let secret = format!(
        "{:?}",
        OidcConfig::new("https://id.example", "portal")
            .unwrap()
            .client_auth(ClientAuth::ClientSecretPost(ClientSecret::new("hunter2")))
    );
    assert!(!secret.contains("hunter2"), "{secret}");
}

// ---------------------------------------------------------------------------------------------
// Issue 17: errors and their Action

/// Every request the MSP's own client makes, each refused by every endpoint with
/// `status`/`body`: what each one answered. Introspection only for a confidential client.
async fn msp_requests_refused(
    status: usize,
    body: &str,
    auth: ClientAuth,
) -> Vec<(&'static str, ProviderError)> {
    let mut got = Vec::new();
    let confidential = !matches!(auth, ClientAuth::None);
    for request in [
        "device authorization",
        "poll",
        "password",
        "refresh",
        "code redemption",
        "revocation",
        "introspection",
    ] {
        if request == "introspection" && !confidential {
            continue;
        }
        let mut server = discoverable(&[]).await;
        let path = match request {
            "device authorization" => "/device",
            "revocation" => "/revoke",
            "introspection" => "/introspect",
            _ => "/token",
        };
        let m = server
            .mock("POST", path)
            .with_status(status)
            .with_header("content-type", "application/json")
            .with_body(body)
            .expect(1)
            .create_async()
            .await;
        let redirect = "https://portal.example.com/cb";
        let p = OidcProvider::new(
            OidcConfig::new(&server.url(), "portal")
                .unwrap()
                .client_auth(auth.clone())
                .redirect_uri(redirect)
                .unwrap()
                .pkce_key([7; 32])
                .retry(RetryPolicy::none()),
        )
        .unwrap();
        p.discover().await.unwrap();
        let t = target();
        let error = match request {
            "device authorization" => p.device_authorization(&t).await.map(|_| ()),
            "poll" => p
                .poll_device_code(&t, &DeviceCode::new("dc"))
                .await
                .map(|_| ()),
            "password" => p
                .password_grant(&t, "alice", &Password::new("pw"))
                .await
                .map(|_| ()),
            "refresh" => p.refresh(&t, &RefreshToken::new("r")).await.map(|_| ()),
            "code redemption" => {
                let state = ConsentState::new("st-1");
                p.admin_consent_url(
                    &t,
                    &AdminConsentRequest {
                        client_id: "portal".into(),
                        redirect_uri: redirect.parse().unwrap(),
                        state: state.clone(),
                    },
                )
                .unwrap();
                let callback = ConsentCallback::from_query("code=the-code&state=st-1").unwrap();
                p.verify_admin_consent(&t, &state, &callback).await
            }
            "revocation" => p.revoke(Revocable::Refresh(&RefreshToken::new("r"))).await,
            _ => p.validate(&t, &AccessToken::new("at")).await.map(|_| ()),
        }
        .unwrap_err();
        m.assert_async().await;
        got.push((request, error));
    }
    got
}

/// Item 7: the MSP's own client failing to authenticate is `FixConfiguration` on every request
/// it makes, with or without a secret; only a customer's app registration failing client
/// credentials asks the customer.
#[tokio::test]
async fn the_msps_client_failing_is_configuration_a_customers_app_asks_the_customer() {
    for (status, error) in [
        (401, "invalid_client"),
        (400, "invalid_client"),
        (401, "unauthorized"),
    ] {
        for auth in [
            ClientAuth::None,
            ClientAuth::ClientSecretPost(ClientSecret::new("expired")),
        ] {
            for (request, got) in msp_requests_refused(status, &oauth_error(error), auth).await {
                assert!(
                    matches!(&got, ProviderError::Misconfigured(d) if d.error == error),
                    "{request} {status} {error}: {got:?}"
                );
                assert_eq!(
                    tenant_access::Error::from(got).action(),
                    Action::FixConfiguration,
                    "{request} {status} {error}"
                );
            }
        }
        let mut server = discoverable(&[]).await;
        token_error(&mut server, status, error).await;
        let got = provider(&server, ClientAuth::None)
            .client_credentials(
                &target(),
                "customer-app",
                &ClientSecret::new("wrong").into(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&got, ProviderError::InvalidClientSecret(d) if d.error == error),
            "{got:?}"
        );
        assert_eq!(
            tenant_access::Error::from(got).action(),
            Action::AskCustomer
        );
    }
}

/// Item 4: a refusal that is not `temporarily_unavailable` (nor a 429/5xx) is terminal: one
/// request, never `Retry`; a malformed or oversized answer retries after a bounded backoff.
#[tokio::test]
async fn unknown_refusals_are_terminal_and_malformed_answers_back_off() {
    let auth = || ClientAuth::ClientSecretPost(ClientSecret::new("pw"));
    // (`invalid_grant` on a poll is a dead device code: `Expired`, tested above.)
    for error in ["something_new", "invalid_target", "server_error"] {
        for (request, got) in msp_requests_refused(400, &oauth_error(error), auth()).await {
            let action = tenant_access::Error::from(got.clone()).action();
            assert!(
                !matches!(action, Action::Retry { .. }),
                "{request} {error}: {got:?} says {action:?}"
            );
        }
    }
    for (request, got) in
        msp_requests_refused(400, &oauth_error("temporarily_unavailable"), auth()).await
    {
        assert_eq!(
            tenant_access::Error::from(got).action(),
            Action::Retry {
                after: Action::DEFAULT_RETRY_AFTER
            },
            "{request}"
        );
    }
    let huge = format!(r#"{{"error":"{}"}}"#, "x".repeat(1024 * 1024 + 1));
    for body in ["<html>Bad Request</html>", huge.as_str()] {
        for (request, got) in msp_requests_refused(400, body, auth()).await {
            assert!(
                matches!(got, ProviderError::InvalidResponse(_)),
                "{request}: {got:?}"
            );
            assert_eq!(
                tenant_access::Error::from(got).action(),
                Action::Retry {
                    after: Action::SLOW_RETRY_AFTER
                },
                "{request}"
            );
        }
    }
}
