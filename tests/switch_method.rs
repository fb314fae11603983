//! Switching method: the new journey runs while the old connection serves, takes over in one
//! write when validated, and cancelling keeps the old connection.

mod support;

use std::time::Duration;
use support::{Harness, customer, harness};
use tenant_access::error::{Error, FlowError, InputError};
use tenant_access::journey::{StageKind, TokenAcquired, Validated};
use tenant_access::model::TenantInfo;
use tenant_access::model::{ClientSecret, Password};
use tenant_access::provider::ConsentCallback;
use tenant_access::testing::mock::Operation;
use tenant_access::{
    AnyOnboarding, CustomerId, EmailAddress, Method, Onboarding, PollOutcome, TenantAccess,
};

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

/// A second portal replica on the same store, provider and clock, with an empty cache.
fn replica(h: &Harness) -> TenantAccess {
    TenantAccess::builder()
        .config(h.ta.config().clone())
        .store(h.store.clone())
        .mailer(h.mailer.clone())
        .provider(h.mock.clone())
        .clock(h.clock.clone())
        .build()
        .unwrap()
}

/// A customer connected with the password journey.
async fn password_connected(h: &Harness, name: &str) -> Onboarding<Validated> {
    let pending =
        h.ta.connect_with_password(customer(name), "svc@contoso.com", Password::new("pw"))
            .await
            .unwrap();
    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let token = h.ta.complete_consent(&callback).await.unwrap();
    token.validate(&h.ta).await.unwrap()
}

/// Starts a device-code switch to the current admin and mails its invitation.
async fn start_device_switch(h: &Harness, name: &str) {
    h.ta.switch_to_device_code(&id(name), None)
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
}

/// The access token a journey holds, as text.
fn access_of(customer: &tenant_access::model::Customer) -> String {
    customer
        .token
        .as_ref()
        .expect("a token")
        .access_token
        .expose_secret()
        .to_owned()
}

/// Drives a device-code switch journey from its mailed link to a token.
async fn device_switch_to_token(h: &Harness, name: &str, admin: &str) -> Onboarding<TokenAcquired> {
    let code = h
        .mailer
        .last_code_to(admin)
        .expect("switch invitation mailed");
    let claimed = match h.ta.open_invitation(&code).await.unwrap() {
        AnyOnboarding::InvitationSent(sent) => sent.claim(&h.ta).await.unwrap(),
        other => panic!("unexpected {:?}", other.kind()),
    };
    assert_eq!(claimed.id(), &id(name));
    assert!(
        claimed.is_switch(),
        "the link opens the switch, not the connection"
    );
    let device = claimed.start_device_code(&h.ta).await.unwrap();
    match device.poll_until_done(&h.ta).await.unwrap() {
        PollOutcome::Authenticated(token) => token,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn password_to_app_registration_serves_the_old_token_until_the_take_over() {
    let h = harness();
    let before = password_connected(&h, "contoso").await;
    let old_token = h.ta.access_token(&id("contoso")).await.unwrap();

    let pending =
        h.ta.switch_to_app_registration(&id("contoso"), "app-123", ClientSecret::new("s3cret"))
            .await
            .unwrap();
    assert_eq!(pending.id().as_str(), "contoso");
    assert!(pending.is_switch());
    assert_eq!(pending.customer().method, Method::AppRegistration);

    // While the switch waits for consent, the old connection is untouched and serves.
    let during = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(during.kind(), StageKind::Validated);
    assert_eq!(during.customer().method, Method::Password);
    assert_eq!(
        access_of(during.customer()),
        access_of(before.customer()),
        "the connection's token is the one it had"
    );
    assert_eq!(
        during.pending_switch().map(|s| s.customer.method),
        Some(Method::AppRegistration),
        "the switch is stored beside the connection"
    );
    // Another replica, with nothing cached, is served the old token from the store.
    let served = replica(&h).access_token(&id("contoso")).await.unwrap();
    assert_eq!(served.expose_secret(), old_token.expose_secret());
    assert_eq!(
        h.ta.pending_switch(&id("contoso"))
            .await
            .unwrap()
            .map(|p| p.kind()),
        Some(StageKind::ConsentRequired)
    );

    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&h.mock.admin_consents(&url)).unwrap();
    let token = h.ta.complete_consent(&callback).await.unwrap();
    let taken = token.validate(&h.ta).await.unwrap();

    assert_eq!(taken.id(), &id("contoso"));
    assert_eq!(taken.customer().method, Method::AppRegistration);
    assert_eq!(taken.customer().created_at, before.customer().created_at);
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(stored.kind(), StageKind::Validated);
    assert_eq!(stored.customer().method, Method::AppRegistration);
    assert_eq!(stored.version(), taken.version());
    let new_token = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_ne!(new_token.expose_secret(), old_token.expose_secret());
    assert_eq!(new_token.expose_secret(), access_of(taken.customer()));
    // The switch journey is gone; the audit trails tell the story.
    assert!(h.ta.pending_switch(&id("contoso")).await.unwrap().is_none());
    let notes: Vec<String> =
        h.ta.events(&id("contoso"))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.note)
            .collect();
    assert!(notes.contains(&"method switch to app_registration started".to_owned()));
    assert!(notes.contains(&"method switched from password to app_registration".to_owned()));
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("method switch to app_registration")),
        "the switch journey's own steps are in the customer's trail: {notes:?}"
    );
    assert_eq!(
        notes.last().map(String::as_str),
        Some("method switched from password to app_registration")
    );
}

#[tokio::test]
async fn device_code_switch_runs_through_the_invitation_link() {
    let h = harness();
    password_connected(&h, "fabrikam").await;
    let new_admin = EmailAddress::new("it-lead@fabrikam.com").unwrap();
    let invited =
        h.ta.switch_to_device_code(&id("fabrikam"), Some(new_admin))
            .await
            .unwrap();
    invited.send(&h.ta).await.unwrap();
    let token = device_switch_to_token(&h, "fabrikam", "it-lead@fabrikam.com").await;
    // Still the old method until validation.
    let stored = h.ta.load(&id("fabrikam")).await.unwrap();
    assert_eq!(stored.customer().method, Method::Password);
    let taken = token.validate(&h.ta).await.unwrap();
    assert_eq!(taken.customer().method, Method::DeviceCode);
    assert_eq!(
        taken.customer().admin_email.as_str(),
        "it-lead@fabrikam.com"
    );
    assert!(taken.customer().device_authenticated_at.is_some());
    let invitation = taken.customer().invitation.as_ref().unwrap();
    assert!(invitation.code_hash.is_none(), "the switch link must die");
    assert!(taken.customer().credentials.is_none());
    let stored = h.ta.load(&id("fabrikam")).await.unwrap();
    assert_eq!(stored.customer().method, Method::DeviceCode);
    assert!(
        h.ta.pending_switch(&id("fabrikam"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn cancelling_keeps_the_old_connection_and_kills_the_link() {
    let h = harness();
    let before = h.validated("contoso").await;
    start_device_switch(&h, "contoso").await;
    let code = h.mailer.last_code_to("admin@contoso.com").unwrap();
    h.ta.cancel_switch(&id("contoso")).await.unwrap();

    assert!(h.ta.pending_switch(&id("contoso")).await.unwrap().is_none());
    assert!(matches!(
        h.ta.open_invitation(&code).await,
        Err(Error::InvalidInvitation)
    ));
    let after = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(after.kind(), StageKind::Validated);
    assert!(after.pending_switch().is_none());
    assert_eq!(after.customer().method, Method::DeviceCode);
    assert_eq!(access_of(after.customer()), access_of(before.customer()));
    // A new switch may start after a cancel; a second cancel has nothing to cancel.
    assert!(matches!(
        h.ta.cancel_switch(&id("contoso")).await,
        Err(Error::Flow(FlowError::NoSwitchInProgress(_)))
    ));
    h.ta.switch_to_device_code(&id("contoso"), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn one_switch_at_a_time_only_for_connected_customers() {
    let h = harness();
    h.validated("contoso").await;
    h.ta.switch_to_device_code(&id("contoso"), None)
        .await
        .unwrap();
    match h
        .ta
        .switch_to_password(&id("contoso"), "svc@contoso.com", Password::new("pw"))
        .await
    {
        Err(Error::Flow(FlowError::SwitchInProgress { customer, method })) => {
            assert_eq!(customer, id("contoso"));
            assert_eq!(method, Method::DeviceCode);
        }
        other => panic!("expected SwitchInProgress, got {other:?}"),
    }
    // Not connected yet: nothing to switch from.
    h.ta.invite(customer("northwind")).await.unwrap();
    assert!(matches!(
        h.ta.switch_to_device_code(&id("northwind"), None).await,
        Err(Error::Flow(FlowError::NotConnected {
            stage: StageKind::Invited,
            ..
        }))
    ));
    assert!(matches!(
        h.ta.switch_to_device_code(&id("nobody"), None).await,
        Err(Error::Flow(FlowError::NotFound(_)))
    ));
    // Bad credentials are refused before anything is stored.
    assert!(matches!(
        h.ta.switch_to_app_registration(&id("northwind"), " ", ClientSecret::new("x"))
            .await,
        Err(Error::Input(InputError::Credentials(_)))
    ));
    // A switch has no id of its own: any id is an ordinary customer's, unrelated to
    // `contoso`'s switch.
    let mut lookalike = customer("contoso");
    lookalike.id = id("contoso#switch");
    h.ta.invite(lookalike).await.unwrap();
    assert_eq!(
        h.ta.pending_switch(&id("contoso"))
            .await
            .unwrap()
            .map(|p| p.kind()),
        Some(StageKind::Invited)
    );
}

#[tokio::test]
async fn the_take_over_replaces_a_connection_refreshed_during_the_switch() {
    let h = harness();
    h.validated("contoso").await;
    start_device_switch(&h, "contoso").await;
    let token = device_switch_to_token(&h, "contoso", "admin@contoso.com").await;
    let new_access = access_of(token.customer());
    // The old connection refreshes (a new record version) before the take-over.
    h.clock.advance(Duration::from_secs(58 * 60));
    let refreshes = h.mock.count(Operation::Refresh);
    h.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(h.mock.count(Operation::Refresh), refreshes + 1);
    let taken = token.validate(&h.ta).await.unwrap();
    assert_eq!(
        taken
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret(),
        new_access
    );
    let stored = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(stored.version(), taken.version());
    assert_eq!(
        stored
            .customer()
            .token
            .as_ref()
            .unwrap()
            .access_token
            .expose_secret(),
        new_access
    );
    // The new connection serves (its token, obtained 58 minutes ago, is refreshed ahead).
    let refreshes = h.mock.count(Operation::Refresh);
    let served = h.ta.access_token(&id("contoso")).await.unwrap();
    assert_eq!(h.mock.count(Operation::Refresh), refreshes + 1);
    assert!(served.expose_secret().starts_with("mock-at-contoso-"));
}

#[tokio::test]
async fn a_switch_that_fails_validation_leaves_the_old_connection_alone() {
    let h = harness();
    let before = h.validated("contoso").await;
    start_device_switch(&h, "contoso").await;
    // A script for the customer applies to its switch journey: it is the same customer.
    h.mock.script(&id("contoso"), |s| {
        s.validates_as(TenantInfo {
            id: "99999999-9999-9999-9999-999999999999".into(),
            display_name: "Someone Else".into(),
            domains: vec!["someone-else.com".into()],
        });
    });
    let token = device_switch_to_token(&h, "contoso", "admin@contoso.com").await;
    let rejected = token.validate(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::TenantMismatch { .. })
    ));
    // The switch journey is still there, in TokenAcquired; the old connection is unchanged.
    let journey = h.ta.pending_switch(&id("contoso")).await.unwrap().unwrap();
    assert_eq!(journey.kind(), StageKind::TokenAcquired);
    let after = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(after.kind(), StageKind::Validated);
    assert_eq!(access_of(after.customer()), access_of(before.customer()));
    assert_eq!(after.customer().method, Method::DeviceCode);
    // A customer removed meanwhile is not brought back by the take-over.
    let journey: Onboarding<TokenAcquired> = journey.try_into_stage().unwrap();
    // The invited tenant again: its GUID, pinned when the customer was invited.
    let guid = h.mock.tenant_guid("contoso.onmicrosoft.com");
    h.mock.script(&id("contoso"), |s| {
        s.validates_as(TenantInfo {
            id: guid,
            display_name: "Contoso".into(),
            domains: vec!["contoso.onmicrosoft.com".into()],
        });
    });
    let connected: Onboarding<Validated> =
        h.ta.load(&id("contoso"))
            .await
            .unwrap()
            .try_into_stage()
            .unwrap();
    connected.revoke(&h.ta).await.unwrap();
    let rejected = journey.validate(&h.ta).await.unwrap_err();
    assert!(matches!(
        rejected.error(),
        Error::Flow(FlowError::NotConnected {
            stage: StageKind::Revoked,
            ..
        })
    ));
    assert_eq!(
        h.ta.load(&id("contoso")).await.unwrap().kind(),
        StageKind::Revoked
    );
}

#[tokio::test]
async fn the_status_report_folds_a_pending_switch_into_its_customers_row() {
    use tenant_access::ops::{PendingSwitchStatus, StatusRow};
    use tenant_access::store::Filter;

    let h = harness();
    password_connected(&h, "contoso").await;
    // `contoso b` sorts between `contoso` and `contoso#switch`.
    let neighbour = tenant_access::NewCustomer::new(
        "contoso b",
        "contoso-b.onmicrosoft.com",
        "admin@contoso-b.com",
    )
    .unwrap();
    h.ta.invite(neighbour)
        .await
        .unwrap()
        .send(&h.ta)
        .await
        .unwrap();
    start_device_switch(&h, "contoso").await;
    let pending = Some(PendingSwitchStatus {
        method: Method::DeviceCode,
        stage: StageKind::InvitationSent,
    });

    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.customer.as_str()).collect();
    assert_eq!(ids, ["contoso", "contoso b"]);
    assert_eq!(rows[0].method, Method::Password);
    assert_eq!(rows[0].stage, StageKind::Validated);
    assert_eq!(rows[0].switch, pending);
    assert_eq!(rows[1].switch, None);
    let csv = StatusRow::csv(&rows);
    assert!(csv.lines().next().unwrap().ends_with(
        ",switch_method,switch_stage,credential,credential_expires_at,credential_state,attention,attention_actions,attention_since"
    ));
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .ends_with(",device_code,invitation_sent,,,,,,"),
        "{csv}"
    );

    // The filter picks customers; their switch shows even when it would not match.
    let validated =
        h.ta.status_report(&Filter::stages([StageKind::Validated]))
            .await
            .unwrap();
    assert_eq!(validated.len(), 1);
    assert_eq!(validated[0].customer, id("contoso"));
    assert_eq!(validated[0].switch, pending);
    // A switch journey whose customer is filtered out is no row of its own.
    let waiting =
        h.ta.status_report(&Filter::stages([StageKind::InvitationSent]))
            .await
            .unwrap();
    let ids: Vec<&str> = waiting.iter().map(|r| r.customer.as_str()).collect();
    assert_eq!(ids, ["contoso b"]);
    assert_eq!(waiting[0].switch, None);

    // Cancelled, the switch leaves the row.
    h.ta.cancel_switch(&id("contoso")).await.unwrap();
    let rows = h.ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.switch.is_none()));
}

#[tokio::test]
async fn a_customers_script_applies_to_its_switch_journeys_device_code_and_browser_sign_in() {
    let h = harness();
    h.validated("contoso").await;
    h.mock.assert_all_scripts_used();
    start_device_switch(&h, "contoso").await;
    // Scripted by the customer's id, after the switch began: the switch journey is the
    // same customer, so its device code is declined by the script...
    h.mock.script(&id("contoso"), |s| {
        s.decline().conditional_access_blocks();
    });
    assert_eq!(h.mock.unused_scripts(), [id("contoso")]);
    let code = h.mailer.last_code_to("admin@contoso.com").unwrap();
    let claimed = match h.ta.open_invitation(&code).await.unwrap() {
        AnyOnboarding::InvitationSent(sent) => sent.claim(&h.ta).await.unwrap(),
        other => panic!("unexpected {:?}", other.kind()),
    };
    assert!(claimed.is_switch());
    let device = claimed.start_device_code(&h.ta).await.unwrap();
    let PollOutcome::Declined(claimed) = device.poll_until_done(&h.ta).await.unwrap() else {
        panic!("the script declines the switch journey's device code");
    };
    assert!(claimed.is_switch());
    // ...and its browser sign-in page answers the Conditional Access block.
    let browser = claimed.start_browser_sign_in(&h.ta).await.unwrap();
    let redirect = h.mock.signs_in(browser.stage().authorize_url());
    assert!(
        redirect.as_str().contains("AADSTS53003"),
        "the script's block reached the switch's sign-in page: {redirect}"
    );
    h.mock.assert_all_scripts_used();
    // The working connection is untouched.
    assert_eq!(
        h.ta.load(&id("contoso")).await.unwrap().kind(),
        StageKind::Validated
    );
}
