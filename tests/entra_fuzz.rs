//! Property test: no response body or status, however malformed, makes the Entra provider
//! panic; every answer is a value or a typed error, over real HTTP.

use std::sync::Arc;

use proptest::prelude::*;
use tenant_access::error::ProviderError;
use tenant_access::model::{AccessToken, ClientSecret, DeviceCode, Password, RefreshToken};
use tenant_access::model::{CustomerId, TenantId};
use tenant_access::provider::entra::{EntraConfig, EntraProvider, RetryPolicy};
use tenant_access::provider::{IdentityProvider, Target};
use tenant_access::testing::ManualClock;
use time::macros::datetime;

/// Bodies that look like what Entra and Graph send, with parts swapped for junk.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let json_value = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:e}")),
        "[a-zA-Z0-9 ._-]{0,20}".prop_map(|s| format!("{s:?}")),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[70016, \"x\", -1, 1e99]".to_owned()),
    ];
    let key = prop_oneof![
        Just("error"),
        Just("error_codes"),
        Just("error_description"),
        Just("suberror"),
        Just("access_token"),
        Just("refresh_token"),
        Just("expires_in"),
        Just("ext_expires_in"),
        Just("token_type"),
        Just("device_code"),
        Just("user_code"),
        Just("verification_uri"),
        Just("interval"),
        Just("value"),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec((key, json_value), 0..8).prop_map(|fields| {
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!("{{{}}}", inner.join(",")).into_bytes()
        }),
    ]
}

fn status() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(200usize),
        Just(400),
        Just(401),
        Just(403),
        Just(404),
        Just(429),
        Just(500),
        Just(503),
        Just(302)
    ]
}

fn target() -> Target {
    Target {
        customer: CustomerId::new("c").unwrap(),
        tenant: TenantId::new("contoso.com").unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_answer_makes_the_provider_panic(status in status(), body in body(), op in 0u8..6) {
        let mut server = mockito::Server::new();
        server
            .mock("POST", mockito::Matcher::Any)
            .with_status(status)
            .with_body(body.clone())
            .create();
        server
            .mock("GET", mockito::Matcher::Any)
            .with_status(status)
            .with_body(body)
            .create();
        let entra = EntraProvider::new(
            EntraConfig::new("client")
                .authority(&server.url()).unwrap()
                .graph(&server.url()).unwrap()
                .retry(RetryPolicy::none()),
        )
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(datetime!(2026-11-23 10:00 UTC))));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let t = target();
        let error: Option<ProviderError> = runtime.block_on(async {
            match op {
                0 => entra.device_authorization(&t).await.err(),
                1 => entra.poll_device_code(&t, &DeviceCode::new("d")).await.err(),
                2 => entra.password_grant(&t, "u", &Password::new("p")).await.err(),
                3 => entra.client_credentials(&t, "a", &ClientSecret::new("s").into()).await.err(),
                4 => entra.refresh(&t, &RefreshToken::new("r")).await.err(),
                _ => entra.validate(&t, &AccessToken::new("a.b.c")).await.err(),
            }
        });
        match status {
            429 => prop_assert!(matches!(error, Some(ProviderError::Throttled { .. })), "{error:?}"),
            500 | 503 => prop_assert!(matches!(error, Some(ProviderError::Unavailable { .. })), "{error:?}"),
            302 => prop_assert!(matches!(error, Some(ProviderError::InvalidResponse(_))), "{error:?}"),
            _ => {}
        }
        if let Some(error) = error {
            // Every error renders, and never with the secrets sent.
            let text = error.to_string();
            prop_assert!(!text.contains("\"p\"") && !text.contains("\"s\""));
        }
    }
}
