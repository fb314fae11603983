//! Every journey through the real engine and the real Entra provider, over HTTP, against
//! FakeEntra. Time is a ManualClock shared by the engine, the provider's retries and the fake,
//! so nothing sleeps.

mod support;

use std::sync::Arc;

use std::time::Duration;
use support::fake_world::{World, connected, device, world};
use tenant_access::error::{Error, ProviderError};
use tenant_access::journey::{DeviceCodeIssued, StageKind, Validated};
use tenant_access::model::{ClientSecret, Password};
use tenant_access::ports::Clock;
use tenant_access::provider::ConsentCallback;
use tenant_access::testing::fake_entra::{FakeEndpoint, FakeEntra, FakeRequest, Fault, SignIn};
use tenant_access::{AnyOnboarding, NewCustomer, Onboarding, PollOutcome, RefreshOutcome};

const APP_ID: &str = "99999999-8888-7777-6666-555555555555";

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

#[tokio::test]
async fn device_code_journey_polls_once_per_tick_and_validates() {
    let w = world().await;
    let d = device(&w, "contoso", "contoso.com").await;
    assert_eq!(
        d.stage().verification_uri().as_str(),
        "https://microsoft.com/devicelogin"
    );
    assert_eq!(d.stage().user_code().len(), 9);

    let PollOutcome::Pending(d) = poll_once(&w, d).await else {
        panic!("nobody signed in yet")
    };
    let PollOutcome::Pending(d) = poll_once(&w, d).await else {
        panic!("nobody signed in yet")
    };
    assert_eq!(w.fake.requests(FakeRequest::DevicePoll), 2);

    assert_eq!(w.fake.sign_in(d.stage().user_code()), SignIn::SignedIn);
    let PollOutcome::Authenticated(token) = poll_once(&w, d).await else {
        panic!("signed in")
    };
    assert_eq!(w.fake.requests(FakeRequest::DevicePoll), 3);
    let token_set = token.customer().token.as_ref().unwrap();
    assert!(token_set.refresh_token.is_some());
    assert_eq!(
        token_set.expires_at,
        w.clock.now() + Duration::from_secs(3599)
    );

    let connected = token.validate(&w.ta).await.unwrap();
    let info = connected.customer().tenant_info.clone().unwrap();
    assert_eq!(info.id, w.fake.tenant_id("contoso.com"));
    assert_eq!(info.domains, ["contoso.com"]);
    assert_eq!(w.fake.requests(FakeRequest::Organization), 1);
}

#[tokio::test]
async fn slow_down_widens_the_interval_by_five_seconds() {
    let w = world().await;
    let d = device(&w, "contoso", "contoso.com").await;
    assert_eq!(d.stage().interval, Duration::from_secs(5));
    assert!(w.fake.slow_down(d.stage().user_code()));
    let PollOutcome::SlowDown(d) = poll_once(&w, d).await else {
        panic!("slow_down was injected")
    };
    assert_eq!(d.stage().interval, Duration::from_secs(10));
    assert_eq!(
        d.stage().next_poll_at,
        w.clock.now() + Duration::from_secs(10)
    );
    // Polling on the widened interval is not too fast for the server either.
    let PollOutcome::Pending(d) = poll_once(&w, d).await else {
        panic!("polled on the new interval")
    };
    w.fake.sign_in(d.stage().user_code());
    assert!(matches!(
        d.poll_until_done(&w.ta).await.unwrap(),
        PollOutcome::Authenticated(_)
    ));
}

#[tokio::test]
async fn admin_consent_workflow_waits_for_the_reviewer_then_authenticates_again() {
    let w = world().await;
    w.fake.require_admin_approval("contoso.com");
    let d = device(&w, "contoso", "contoso.com").await;
    assert_eq!(
        w.fake.sign_in(d.stage().user_code()),
        SignIn::ApprovalRequested
    );
    let PollOutcome::ApprovalRequested(waiting) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("approval was requested")
    };
    assert_eq!(waiting.kind(), StageKind::ApprovalRequested);
    assert_eq!(w.fake.admin_consent_requests("contoso.com"), 1);

    // Days later the reviewer approves in the Entra admin centre.
    w.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(w.fake.approve_admin_consent_requests("contoso.com"), 1);

    // "Click here to continue the authentication process": a new device code.
    let d = waiting.continue_authentication(&w.ta).await.unwrap();
    assert_eq!(w.fake.sign_in(d.stage().user_code()), SignIn::SignedIn);
    let PollOutcome::Authenticated(token) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("approved")
    };
    token.validate(&w.ta).await.unwrap();
    assert_eq!(w.fake.requests(FakeRequest::DeviceAuthorization), 2);
}

#[tokio::test]
async fn declined_and_expired_device_codes_go_back_to_claimed() {
    let w = world().await;
    let d = device(&w, "contoso", "contoso.com").await;
    assert!(w.fake.decline(d.stage().user_code()));
    let PollOutcome::Declined(claimed) = poll_once(&w, d).await else {
        panic!("declined")
    };

    let d = claimed.start_device_code(&w.ta).await.unwrap();
    assert!(w.fake.expire(d.stage().user_code()));
    let PollOutcome::Expired(claimed) = poll_once(&w, d).await else {
        panic!("expired on the server")
    };

    // Nobody signs in: the engine polls on its clock until the code dies 15 minutes later.
    let d = claimed.start_device_code(&w.ta).await.unwrap();
    let issued = w.clock.now();
    let polls_before = w.fake.requests(FakeRequest::DevicePoll);
    let PollOutcome::Expired(_) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("the code should expire")
    };
    assert!(w.clock.now() - issued >= Duration::from_secs(15 * 60));
    let polls = w.fake.requests(FakeRequest::DevicePoll) - polls_before;
    assert!((170..=180).contains(&polls), "{polls} polls");
}

#[tokio::test]
async fn password_journey_with_admin_consent_and_mfa() {
    let w = world().await;
    w.fake
        .add_user("fabrikam.com", "admin@fabrikam.com", "correct horse");
    let new = NewCustomer::new("fabrikam", "fabrikam.com", "admin@fabrikam.com").unwrap();
    let consent =
        w.ta.connect_with_password(new, "admin@fabrikam.com", Password::new("correct horse"))
            .await
            .unwrap();
    let url = consent.stage().admin_consent_url().clone();
    assert!(url.as_str().starts_with(w.fake.url().as_str()));
    assert!(url.path().ends_with("/fabrikam.com/v2.0/adminconsent"));

    // Before anyone consents, the password grant answers AADSTS65001.
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::ConsentRequired(d) if d.codes == [65001]
    ));
    let _consent = rejected.into_onboarding();

    // The administrator consents; Entra redirects to the portal's callback.
    let redirect = w.fake.admin_consents(&url).await.unwrap();
    assert_eq!(redirect.path(), "/authenticate/OAuth2Callback");
    let callback = ConsentCallback::from_url(&redirect).unwrap();
    assert_eq!(
        callback.tenant.as_deref(),
        Some(w.fake.tenant_id("fabrikam.com").as_str())
    );
    let token = w.ta.complete_consent(&callback).await.unwrap();
    // The same callback again is a replay.
    assert!(w.ta.complete_consent(&callback).await.is_err());
    token.validate(&w.ta).await.unwrap();
    assert_eq!(w.fake.requests(FakeRequest::Password), 2);

    // With MFA on, the password journey says so and hands the stage back.
    w.fake.add_user("tailspin.com", "admin@tailspin.com", "pw");
    w.fake.set_mfa("tailspin.com", "admin@tailspin.com", true);
    w.fake
        .grant_admin_consent("tailspin.com", &w.fake.client_id());
    let new = NewCustomer::new("tailspin", "tailspin.com", "admin@tailspin.com").unwrap();
    let consent =
        w.ta.connect_with_password(new, "admin@tailspin.com", Password::new("pw"))
            .await
            .unwrap();
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::MfaRequired(d) if d.codes == [50076]
    ));
    assert!(rejected.error().to_string().contains("device-code journey"));
    assert_eq!(
        rejected.into_onboarding().kind(),
        StageKind::ConsentRequired
    );

    // A wrong password is bad credentials.
    w.fake.add_user("adatum.com", "admin@adatum.com", "right");
    w.fake
        .grant_admin_consent("adatum.com", &w.fake.client_id());
    let new = NewCustomer::new("adatum", "adatum.com", "admin@adatum.com").unwrap();
    let consent =
        w.ta.connect_with_password(new, "admin@adatum.com", Password::new("wrong"))
            .await
            .unwrap();
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::InvalidCredentials(_)
    ));
}

#[tokio::test]
async fn app_registration_journey_and_declined_consent() {
    let w = world().await;
    w.fake.add_app("woodgrove.com", APP_ID, "app-secret");
    let new = NewCustomer::new("woodgrove", "woodgrove.com", "it@woodgrove.com").unwrap();
    let consent =
        w.ta.connect_app_registration(new, APP_ID, ClientSecret::new("app-secret"))
            .await
            .unwrap();
    let url = consent.stage().admin_consent_url().clone();
    assert!(url.query().unwrap().contains(APP_ID));

    // The first attempt is declined by the administrator.
    w.fake.decline_next_admin_consent("woodgrove.com");
    let redirect = w.fake.admin_consents(&url).await.unwrap();
    let declined = ConsentCallback::from_url(&redirect).unwrap();
    let rejected = consent
        .complete_consent(&w.ta, &declined)
        .await
        .unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::ConsentDeclined(d) if d.codes == [65004]
    ));
    let consent = rejected.into_onboarding();

    let redirect = w.fake.admin_consents(&url).await.unwrap();
    let token = consent
        .complete_consent(&w.ta, &ConsentCallback::from_url(&redirect).unwrap())
        .await
        .unwrap();
    assert!(
        token
            .customer()
            .token
            .as_ref()
            .unwrap()
            .refresh_token
            .is_none()
    );
    let connected = token.validate(&w.ta).await.unwrap();
    // Day Two for an app registration: a new client-credentials token.
    let RefreshOutcome::Refreshed(_) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("client credentials again")
    };
    assert_eq!(w.fake.requests(FakeRequest::ClientCredentials), 2);

    // A wrong secret is typed.
    w.fake.add_app("litware.com", APP_ID, "real-secret");
    w.fake.grant_admin_consent("litware.com", APP_ID);
    let new = NewCustomer::new("litware", "litware.com", "it@litware.com").unwrap();
    let consent =
        w.ta.connect_app_registration(new, APP_ID, ClientSecret::new("stale-secret"))
            .await
            .unwrap();
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::InvalidClientSecret(d) if d.codes == [7000215]
    ));
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_revives_an_expired_access_token() {
    let w = world().await;
    let connected = connected(&w, "contoso", "contoso.com").await;
    let old = connected
        .customer()
        .token
        .as_ref()
        .and_then(|t| t.refresh_token.clone())
        .unwrap();

    // Two hours later the access token has expired: Graph refuses it, as a rejected token.
    w.clock.advance(Duration::from_secs(2 * 3600));
    let expired = connected.customer().token.clone().unwrap().access_token;
    let target = tenant_access::provider::Target {
        customer: connected.id().clone(),
        tenant: connected.customer().tenant.clone(),
    };
    let graph = w.fake.provider().unwrap();
    assert!(matches!(
        tenant_access::provider::IdentityProvider::validate(&graph, &target, &expired).await,
        Err(ProviderError::TokenRejected(d)) if d.error == "InvalidAuthenticationToken"
    ));

    let RefreshOutcome::Refreshed(connected) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("the refresh token is alive")
    };
    assert_eq!(w.fake.requests(FakeRequest::Refresh), 1);
    let new = connected
        .customer()
        .token
        .as_ref()
        .and_then(|t| t.refresh_token.clone())
        .unwrap();
    assert_ne!(new.expose_secret(), old.expose_secret(), "rotated");
    // Entra does not revoke the old one on rotation.
    assert!(w.fake.refresh_token_is_live(old.expose_secret()));
    connected.verify(&w.ta).await.unwrap();
}

#[tokio::test]
async fn revoked_or_idle_refresh_tokens_need_reauthentication() {
    let w = world().await;
    let connected = connected(&w, "contoso", "contoso.com").await;
    assert_eq!(w.fake.revoke_refresh_tokens("contoso.com"), 1);
    let RefreshOutcome::ReauthRequired(dead) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("revoked")
    };
    assert!(
        dead.stage().reason.contains("AADSTS50173"),
        "{}",
        dead.stage().reason
    );
    let invited = dead.reinvite(&w.ta).await.unwrap();
    assert_eq!(invited.kind(), StageKind::Invited);

    let connected = connected_again(&w).await;
    w.clock.advance(Duration::from_secs(91 * 86_400));
    let RefreshOutcome::ReauthRequired(dead) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("idle for 91 days")
    };
    assert!(dead.stage().reason.contains("AADSTS700082"));
}

async fn connected_again(w: &World) -> Onboarding<Validated> {
    connected(w, "fabrikam", "fabrikam.com").await
}

#[tokio::test]
async fn throttling_and_server_errors_through_the_engine() {
    let w = world().await;
    let connected = connected(&w, "contoso", "contoso.com").await;

    // A 429 with Retry-After: 3 is waited out on the clock inside one refresh.
    w.fake
        .inject(FakeEndpoint::Token, Fault::Throttle { retry_after: 3 });
    let before = w.clock.now();
    let RefreshOutcome::Refreshed(connected) = connected.refresh(&w.ta).await.unwrap() else {
        panic!("retried after the throttle")
    };
    assert_eq!(w.clock.now() - before, Duration::from_secs(3));
    assert_eq!(w.fake.requests(FakeRequest::Refresh), 2);

    // Persistent 503s give up with a typed error and the stage unchanged.
    for _ in 0..4 {
        w.fake.inject(FakeEndpoint::Token, Fault::Status(503));
    }
    let rejected = connected.refresh(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::Unavailable { status: 503, .. }
    ));
    assert!(rejected.error().is_retryable());
    let connected = rejected.into_onboarding();
    assert_eq!(connected.kind(), StageKind::Validated);
    assert_eq!(w.fake.requests(FakeRequest::Refresh), 6);

    // Graph throttling during verification is retried too.
    w.fake.inject(
        FakeEndpoint::Organization,
        Fault::Throttle { retry_after: 1 },
    );
    connected.verify(&w.ta).await.unwrap();
}

/// FakeEntra's own wire format, read raw (no provider in between).
mod wire {
    use super::*;
    use tenant_access::model::{CustomerId, TenantId};
    use tenant_access::provider::entra::token_tenant;
    use tenant_access::provider::{DevicePoll, IdentityProvider, Target};

    async fn post(fake: &FakeEntra, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(fake.url().join(path).unwrap())
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn errors_have_every_field_entra_sends() {
        let w = world().await;
        let (status, body) = post(
            &w.fake,
            "/contoso.com/oauth2/v2.0/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &w.fake.client_id()),
                ("device_code", "nope"),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "bad_verification_code");
        assert_eq!(body["error_codes"], serde_json::json!([70018]));
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS70018: ")
        );
        for key in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(body[key].is_string(), "{key} missing in {body}");
        }

        let (status, body) = post(
            &w.fake,
            "/contoso.com/oauth2/v2.0/token",
            &[("grant_type", "implicit"), ("client_id", "x")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_grant_type"))
        );
        let (status, body) = post(
            &w.fake,
            "/common/oauth2/v2.0/devicecode",
            &[("client_id", "x")],
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }

    #[tokio::test]
    async fn device_code_answer_and_tokens_have_entra_shape() {
        let w = world().await;
        let client_id = w.fake.client_id();
        let (status, device) = post(
            &w.fake,
            "/contoso.com/oauth2/v2.0/devicecode",
            &[
                ("client_id", &client_id),
                (
                    "scope",
                    "https://graph.microsoft.com/.default offline_access openid",
                ),
            ],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            device["verification_uri"],
            "https://microsoft.com/devicelogin"
        );
        assert_eq!(device["expires_in"], 900);
        assert_eq!(device["interval"], 5);
        assert!(device.get("verification_uri_complete").is_none());
        let user_code = device["user_code"].as_str().unwrap();
        assert!(device["message"].as_str().unwrap().contains(user_code));

        w.fake.sign_in(user_code);
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id.as_str()),
            ("device_code", device["device_code"].as_str().unwrap()),
        ];
        let (status, token) = post(&w.fake, "/contoso.com/oauth2/v2.0/token", &form).await;
        assert_eq!(status, 200, "{token}");
        assert_eq!(token["token_type"], "Bearer");
        assert_eq!(token["expires_in"], 3599);
        assert_eq!(token["ext_expires_in"], 3599);
        assert!(token["refresh_token"].is_string());
        assert!(token["id_token"].is_string());
        let access = token["access_token"].as_str().unwrap();
        assert_eq!(access.split('.').count(), 3);
        assert_eq!(token_tenant(access), Some(w.fake.tenant_id("contoso.com")));

        // The same device code again: already redeemed (AADSTS90120).
        let (status, again) = post(&w.fake, "/contoso.com/oauth2/v2.0/token", &form).await;
        assert_eq!(
            (status, again["error_codes"][0].as_u64()),
            (400, Some(90120))
        );
    }

    #[tokio::test]
    async fn polling_faster_than_the_interval_is_slow_down() {
        let w = world().await;
        let entra = w.fake.provider().unwrap();
        let target = Target {
            customer: CustomerId::new("c").unwrap(),
            tenant: TenantId::new("contoso.com").unwrap(),
        };
        let device = entra.device_authorization(&target).await.unwrap();
        let first = entra
            .poll_device_code(&target, &device.device_code)
            .await
            .unwrap();
        assert!(matches!(first, DevicePoll::Pending));
        let second = entra
            .poll_device_code(&target, &device.device_code)
            .await
            .unwrap();
        assert!(matches!(second, DevicePoll::SlowDown));
        // The interval is now 10 s on the server too.
        w.clock.advance(Duration::from_secs(6));
        let third = entra
            .poll_device_code(&target, &device.device_code)
            .await
            .unwrap();
        assert!(matches!(third, DevicePoll::SlowDown));
        w.clock.advance(Duration::from_secs(20));
        let fourth = entra
            .poll_device_code(&target, &device.device_code)
            .await
            .unwrap();
        assert!(matches!(fourth, DevicePoll::Pending));
        // Fifteen minutes later the code is dead.
        w.clock.advance(Duration::from_secs(15 * 60));
        let dead = entra
            .poll_device_code(&target, &device.device_code)
            .await
            .unwrap();
        assert!(matches!(dead, DevicePoll::Expired));
    }

    #[tokio::test]
    async fn admin_consent_needs_scope_and_redirects_with_state() {
        let w = world().await;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut url = w.fake.url().join("/contoso.com/v2.0/adminconsent").unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "app")
            .append_pair(
                "redirect_uri",
                "https://portal.example.com/authenticate/OAuth2Callback",
            )
            .append_pair("state", "s1");
        let missing_scope = browser.get(url.clone()).send().await.unwrap();
        assert_eq!(missing_scope.status().as_u16(), 400);
        let body: serde_json::Value = missing_scope.json().await.unwrap();
        assert_eq!(body["error_codes"][0], 900144);

        url.query_pairs_mut()
            .append_pair("scope", "https://graph.microsoft.com/.default");
        let landed = w.fake.admin_consents(&url).await.unwrap();
        let query: std::collections::BTreeMap<String, String> =
            landed.query_pairs().into_owned().collect();
        assert_eq!(query["admin_consent"], "True");
        assert_eq!(query["tenant"], w.fake.tenant_id("contoso.com"));
        assert_eq!(query["state"], "s1");
        assert_eq!(query["scope"], "https://graph.microsoft.com/.default");
        assert_eq!(w.fake.requests(FakeRequest::AdminConsent), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_callers_of_a_token_about_to_expire_make_one_refresh_request() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    // 58 minutes on, the hour-long token is inside the 5-minute refresh-ahead margin.
    w.clock.advance(Duration::from_secs(58 * 60));
    let before = w.fake.requests(FakeRequest::Refresh);
    let ta = Arc::new(w.ta.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let ta = Arc::clone(&ta);
        tasks.spawn(async move {
            let contoso = tenant_access::CustomerId::new("contoso").unwrap();
            ta.access_token(&contoso)
                .await
                .unwrap()
                .expose_secret()
                .to_owned()
        });
    }
    let mut tokens = Vec::new();
    while let Some(token) = tasks.join_next().await {
        tokens.push(token.unwrap());
    }
    assert_eq!(w.fake.requests(FakeRequest::Refresh) - before, 1);
    assert_eq!(tokens.len(), 64);
    assert!(tokens.windows(2).all(|p| p[0] == p[1]), "one token for all");
}

#[tokio::test]
async fn a_token_for_azure_resource_manager_from_the_graph_refresh_token() {
    let w = world().await;
    connected(&w, "contoso", "contoso.com").await;
    let contoso = tenant_access::CustomerId::new("contoso").unwrap();
    let arm = tenant_access::Scopes::new(["https://management.azure.com/.default"]).unwrap();
    let graph = w.ta.access_token(&contoso).await.unwrap();
    let before = w.fake.requests(FakeRequest::Refresh);
    let token = w.ta.access_token_for(&contoso, &arm).await.unwrap();
    assert_ne!(token.expose_secret(), graph.expose_secret());
    assert_eq!(w.fake.requests(FakeRequest::Refresh) - before, 1);
    // The Graph connection still works with its own token.
    let again = w.ta.access_token(&contoso).await.unwrap();
    assert_eq!(again.expose_secret(), graph.expose_secret());
    w.ta.verify(&contoso).await.unwrap();
}

/// Seeding without a journey: the issued token set validates against Graph and refreshes, and
/// issuing it makes no request.
#[tokio::test]
async fn signed_in_tokens_can_be_issued_directly_for_fixtures() {
    use tenant_access::model::{CustomerId, TenantId};
    use tenant_access::provider::{IdentityProvider, Target};

    let w = world().await;
    let issued = w
        .fake
        .issue_signed_in_tokens("contoso.onmicrosoft.com")
        .unwrap();
    assert!(w.fake.issue_signed_in_tokens("common").is_none());
    assert_eq!(w.fake.requests(FakeRequest::Organization), 0);
    let refresh = issued.refresh_token.clone().unwrap();
    assert!(w.fake.refresh_token_is_live(refresh.expose_secret()));

    let entra = w.fake.provider().unwrap();
    let target = Target {
        customer: CustomerId::new("contoso").unwrap(),
        tenant: TenantId::new("contoso.onmicrosoft.com").unwrap(),
    };
    let info = entra.validate(&target, &issued.access_token).await.unwrap();
    assert_eq!(info.id, w.fake.tenant_id("contoso.onmicrosoft.com"));
    assert!(info.domains.contains(&"contoso.onmicrosoft.com".to_owned()));
    assert_eq!(w.fake.requests(FakeRequest::Organization), 1);
    entra.refresh(&target, &refresh).await.unwrap();
}

/// RFC 8628 §3.5 under failure: every token request for a device code is a poll, faulted
/// ones included. Measured from FakeEntra's own request log on the shared ManualClock: no
/// poll goes out before the one before it allows, a failed poll moves `next_poll_at` on (by
/// the interval, or to a later `Retry-After`) and stores it, and a poll before it sends
/// nothing.
#[tokio::test]
async fn failed_polls_are_polls_spaced_by_the_interval_or_retry_after() {
    let w = world().await;
    let mut d = device(&w, "contoso", "contoso.com").await;
    let interval = d.stage().interval;
    w.fake.inject(FakeEndpoint::Token, Fault::Status(503));
    w.fake
        .inject(FakeEndpoint::Token, Fault::Throttle { retry_after: 12 });
    w.fake
        .inject(FakeEndpoint::Token, Fault::Throttle { retry_after: 2 });
    w.fake.inject(FakeEndpoint::Token, Fault::Status(500));
    let mut allowed = vec![d.stage().next_poll_at];
    for expected_wait in [interval, Duration::from_secs(12), interval, interval] {
        w.clock.sleep_until(d.stage().next_poll_at).await;
        let polls = w.fake.requests(FakeRequest::DevicePoll);
        let rejected = d.poll(&w.ta).await.unwrap_err();
        // One request per poll: the HTTP layer does not retry a device-code poll.
        assert_eq!(w.fake.requests(FakeRequest::DevicePoll), polls + 1);
        let next = w.clock.now() + expected_wait;
        assert_eq!(
            rejected.error().action(),
            tenant_access::error::Action::Retry {
                after: expected_wait
            },
            "{}",
            rejected.error()
        );
        let stored = w.ta.load(rejected.onboarding().id()).await.unwrap();
        assert_eq!(stored.version(), rejected.onboarding().version());
        d = rejected.into_onboarding();
        assert_eq!(d.stage().next_poll_at, next);
        let AnyOnboarding::DeviceCodeIssued(stored) = stored else {
            panic!("still polling")
        };
        assert_eq!(stored.stage().next_poll_at, next);
        // A second poll() before it is refused without a request.
        let early = d.poll(&w.ta).await.unwrap_err();
        assert!(matches!(
            early.error(),
            Error::Flow(tenant_access::error::FlowError::PollTooEarly { .. })
        ));
        assert_eq!(w.fake.requests(FakeRequest::DevicePoll), polls + 1);
        d = early.into_onboarding();
        allowed.push(next);
    }
    assert_eq!(w.fake.sign_in(d.stage().user_code()), SignIn::SignedIn);
    let PollOutcome::Authenticated(_) = poll_once(&w, d).await else {
        panic!("signed in")
    };
    let log = w.fake.request_times(FakeRequest::DevicePoll);
    assert_eq!(log.len(), 5);
    for (at, allowed) in log.iter().zip(&allowed) {
        assert!(at >= allowed, "a poll at {at} before {allowed}");
    }
    for pair in log.windows(2) {
        assert!(pair[1] - pair[0] >= interval, "{pair:?}");
    }
}

/// `poll_until_done` stops at a failed poll; the stage it hands back waits for the stored
/// `next_poll_at`, and polling on from there sends nothing early.
#[tokio::test]
async fn poll_until_done_after_a_failure_resumes_at_the_stored_time() {
    let w = world().await;
    let d = device(&w, "contoso", "contoso.com").await;
    w.fake
        .inject(FakeEndpoint::Token, Fault::Throttle { retry_after: 20 });
    let rejected = d.poll_until_done(&w.ta).await.unwrap_err();
    let failed_at = *w
        .fake
        .request_times(FakeRequest::DevicePoll)
        .last()
        .unwrap();
    let d = rejected.into_onboarding();
    assert_eq!(d.stage().next_poll_at, failed_at + Duration::from_secs(20));
    assert_eq!(w.fake.sign_in(d.stage().user_code()), SignIn::SignedIn);
    let PollOutcome::Authenticated(_) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("signed in")
    };
    let log = w.fake.request_times(FakeRequest::DevicePoll);
    assert_eq!(log.len(), 2);
    assert_eq!(log[1] - log[0], Duration::from_secs(20));
}

// ---- issue 17: outcomes that tell the truth (items 4, 3, 8, 9, 15 on the wire) -------------

/// Item 8: a device sign-in without consent that the tenant answers with AADSTS65001 on the
/// poll is "consent required" with the admin-consent URL, not the approval workflow; once an
/// administrator consents, the customer signs in again and the connection is made.
#[tokio::test]
async fn consent_required_on_a_poll_offers_admin_consent_then_a_new_sign_in() {
    let w = world().await;
    w.fake
        .scenario("litware.com", |s| s.consent_required_on_poll = true);
    let d = device(&w, "litware", "litware.com").await;
    assert_eq!(
        w.fake.sign_in(d.stage().user_code()),
        SignIn::ConsentRequired
    );
    let PollOutcome::ConsentRequired(waiting) = poll_once(&w, d).await else {
        panic!("65001 on a poll is consent required")
    };
    assert_eq!(w.fake.admin_consent_requests("litware.com"), 0);
    let url = waiting.stage().admin_consent_url().clone();
    assert!(
        url.path().ends_with("/litware.com/v2.0/adminconsent"),
        "{url}"
    );
    assert!(url.query().unwrap().contains(&w.fake.client_id()));
    let stored = w.ta.load(waiting.id()).await.unwrap();
    assert_eq!(stored.kind(), StageKind::ConsentRequired);

    // The password journey's entry point refuses a device-code journey (it has no
    // credentials) and changes nothing.
    let redirect = w.fake.admin_consents(&url).await.unwrap();
    let callback = ConsentCallback::from_url(&redirect).unwrap();
    let refused = w.ta.complete_consent(&callback).await.unwrap_err();
    assert_eq!(
        refused.action(),
        tenant_access::Action::FixInput,
        "{refused}"
    );
    assert_eq!(
        w.ta.load(waiting.id()).await.unwrap().kind(),
        StageKind::ConsentRequired
    );

    // The callback route that serves every journey takes it back to the start.
    let tenant_access::journey::Consented::SignInAgain(claimed) =
        w.ta.accept_consent(&callback).await.unwrap()
    else {
        panic!("a device-code journey signs in again after consent")
    };
    let d = claimed.start_device_code(&w.ta).await.unwrap();
    assert_eq!(w.fake.sign_in(d.stage().user_code()), SignIn::SignedIn);
    let PollOutcome::Authenticated(token) = d.poll_until_done(&w.ta).await.unwrap() else {
        panic!("consented now")
    };
    token.validate(&w.ta).await.unwrap();
}

/// Item 8, the other side: the approval workflow (AADSTS90095) stays its own outcome.
#[tokio::test]
async fn the_approval_workflow_is_not_consent_required() {
    let w = world().await;
    w.fake.require_admin_approval("proseware.com");
    let d = device(&w, "proseware", "proseware.com").await;
    assert_eq!(
        w.fake.sign_in(d.stage().user_code()),
        SignIn::ApprovalRequested
    );
    assert!(matches!(
        poll_once(&w, d).await,
        PollOutcome::ApprovalRequested(_)
    ));
}

/// Item 9: AADSTS50079 (MFA enrolment) keeps its `suberror` and its `claims` challenge, raw
/// and parsed.
#[tokio::test]
async fn an_enrolment_challenge_keeps_suberror_and_claims() {
    let w = world().await;
    w.fake.add_user("wingtip.com", "admin@wingtip.com", "pw");
    w.fake.set_mfa("wingtip.com", "admin@wingtip.com", true);
    w.fake
        .scenario("wingtip.com", |s| s.mfa_enrolment_claims = true);
    w.fake
        .grant_admin_consent("wingtip.com", &w.fake.client_id());
    let new = NewCustomer::new("wingtip", "wingtip.com", "admin@wingtip.com").unwrap();
    let consent =
        w.ta.connect_with_password(new, "admin@wingtip.com", Password::new("pw"))
            .await
            .unwrap();
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    let ProviderError::MfaRequired(detail) = provider_error(rejected.error()) else {
        panic!("50079 is MFA required: {:?}", rejected.error())
    };
    assert_eq!(detail.codes, [50079]);
    assert_eq!(detail.error, "interaction_required");
    assert_eq!(detail.suberror(), Some("basic_action"));
    let claims = detail.claims().expect("the claims challenge is kept");
    assert!(
        claims.raw().starts_with(r#"{"access_token":{"capolids""#),
        "{}",
        claims.raw()
    );
    assert_eq!(
        claims.parsed().unwrap()["access_token"]["capolids"]["essential"],
        true
    );
    assert_eq!(
        rejected.error().action(),
        tenant_access::Action::AskCustomer
    );
}

/// Item 4 on the wire: an AADSTS code nobody knows on a poll is terminal for the request
/// (ask the customer), never a retry, and nothing is retried inside the call.
#[tokio::test]
async fn an_unknown_code_on_a_poll_is_not_a_retry() {
    let w = world().await;
    w.fake.scenario("fourthcoffee.com", |s| {
        s.unknown_error_code = Some(99_999_999)
    });
    let d = device(&w, "fourthcoffee", "fourthcoffee.com").await;
    w.clock.sleep_until(d.stage().next_poll_at).await;
    let rejected = d.poll(&w.ta).await.unwrap_err();
    assert!(matches!(
        provider_error(rejected.error()),
        ProviderError::Other(d) if d.codes == [99_999_999] && d.error == "invalid_grant"
    ));
    assert_eq!(
        rejected.error().action(),
        tenant_access::Action::AskCustomer
    );
    assert!(!rejected.error().is_retryable());
    assert_eq!(w.fake.requests(FakeRequest::DevicePoll), 1);
}

/// Item 15: a `verification_uri_complete` the server sends is kept in the stored stage and
/// offered; Entra's own answers (without one) leave it empty.
#[tokio::test]
async fn verification_uri_complete_is_kept_when_sent() {
    let w = world().await;
    let plain = device(&w, "contoso", "contoso.com").await;
    assert_eq!(plain.stage().verification_uri_complete(), None);

    w.fake
        .scenario("northwind.com", |s| s.verification_uri_complete = true);
    let d = device(&w, "northwind", "northwind.com").await;
    let one_click = d.stage().verification_uri_complete().expect("kept").clone();
    assert_eq!(
        one_click.query(),
        Some(format!("user_code={}", d.stage().user_code()).as_str())
    );
    let AnyOnboarding::DeviceCodeIssued(stored) = w.ta.load(d.id()).await.unwrap() else {
        panic!("still waiting for the sign-in")
    };
    assert_eq!(stored.stage().verification_uri_complete(), Some(&one_click));
}

/// Item 3 on the wire: a slow tenant endpoint is cut off at the provider's deadline, and
/// that is a passing fault to retry.
#[tokio::test]
async fn a_slow_endpoint_meets_the_call_deadline() {
    let clock =
        tenant_access::testing::ManualClock::new(time::macros::datetime!(2026-11-23 10:00 UTC));
    let fake = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    fake.scenario("slow.example", |s| s.latency = Some(Duration::from_secs(5)));
    let retry =
        tenant_access::provider::RetryPolicy::default().with_deadline(Duration::from_millis(300));
    let entra = fake.provider_with_retry(retry).unwrap();
    let target = tenant_access::provider::Target {
        customer: tenant_access::CustomerId::new("slow").unwrap(),
        tenant: tenant_access::TenantId::new("slow.example").unwrap(),
    };
    let started = std::time::Instant::now();
    let error = tenant_access::provider::IdentityProvider::device_authorization(&entra, &target)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(error.is_transient(), "{error:?}");
}
