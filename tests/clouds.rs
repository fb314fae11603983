//! Issue 20, item 4: national clouds. Every Entra request for a customer goes to its tenant's
//! cloud (the MSP's choice, else the one discovery found, else the public cloud): that cloud's
//! authority, Graph host, Graph scopes and client id. A cloud the MSP's application is not
//! registered in is refused before any request.
//!
//! The provider runs against mockito servers standing in for each cloud's hosts, and the
//! engine against two FakeEntra instances (one global, one US Government) wired through the
//! per-cloud registration's URL overrides, all on a ManualClock.

use std::sync::Arc;

use mockito::{Matcher, Server, ServerGuard};
use tenant_access::error::{Error, InputError, ProviderError};
use tenant_access::model::{AccessToken, Cloud, ConsentState, DeviceCode, RefreshToken};
use tenant_access::model::{CustomerId, SignInState, TenantId};
use tenant_access::ports::AuthorizationRequest;
use tenant_access::ports::Clock;
use tenant_access::provider::entra::{CloudRegistration, EntraConfig, EntraProvider};
use tenant_access::provider::{AdminConsentRequest, IdentityProvider, Target, TenantDiscovery};
use tenant_access::store::MemoryStore;
use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest, SignIn};
use tenant_access::testing::{CaptureMailer, ManualClock};
use tenant_access::{AnyOnboarding, Config, NewCustomer, PollOutcome, TenantAccess};
use time::macros::datetime;
use url::Url;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const GLOBAL_APP: &str = "11111111-2222-3333-4444-555555555555";
const GOV_APP: &str = "99999999-2222-3333-4444-0000000000a4";

fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-11-23 10:00 UTC))
}

fn target(tenant: TenantId) -> Target {
    Target {
        customer: CustomerId::new("contoso").unwrap(),
        tenant,
    }
}

fn app_of(cloud: Cloud) -> String {
    format!("00000000-0000-0000-0000-0000000000{:02}", cloud as u8 + 10)
}

// ---- the provider against mockito: hosts, scopes and client id per cloud ------------------

/// A mock answering every request on `server` that nobody may make: its `expect(0)` fails the
/// test if a request for another cloud's tenant arrives here.
async fn untouched(server: &mut ServerGuard) -> mockito::Mock {
    server
        .mock("GET", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await
}

#[tokio::test]
async fn the_authority_graph_host_scopes_and_client_id_follow_the_customers_cloud() {
    for cloud in Cloud::ALL {
        let mut global = Server::new_async().await;
        let mut authority = Server::new_async().await;
        let mut graph = Server::new_async().await;
        let resource = cloud.graph_resource();
        let client = app_of(cloud);
        let mut config = EntraConfig::new(GLOBAL_APP)
            .authority(&global.url())
            .unwrap()
            .graph(&global.url())
            .unwrap();
        let registration = CloudRegistration::new(&client)
            .authority(&authority.url())
            .unwrap()
            .graph(&graph.url())
            .unwrap();
        config = config.cloud_registration(cloud, registration);
        let untouched_global = if cloud == Cloud::Global {
            None
        } else {
            Some(untouched(&mut global).await)
        };
        let entra = EntraProvider::new(config)
            .unwrap()
            .with_clock(Arc::new(clock()));
        let target = target(TenantId::new(TENANT).unwrap().with_cloud(cloud).unwrap());
        let scope = format!("{resource}/.default offline_access openid profile");

        let device = authority
            .mock("POST", format!("/{TENANT}/oauth2/v2.0/devicecode").as_str())
            .match_body(Matcher::AllOf(vec![
                Matcher::UrlEncoded("client_id".into(), client.clone()),
                Matcher::UrlEncoded("scope".into(), scope.clone()),
            ]))
            .with_body(r#"{"device_code":"d","user_code":"U","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5}"#)
            .create_async()
            .await;
        let token = authority
            .mock("POST", format!("/{TENANT}/oauth2/v2.0/token").as_str())
            .match_body(Matcher::AllOf(vec![
                Matcher::UrlEncoded("client_id".into(), client.clone()),
                Matcher::UrlEncoded("scope".into(), scope.clone()),
            ]))
            .with_body(r#"{"token_type":"Bearer","access_token":"a","refresh_token":"r","expires_in":3599}"#)
            .expect(1)
            .create_async()
            .await;
        let poll = authority
            .mock("POST", format!("/{TENANT}/oauth2/v2.0/token").as_str())
            .match_body(Matcher::AllOf(vec![
                Matcher::UrlEncoded("client_id".into(), client.clone()),
                Matcher::UrlEncoded("device_code".into(), "d".into()),
            ]))
            .with_body(r#"{"token_type":"Bearer","access_token":"a","expires_in":3599}"#)
            .create_async()
            .await;
        let organization = graph
            .mock("GET", "/v1.0/organization")
            .match_header("authorization", "Bearer a")
            .with_body(format!(
                r#"{{"value":[{{"id":"{TENANT}","displayName":"C","verifiedDomains":[]}}]}}"#
            ))
            .create_async()
            .await;

        entra.device_authorization(&target).await.unwrap();
        entra
            .poll_device_code(&target, &DeviceCode::new("d"))
            .await
            .unwrap();
        entra
            .refresh(&target, &RefreshToken::new("r"))
            .await
            .unwrap();
        let info = entra
            .validate(&target, &AccessToken::new("a"))
            .await
            .unwrap();
        assert_eq!(info.id, TENANT, "{cloud}");
        device.assert_async().await;
        poll.assert_async().await;
        token.assert_async().await;
        organization.assert_async().await;

        // The URLs a browser opens name the cloud's authority, client id and Graph; consent
        // to the MSP's application (as the public cloud knows it) is consent to its
        // registration in the customer's cloud.
        let consent = entra
            .admin_consent_url(
                &target,
                &AdminConsentRequest {
                    client_id: entra.config().client_id().into(),
                    redirect_uri: Url::parse("https://portal.example.com/cb").unwrap(),
                    state: ConsentState::new("s"),
                },
            )
            .unwrap();
        let sign_in = entra
            .authorization_url(
                &target,
                &AuthorizationRequest {
                    redirect_uri: Url::parse("https://portal.example.com/signed-in").unwrap(),
                    state: SignInState::new("s"),
                    code_challenge: "c".into(),
                    login_hint: None,
                },
            )
            .unwrap();
        for url in [&consent, &sign_in] {
            assert!(url.as_str().starts_with(&authority.url()), "{cloud}: {url}");
            let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            assert!(
                query.contains(&("client_id".into(), client.clone())),
                "{url}"
            );
            let scope = query.iter().find(|(k, _)| k == "scope").unwrap();
            assert!(
                scope.1.starts_with(&format!("{resource}/.default")),
                "{cloud}: {url}"
            );
        }
        if let Some(mock) = untouched_global {
            mock.assert_async().await;
        }
    }
}

#[tokio::test]
async fn a_tenant_in_a_cloud_without_a_registration_is_misconfigured_before_any_request() {
    let mut server = Server::new_async().await;
    let nothing = untouched(&mut server).await;
    let config = EntraConfig::new(GLOBAL_APP)
        .authority(&server.url())
        .unwrap()
        .graph(&server.url())
        .unwrap()
        .cloud_registration(
            Cloud::UsGovL4,
            CloudRegistration::new(GOV_APP)
                .authority(&server.url())
                .unwrap(),
        );
    let entra = EntraProvider::new(config).unwrap();
    let tenant = TenantId::new("dod.example")
        .unwrap()
        .with_cloud(Cloud::UsGovL5Dod)
        .unwrap();
    let target = target(tenant.clone());
    let misconfigured = |result: Result<(), ProviderError>, what: &str| match result {
        Err(ProviderError::Misconfigured(detail)) => {
            assert_eq!(detail.error, "no_cloud_registration", "{what}");
            assert!(
                detail.description.contains("usgov-l5-dod"),
                "{what}: {detail:?}"
            );
        }
        other => panic!("{what}: {other:?}"),
    };
    misconfigured(entra.discover_tenant(&tenant).await.map(drop), "discovery");
    misconfigured(
        entra.device_authorization(&target).await.map(drop),
        "device code",
    );
    misconfigured(
        entra
            .poll_device_code(&target, &DeviceCode::new("d"))
            .await
            .map(drop),
        "poll",
    );
    misconfigured(
        entra
            .refresh(&target, &RefreshToken::new("r"))
            .await
            .map(drop),
        "refresh",
    );
    misconfigured(
        entra
            .validate(&target, &AccessToken::new("a"))
            .await
            .map(drop),
        "validate",
    );
    misconfigured(
        entra
            .admin_consent_url(
                &target,
                &AdminConsentRequest {
                    client_id: GLOBAL_APP.into(),
                    redirect_uri: Url::parse("https://portal.example.com/cb").unwrap(),
                    state: ConsentState::new("s"),
                },
            )
            .map(drop),
        "admin consent",
    );
    nothing.assert_async().await;
}

// ---- the engine against a global and a US Government FakeEntra ----------------------------

struct Clouds {
    global: FakeEntra,
    gov: FakeEntra,
    clock: ManualClock,
    ta: TenantAccess,
    mailer: CaptureMailer,
}

async fn clouds(registered: bool) -> Clouds {
    let clock = clock();
    let global = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    // The US Government registration is another application, with its own secret: a
    // refresh there carrying the global one (or none) is refused.
    let gov = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .cloud(Cloud::UsGovL4)
        .client_id(GOV_APP)
        .client_secret("gov-secret")
        .start()
        .await
        .unwrap();
    let mut config = global.entra_config();
    if registered {
        config = config.cloud_registration(Cloud::UsGovL4, gov.cloud_registration());
    }
    let mailer = CaptureMailer::new();
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .build()
                .unwrap(),
        )
        .store(MemoryStore::new())
        .mailer(mailer.clone())
        .provider(
            EntraProvider::new(config)
                .unwrap()
                .with_clock(Arc::new(clock.clone())),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    Clouds {
        global,
        gov,
        clock,
        ta,
        mailer,
    }
}

fn customer(id: &str, tenant: &str) -> NewCustomer {
    NewCustomer::new(id, tenant, format!("admin@{tenant}")).unwrap()
}

#[tokio::test]
async fn a_tenant_discovered_in_us_government_runs_its_whole_device_code_journey_there() {
    let w = clouds(true).await;
    // The public authority answers discovery for a US Government tenant with its cloud.
    w.global
        .scenario("army.example", |s| s.cloud = Some(Cloud::UsGovL4));

    let invited = w.ta.invite(customer("army", "army.example")).await.unwrap();
    let tenant = invited.customer().tenant.clone();
    assert_eq!(tenant.cloud(), Cloud::UsGovL4);
    assert_eq!(tenant.chosen_cloud(), None);
    assert_eq!(
        tenant.discovered().unwrap().cloud_instance_name.as_deref(),
        Some("microsoftonline.us")
    );
    assert_eq!(
        w.global
            .requests_for("army.example", FakeRequest::OpenIdConfiguration),
        1
    );

    invited.send(&w.ta).await.unwrap();
    let code = w.mailer.last_code_to("admin@army.example").unwrap();
    let AnyOnboarding::InvitationSent(sent) = w.ta.open_invitation(&code).await.unwrap() else {
        panic!("a fresh invitation is in InvitationSent")
    };
    let device = sent
        .claim(&w.ta)
        .await
        .unwrap()
        .start_device_code(&w.ta)
        .await
        .unwrap();
    // The device code is the US Government authority's: only it knows the user code.
    assert_eq!(
        w.global.sign_in(device.stage().user_code()),
        SignIn::UnknownCode
    );
    assert_eq!(w.gov.sign_in(device.stage().user_code()), SignIn::SignedIn);
    w.clock.sleep_until(device.stage().next_poll_at).await;
    let PollOutcome::Authenticated(token) = device.poll(&w.ta).await.unwrap() else {
        panic!("signed in")
    };
    let connected = token.validate(&w.ta).await.unwrap();
    let info = connected.customer().tenant_info.clone().unwrap();
    assert_eq!(Some(info.id.as_str()), tenant.guid());
    connected.refresh(&w.ta).await.unwrap();

    // Everything after discovery went to the US Government FakeEntra, nothing to the global.
    assert_eq!(w.global.total_requests(), 1);
    for (request, at_least) in [
        (FakeRequest::DeviceAuthorization, 1),
        (FakeRequest::DevicePoll, 1),
        (FakeRequest::Organization, 1),
        (FakeRequest::Refresh, 1),
    ] {
        let n = w.gov.requests_for("army.example", request);
        assert!(n >= at_least, "{request:?}: {n}");
        assert_eq!(w.gov.requests(request), n, "{request:?} for another tenant");
    }
    assert_eq!(w.gov.requests(FakeRequest::OpenIdConfiguration), 0);
}

#[tokio::test]
async fn the_msps_cloud_sends_discovery_and_the_journey_to_that_cloud() {
    let w = clouds(true).await;
    // The public authority does not know this tenant at all.
    w.global.forget_tenant("hidden.example");
    let new = customer("hidden", "hidden.example").cloud(Cloud::UsGovL4);
    let invited = w.ta.invite(new).await.unwrap();
    let tenant = invited.customer().tenant.clone();
    assert_eq!(
        (tenant.cloud(), tenant.chosen_cloud()),
        (Cloud::UsGovL4, Some(Cloud::UsGovL4))
    );
    assert_eq!(
        w.gov
            .requests_for("hidden.example", FakeRequest::OpenIdConfiguration),
        1
    );
    invited.send(&w.ta).await.unwrap();
    let code = w.mailer.last_code_to("admin@hidden.example").unwrap();
    let AnyOnboarding::InvitationSent(sent) = w.ta.open_invitation(&code).await.unwrap() else {
        panic!("a fresh invitation is in InvitationSent")
    };
    let device = sent
        .claim(&w.ta)
        .await
        .unwrap()
        .start_device_code(&w.ta)
        .await
        .unwrap();
    assert_eq!(w.gov.sign_in(device.stage().user_code()), SignIn::SignedIn);
    assert_eq!(w.global.total_requests(), 0);
}

#[tokio::test]
async fn a_chosen_cloud_that_discovery_contradicts_is_refused_naming_both() {
    let w = clouds(true).await;
    // Asked at the US Government authority, discovery says the tenant is a public one.
    w.gov
        .scenario("contoso.com", |s| s.cloud = Some(Cloud::Global));
    let error =
        w.ta.invite(customer("contoso", "contoso.com").cloud(Cloud::UsGovL4))
            .await
            .unwrap_err();
    match &error {
        Error::Input(InputError::CloudMismatch {
            tenant,
            chosen,
            discovered,
        }) => {
            assert_eq!(tenant, "contoso.com");
            assert_eq!((*chosen, *discovered), (Cloud::UsGovL4, Cloud::Global));
        }
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("usgov-l4") && text.contains("global"),
        "{text}"
    );
    assert!(w.ta.open_invitation("nothing").await.is_err());
    assert_eq!(w.global.total_requests(), 0);
}

#[tokio::test]
async fn a_customer_discovered_in_an_unregistered_cloud_fails_before_any_request_there() {
    let w = clouds(false).await;
    w.global
        .scenario("army.example", |s| s.cloud = Some(Cloud::UsGovL4));
    let invited = w.ta.invite(customer("army", "army.example")).await.unwrap();
    assert_eq!(invited.customer().tenant.cloud(), Cloud::UsGovL4);
    invited.send(&w.ta).await.unwrap();
    let code = w.mailer.last_code_to("admin@army.example").unwrap();
    let AnyOnboarding::InvitationSent(sent) = w.ta.open_invitation(&code).await.unwrap() else {
        panic!("a fresh invitation is in InvitationSent")
    };
    let rejected = sent
        .claim(&w.ta)
        .await
        .unwrap()
        .start_device_code(&w.ta)
        .await
        .unwrap_err();
    assert!(
        matches!(
            rejected.error(),
            Error::Provider(ProviderError::Misconfigured(detail))
                if detail.description.contains("usgov-l4")
        ),
        "{:?}",
        rejected.error()
    );
    // Only discovery was asked; neither authority saw a device-code request.
    assert_eq!(w.global.total_requests(), 1);
    assert_eq!(w.gov.total_requests(), 0);
}

#[tokio::test]
async fn a_fake_entra_of_a_cloud_answers_discovery_for_it_and_refuses_other_clouds_graph() {
    let gov = FakeEntra::builder()
        .cloud(Cloud::UsGovL5Dod)
        .start()
        .await
        .unwrap();
    assert_eq!(gov.cloud(), Cloud::UsGovL5Dod);
    // A provider whose public-cloud registration points here: its scopes name the public
    // Graph, which this cloud does not have.
    let entra = gov.provider().unwrap();
    let TenantDiscovery::Found(found) = entra
        .discover_tenant(&TenantId::new("army.example").unwrap())
        .await
        .unwrap()
    else {
        panic!("found")
    };
    assert_eq!(found.cloud(), Some(Cloud::UsGovL5Dod));
    assert_eq!(
        found.msgraph_host.as_deref(),
        Some("dod-graph.microsoft.us")
    );
    let target = target(TenantId::new("army.example").unwrap());
    match entra.device_authorization(&target).await {
        Err(ProviderError::Other(detail)) => assert_eq!(detail.codes, [500011]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        gov.requests_for("army.example", FakeRequest::DeviceAuthorization),
        1
    );
}
