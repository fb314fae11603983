//! Every AADSTS code the Entra provider maps, on the wire (mockito), with its one expected
//! [`Action`] per request: the password grant and the refresh (the MSP's own client) and the
//! client-credentials grant (a customer's app registration). The exhaustive table of every
//! `Error` variant's action is the unit test `error::tests::every_variant_has_its_one_action`
//! (the enums are `#[non_exhaustive]`, so only the crate itself can match them exhaustively).

use std::sync::Arc;

use mockito::Server;
use tenant_access::model::{ClientSecret, CustomerId, Password, RefreshToken, TenantId};
use tenant_access::provider::entra::{EntraConfig, EntraProvider, RetryPolicy};
use tenant_access::provider::{IdentityProvider, Target};
use tenant_access::testing::ManualClock;
use tenant_access::{Action, Error};
use time::macros::datetime;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TOKEN_PATH: &str = "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";

const ASK: Action = Action::AskCustomer;
const FIX: Action = Action::FixConfiguration;
const SLOW: Action = Action::Retry {
    after: Action::SLOW_RETRY_AFTER,
};

/// `(code, error, status, password grant, refresh, client credentials)`.
const TABLE: &[(u32, &str, usize, Action, Action, Action)] = &[
    // The refresh token (or sign-in) is dead: sign in again.
    (70000, "invalid_grant", 400, ASK, ASK, ASK),
    (700082, "invalid_grant", 400, ASK, ASK, ASK),
    (50173, "invalid_grant", 400, ASK, ASK, ASK),
    (70008, "invalid_grant", 400, ASK, ASK, ASK),
    (70043, "invalid_grant", 400, ASK, ASK, ASK),
    (700084, "invalid_grant", 400, ASK, ASK, ASK),
    (50078, "invalid_grant", 400, ASK, ASK, ASK),
    (50132, "invalid_grant", 400, ASK, ASK, ASK),
    // Multi-factor: the device-code journey (or, on a refresh, sign in again).
    (50076, "invalid_grant", 400, ASK, ASK, ASK),
    (50079, "interaction_required", 400, ASK, ASK, ASK),
    (50158, "invalid_grant", 400, ASK, ASK, ASK),
    // The user's account or password.
    (50126, "invalid_grant", 400, ASK, ASK, ASK),
    (50055, "invalid_grant", 400, ASK, ASK, ASK),
    (50053, "invalid_grant", 400, ASK, ASK, ASK),
    (50057, "invalid_grant", 400, ASK, ASK, ASK),
    // Consent and its workflow.
    (65001, "invalid_grant", 400, ASK, ASK, ASK),
    (65004, "invalid_grant", 400, ASK, ASK, ASK),
    (90094, "invalid_grant", 400, ASK, ASK, ASK),
    (90095, "invalid_grant", 400, ASK, ASK, ASK),
    (900941, "invalid_grant", 400, ASK, ASK, ASK),
    (900981, "invalid_grant", 400, ASK, ASK, ASK),
    // The user is not in the tenant.
    (50020, "invalid_grant", 400, ASK, ASK, ASK),
    (50034, "invalid_grant", 400, ASK, ASK, ASK),
    // Conditional Access.
    (53003, "invalid_grant", 400, ASK, ASK, ASK),
    // Throttling in the body: retry after the slow default.
    (50196, "invalid_grant", 400, SLOW, SLOW, SLOW),
    (90055, "invalid_grant", 400, SLOW, SLOW, SLOW),
    // The request itself is wrong: the MSP's configuration.
    (900144, "invalid_request", 400, FIX, FIX, FIX),
    (700025, "invalid_client", 400, FIX, FIX, FIX),
    (7000218, "invalid_request", 400, FIX, FIX, FIX),
    (50011, "invalid_request", 400, FIX, FIX, FIX),
    (90002, "invalid_tenant", 400, FIX, FIX, FIX),
    (700054, "invalid_request", 400, FIX, FIX, FIX),
    // A client failing to authenticate: the MSP's own client is the MSP's configuration; a
    // customer's app registration on client credentials is the customer's.
    (7000215, "invalid_client", 401, FIX, FIX, ASK),
    (7000222, "invalid_client", 401, FIX, FIX, ASK),
    (700016, "unauthorized_client", 400, FIX, FIX, ASK),
    (700027, "invalid_client", 401, FIX, FIX, ASK),
    (700024, "invalid_client", 401, FIX, FIX, ASK),
    // An unknown code is terminal: never a retry.
    (99_999_999, "invalid_grant", 400, ASK, ASK, ASK),
];

fn target() -> Target {
    Target {
        customer: CustomerId::new("contoso").unwrap(),
        tenant: TenantId::new(TENANT).unwrap(),
    }
}

#[tokio::test]
async fn every_mapped_aadsts_code_has_its_one_action() {
    for &(code, error, status, password, refresh, client_credentials) in TABLE {
        let mut server = Server::new_async().await;
        let body = serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: text that must not matter."),
            "error_codes": [code],
        })
        .to_string();
        let m = server
            .mock("POST", TOKEN_PATH)
            .with_status(status)
            .with_header("content-type", "application/json; charset=utf-8")
            .with_body(body)
            .expect(3)
            .create_async()
            .await;
        let provider = EntraProvider::new(
            EntraConfig::new("11111111-2222-3333-4444-555555555555")
                .authority(&server.url())
                .unwrap()
                .retry(RetryPolicy::none()),
        )
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(datetime!(2026-11-23 10:00 UTC))));
        let t = target();
        let got = provider
            .password_grant(&t, "admin@contoso.com", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(
            Error::from(got.clone()).action(),
            password,
            "{code} password: {got:?}"
        );
        let got = provider
            .refresh(&t, &RefreshToken::new("1.r"))
            .await
            .unwrap_err();
        assert_eq!(
            Error::from(got.clone()).action(),
            refresh,
            "{code} refresh: {got:?}"
        );
        let got = provider
            .client_credentials(&t, "customer-app", &ClientSecret::new("s").into())
            .await
            .unwrap_err();
        assert_eq!(
            Error::from(got.clone()).action(),
            client_credentials,
            "{code} client credentials: {got:?}"
        );
        m.assert_async().await;
    }
}
