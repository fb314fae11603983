//! Certificate credentials (`private_key_jwt`, RFC 7523) on the wire: what the Entra and OIDC
//! providers send in place of a secret (mockito captures each form and the assertion is
//! verified with the certificate's public key), and FakeEntra checking assertions as Entra
//! does (signature, time, replay) and serving the credential end dates Graph reports.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use mockito::{Matcher, Server, ServerGuard};
use tenant_access::error::ProviderError;
use tenant_access::model::{
    AccessToken, AppCredential, AuthorizationCode, ClientCertificate, ClientSecret, CustomerId,
    Password, PkceVerifier, RefreshToken, TenantId,
};
use tenant_access::ports::{Clock, CodeRedemption};
use tenant_access::provider::entra::{EntraConfig, EntraProvider, RetryPolicy};
use tenant_access::provider::oidc::{ClientAuth, OidcConfig, OidcProvider, Revocable, Validation};
use tenant_access::provider::{IdentityProvider, Target};
use tenant_access::testing::ManualClock;
use tenant_access::testing::assertion::ClientAssertion;
use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest};
use time::OffsetDateTime;
use time::macros::datetime;
use url::Url;

const RSA_A: &str = include_str!("fixtures/certificates/rsa-a.key.pem");
const RSA_B: &str = include_str!("fixtures/certificates/rsa-b.key.pem");
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const APP: &str = "99999999-8888-7777-6666-555555555555";
const NOW: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);

/// A certificate for the PKCS#8 `key` valid from 2026-01-01 to `not_after`.
fn certificate(key: &str, not_after: OffsetDateTime) -> ClientCertificate {
    let pair = rcgen::KeyPair::from_pem(key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["portal.example.com".into()]).unwrap();
    params.not_before = datetime!(2026-01-01 0:00 UTC);
    params.not_after = not_after;
    let cert = params.self_signed(&pair).unwrap();
    ClientCertificate::from_pem(&cert.pem(), &pair.serialize_pem()).unwrap()
}

fn valid(key: &str) -> ClientCertificate {
    certificate(key, datetime!(2027-06-01 0:00 UTC))
}

fn target(tenant: &str) -> Target {
    Target {
        customer: CustomerId::new("contoso").unwrap(),
        tenant: TenantId::new(tenant).unwrap(),
    }
}

type Forms = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

/// Answers `body` to every POST on `path`, keeping each form (and whether it came with an
/// `Authorization` header) in `forms`.
async fn capture(server: &mut ServerGuard, path: &str, body: &str, forms: &Forms) -> mockito::Mock {
    let kept = forms.clone();
    let name = path.to_owned();
    server
        .mock("POST", path)
        .match_request(move |request| {
            let text = request.utf8_lossy_body().unwrap_or_default().into_owned();
            let mut form: BTreeMap<String, String> = url::form_urlencoded::parse(text.as_bytes())
                .into_owned()
                .collect();
            if !request.header("authorization").is_empty() {
                form.insert("(authorization header)".into(), String::new());
            }
            kept.lock().unwrap().push((name.clone(), form));
            true
        })
        .with_header("content-type", "application/json")
        .with_body(body)
        .create_async()
        .await
}

/// Checks one form's client authentication: an assertion and nothing else, signed by
/// `certificate` for exactly `aud`, as `client_id`, issued at `NOW` for 10 minutes. Returns
/// its `jti`.
fn assertion_of(
    form: &BTreeMap<String, String>,
    certificate: &ClientCertificate,
    client_id: &str,
    aud: &str,
) -> String {
    assert!(!form.contains_key("client_secret"), "{form:?}");
    assert!(!form.contains_key("(authorization header)"), "{form:?}");
    assert_eq!(form["client_id"], client_id);
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let assertion =
        ClientAssertion::verify(&form["client_assertion"], std::slice::from_ref(certificate))
            .expect("the assertion verifies with the certificate's public key");
    assert_eq!(assertion.header["alg"], "PS256");
    assert_eq!(assertion.header["typ"], "JWT");
    assert_eq!(assertion.header["x5t#S256"], certificate.thumbprint());
    let claims = &assertion.claims;
    assert_eq!(claims["aud"], aud);
    assert_eq!(claims["iss"], client_id);
    assert_eq!(claims["sub"], client_id);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(iat, NOW.unix_timestamp());
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 600);
    assertion.jti().unwrap().to_owned()
}

fn entra_token_body() -> &'static str {
    r#"{"token_type":"Bearer","scope":"https://graph.microsoft.com/.default","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QifQ.e30.c2ln","refresh_token":"1.rt"}"#
}

fn entra_config(server: &ServerGuard) -> EntraConfig {
    EntraConfig::new(CLIENT)
        .authority(&server.url())
        .unwrap()
        .graph(&server.url())
        .unwrap()
        .retry(RetryPolicy::none())
}

fn entra(config: EntraConfig) -> EntraProvider {
    EntraProvider::new(config)
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(NOW)))
}

#[tokio::test]
async fn entra_sends_a_signed_assertion_for_the_tenants_token_endpoint_on_every_confidential_grant()
{
    let mut server = Server::new_async().await;
    let forms = Forms::default();
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    let device_path = format!("/{TENANT}/oauth2/v2.0/devicecode");
    capture(&mut server, &token_path, entra_token_body(), &forms).await;
    let device_body = r#"{"device_code":"DAQ-1","user_code":"ABCDEFGHI","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"m"}"#;
    capture(&mut server, &device_path, device_body, &forms).await;
    let msp = valid(RSA_A);
    let app = valid(RSA_B);
    let provider = entra(entra_config(&server).client_certificate(msp.clone()));
    let t = target(TENANT);

    provider
        .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
        .await
        .unwrap();
    provider
        .refresh(&t, &RefreshToken::new("1.rt"))
        .await
        .unwrap();
    let redirect = Url::parse("https://portal.example.com/sign-in/callback").unwrap();
    provider
        .redeem_code(
            &t,
            CodeRedemption {
                code: &AuthorizationCode::new("0.AXkA-code"),
                redirect_uri: &redirect,
                verifier: &PkceVerifier::generate(),
            },
        )
        .await
        .unwrap();
    provider
        .client_credentials(&t, APP, &AppCredential::Certificate(app.clone()))
        .await
        .unwrap();
    // Device-code requests stay public (Entra answers AADSTS700025 to a credential there).
    provider.device_authorization(&t).await.unwrap();

    let aud = format!("{}{token_path}", server.url());
    let forms = forms.lock().unwrap().clone();
    assert_eq!(forms.len(), 5);
    let grants: Vec<&str> = forms[..4]
        .iter()
        .map(|(_, f)| f["grant_type"].as_str())
        .collect();
    assert_eq!(
        grants,
        [
            "password",
            "refresh_token",
            "authorization_code",
            "client_credentials"
        ]
    );
    let mut jtis = HashSet::new();
    for (_, form) in &forms[..3] {
        assert!(jtis.insert(assertion_of(form, &msp, CLIENT, &aud)));
    }
    assert!(jtis.insert(assertion_of(&forms[3].1, &app, APP, &aud)));
    let (path, device) = &forms[4];
    assert_eq!(path, &device_path);
    assert!(!device.contains_key("client_assertion"), "{device:?}");
    assert!(!device.contains_key("client_secret"), "{device:?}");
}

#[tokio::test]
async fn entra_refuses_an_expired_certificate_before_any_request() {
    let mut server = Server::new_async().await;
    let token = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let expired = certificate(RSA_A, datetime!(2026-06-01 0:00 UTC));
    let provider = entra(entra_config(&server).client_certificate(expired.clone()));
    let t = target(TENANT);
    let refused = |e: ProviderError| match e {
        ProviderError::Misconfigured(d) => assert_eq!(d.error, "certificate_expired"),
        other => panic!("{other:?}"),
    };
    refused(
        provider
            .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
            .await
            .unwrap_err(),
    );
    refused(
        provider
            .client_credentials(&t, APP, &AppCredential::Certificate(expired))
            .await
            .unwrap_err(),
    );
    token.assert_async().await;
}

#[test]
fn entra_reports_when_its_own_credential_expires() {
    let base = || EntraConfig::new(CLIENT);
    let cert = valid(RSA_A);
    let by_certificate = EntraProvider::new(base().client_certificate(cert.clone())).unwrap();
    let expiry = by_certificate.client_credential_expiry().unwrap();
    assert_eq!(expiry.kind, "certificate");
    assert_eq!(expiry.expires_at, cert.not_after());
    assert!(expiry.name.contains(cert.thumbprint()), "{}", expiry.name);

    let ends = datetime!(2027-02-01 0:00 UTC);
    let by_secret = EntraProvider::new(
        base()
            .client_secret(ClientSecret::new("s"))
            .client_secret_expires_at(ends),
    )
    .unwrap();
    let expiry = by_secret.client_credential_expiry().unwrap();
    assert_eq!((expiry.kind, expiry.expires_at), ("client secret", ends));
    // A secret with no known end date, and no credential at all, say nothing.
    let unknown = EntraProvider::new(base().client_secret(ClientSecret::new("s"))).unwrap();
    assert_eq!(unknown.client_credential_expiry(), None);
    assert_eq!(
        EntraProvider::new(base())
            .unwrap()
            .client_credential_expiry(),
        None
    );
}

#[tokio::test]
async fn entra_reads_an_applications_credential_end_dates_from_graph() {
    let mut server = Server::new_async().await;
    let body = r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#applications(passwordCredentials,keyCredentials)/$entity",
      "passwordCredentials":[{"customKeyIdentifier":null,"displayName":"portal","endDateTime":"2027-03-01T10:00:00.1234567Z","hint":"Abc","keyId":"aaaaaaaa-0000-0000-0000-000000000001","secretText":null,"startDateTime":"2025-03-01T10:00:00Z"}],
      "keyCredentials":[{"customKeyIdentifier":"3F2A","displayName":"CN=portal","endDateTime":"2028-01-01T00:00:00Z","key":null,"keyId":"bbbbbbbb-0000-0000-0000-000000000002","startDateTime":"2026-01-01T00:00:00Z","type":"AsymmetricX509Cert","usage":"Verify"}]}"#;
    let graph = server
        .mock("GET", format!("/v1.0/applications(appId='{APP}')").as_str())
        .match_query(Matcher::UrlEncoded(
            "$select".into(),
            "passwordCredentials,keyCredentials".into(),
        ))
        .match_header("authorization", "Bearer at-1")
        .with_header("content-type", "application/json")
        .with_body(body)
        .create_async()
        .await;
    let provider = entra(entra_config(&server));
    let t = target(TENANT);
    let list = provider
        .app_credential_expiry(&t, &AccessToken::new("at-1"), APP)
        .await
        .unwrap();
    graph.assert_async().await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].kind, "client secret");
    assert_eq!(
        list[0].expires_at.unix_timestamp(),
        datetime!(2027-03-01 10:00 UTC).unix_timestamp()
    );
    assert!(
        list[0].name.contains("portal") && list[0].name.contains("Abc"),
        "{}",
        list[0].name
    );
    assert!(
        list[0]
            .name
            .contains("aaaaaaaa-0000-0000-0000-000000000001")
    );
    assert_eq!(list[1].kind, "certificate");
    assert_eq!(list[1].expires_at, datetime!(2028-01-01 0:00 UTC));
    assert!(list[1].name.contains("CN=portal"));

    // Without Application.Read.All (nor ownership) Graph answers 403: consent is missing.
    server
        .mock("GET", Matcher::Regex("^/v1.0/applications".into()))
        .with_status(403)
        .with_body(r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#)
        .create_async()
        .await;
    match provider
        .app_credential_expiry(&t, &AccessToken::new("at-2"), APP)
        .await
    {
        Err(ProviderError::ConsentRequired(d)) => {
            assert_eq!(d.error, "Authorization_RequestDenied")
        }
        other => panic!("{other:?}"),
    }
    // An application id is a GUID: nothing else is put into the OData key.
    assert!(matches!(
        provider
            .app_credential_expiry(&t, &AccessToken::new("at-2"), "x')/owners?(")
            .await,
        Err(ProviderError::Misconfigured(_))
    ));
}

// ---- OIDC ---------------------------------------------------------------------------------

fn oidc_metadata(issuer: &str, auth_methods: Option<&[&str]>) -> String {
    let mut m = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "device_authorization_endpoint": format!("{issuer}/device"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
    });
    if let Some(methods) = auth_methods {
        m["token_endpoint_auth_methods_supported"] = serde_json::json!(methods);
    }
    m.to_string()
}

async fn oidc_server(auth_methods: Option<&[&str]>) -> ServerGuard {
    let mut server = Server::new_async().await;
    let body = oidc_metadata(&server.url(), auth_methods);
    server
        .mock("GET", "/.well-known/openid-configuration")
        .with_header("content-type", "application/json")
        .with_body(body)
        .create_async()
        .await;
    server
}

fn oidc(server: &ServerGuard, certificate: &ClientCertificate) -> OidcProvider {
    OidcProvider::new(
        OidcConfig::new(&server.url(), "portal")
            .unwrap()
            .client_auth(ClientAuth::PrivateKeyJwt(certificate.clone()))
            .validation(Validation::Introspection)
            .retry(RetryPolicy::none()),
    )
    .unwrap()
    .with_clock(Arc::new(ManualClock::new(NOW)))
}

#[tokio::test]
async fn oidc_private_key_jwt_signs_one_assertion_per_request_for_that_endpoint() {
    let mut server = oidc_server(Some(&["client_secret_basic", "private_key_jwt"])).await;
    let forms = Forms::default();
    let token_body =
        r#"{"access_token":"at-1","token_type":"Bearer","expires_in":600,"refresh_token":"rt-1"}"#;
    capture(&mut server, "/token", token_body, &forms).await;
    let device_body = r#"{"device_code":"dc-1","user_code":"ABCD-EFGH","verification_uri":"https://id.example/device","expires_in":600,"interval":5}"#;
    capture(&mut server, "/device", device_body, &forms).await;
    capture(&mut server, "/revoke", "", &forms).await;
    capture(
        &mut server,
        "/introspect",
        r#"{"active":true,"sub":"alice"}"#,
        &forms,
    )
    .await;
    let msp = valid(RSA_A);
    let app = valid(RSA_B);
    let provider = oidc(&server, &msp);
    let t = target("id.example");

    provider.device_authorization(&t).await.unwrap();
    provider
        .refresh(&t, &RefreshToken::new("rt-1"))
        .await
        .unwrap();
    provider
        .client_credentials(&t, "customer-app", &AppCredential::Certificate(app.clone()))
        .await
        .unwrap();
    provider
        .revoke(Revocable::Refresh(&RefreshToken::new("rt-1")))
        .await
        .unwrap();
    let _ = provider.validate(&t, &AccessToken::new("at-1")).await;

    let forms = forms.lock().unwrap().clone();
    let paths: Vec<&str> = forms.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["/device", "/token", "/token", "/revoke", "/introspect"]
    );
    let mut jtis = HashSet::new();
    for (i, (path, form)) in forms.iter().enumerate() {
        let aud = format!("{}{path}", server.url());
        let (cert, client) = if i == 2 {
            (&app, "customer-app")
        } else {
            (&msp, "portal")
        };
        assert!(jtis.insert(assertion_of(form, cert, client, &aud)));
    }
}

#[tokio::test]
async fn oidc_private_key_jwt_on_a_server_without_it_is_misconfigured_before_any_request() {
    let mut server = oidc_server(Some(&["client_secret_basic", "client_secret_post"])).await;
    let token = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let provider = oidc(&server, &valid(RSA_A));
    match provider
        .refresh(&target("id.example"), &RefreshToken::new("rt"))
        .await
    {
        Err(ProviderError::Misconfigured(d)) => {
            assert_eq!(d.error, "auth_method_not_supported");
            assert!(
                d.description.contains("private_key_jwt"),
                "{}",
                d.description
            );
        }
        other => panic!("{other:?}"),
    }
    token.assert_async().await;
    // A server that does not list its methods is trusted to take it.
    let mut quiet = oidc_server(None).await;
    let forms = Forms::default();
    capture(
        &mut quiet,
        "/token",
        r#"{"access_token":"a","token_type":"Bearer"}"#,
        &forms,
    )
    .await;
    oidc(&quiet, &valid(RSA_A))
        .refresh(&target("id.example"), &RefreshToken::new("rt"))
        .await
        .unwrap();
    assert_eq!(forms.lock().unwrap().len(), 1);
}

#[test]
fn oidc_reports_when_its_certificate_or_secret_expires() {
    let cert = valid(RSA_A);
    let config = |auth| {
        OidcConfig::new("https://id.example", "portal")
            .unwrap()
            .client_auth(auth)
    };
    let provider = OidcProvider::new(config(ClientAuth::PrivateKeyJwt(cert.clone()))).unwrap();
    let expiry = provider.client_credential_expiry().unwrap();
    assert_eq!(
        (expiry.kind, expiry.expires_at),
        ("certificate", cert.not_after())
    );
    let ends = datetime!(2027-02-01 0:00 UTC);
    let provider = OidcProvider::new(
        config(ClientAuth::ClientSecretBasic(ClientSecret::new("s")))
            .client_secret_expires_at(ends),
    )
    .unwrap();
    assert_eq!(
        provider.client_credential_expiry().unwrap().expires_at,
        ends
    );
    let public = OidcProvider::new(config(ClientAuth::None)).unwrap();
    assert_eq!(public.client_credential_expiry(), None);
}

// ---- FakeEntra ----------------------------------------------------------------------------

const CUSTOMER: &str = "contoso.com";

async fn fake_with(msp: &ClientCertificate, clock: &ManualClock) -> FakeEntra {
    FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .client_certificate(msp)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn fake_entra_takes_the_msps_certificate_for_a_password_grant_and_a_refresh() {
    let clock = ManualClock::new(NOW);
    let msp = valid(RSA_A);
    let fake = fake_with(&msp, &clock).await;
    fake.add_user(CUSTOMER, "admin@contoso.com", "pw");
    fake.grant_admin_consent(CUSTOMER, &fake.client_id());
    let provider = fake.provider().unwrap();
    let t = target(CUSTOMER);
    let tokens = provider
        .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
        .await
        .unwrap();
    provider
        .refresh(&t, tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(fake.requests(FakeRequest::ClientAssertion), 2);

    // Another key than the registered one: 700027, the MSP's configuration.
    let other = EntraProvider::new(fake.entra_config().client_certificate(valid(RSA_B)))
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    match other
        .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
        .await
    {
        Err(ProviderError::Misconfigured(d)) => assert_eq!(d.codes, vec![700027]),
        other => panic!("{other:?}"),
    }
    // No credential at all, once the application has a certificate: 7000218.
    let public = EntraProvider::new(
        EntraConfig::new(fake.client_id())
            .authority(fake.url().as_str())
            .unwrap(),
    )
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    match public
        .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
        .await
    {
        Err(ProviderError::Misconfigured(d)) => assert_eq!(d.codes, vec![7000218]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fake_entra_connects_a_customers_app_registration_by_certificate_and_reports_its_end_dates()
{
    let clock = ManualClock::new(NOW);
    let fake = fake_with(&valid(RSA_A), &clock).await;
    let app = valid(RSA_B);
    fake.add_app_certificate(CUSTOMER, APP, &app);
    fake.grant_admin_consent(CUSTOMER, APP);
    let provider = fake.provider().unwrap();
    let t = target(CUSTOMER);
    let tokens = provider
        .client_credentials(&t, APP, &AppCredential::Certificate(app.clone()))
        .await
        .unwrap();
    let info = provider.validate(&t, &tokens.access_token).await.unwrap();
    assert_eq!(info.id, fake.tenant_id(CUSTOMER));

    fake.add_app(CUSTOMER, APP, "Abc-secret");
    let ends = datetime!(2027-04-01 0:00 UTC);
    fake.set_app_secret_expiry(CUSTOMER, APP, ends);
    let list = provider
        .app_credential_expiry(&t, &tokens.access_token, APP)
        .await
        .unwrap();
    let found: Vec<_> = list.iter().map(|c| (c.kind, c.expires_at)).collect();
    assert_eq!(
        found,
        [("client secret", ends), ("certificate", app.not_after())]
    );
    assert_eq!(fake.requests(FakeRequest::Application), 1);

    fake.deny_application_read(CUSTOMER);
    assert!(matches!(
        provider
            .app_credential_expiry(&t, &tokens.access_token, APP)
            .await,
        Err(ProviderError::ConsentRequired(_))
    ));
    assert!(matches!(
        provider
            .app_credential_expiry(&t, &AccessToken::new("not-issued"), APP)
            .await,
        Err(ProviderError::TokenRejected(_))
    ));
}

#[tokio::test]
async fn fake_entra_refuses_an_unregistered_key_a_stale_assertion_and_a_replay() {
    let clock = ManualClock::new(NOW);
    let fake = fake_with(&valid(RSA_A), &clock).await;
    let registered = valid(RSA_B);
    fake.add_app_certificate(CUSTOMER, APP, &registered);
    let t = target(CUSTOMER);
    let provider = fake.provider().unwrap();

    // The customer's app with a key not registered for it: 700027, ask the customer.
    match provider
        .client_credentials(&t, APP, &AppCredential::Certificate(valid(RSA_A)))
        .await
    {
        Err(ProviderError::InvalidClientSecret(d)) => assert_eq!(d.codes, vec![700027]),
        other => panic!("{other:?}"),
    }

    // An assertion signed on a clock 11 minutes behind FakeEntra's has expired there.
    let url = Url::parse(&format!("{}{CUSTOMER}/oauth2/v2.0/token", fake.url())).unwrap();
    let stale = registered
        .client_assertion(APP, &url, clock.now() - time::Duration::minutes(11))
        .unwrap();
    let post = |assertion: String| {
        let url = url.clone();
        async move {
            let answer = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", APP),
                    ("scope", "https://graph.microsoft.com/.default"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = post(stale).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"], serde_json::json!([700024]));

    // A good assertion works once; the same jti again is refused.
    let fresh = registered.client_assertion(APP, &url, clock.now()).unwrap();
    let (status, body) = post(fresh.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(fresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"], serde_json::json!([700024]));

    // For another endpoint (aud): refused, never reaching the grant.
    let elsewhere =
        Url::parse("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token").unwrap();
    let (status, body) = post(
        registered
            .client_assertion(APP, &elsewhere, clock.now())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"], serde_json::json!([50013]));
    assert_eq!(fake.requests(FakeRequest::ClientAssertion), 5);
}
