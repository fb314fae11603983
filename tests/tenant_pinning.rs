//! Issue 17, items 11 and 12: a customer's tenant is resolved to its GUID (and cloud) when the
//! customer is created, an unknown tenant is an input error then, and from then on the
//! admin-consent callback's `tenant`, a token's `tid` and the validating call's tenant are all
//! compared with that GUID; a token of another tenant is never stored.
//!
//! Wire tests run the real engine and Entra provider against FakeEntra over HTTP, on a
//! ManualClock shared by all; a few run on the mock provider.

mod support;

use std::sync::Arc;

use tenant_access::error::{Action, Error, FlowError, InputError, ProviderError};
use tenant_access::journey::{ConsentRequired, StageKind};
use tenant_access::model::{ClientSecret, DiscoveredTenant, Password, TenantId, TenantInfo};
use tenant_access::ports::Clock;
use tenant_access::provider::{ConsentCallback, IdentityProvider, TenantDiscovery};
use tenant_access::store::MemoryStore;
use tenant_access::testing::fake_entra::{FakeEndpoint, FakeEntra, FakeRequest, Fault, SignIn};
use tenant_access::testing::{CaptureMailer, ManualClock};
use tenant_access::{
    AnyOnboarding, Config, CustomerId, NewCustomer, Onboarding, PollOutcome, TenantAccess,
};
use time::macros::datetime;

const APP_ID: &str = "99999999-8888-7777-6666-555555555555";
const ELSEWHERE: &str = "00000000-0000-0000-0000-0000000000ee";

struct World {
    fake: FakeEntra,
    clock: ManualClock,
    ta: TenantAccess,
    mailer: CaptureMailer,
}

async fn world() -> World {
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let fake = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let mailer = CaptureMailer::new();
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .consent_client_id(fake.client_id())
                .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")
                .build()
                .unwrap(),
        )
        .store(MemoryStore::new())
        .mailer(mailer.clone())
        .provider(fake.provider().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    World {
        fake,
        clock,
        ta,
        mailer,
    }
}

fn new_customer(id: &str, tenant: &str) -> NewCustomer {
    NewCustomer::new(id, tenant, format!("admin@{tenant}")).unwrap()
}

fn id(text: &str) -> CustomerId {
    CustomerId::new(text).unwrap()
}

/// Every token request FakeEntra saw, whatever the grant.
fn token_requests(fake: &FakeEntra) -> u64 {
    [
        FakeRequest::DevicePoll,
        FakeRequest::Password,
        FakeRequest::ClientCredentials,
        FakeRequest::Refresh,
    ]
    .into_iter()
    .map(|r| fake.requests(r))
    .sum()
}

fn flow_error(error: &Error) -> &FlowError {
    match error {
        Error::Flow(flow) => flow,
        other => panic!("not a flow error: {other:?}"),
    }
}

/// A device-code journey through the wizard, up to the sign-in and the poll that answers.
async fn sign_in_and_poll(
    w: &World,
    customer: &str,
    tenant: &str,
) -> Result<PollOutcome, tenant_access::Rejected<tenant_access::journey::DeviceCodeIssued>> {
    let new = new_customer(customer, tenant);
    let admin = new.admin_email.to_string();
    w.ta.invite(new).await.unwrap().send(&w.ta).await.unwrap();
    let code = w.mailer.last_code_to(&admin).unwrap();
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
    assert_eq!(w.fake.sign_in(device.stage().user_code()), SignIn::SignedIn);
    w.clock.sleep_until(device.stage().next_poll_at).await;
    device.poll(&w.ta).await
}

// ---- item 11: resolution at creation --------------------------------------------------------

#[tokio::test]
async fn a_domain_is_resolved_to_its_guid_and_cloud_when_the_customer_is_invited() {
    let w = world().await;
    let invited =
        w.ta.invite(new_customer("contoso", "contoso.com"))
            .await
            .unwrap();
    let tenant = &invited.customer().tenant;
    let guid = w.fake.tenant_id("contoso.com");
    assert_eq!(
        tenant.as_str(),
        "contoso.com",
        "requests still name the domain"
    );
    assert_eq!(tenant.guid(), Some(guid.as_str()));
    let cloud = tenant.discovered().unwrap();
    assert_eq!(
        cloud.cloud_instance_name.as_deref(),
        Some("microsoftonline.com")
    );
    assert_eq!(cloud.msgraph_host.as_deref(), Some("graph.microsoft.com"));
    assert_eq!(cloud.tenant_region_scope.as_deref(), Some("NA"));
    assert_eq!(w.fake.requests(FakeRequest::OpenIdConfiguration), 1);

    // The GUID is stored with the customer and comes back with it.
    let stored = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(&stored.customer().tenant, tenant);

    // The password and app-registration journeys resolve too.
    let consent = fabrikam_password(&w).await;
    let fabrikam = w.fake.tenant_id("fabrikam.com");
    assert_eq!(consent.customer().tenant.guid(), Some(fabrikam.as_str()));
    let consent =
        w.ta.connect_app_registration(
            new_customer("woodgrove", "woodgrove.com"),
            APP_ID,
            ClientSecret::new("s"),
        )
        .await
        .unwrap();
    let woodgrove = w.fake.tenant_id("woodgrove.com");
    assert_eq!(consent.customer().tenant.guid(), Some(woodgrove.as_str()));
    assert_eq!(w.fake.requests(FakeRequest::OpenIdConfiguration), 3);
}

#[tokio::test]
async fn an_unknown_tenant_is_an_input_error_at_invitation_and_nothing_is_stored() {
    let w = world().await;
    w.fake.forget_tenant("nobody.example");
    let error =
        w.ta.invite(new_customer("nobody", "nobody.example"))
            .await
            .unwrap_err();
    assert!(
        matches!(&error, Error::Input(InputError::UnknownTenant(t)) if t == "nobody.example"),
        "{error:?}"
    );
    assert_eq!(error.action(), Action::FixInput);
    assert!(error.to_string().contains("nobody.example"), "{error}");
    assert_eq!(
        w.ta.load(&id("nobody")).await.unwrap_err().action(),
        Action::NotFound
    );

    let error =
        w.ta.connect_with_password(
            new_customer("nobody", "nobody.example"),
            "admin@nobody.example",
            Password::new("pw"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Input(InputError::UnknownTenant(_))));
    let error =
        w.ta.connect_app_registration(
            new_customer("nobody", "nobody.example"),
            APP_ID,
            ClientSecret::new("s"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Input(InputError::UnknownTenant(_))));
    assert_eq!(
        w.ta.load(&id("nobody")).await.unwrap_err().action(),
        Action::NotFound
    );
    assert!(w.mailer.messages().is_empty());
    assert_eq!(token_requests(&w.fake), 0);
}

#[tokio::test]
async fn a_transient_discovery_failure_says_retry_and_stores_nothing() {
    let w = world().await;
    for _ in 0..8 {
        w.fake
            .inject(FakeEndpoint::OpenIdConfiguration, Fault::Status(503));
    }
    let error =
        w.ta.invite(new_customer("contoso", "contoso.com"))
            .await
            .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Provider(ProviderError::Unavailable { status: 503, .. })
        ),
        "{error:?}"
    );
    assert!(matches!(error.action(), Action::Retry { .. }));
    assert!(w.ta.load(&id("contoso")).await.is_err());
}

// ---- item 11: the consent callback -------------------------------------------------------

/// The administrator consents at the journey's admin-consent URL; the portal's callback.
async fn admin_consents(w: &World, consent: &Onboarding<ConsentRequired>) -> ConsentCallback {
    let url = consent.stage().admin_consent_url();
    let redirect = w.fake.admin_consents(url).await.unwrap();
    ConsentCallback::from_url(&redirect).unwrap()
}

/// An app-registration journey for `woodgrove.com`, its app registered in the fake.
async fn woodgrove_app(w: &World) -> Onboarding<ConsentRequired> {
    w.fake.add_app("woodgrove.com", APP_ID, "app-secret");
    let new = new_customer("woodgrove", "woodgrove.com");
    let secret = ClientSecret::new("app-secret");
    w.ta.connect_app_registration(new, APP_ID, secret)
        .await
        .unwrap()
}

/// A password journey for `fabrikam.com`, its admin a user of the fake.
async fn fabrikam_password(w: &World) -> Onboarding<ConsentRequired> {
    w.fake.add_user("fabrikam.com", "admin@fabrikam.com", "pw");
    let new = new_customer("fabrikam", "fabrikam.com");
    let password = Password::new("pw");
    w.ta.connect_with_password(new, "admin@fabrikam.com", password)
        .await
        .unwrap()
}

/// A password journey for `fabrikam.com` whose admin-consent redirect names `ELSEWHERE`.
async fn consent_from_elsewhere(w: &World) -> (Onboarding<ConsentRequired>, ConsentCallback) {
    w.fake.scenario("fabrikam.com", |s| {
        s.consent_callback_tenant = Some(ELSEWHERE.into());
    });
    let consent = fabrikam_password(w).await;
    let callback = admin_consents(w, &consent).await;
    assert_eq!(callback.tenant.as_deref(), Some(ELSEWHERE));
    (consent, callback)
}

#[tokio::test]
async fn the_consent_callback_with_a_foreign_tenant_is_refused_for_a_domain_invite_without_any_token_request()
 {
    let w = world().await;
    let (consent, callback) = consent_from_elsewhere(&w).await;
    let before = w.ta.load(&id("fabrikam")).await.unwrap();

    let error = w.ta.complete_consent(&callback).await.unwrap_err();
    assert_eq!(
        flow_error(&error),
        &FlowError::ConsentTenantMismatch {
            expected: w.fake.tenant_id("fabrikam.com"),
            actual: ELSEWHERE.into(),
        }
    );
    assert_eq!(error.action(), Action::AskCustomer);
    // No password was sent to get a token, and the stored journey is as it was.
    assert_eq!(token_requests(&w.fake), 0);
    let after = w.ta.load(&id("fabrikam")).await.unwrap();
    assert_eq!(after.kind(), StageKind::ConsentRequired);
    assert_eq!(after.version(), before.version());
    assert!(after.customer().token.is_none());

    // The typed step hands the stage back unchanged.
    let rejected = consent
        .complete_consent(&w.ta, &callback)
        .await
        .unwrap_err();
    assert!(matches!(
        flow_error(rejected.error()),
        FlowError::ConsentTenantMismatch { .. }
    ));
    let consent = rejected.into_onboarding();
    assert_eq!(consent.version(), before.version());
    assert_eq!(token_requests(&w.fake), 0);

    // The right tenant's callback then completes the journey.
    w.fake
        .scenario("fabrikam.com", |s| s.consent_callback_tenant = None);
    let good = admin_consents(&w, &consent).await;
    let token = consent.complete_consent(&w.ta, &good).await.unwrap();
    token.validate(&w.ta).await.unwrap();
    assert_eq!(w.fake.requests(FakeRequest::Password), 1);
}

#[tokio::test]
async fn a_consent_callback_naming_the_domain_instead_of_the_guid_is_refused_too() {
    let w = world().await;
    w.fake.scenario("woodgrove.com", |s| {
        s.consent_callback_tenant = Some("woodgrove.com".into());
    });
    let consent = woodgrove_app(&w).await;
    let callback = admin_consents(&w, &consent).await;
    let error = w.ta.complete_consent(&callback).await.unwrap_err();
    assert!(matches!(
        flow_error(&error),
        FlowError::ConsentTenantMismatch { .. }
    ));
    assert_eq!(w.fake.requests(FakeRequest::ClientCredentials), 0);
}

// ---- item 12: a token of another tenant is not kept ----------------------------------------

#[tokio::test]
async fn a_device_code_token_for_another_tenant_is_not_stored() {
    let w = world().await;
    w.fake.scenario("contoso.com", |s| {
        s.token_tenant = Some(ELSEWHERE.into());
    });
    let rejected = sign_in_and_poll(&w, "contoso", "contoso.com")
        .await
        .unwrap_err();
    assert_eq!(
        flow_error(rejected.error()),
        &FlowError::TenantMismatch {
            expected: w.fake.tenant_id("contoso.com"),
            actual: ELSEWHERE.into(),
        }
    );
    assert_eq!(rejected.error().action(), Action::AskCustomer);
    assert_eq!(w.fake.requests(FakeRequest::DevicePoll), 1);
    let stored = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(stored.kind(), StageKind::DeviceCodeIssued);
    assert!(stored.customer().token.is_none());
    assert!(stored.customer().device_authenticated_at.is_none());
    assert!(
        stored
            .customer()
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(ELSEWHERE))
    );
}

#[tokio::test]
async fn password_and_client_credentials_tokens_for_another_tenant_are_not_stored() {
    let w = world().await;
    // Password: consent given properly, but the token names another tenant.
    w.fake
        .grant_admin_consent("fabrikam.com", &w.fake.client_id());
    w.fake.scenario("fabrikam.com", |s| {
        s.token_tenant = Some(ELSEWHERE.into());
    });
    let consent = fabrikam_password(&w).await;
    let rejected = consent.acquire_token(&w.ta).await.unwrap_err();
    assert!(matches!(
        flow_error(rejected.error()),
        FlowError::TenantMismatch { .. }
    ));
    assert_eq!(w.fake.requests(FakeRequest::Password), 1);
    let stored = w.ta.load(&id("fabrikam")).await.unwrap();
    assert_eq!(stored.kind(), StageKind::ConsentRequired);
    assert!(stored.customer().token.is_none());

    // Client credentials of an app registration, after a proper consent callback.
    w.fake.scenario("woodgrove.com", |s| {
        s.token_tenant = Some("elsewhere.example".into());
    });
    let consent = woodgrove_app(&w).await;
    let callback = admin_consents(&w, &consent).await;
    let error = w.ta.complete_consent(&callback).await.unwrap_err();
    assert_eq!(
        flow_error(&error),
        &FlowError::TenantMismatch {
            expected: w.fake.tenant_id("woodgrove.com"),
            actual: w.fake.tenant_id("elsewhere.example"),
        }
    );
    assert_eq!(w.fake.requests(FakeRequest::ClientCredentials), 1);
    let stored = w.ta.load(&id("woodgrove")).await.unwrap();
    assert_eq!(stored.kind(), StageKind::ConsentRequired);
    assert!(stored.customer().token.is_none());
}

#[tokio::test]
async fn a_refreshed_token_for_another_tenant_leaves_the_stored_tokens_alone() {
    let w = world().await;
    let PollOutcome::Authenticated(token) = sign_in_and_poll(&w, "contoso", "contoso.com")
        .await
        .unwrap()
    else {
        panic!("signed in")
    };
    let connected = token.validate(&w.ta).await.unwrap();
    let kept = connected.customer().token.clone().unwrap();

    w.fake.scenario("contoso.com", |s| {
        s.token_tenant = Some(ELSEWHERE.into());
    });
    let rejected = connected.refresh(&w.ta).await.unwrap_err();
    assert!(matches!(
        flow_error(rejected.error()),
        FlowError::TenantMismatch { .. }
    ));
    assert_eq!(w.fake.requests(FakeRequest::Refresh), 1);
    let stored = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(stored.kind(), StageKind::Validated);
    let token = stored.customer().token.as_ref().unwrap();
    assert_eq!(
        token.access_token.expose_secret(),
        kept.access_token.expose_secret()
    );
    assert_eq!(
        token.refresh_token.as_ref().unwrap().expose_secret(),
        kept.refresh_token.as_ref().unwrap().expose_secret()
    );
    // The engine's own refresh says the same, and keeps the tokens too.
    let error = w.ta.refresh_now(&id("contoso")).await.unwrap_err();
    assert!(matches!(
        flow_error(&error),
        FlowError::TenantMismatch { .. }
    ));
    let stored = w.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(
        stored
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret(),
        kept.access_token.expose_secret()
    );
}

// ---- the wire --------------------------------------------------------------------------------

#[tokio::test]
async fn fake_entra_serves_the_openid_configuration_per_tenant_and_invalid_tenant_for_unknown_ones()
{
    let w = world().await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let url = w.fake.url().join(&path).unwrap();
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let guid = w.fake.tenant_id("contoso.com");
    for name in ["contoso.com", guid.as_str()] {
        let (status, body) = get(format!("{name}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(status, 200);
        let issuer = body["issuer"].as_str().unwrap();
        assert!(issuer.ends_with(&format!("/{guid}/v2.0")), "{issuer}");
        assert!(body["token_endpoint"].as_str().unwrap().contains(&guid));
        for field in ["authorization_endpoint", "device_authorization_endpoint"] {
            assert!(body[field].as_str().unwrap().contains(&guid), "{field}");
        }
        assert_eq!(body["cloud_instance_name"], "microsoftonline.com");
        assert_eq!(body["msgraph_host"], "graph.microsoft.com");
        assert!(body["tenant_region_scope"].is_string());
        let methods = body["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.iter().any(|m| m == "private_key_jwt"));
    }

    assert!(w.fake.forget_tenant("contoso.com"));
    let (status, body) = get("contoso.com/v2.0/.well-known/openid-configuration".into()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_tenant");
    assert_eq!(body["error_codes"], serde_json::json!([90002]));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002")
    );
    // Every endpoint naming it says the same, by name or by GUID.
    for path in [
        format!("{guid}/v2.0/.well-known/openid-configuration"),
        "contoso.com/v2.0/adminconsent?client_id=x&scope=s&redirect_uri=https://p.example/cb"
            .into(),
    ] {
        let (status, body) = get(path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_tenant"))
        );
    }
    let token = http
        .post(w.fake.url().join("contoso.com/oauth2/v2.0/token").unwrap())
        .form(&[("grant_type", "client_credentials"), ("client_id", APP_ID)])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status().as_u16(), 400);
    let body: serde_json::Value = token.json().await.unwrap();
    assert_eq!(body["error"], "invalid_tenant");
    assert_eq!(w.fake.requests(FakeRequest::OpenIdConfiguration), 4);
}

#[tokio::test]
async fn the_entra_provider_discovers_guid_and_cloud_or_says_unknown() {
    let w = world().await;
    let entra = w.fake.provider().unwrap();
    let contoso = TenantId::new("contoso.com").unwrap();
    let TenantDiscovery::Found(found) = entra.discover_tenant(&contoso).await.unwrap() else {
        panic!("contoso.com exists")
    };
    assert_eq!(found.id, w.fake.tenant_id("contoso.com"));
    assert_eq!(found.msgraph_host.as_deref(), Some("graph.microsoft.com"));

    w.fake.forget_tenant("nobody.example");
    let nobody = TenantId::new("nobody.example").unwrap();
    match entra.discover_tenant(&nobody).await.unwrap() {
        TenantDiscovery::Unknown(detail) => {
            assert_eq!(
                (detail.error.as_str(), detail.codes.as_slice()),
                ("invalid_tenant", &[90002][..])
            )
        }
        other => panic!("{other:?}"),
    }

    // Throttling is waited out within the call (on the shared clock), then answered.
    w.fake.inject(
        FakeEndpoint::OpenIdConfiguration,
        Fault::Throttle { retry_after: 2 },
    );
    let started = w.clock.now();
    assert!(matches!(
        entra.discover_tenant(&contoso).await.unwrap(),
        TenantDiscovery::Found(_)
    ));
    assert!(w.clock.now() - started >= time::Duration::seconds(2));
}

// ---- validation, old records, other providers ---------------------------------------------

#[tokio::test]
async fn validation_compares_graphs_organization_id_with_the_guid_not_the_domain_list() {
    let h = support::harness();
    let connected = h.validated("contoso").await;
    let guid = connected.customer().tenant.guid().unwrap().to_owned();
    assert_eq!(guid, h.mock.tenant_guid("contoso.onmicrosoft.com"));
    // Graph answers another organization that also lists the invited domain: refused.
    h.mock.script(&id("contoso"), |s| {
        s.validates_as(TenantInfo {
            id: ELSEWHERE.into(),
            display_name: "Someone else".into(),
            domains: vec!["contoso.onmicrosoft.com".into()],
        });
    });
    let error = h.ta.verify(&id("contoso")).await.unwrap_err();
    assert_eq!(
        flow_error(&error),
        &FlowError::TenantMismatch {
            expected: "contoso.onmicrosoft.com".into(),
            actual: ELSEWHERE.into(),
        }
    );
}

#[tokio::test]
async fn a_tenant_kept_as_given_is_checked_as_before() {
    // A provider without tenant discovery (a standards-only server), or a record stored
    // before discovery existed: the domain is matched by the verified domains, as before.
    let h = support::harness();
    h.mock.without_tenant_discovery();
    let connected = h.validated("contoso").await;
    assert_eq!(connected.customer().tenant.guid(), None);
    assert_eq!(h.mock.discoveries(), 1);
    h.mock.script(&id("contoso"), |s| {
        s.validates_as(TenantInfo {
            id: ELSEWHERE.into(),
            display_name: "Contoso".into(),
            domains: vec!["contoso.onmicrosoft.com".into()],
        });
    });
    h.ta.verify(&id("contoso")).await.unwrap();
}

#[tokio::test]
async fn the_mock_pins_what_it_is_told_and_refuses_unknown_tenants() {
    let h = support::harness();
    let guid = "12345678-1234-1234-1234-123456789abc";
    let mut found = DiscoveredTenant::new(guid).unwrap();
    found.cloud_instance_name = Some("microsoftonline.us".into());
    h.mock.discovers_as("contoso.onmicrosoft.com", found);
    let connected = h.validated("contoso").await;
    assert_eq!(connected.customer().tenant.guid(), Some(guid));
    let cloud = connected.customer().tenant.discovered().unwrap();
    assert_eq!(
        cloud.cloud_instance_name.as_deref(),
        Some("microsoftonline.us")
    );

    h.mock.unknown_tenant("gone.onmicrosoft.com");
    let error = h.ta.invite(support::customer("gone")).await.unwrap_err();
    assert!(matches!(error, Error::Input(InputError::UnknownTenant(_))));

    // A device-code token naming another tenant in its `tid` is not kept.
    h.mock.script(&id("fabrikam"), |s| {
        s.token_tenant(ELSEWHERE);
    });
    let device = h.device("fabrikam").await;
    let rejected = device.poll_until_done(&h.ta).await.unwrap_err();
    assert!(matches!(
        flow_error(rejected.error()),
        FlowError::TenantMismatch { .. }
    ));
    let stored = h.ta.load(&id("fabrikam")).await.unwrap();
    assert!(stored.customer().token.is_none());
}

#[cfg(feature = "oidc")]
#[tokio::test]
async fn a_standards_server_has_no_tenant_discovery_and_keeps_the_tenant_as_given() {
    use tenant_access::provider::oidc::{OidcConfig, OidcProvider};
    let oidc = OidcProvider::new(OidcConfig::new("https://id.example.com", "msp-portal").unwrap())
        .unwrap();
    let tenant = TenantId::new("id.example.com").unwrap();
    assert_eq!(
        oidc.discover_tenant(&tenant).await.unwrap(),
        TenantDiscovery::Unsupported
    );
}
