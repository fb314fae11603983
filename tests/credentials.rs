//! Credentials and their expiry, on the mock provider, memory store and manual clock: an app
//! registration by certificate or by a secret with an end date, the warning window and the
//! attention list, no request sent with an expired credential, switching a customer's app
//! registration from a secret to a certificate, Graph's end dates, and the MSP's own
//! credential.

mod support;

use std::time::Duration;

use support::{Harness, certificate, customer, harness};
use tenant_access::error::{Action, Error, FlowError};
use tenant_access::journey::StageKind;
use tenant_access::model::{AppCredential, ClientSecret, CredentialExpiry, ExpiryState};
use tenant_access::ops::{MaintenancePolicy, StatusRow};
use tenant_access::provider::ConsentCallback;
use tenant_access::store::Filter;
use tenant_access::testing::mock::Operation;
use tenant_access::{AnyOnboarding, CustomerId, Method, Onboarding};
use time::OffsetDateTime;

const DAY: Duration = Duration::from_secs(86_400);

fn id(name: &str) -> CustomerId {
    CustomerId::new(name).unwrap()
}

/// A customer connected through its app registration with `credential`.
async fn app_connected(
    h: &Harness,
    name: &str,
    credential: impl Into<AppCredential>,
) -> Onboarding<tenant_access::journey::Validated> {
    let pending =
        h.ta.connect_app_registration(customer(name), "customer-app", credential)
            .await
            .unwrap();
    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    h.ta.complete_consent(&callback)
        .await
        .unwrap()
        .validate(&h.ta)
        .await
        .unwrap()
}

async fn row(h: &Harness, name: &str) -> StatusRow {
    let report = h.ta.status_report(&Filter::all()).await.unwrap();
    report
        .rows
        .iter()
        .find(|r| r.customer.as_str() == name)
        .cloned()
        .unwrap()
}

fn now(h: &Harness) -> OffsetDateTime {
    h.ta.clock().now()
}

#[tokio::test]
async fn a_certificate_enters_the_attention_list_at_the_window_and_is_expired_at_its_end() {
    let h = harness();
    let start = now(&h);
    let cert = certificate(start - 10 * DAY, start + 40 * DAY);
    let not_after = cert.not_after();
    app_connected(&h, "contoso", cert.clone()).await;

    // Forty days out, the 30-day window has not begun.
    let first = row(&h, "contoso").await;
    let status = first.credential.clone().unwrap();
    assert_eq!(status.state, ExpiryState::Valid);
    assert_eq!(status.expiry.kind, "certificate");
    assert_eq!(status.expiry.expires_at, not_after);
    assert!(status.expiry.name.contains(cert.thumbprint()));
    assert!(!first.needs_attention());

    // Ten days on: inside the window, on the attention list, and in the CSV.
    h.clock.advance(10 * DAY + Duration::from_secs(1));
    let report = h.ta.status_report(&Filter::all()).await.unwrap();
    let attention: Vec<_> = report.attention().map(|r| r.customer.clone()).collect();
    assert_eq!(attention, vec![id("contoso")]);
    assert_eq!(
        report.rows[0].credential.as_ref().unwrap().state,
        ExpiryState::ExpiresSoon
    );
    let csv = StatusRow::csv(&report);
    assert!(csv.contains("expires_soon"), "{csv}");
    // It still works until its end: a refresh goes out.
    let before = h.mock.count(Operation::ClientCredentials);
    h.ta.refresh_now(&id("contoso")).await.unwrap();
    assert_eq!(h.mock.count(Operation::ClientCredentials), before + 1);

    // At its end: expired, reported, and no request is sent with it.
    h.clock.advance(30 * DAY);
    let expired = row(&h, "contoso").await;
    assert_eq!(expired.credential.unwrap().state, ExpiryState::Expired);
    let sent = h.mock.count(Operation::ClientCredentials);
    let err = h.ta.refresh_now(&id("contoso")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Flow(FlowError::CredentialExpired { expired_at, .. }) if *expired_at == not_after),
        "{err}"
    );
    assert_eq!(err.action(), Action::AskCustomer);
    assert_eq!(h.mock.count(Operation::ClientCredentials), sent);
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    assert!(
        stored
            .customer()
            .last_error
            .as_deref()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_secret_with_an_end_date_is_tracked_and_refused_after_it() {
    let h = harness();
    let end = now(&h) + 20 * DAY;
    app_connected(
        &h,
        "fabrikam",
        AppCredential::secret_expiring(ClientSecret::new("s3cret"), end),
    )
    .await;
    let status = row(&h, "fabrikam").await.credential.unwrap();
    assert_eq!(status.state, ExpiryState::ExpiresSoon);
    assert_eq!(status.expiry.kind, "client secret");
    assert_eq!(status.expiry.expires_at, end);

    h.clock.advance(20 * DAY);
    let sent = h.mock.count(Operation::ClientCredentials);
    let err = h.ta.refresh_now(&id("fabrikam")).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Flow(FlowError::CredentialExpired { .. })
    ));
    assert_eq!(h.mock.count(Operation::ClientCredentials), sent);
}

#[tokio::test]
async fn an_expired_credential_is_refused_before_consent_gets_a_token() {
    let h = harness();
    let start = now(&h);
    let pending =
        h.ta.connect_app_registration(
            customer("litware"),
            "customer-app",
            certificate(start - 400 * DAY, start - DAY),
        )
        .await
        .unwrap();
    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let err = h.ta.complete_consent(&callback).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Flow(FlowError::CredentialExpired { .. })
    ));
    assert_eq!(h.mock.count(Operation::ClientCredentials), 0);
    assert_eq!(
        h.ta.load(&id("litware")).await.unwrap().kind(),
        StageKind::ConsentRequired
    );
}

#[tokio::test]
async fn a_secret_without_an_end_date_takes_the_one_graph_names() {
    let h = harness();
    let graph_end = now(&h) + 300 * DAY;
    h.mock.script(&id("tailspin"), |s| {
        s.app_credentials(vec![
            CredentialExpiry {
                kind: "client secret",
                name: "portal (abc)".into(),
                expires_at: graph_end,
            },
            CredentialExpiry {
                kind: "client secret",
                name: "old (xyz)".into(),
                expires_at: graph_end + 100 * DAY,
            },
            CredentialExpiry {
                kind: "certificate",
                name: "CN=other".into(),
                expires_at: graph_end - 200 * DAY,
            },
        ]);
    });
    app_connected(&h, "tailspin", ClientSecret::new("abc-secret")).await;
    assert_eq!(h.mock.count(Operation::AppCredentialExpiry), 1);
    let status = row(&h, "tailspin").await.credential.unwrap();
    // The earliest secret (the one in use cannot be told apart); the certificate is another
    // kind of credential than the one held.
    assert_eq!(status.expiry.expires_at, graph_end);
    assert_eq!(status.expiry.name, "portal (abc)");

    // A provider that cannot read them leaves the end unknown and the connection validated.
    app_connected(&h, "northwind", ClientSecret::new("x")).await;
    assert!(row(&h, "northwind").await.credential.is_none());
}

#[tokio::test]
async fn switching_an_app_registration_from_a_secret_to_a_certificate() {
    let h = harness();
    let old = app_connected(&h, "contoso", ClientSecret::new("old-secret")).await;
    let old_token = old.customer().token.clone().unwrap().access_token;
    let start = now(&h);
    let cert = certificate(start - DAY, start + 365 * DAY);
    let pending =
        h.ta.switch_to_app_registration(&id("contoso"), "customer-app", cert.clone())
            .await
            .unwrap();
    // The old secret serves until the certificate is validated.
    let served = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(served.expose_secret(), old_token.expose_secret());
    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let token = h.ta.complete_consent(&callback).await.unwrap();
    assert!(token.is_switch());
    let taken = token.validate(&h.ta).await.unwrap();
    assert_eq!(taken.customer().method, Method::AppRegistration);
    match &taken.customer().credentials {
        Some(tenant_access::model::Credentials::AppRegistration {
            credential: AppCredential::Certificate(stored),
            ..
        }) => assert_eq!(stored.thumbprint(), cert.thumbprint()),
        other => panic!("{other:?}"),
    }
    // Stored sealed and read back as the same certificate.
    let AnyOnboarding::Validated(loaded) = h.ta.load(&id("contoso")).await.unwrap() else {
        panic!("validated")
    };
    assert_eq!(
        loaded.customer().credential_expiry().unwrap().expires_at,
        cert.not_after()
    );
}

#[tokio::test]
async fn the_msps_own_credential_is_reported_and_checked_by_the_maintainer() {
    let h = harness();
    assert!(
        h.ta.status_report(&Filter::all())
            .await
            .unwrap()
            .client_credential
            .is_none()
    );
    let end = now(&h) + 45 * DAY;
    h.mock.client_credential_expires(CredentialExpiry {
        kind: "certificate",
        name: "CN=portal".into(),
        expires_at: end,
    });
    let report = h.ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(
        report.client_credential.as_ref().unwrap().state,
        ExpiryState::Valid
    );
    let policy = MaintenancePolicy::default();
    let pass = h.ta.maintenance_pass(&policy).await.unwrap();
    assert_eq!(pass.client_credential, Some(ExpiryState::Valid));

    h.clock.advance(16 * DAY);
    let pass = h.ta.maintenance_pass(&policy).await.unwrap();
    assert_eq!(pass.client_credential, Some(ExpiryState::ExpiresSoon));
    let table = h.ta.status_report(&Filter::all()).await.unwrap().table();
    assert!(table.contains("the MSP's client certificate"), "{table}");

    h.clock.advance(30 * DAY);
    let pass = h.ta.maintenance_pass(&policy).await.unwrap();
    assert_eq!(pass.client_credential, Some(ExpiryState::Expired));
}

#[tokio::test]
async fn the_warning_window_is_configurable() {
    let h = harness();
    let ta = h.engine(
        tenant_access::Config::builder("https://portal.example.com")
            .consent_client_id(support::CONSENT_CLIENT)
            .consent_redirect_url(support::REDIRECT)
            .credential_warning(60 * DAY)
            .build()
            .unwrap(),
        h.store.clone(),
    );
    let end = now(&h) + 45 * DAY;
    app_connected(
        &h,
        "contoso",
        AppCredential::secret_expiring(ClientSecret::new("s"), end),
    )
    .await;
    let default_window = row(&h, "contoso").await.credential.unwrap().state;
    assert_eq!(default_window, ExpiryState::Valid);
    let report = ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(
        report.rows[0].credential.as_ref().unwrap().state,
        ExpiryState::ExpiresSoon
    );
}
