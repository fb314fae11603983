//! The `oidc` provider against a real, independent, OpenID Certified authorization server:
//! panva's `oidc-provider` (npm), run with Node on 127.0.0.1 from tests/support/oidc-server.
//!
//! Needs `npm ci --prefix tests/support/oidc-server` once; without it every test fails and says
//! so. Each test starts its own server on a free port (so control calls never cross tests) and
//! drives the real `TenantAccess` engine on a `ManualClock`; the only real wait is the one
//! second a short-lived device code needs to expire on the server.
//!
//! The `private_key_jwt` tests (at the end) sign their assertions with a certificate made at
//! run time for tests/fixtures/certificates/rsa-b.key.pem, whose public key server.mjs
//! registers for `portal-jwt`; their worlds' clocks start near the wall clock, since the
//! server checks the assertions' times against its own.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use std::time::Duration;
use tenant_access::error::{CodeRefusal, Error, FlowError, ProviderError};
use tenant_access::journey::{Claimed, DeviceCodeIssued, SignInOutcome, TokenAcquired};
use tenant_access::model::{
    AccessToken, AuthorizationCode, ClientCertificate, ClientSecret, ConsentState, DeviceCode,
};
use tenant_access::model::{CustomerId, TenantId};
use tenant_access::ports::{CodeRedemption, SignInCallback};
use tenant_access::provider::oidc::{ClientAuth, OidcConfig, OidcProvider, Revocable, Validation};
use tenant_access::provider::{
    AdminConsentRequest, ConsentCallback, DevicePoll, IdentityProvider, Target,
};
use tenant_access::store::MemoryStore;
use tenant_access::testing::CaptureMailer;
use tenant_access::{
    AnyOnboarding, Config, NewCustomer, Onboarding, PollOutcome, RefreshOutcome, TenantAccess,
};
use tenant_access::{ports::Clock, testing::ManualClock};
use time::OffsetDateTime;
use time::macros::datetime;

const TENANT: &str = "fabrikam.example";
const REDIRECT: &str = "http://127.0.0.1/callback";
/// The key whose public half server.mjs registers for `portal-jwt`.
const RSA_B: &str = include_str!("fixtures/certificates/rsa-b.key.pem");
/// Another key, which the server does not know.
const RSA_A: &str = include_str!("fixtures/certificates/rsa-a.key.pem");

/// A self-signed certificate for the PKCS#8 `key`, made now with rcgen (valid for as long as
/// rcgen's defaults say: 1975 to 4096).
fn certificate(key: &str) -> ClientCertificate {
    let pair = rcgen::KeyPair::from_pem(key).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["portal".into()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    ClientCertificate::from_pem(&cert.pem(), &pair.serialize_pem()).unwrap()
}

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/oidc-server")
}

/// One oidc-provider process; killed on drop (and it exits by itself when its stdin closes).
struct OidcServer {
    child: Child,
    _stdin: ChildStdin,
    issuer: String,
    http: reqwest::Client,
}

impl OidcServer {
    fn start() -> Self {
        let dir = server_dir();
        assert!(
            dir.join("node_modules/oidc-provider/package.json").exists(),
            "\n\nThe OIDC integration tests need the test server's npm packages. Install them with:\n\n    npm ci --prefix tests/support/oidc-server\n\n(from the repository root; Node.js >= 20 and npm are required)\n"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg(port.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`node` must be on PATH to run the OIDC integration tests");
        let stdin = child.stdin.take().unwrap();
        // Pass the server's stderr on, without its start-up warnings about the development
        // keys and adapter this test server uses on purpose.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if !line.starts_with("oidc-provider WARNING")
                    && !line.starts_with("oidc-provider NOTICE")
                {
                    eprintln!("oidc-server: {line}");
                }
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let issuer = loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("ready ") => break line[6..].to_owned(),
                Some(Ok(_)) => {}
                other => panic!("the OIDC test server did not start: {other:?}"),
            }
            assert!(started.elapsed().as_secs() < 30, "server start timed out");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            _stdin: stdin,
            issuer,
            http: reqwest::Client::new(),
        }
    }

    async fn control(&self, path: &str, query: &[(&str, &str)]) {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .query(query)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "control {path}: {}",
            response.text().await.unwrap()
        );
    }

    async fn approve(&self, user_code: &str) {
        self.control("/control/device/approve", &[("user_code", user_code)])
            .await;
    }

    async fn deny(&self, user_code: &str) {
        self.control("/control/device/deny", &[("user_code", user_code)])
            .await;
    }

    async fn slow_down_next_poll(&self) {
        self.control("/control/slow-down", &[("count", "1")]).await;
    }

    fn config(&self, client: &str, auth: ClientAuth) -> OidcConfig {
        OidcConfig::new(&self.issuer, client)
            .unwrap()
            .client_auth(auth)
            .scopes(["openid", "offline_access"])
            .user_agent("tenant-access-tests/1")
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct World {
    server: OidcServer,
    provider: OidcProvider,
    clock: ManualClock,
    ta: TenantAccess,
    mailer: CaptureMailer,
}

async fn world_with(server: OidcServer, config: OidcConfig) -> World {
    world_at(server, config, datetime!(2026-11-23 10:00 UTC)).await
}

/// A world whose clock starts at `start`.
async fn world_at(server: OidcServer, config: OidcConfig, start: OffsetDateTime) -> World {
    let clock = ManualClock::new(start);
    let provider = OidcProvider::new(config)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    provider.discover().await.unwrap();
    let mailer = CaptureMailer::new();
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .consent_client_id("portal-basic")
                .consent_redirect_url(REDIRECT)
                // Registered for portal-basic and portal-public in server.mjs.
                .sign_in_redirect_url(REDIRECT)
                .build()
                .unwrap(),
        )
        .store(MemoryStore::new())
        .mailer(mailer.clone())
        .provider(provider.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    World {
        server,
        provider,
        clock,
        ta,
        mailer,
    }
}

/// The MSP portal as a confidential `client_secret_basic` client, validating by introspection
/// and reading the tenant from the server's `tenant` claim.
async fn basic_world() -> World {
    let server = OidcServer::start();
    let config = server
        .config(
            "portal-basic",
            ClientAuth::ClientSecretBasic(ClientSecret::new("basic-secret")),
        )
        .tenant_claim("tenant")
        .redirect_uri(REDIRECT)
        .unwrap();
    world_with(server, config).await
}

/// The MSP portal as `portal-jwt`, authenticating with a certificate for `key`
/// (`private_key_jwt`, a fresh assertion per request), validating by introspection and reading
/// the tenant from the `tenant` claim.
///
/// The server checks each assertion's `nbf` and `exp` against its own clock (15 s tolerance),
/// and the assertions are stamped with this world's clock: it starts a minute before the wall
/// clock, so the assertions (ten minutes long) stay good while a test moves it on by up to a
/// minute.
async fn jwt_world(key: &str) -> World {
    let server = OidcServer::start();
    let config = server
        .config("portal-jwt", ClientAuth::PrivateKeyJwt(certificate(key)))
        .tenant_claim("tenant")
        .redirect_uri(REDIRECT)
        .unwrap();
    let start = ManualClock::starting_now().now() - Duration::from_secs(60);
    world_at(server, config, start).await
}

async fn claimed(w: &World, id: &str, tenant: &str) -> Onboarding<Claimed> {
    let admin = format!("admin@{id}.example");
    let new = NewCustomer::new(id, tenant, admin.as_str()).unwrap();
    w.ta.invite(new).await.unwrap().send(&w.ta).await.unwrap();
    let code = w.mailer.last_code_to(&admin).unwrap();
    let AnyOnboarding::InvitationSent(sent) = w.ta.open_invitation(&code).await.unwrap() else {
        panic!("a fresh invitation is in InvitationSent")
    };
    sent.claim(&w.ta).await.unwrap()
}

async fn device(w: &World, id: &str, tenant: &str) -> Onboarding<DeviceCodeIssued> {
    claimed(w, id, tenant)
        .await
        .start_device_code(&w.ta)
        .await
        .unwrap()
}

async fn poll_once(w: &World, d: Onboarding<DeviceCodeIssued>) -> PollOutcome {
    w.clock.sleep_until(d.stage().next_poll_at).await;
    d.poll(&w.ta).await.unwrap()
}

fn provider_error(e: &Error) -> &ProviderError {
    match e {
        Error::Provider(p) => p,
        other => panic!("not a provider error: {other:?}"),
    }
}

fn target(tenant: &str) -> Target {
    Target {
        customer: CustomerId::new("direct").unwrap(),
        tenant: TenantId::new(tenant).unwrap(),
    }
}

#[tokio::test]
async fn device_flow_approved_validated_refreshed_and_revoked() {
    let w = basic_world().await;
    let d = device(&w, "fabrikam", TENANT).await;
    assert_eq!(
        d.stage().verification_uri().as_str(),
        format!("{}/device", w.server.issuer)
    );
    // A standards server sends the one-click link (RFC 8628 §3.3.1): kept and offered.
    let one_click = d
        .stage()
        .verification_uri_complete()
        .expect("oidc-provider sends one");
    assert_eq!(one_click.path(), d.stage().verification_uri().path());
    assert!(
        one_click
            .query_pairs()
            .any(|(k, v)| k == "user_code" && v == d.stage().user_code()),
        "{one_click}"
    );

    let PollOutcome::Pending(d) = poll_once(&w, d).await else {
        panic!("nobody approved yet: authorization_pending")
    };
    w.server.approve(d.stage().user_code()).await;
    let PollOutcome::Authenticated(token) = poll_once(&w, d).await else {
        panic!("approved")
    };
    let tokens = token.customer().token.clone().unwrap();
    assert!(tokens.refresh_token.is_some(), "offline_access was granted");
    assert_eq!(tokens.expires_at, w.clock.now() + Duration::from_secs(3600));

    // Validation by introspection: the server's `tenant` claim is the invited tenant.
    let connected = token.validate(&w.ta).await.unwrap();
    let info = connected.customer().tenant_info.clone().unwrap();
    assert_eq!(info.id, TENANT);
    assert_eq!(info.display_name, w.server.issuer);
    assert_eq!(info.domains, [TENANT, "127.0.0.1"]);

    // Refresh through the engine, then validate the new access token.
    w.clock.advance(Duration::from_secs(50 * 60));
    let RefreshOutcome::Refreshed(connected) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("the refresh token is alive")
    };
    let refreshed = connected.customer().token.clone().unwrap();
    assert_ne!(
        refreshed.access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );
    let connected = connected.verify(&w.ta).await.unwrap();

    // Customer removal: revoke the refresh token (RFC 7009). The grant is gone, so the next
    // refresh is invalid_grant, which the engine turns into re-authentication.
    let refresh_token = refreshed.refresh_token.clone().unwrap();
    w.provider
        .revoke(Revocable::Refresh(&refresh_token))
        .await
        .unwrap();
    // Revoking again is still a success (RFC 7009 §2.2).
    w.provider
        .revoke(Revocable::Refresh(&refresh_token))
        .await
        .unwrap();
    let RefreshOutcome::ReauthRequired(_) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("the refresh token was revoked")
    };
}

#[tokio::test]
async fn revoked_access_token_fails_validation() {
    let w = basic_world().await;
    let d = device(&w, "fabrikam", TENANT).await;
    w.server.approve(d.stage().user_code()).await;
    let PollOutcome::Authenticated(token) = poll_once(&w, d).await else {
        panic!("approved")
    };
    let access = token.customer().token.clone().unwrap().access_token;
    w.provider.revoke(Revocable::Access(&access)).await.unwrap();
    // Introspection answers `active: false`: a rejected token, typed (issue 17 item 10).
    let rejected = token.validate(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::TokenRejected(d) if d.error == "invalid_token"
    ));
}

/// A public client validating through userinfo (tenant claim `tenant`), and the token its
/// customer got once approved.
async fn public_userinfo_token() -> (World, Onboarding<TokenAcquired>) {
    let server = OidcServer::start();
    let config = server
        .config("portal-public", ClientAuth::None)
        .validation(Validation::Userinfo)
        .tenant_claim("tenant");
    let w = world_with(server, config).await;
    let d = device(&w, "fabrikam", TENANT).await;
    w.server.approve(d.stage().user_code()).await;
    let PollOutcome::Authenticated(token) = poll_once(&w, d).await else {
        panic!("approved")
    };
    (w, token)
}

#[tokio::test]
async fn userinfo_refuses_a_revoked_access_token_as_rejected() {
    let (w, token) = public_userinfo_token().await;
    let access = token.customer().token.clone().unwrap().access_token;
    let t = target(TENANT);
    w.provider.validate(&t, &access).await.unwrap();
    w.provider.revoke(Revocable::Access(&access)).await.unwrap();
    // oidc-provider's userinfo answers HTTP 401 `invalid_token` (RFC 6750 §3.1).
    match w.provider.validate(&t, &access).await {
        Err(ProviderError::TokenRejected(d)) => assert_eq!(d.error, "invalid_token"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn device_flow_denied_goes_back_to_claimed() {
    // A client_secret_post client this time.
    let server = OidcServer::start();
    let config = server.config(
        "portal-post",
        ClientAuth::ClientSecretPost(ClientSecret::new("post-secret")),
    );
    let w = world_with(server, config).await;
    let d = device(&w, "fabrikam", TENANT).await;
    w.server.deny(d.stage().user_code()).await;
    let PollOutcome::Declined(claimed) = poll_once(&w, d).await else {
        panic!("access_denied is a decline")
    };
    // The customer can start again with a new device code.
    let again = claimed.start_device_code(&w.ta).await.unwrap();
    w.server.approve(again.stage().user_code()).await;
    assert!(matches!(
        poll_once(&w, again).await,
        PollOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn slow_down_widens_the_interval_then_userinfo_validates_a_public_client() {
    // A public client (auth method `none`) validates through userinfo; with no tenant claim
    // configured the tenant is the issuer's host.
    let server = OidcServer::start();
    let config = server.config("portal-public", ClientAuth::None);
    let w = world_with(server, config).await;
    let d = device(&w, "loopback", "127.0.0.1").await;
    assert_eq!(d.stage().interval, Duration::from_secs(5));
    w.server.slow_down_next_poll().await;
    let PollOutcome::SlowDown(d) = poll_once(&w, d).await else {
        panic!("slow_down was armed")
    };
    assert_eq!(d.stage().interval, Duration::from_secs(10));
    assert_eq!(
        d.stage().next_poll_at,
        w.clock.now() + Duration::from_secs(10)
    );
    w.server.approve(d.stage().user_code()).await;
    let PollOutcome::Authenticated(token) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("approved")
    };
    let connected = token.validate(&w.ta).await.unwrap();
    let info = connected.customer().tenant_info.clone().unwrap();
    assert_eq!(info.id, "127.0.0.1");
    assert_eq!(info.domains, ["127.0.0.1"]);
}

#[tokio::test]
async fn public_client_refresh_rotates_and_reuse_needs_reauthentication() {
    let (w, token) = public_userinfo_token().await;
    let connected = token.validate(&w.ta).await.unwrap();
    let first = connected.customer().token.clone().unwrap();
    let t = target(TENANT);
    let old = first.refresh_token.clone().unwrap();
    let fresh = w.provider.refresh(&t, &old).await.unwrap();
    let rotated = fresh
        .refresh_token
        .expect("public clients get rotated tokens");
    assert_ne!(rotated.expose_secret(), old.expose_secret());
    // The rotated-out refresh token is dead (and oidc-provider revokes the whole grant on
    // reuse): re-authentication.
    assert!(matches!(
        w.provider.refresh(&t, &old).await.unwrap_err(),
        ProviderError::ReauthenticationRequired(d) if d.error == "invalid_grant"
    ));
}

#[tokio::test]
async fn device_code_expires_on_the_server() {
    // portal-shortlived's device codes live one second on the server. The engine would stop
    // polling by itself at expires_at, so this asks the provider directly: the server's own
    // `expired_token` answer is DevicePoll::Expired.
    let server = OidcServer::start();
    let provider = OidcProvider::new(server.config("portal-shortlived", ClientAuth::None)).unwrap();
    let t = target(TENANT);
    let auth = provider.device_authorization(&t).await.unwrap();
    assert_eq!(auth.expires_in, Duration::from_secs(1));
    assert!(matches!(
        provider
            .poll_device_code(&t, &auth.device_code)
            .await
            .unwrap(),
        DevicePoll::Pending
    ));
    let started = Instant::now();
    let expired = loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        match provider
            .poll_device_code(&t, &auth.device_code)
            .await
            .unwrap()
        {
            DevicePoll::Pending => assert!(started.elapsed().as_secs() < 5, "never expired"),
            other => break other,
        }
    };
    assert!(matches!(expired, DevicePoll::Expired), "{expired:?}");

    // An unknown device code (invalid_grant) is expired too.
    assert!(matches!(
        provider
            .poll_device_code(&t, &DeviceCode::new("no-such-code"))
            .await
            .unwrap(),
        DevicePoll::Expired
    ));
}

#[tokio::test]
async fn client_credentials_app_registration_through_the_engine() {
    let w = basic_world().await;
    let new = NewCustomer::new("fabrikam", TENANT, "it@fabrikam.example").unwrap();
    let consent =
        w.ta.connect_app_registration(new, "customer-app", ClientSecret::new("app-secret"))
            .await
            .unwrap();
    // The consent URL is the server's authorization endpoint with PKCE.
    let url = consent.stage().admin_consent_url().clone();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/auth?", w.server.issuer))
    );
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(query.contains(&("code_challenge_method".into(), "S256".into())));
    assert!(query.contains(&("response_type".into(), "code".into())));

    let token = consent.acquire_token(&w.ta).await.unwrap();
    assert!(
        token
            .customer()
            .token
            .as_ref()
            .unwrap()
            .refresh_token
            .is_none()
    );
    // Introspected by the portal's client; the token carries the tenant claim.
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        TENANT
    );

    // A wrong secret is the customer's to fix.
    let new = NewCustomer::new("litware", TENANT, "it@litware.example").unwrap();
    let consent =
        w.ta.connect_app_registration(new, "customer-app", ClientSecret::new("wrong"))
            .await
            .unwrap();
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::InvalidClientSecret(d) if d.error == "invalid_client"
    ));
}

/// What a browser does with the consent URL against the real server: follow it to the sign-in
/// interaction, sign in and consent (the control endpoint stands in for the pages), and come
/// back to the portal's redirect URI. Returns that redirect.
async fn consent_in_browser(server: &OidcServer, url: &url::Url) -> url::Url {
    in_browser(server, url, Human::Approves).await
}

/// What the scripted human does on the server's sign-in pages.
#[derive(Clone, Copy)]
enum Human {
    /// Signs in as the test account and grants what was asked.
    Approves,
    /// Clicks "Cancel" (the redirect carries `error=access_denied`).
    Cancels,
}

/// A browser on an authorization URL (consent step or sign-in) against the real server:
/// follows it to the interaction, lets `human` finish or abort it (a control endpoint stands
/// in for the pages), resumes with the authorization endpoint's cookies, and returns the
/// redirect back to the portal.
async fn in_browser(server: &OidcServer, url: &url::Url, human: Human) -> url::Url {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303, "{url}");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let uid = location
        .strip_prefix("/interaction/")
        .unwrap_or_else(|| panic!("not an interaction: {location}"))
        .to_owned();
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let control = match human {
        Human::Approves => "finish",
        Human::Cancels => "abort",
    };
    let finished: serde_json::Value = browser
        .post(format!("{}/control/interaction/{control}", server.issuer))
        .query(&[("uid", uid.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let return_to = finished["returnTo"].as_str().unwrap().to_owned();
    let response = browser
        .get(&return_to)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "{return_to}");
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location).unwrap()
}

#[tokio::test]
async fn consent_step_is_an_authorization_code_with_pkce_redeemed_at_the_real_server() {
    let w = basic_world().await;
    let new = NewCustomer::new("fabrikam", TENANT, "it@fabrikam.example").unwrap();
    let consent =
        w.ta.connect_app_registration(new, "customer-app", ClientSecret::new("app-secret"))
            .await
            .unwrap();
    let url = consent.stage().admin_consent_url().clone();

    // A callback with the right state but a code the server never issued is refused by the
    // server, and the journey stays where it was.
    let redirect = consent_in_browser(&w.server, &url).await;
    assert!(redirect.as_str().starts_with(REDIRECT), "{redirect}");
    let callback = ConsentCallback::from_url(&redirect).unwrap();
    assert!(callback.code.is_some());
    let forged = ConsentCallback::from_query(&format!(
        "code={}&state={}",
        "not-the-code",
        callback.state.as_ref().unwrap().expose_secret()
    ))
    .unwrap();
    let rejected = consent.complete_consent(&w.ta, &forged).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::ConsentCallback(_)
    ));
    let consent = rejected.into_onboarding();

    // The real callback: the code is redeemed with the PKCE verifier, then the app's
    // client-credentials token is acquired.
    let token = consent.complete_consent(&w.ta, &callback).await.unwrap();
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        TENANT
    );

    // A code is good once: replaying the callback fails at the server.
    let direct = w
        .provider
        .verify_admin_consent(&target(TENANT), callback.state.as_ref().unwrap(), &callback)
        .await;
    assert!(
        matches!(direct, Err(ProviderError::ConsentCallback(_))),
        "{direct:?}"
    );
}

#[tokio::test]
async fn consent_url_carries_a_pkce_challenge_the_verifier_matches() {
    let w = basic_world().await;
    let state = ConsentState::new("state-1");
    let url = w
        .provider
        .admin_consent_url(
            &target(TENANT),
            &AdminConsentRequest {
                client_id: "portal-basic".into(),
                redirect_uri: REDIRECT.parse().unwrap(),
                state: state.clone(),
            },
        )
        .unwrap();
    // The server accepts the request: a redirect into its sign-in interaction, not an error
    // redirect to the client (a bad PKCE challenge or redirect URI would be one).
    let location = consent_in_browser(&w.server, &url).await;
    let callback = ConsentCallback::from_url(&location).unwrap();
    assert!(callback.error.is_none(), "{location}");
    assert!(callback.state.unwrap().ct_eq(&state));
}

#[tokio::test]
async fn removing_a_customer_revokes_its_tokens_at_the_server() {
    let w = basic_world().await;
    let d = device(&w, "fabrikam", TENANT).await;
    w.server.approve(d.stage().user_code()).await;
    let PollOutcome::Authenticated(token) = poll_once(&w, d).await else {
        panic!("approved")
    };
    let connected = token.validate(&w.ta).await.unwrap();
    let tokens = connected.customer().token.clone().unwrap();
    // The engine's revoke calls RFC 7009 before it drops the secrets.
    let revoked = connected.revoke(&w.ta).await.unwrap();
    assert!(revoked.customer().token.is_none());
    // The server no longer honours either token.
    let target = tenant_access::provider::Target {
        customer: tenant_access::CustomerId::new("fabrikam").unwrap(),
        tenant: tenant_access::TenantId::new(TENANT).unwrap(),
    };
    let again = w
        .provider
        .refresh(&target, tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(again, ProviderError::ReauthenticationRequired(_)),
        "{again:?}"
    );
    assert!(
        w.provider
            .validate(&target, &tokens.access_token)
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Browser sign-in (authorization code with PKCE), a scripted human on the server's pages

/// The claimed customer `fabrikam`, its browser sign-in started.
async fn browser_sign_in(w: &World) -> Onboarding<tenant_access::journey::BrowserSignIn> {
    claimed(w, "fabrikam", TENANT)
        .await
        .start_browser_sign_in(&w.ta)
        .await
        .unwrap()
}

#[tokio::test]
async fn browser_sign_in_approved_is_authenticated_validated_and_its_code_is_good_once() {
    let w = basic_world().await;
    let pending = browser_sign_in(&w).await;
    let url = pending.stage().authorize_url().clone();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/auth?", w.server.issuer)),
        "{url}"
    );
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(query.contains(&("login_hint".into(), "admin@fabrikam.example".into())));
    assert!(query.contains(&("prompt".into(), "login consent".into())));
    let verifier = pending.stage().verifier.clone();

    let redirect = in_browser(&w.server, &url, Human::Approves).await;
    assert!(redirect.as_str().starts_with(REDIRECT), "{redirect}");
    let callback = SignInCallback::from_url(&redirect).unwrap();
    assert!(callback.error.is_none(), "{redirect}");
    let SignInOutcome::Authenticated(token) = pending.complete(&w.ta, &callback).await.unwrap()
    else {
        panic!("the customer approved")
    };
    // prompt=consent kept offline_access (oidc-provider drops it otherwise): a refresh token.
    let tokens = token.customer().token.clone().unwrap();
    assert!(tokens.refresh_token.is_some(), "offline_access was granted");
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        TENANT
    );
    assert!(matches!(
        w.ta.load(&connected.customer().id).await.unwrap(),
        AnyOnboarding::Validated(_)
    ));

    // The code is good once, even with the right verifier and redirect: the server refuses
    // it, which reads as a code to sign in again for.
    let redirect_uri: url::Url = REDIRECT.parse().unwrap();
    let again = w
        .provider
        .redeem_code(
            &target(TENANT),
            CodeRedemption {
                code: callback.code.as_ref().unwrap(),
                redirect_uri: &redirect_uri,
                verifier: &verifier,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &again,
            ProviderError::CodeRefused { reason: CodeRefusal::Expired, detail }
                if detail.error == "invalid_grant"
        ),
        "{again:?}"
    );
    // And a code the server never issued reads the same.
    let forged = w
        .provider
        .redeem_code(
            &target(TENANT),
            CodeRedemption {
                code: &AuthorizationCode::new("not-a-code"),
                redirect_uri: &redirect_uri,
                verifier: &verifier,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(forged, ProviderError::CodeRefused { .. }),
        "{forged:?}"
    );
}

#[tokio::test]
async fn browser_sign_in_with_another_verifier_is_refused_by_the_server() {
    // The PKCE binding is real: the server's code, redeemed with a verifier other than the
    // one whose challenge the request carried, is refused.
    let w = basic_world().await;
    let pending = browser_sign_in(&w).await;
    let redirect = in_browser(&w.server, pending.stage().authorize_url(), Human::Approves).await;
    let callback = SignInCallback::from_url(&redirect).unwrap();
    let redirect_uri: url::Url = REDIRECT.parse().unwrap();
    let other = tenant_access::model::PkceVerifier::generate();
    let refused = w
        .provider
        .redeem_code(
            &target(TENANT),
            CodeRedemption {
                code: callback.code.as_ref().unwrap(),
                redirect_uri: &redirect_uri,
                verifier: &other,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ProviderError::CodeRefused { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn browser_sign_in_cancelled_goes_back_to_claimed_and_can_start_again() {
    let w = basic_world().await;
    let pending = browser_sign_in(&w).await;
    let redirect = in_browser(&w.server, pending.stage().authorize_url(), Human::Cancels).await;
    assert!(redirect.as_str().starts_with(REDIRECT), "{redirect}");
    let callback = SignInCallback::from_url(&redirect).unwrap();
    assert_eq!(callback.error.as_deref(), Some("access_denied"));
    assert!(callback.code.is_none());
    let SignInOutcome::Cancelled(claimed) = pending.complete(&w.ta, &callback).await.unwrap()
    else {
        panic!("the customer cancelled")
    };
    assert!(claimed.customer().token.is_none());
    let stored = w.ta.load(&claimed.customer().id).await.unwrap();
    assert!(matches!(stored, AnyOnboarding::Claimed(_)), "{stored:?}");

    // The cancelled sign-in's state no longer counts.
    let replayed = w.ta.complete_sign_in(&callback).await.unwrap_err();
    assert!(
        matches!(replayed, Error::Flow(FlowError::SignInStateMismatch)),
        "{replayed:?}"
    );

    // A new sign-in works, this time approved.
    let again = claimed.start_browser_sign_in(&w.ta).await.unwrap();
    let redirect = in_browser(&w.server, again.stage().authorize_url(), Human::Approves).await;
    let callback = SignInCallback::from_url(&redirect).unwrap();
    assert!(matches!(
        again.complete(&w.ta, &callback).await.unwrap(),
        SignInOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn browser_sign_in_completes_through_tenant_access_from_the_redirect_alone() {
    // The portal's callback handler has only the redirect: TenantAccess finds the journey by
    // its state. A public client this time (no secret; the PKCE verifier is the proof),
    // validating through userinfo.
    let server = OidcServer::start();
    let config = server
        .config("portal-public", ClientAuth::None)
        .validation(Validation::Userinfo)
        .tenant_claim("tenant");
    let w = world_with(server, config).await;
    let pending = browser_sign_in(&w).await;
    let url = pending.stage().authorize_url().clone();
    drop(pending);

    let redirect = in_browser(&w.server, &url, Human::Approves).await;
    let callback = SignInCallback::from_url(&redirect).unwrap();
    let SignInOutcome::Authenticated(token) = w.ta.complete_sign_in(&callback).await.unwrap()
    else {
        panic!("the customer approved")
    };
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        TENANT
    );
    let stored = w.ta.load(&connected.customer().id).await.unwrap();
    assert!(matches!(stored, AnyOnboarding::Validated(_)), "{stored:?}");

    // The same redirect again (a reload of the callback page): its state was used.
    assert!(matches!(
        w.ta.complete_sign_in(&callback).await.unwrap_err(),
        Error::Flow(FlowError::SignInStateMismatch)
    ));
}

// ---------------------------------------------------------------------------------------------
// private_key_jwt (RFC 7523): the portal's certificate, checked by the real server

#[tokio::test]
async fn private_key_jwt_device_flow_approved_validated_refreshed_and_revoked() {
    // Every request below (device authorization, each poll, introspection, refresh,
    // revocation) is authenticated by its own assertion: oidc-provider refuses a reused one
    // ("client assertion tokens must only be used once").
    let w = jwt_world(RSA_B).await;
    let d = device(&w, "fabrikam", TENANT).await;
    let PollOutcome::Pending(d) = poll_once(&w, d).await else {
        panic!("nobody approved yet: authorization_pending")
    };
    w.server.approve(d.stage().user_code()).await;
    let PollOutcome::Authenticated(token) = poll_once(&w, d).await else {
        panic!("approved")
    };
    let tokens = token.customer().token.clone().unwrap();
    assert!(tokens.refresh_token.is_some(), "offline_access was granted");
    assert_eq!(tokens.expires_at, w.clock.now() + Duration::from_secs(3600));

    // Introspected by the portal's client: the server's `tenant` claim.
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        TENANT
    );

    // Refreshed (the clock stays put: the assertion is stamped with it).
    let RefreshOutcome::Refreshed(connected) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("the refresh token is alive")
    };
    let refreshed = connected.customer().token.clone().unwrap();
    assert_ne!(
        refreshed.access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );
    let connected = connected.verify(&w.ta).await.unwrap();

    // Revocation (RFC 7009) with the assertion too: the access token no longer introspects
    // as active, and the revoked refresh token needs re-authentication.
    let t = target(TENANT);
    w.provider
        .revoke(Revocable::Access(&refreshed.access_token))
        .await
        .unwrap();
    let rejected = w
        .provider
        .validate(&t, &refreshed.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(&rejected, ProviderError::TokenRejected(d) if d.error == "invalid_token"),
        "{rejected:?}"
    );
    w.provider
        .revoke(Revocable::Refresh(
            refreshed.refresh_token.as_ref().unwrap(),
        ))
        .await
        .unwrap();
    let RefreshOutcome::ReauthRequired(_) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("the refresh token was revoked")
    };
}

#[tokio::test]
async fn private_key_jwt_app_registration_gets_a_client_credentials_token() {
    // A customer's app registration with a certificate (here the same registered client):
    // the client-credentials grant carries an assertion signed with its key.
    let w = jwt_world(RSA_B).await;
    let new = NewCustomer::new("fabrikam", TENANT, "it@fabrikam.example").unwrap();
    let consent =
        w.ta.connect_app_registration(new, "portal-jwt", certificate(RSA_B))
            .await
            .unwrap();
    let token = consent.acquire_token(&w.ta).await.unwrap();
    let tokens = token.customer().token.clone().unwrap();
    assert!(tokens.refresh_token.is_none());
    let connected = token.validate(&w.ta).await.unwrap();
    assert_eq!(
        connected.customer().tenant_info.as_ref().unwrap().id,
        TENANT
    );
    // Renewal is another client-credentials grant, with another assertion.
    let RefreshOutcome::Refreshed(connected) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("client credentials renew")
    };
    assert_ne!(
        connected
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret(),
        tokens.access_token.expose_secret()
    );

    // A certificate for a key the server does not know: the customer's credential is wrong,
    // theirs to fix.
    let new = NewCustomer::new("litware", TENANT, "it@litware.example").unwrap();
    let consent =
        w.ta.connect_app_registration(new, "portal-jwt", certificate(RSA_A))
            .await
            .unwrap();
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(
        matches!(
            provider_error(rejected.error()),
            ProviderError::InvalidClientSecret(d) if d.error == "invalid_client"
        ),
        "{:?}",
        rejected.error()
    );
}

#[tokio::test]
async fn private_key_jwt_with_another_key_is_refused_as_misconfigured() {
    // The MSP's own client signing with a key the server does not have for it: every request
    // is refused (`invalid_client`), which is the MSP's configuration to fix. The provider
    // runs on the system clock here.
    let server = OidcServer::start();
    let wrong = OidcProvider::new(
        server.config("portal-jwt", ClientAuth::PrivateKeyJwt(certificate(RSA_A))),
    )
    .unwrap();
    let t = target(TENANT);
    let refused = wrong.device_authorization(&t).await.unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Misconfigured(d) if d.error == "invalid_client"),
        "{refused:?}"
    );
    let refused = wrong
        .poll_device_code(&t, &DeviceCode::new("no-such-code"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Misconfigured(d) if d.error == "invalid_client"),
        "{refused:?}"
    );
    let refused = wrong
        .revoke(Revocable::Access(&AccessToken::new("no-such-token")))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Misconfigured(d) if d.error == "invalid_client"),
        "{refused:?}"
    );

    // The right key, at the same server, on the system clock: accepted.
    let right = OidcProvider::new(
        server.config("portal-jwt", ClientAuth::PrivateKeyJwt(certificate(RSA_B))),
    )
    .unwrap();
    right.device_authorization(&t).await.unwrap();
    right
        .revoke(Revocable::Access(&AccessToken::new("no-such-token")))
        .await
        .unwrap();
}
