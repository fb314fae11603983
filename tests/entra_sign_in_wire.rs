//! The Entra ID provider's browser sign-in (authorization code with PKCE) against mockito:
//! the exact authorization URL, the exact redemption form, and every refusal a portal must
//! tell apart, with its typed error and `Action` (shared/entra-wire.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mockito::{Server, ServerGuard};
use sha2::{Digest, Sha256};
use tenant_access::Action;
use tenant_access::error::{Error, ProviderError};
use tenant_access::model::{AuthorizationCode, ClientSecret, CustomerId, PkceVerifier};
use tenant_access::model::{SignInState, TenantId};
use tenant_access::ports::{AuthorizationRequest, CodeRedemption};
use tenant_access::provider::entra::{EntraConfig, EntraProvider};
use tenant_access::provider::{IdentityProvider, Target};
use tenant_access::testing::ManualClock;
use time::macros::datetime;
use url::Url;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SCOPE: &str = "https://graph.microsoft.com/.default offline_access openid profile";
const TOKEN_PATH: &str = "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";
const REDIRECT: &str = "https://portal.example.com/authenticate/SignInCallback";

fn target() -> Target {
    Target {
        customer: CustomerId::new("contoso").unwrap(),
        tenant: TenantId::new(TENANT).unwrap(),
    }
}

fn provider(server: &ServerGuard, secret: Option<&str>) -> EntraProvider {
    let mut config = EntraConfig::new(CLIENT)
        .authority(&server.url())
        .unwrap()
        .graph(&server.url())
        .unwrap();
    if let Some(secret) = secret {
        config = config.client_secret(ClientSecret::new(secret));
    }
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    EntraProvider::new(config)
        .unwrap()
        .with_clock(Arc::new(clock))
}

/// Matches a form body whose fields are exactly `expected` (no more, no fewer).
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

fn jwt(tid: &str) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"aud":"https://graph.microsoft.com","tid":"{tid}"}}"#
        ))
    )
}

#[tokio::test]
async fn the_authorization_url_names_every_parameter_and_the_s256_challenge() {
    let server = Server::new_async().await;
    let entra = provider(&server, Some("msp-secret"));
    let verifier = PkceVerifier::generate();
    let request = AuthorizationRequest {
        redirect_uri: Url::parse(REDIRECT).unwrap(),
        state: SignInState::new("state-123"),
        code_challenge: verifier.challenge(),
        login_hint: Some("admin@contoso.com".into()),
    };
    let url = entra.authorization_url(&target(), &request).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/{TENANT}/oauth2/v2.0/authorize", server.url())
    );
    let expected_challenge =
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()));
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected: Vec<(String, String)> = [
        ("client_id", CLIENT),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("response_mode", "query"),
        ("scope", SCOPE),
        ("state", "state-123"),
        ("code_challenge", expected_challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", "admin@contoso.com"),
        ("prompt", "select_account"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(pairs, expected);
    // The secret never appears in a URL the browser sees.
    assert!(!url.as_str().contains("msp-secret"));
    assert!(!url.as_str().contains(verifier.expose_secret()));
}

#[tokio::test]
async fn redeeming_sends_exactly_the_code_grant_with_the_msps_secret() {
    let mut server = Server::new_async().await;
    let verifier = PkceVerifier::new("verifier-0123456789-0123456789-0123456789");
    let code = AuthorizationCode::new("0.AXkA-code");
    let redirect = Url::parse(REDIRECT).unwrap();
    let body = serde_json::json!({
        "token_type": "Bearer", "scope": SCOPE, "expires_in": 3599, "ext_expires_in": 3599,
        "access_token": jwt(TENANT), "refresh_token": "1.AXkA-refresh", "id_token": jwt(TENANT),
    })
    .to_string();
    let mock = server
        .mock("POST", TOKEN_PATH)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_request(form_is(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("client_secret", "msp-secret"),
            ("code", "0.AXkA-code"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.expose_secret()),
            ("scope", SCOPE),
        ]))
        .with_status(200)
        .with_body(body.clone())
        .expect(1)
        .create_async()
        .await;
    let redemption = CodeRedemption {
        code: &code,
        redirect_uri: &redirect,
        verifier: &verifier,
    };
    let token = provider(&server, Some("msp-secret"))
        .redeem_code(&target(), redemption)
        .await
        .unwrap();
    assert_eq!(token.access_token.expose_secret(), jwt(TENANT));
    assert_eq!(
        token.refresh_token.unwrap().expose_secret(),
        "1.AXkA-refresh"
    );
    mock.assert_async().await;

    // Without a configured secret, the client id alone (no empty client_secret field).
    let public = server
        .mock("POST", TOKEN_PATH)
        .match_request(form_is(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", "0.AXkA-code"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.expose_secret()),
            ("scope", SCOPE),
        ]))
        .with_status(200)
        .with_body(body)
        .expect(1)
        .create_async()
        .await;
    provider(&server, None)
        .redeem_code(&target(), redemption)
        .await
        .unwrap();
    public.assert_async().await;
}

/// An Entra error body with every field the real service sends.
fn entra_error(error: &str, code: u32, suberror: Option<&str>) -> String {
    let mut body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: Something happened. Trace ID: 0b5f8e1a-0000-0000-0000-000000000000 Correlation ID: 6c1c7a3e-0000-0000-0000-000000000000 Timestamp: 2026-11-23 10:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-11-23 10:00:00Z",
        "trace_id": "0b5f8e1a-0000-0000-0000-000000000000",
        "correlation_id": "6c1c7a3e-0000-0000-0000-000000000000",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    if let Some(s) = suberror {
        body["suberror"] = serde_json::json!(s);
        body["claims"] =
            serde_json::json!("{\"access_token\":{\"capolids\":{\"essential\":true}}}");
    }
    body.to_string()
}

fn kind(e: &ProviderError) -> String {
    match e {
        ProviderError::CodeRefused { reason, .. } => format!("CodeRefused({reason:?})"),
        other => format!("{other:?}")
            .split('(')
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned(),
    }
}

#[tokio::test]
async fn every_redemption_refusal_is_typed_with_its_action() {
    let rows: &[(u16, &str, u32, Option<&str>, &str, Action)] = &[
        (
            400,
            "invalid_grant",
            54005,
            None,
            "CodeRefused(AlreadyRedeemed)",
            Action::Reload,
        ),
        (
            400,
            "invalid_grant",
            70008,
            None,
            "CodeRefused(Expired)",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            50148,
            None,
            "CodeRefused(VerifierMismatch)",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            65001,
            Some("consent_required"),
            "ConsentRequired",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            53003,
            Some("basic_action"),
            "ConditionalAccessBlocked",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            90095,
            Some("consent_required"),
            "AdminApprovalRequired",
            Action::AskCustomer,
        ),
        (
            400,
            "invalid_grant",
            50076,
            Some("basic_action"),
            "MfaRequired",
            Action::AskCustomer,
        ),
        (
            401,
            "invalid_client",
            7000215,
            None,
            "Misconfigured",
            Action::FixConfiguration,
        ),
        (
            401,
            "invalid_client",
            7000222,
            None,
            "Misconfigured",
            Action::FixConfiguration,
        ),
    ];
    let verifier = PkceVerifier::generate();
    let code = AuthorizationCode::new("0.AXkA-code");
    let redirect = Url::parse(REDIRECT).unwrap();
    for &(status, error, code_number, suberror, expected, action) in rows {
        let mut server = Server::new_async().await;
        let mock = server
            .mock("POST", TOKEN_PATH)
            .with_status(status.into())
            .with_body(entra_error(error, code_number, suberror))
            .expect(1)
            .create_async()
            .await;
        let redemption = CodeRedemption {
            code: &code,
            redirect_uri: &redirect,
            verifier: &verifier,
        };
        let e = provider(&server, Some("msp-secret"))
            .redeem_code(&target(), redemption)
            .await
            .unwrap_err();
        assert_eq!(kind(&e), expected, "AADSTS{code_number}");
        assert_eq!(
            Error::from(e.clone()).action(),
            action,
            "AADSTS{code_number}"
        );
        // A refusal is terminal: one request, never a retry.
        mock.assert_async().await;
        let detail = match &e {
            ProviderError::CodeRefused { detail, .. }
            | ProviderError::ConsentRequired(detail)
            | ProviderError::ConditionalAccessBlocked(detail)
            | ProviderError::AdminApprovalRequired(detail)
            | ProviderError::MfaRequired(detail)
            | ProviderError::Misconfigured(detail) => detail,
            other => panic!("{other:?}"),
        };
        assert_eq!(detail.codes, vec![code_number]);
        assert_eq!(detail.suberror(), suberror, "AADSTS{code_number}");
        assert_eq!(detail.claims().is_some(), suberror.is_some());
    }
}

#[tokio::test]
async fn the_code_refusal_code_on_a_refresh_still_means_signing_in_again() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", TOKEN_PATH)
        .with_status(400)
        .with_body(entra_error("invalid_grant", 70008, None))
        .create_async()
        .await;
    let e = provider(&server, None)
        .refresh(&target(), &tenant_access::model::RefreshToken::new("1.rt"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::ReauthenticationRequired(_)),
        "{e:?}"
    );
}
