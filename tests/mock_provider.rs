//! The mock provider on its own: scripts, faults and the call log.

use std::time::Duration;
use tenant_access::error::ProviderError;
use tenant_access::model::{DeviceCode, Password, RefreshToken};
use tenant_access::provider::{
    AdminConsentRequest, ConsentCallback, DevicePoll, IdentityProvider, Target,
};
use tenant_access::testing::mock::{MockProvider, Operation};
use tenant_access::{CustomerId, TenantId};
use url::Url;

fn id(name: &str) -> tenant_access::CustomerId {
    tenant_access::CustomerId::new(name).unwrap()
}

fn target(id: &str) -> Target {
    Target {
        customer: CustomerId::new(id).unwrap(),
        tenant: TenantId::new(format!("{id}.com")).unwrap(),
    }
}

#[tokio::test]
async fn scripted_polls_are_answered_in_order_then_granted() {
    let mock = MockProvider::new();
    mock.script(&id("a"), |s| {
        s.pending(1).slow_down().decline().expire_code();
    });
    let t = target("a");
    let dc = DeviceCode::new("x");
    let answers: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(format!(
                "{:?}",
                mock.poll_device_code(&t, &dc).await.unwrap()
            ));
        }
        v
    };
    assert_eq!(
        &answers[..4],
        ["Pending", "SlowDown", "Declined", "Expired"]
    );
    assert!(answers[4].starts_with("Granted"));
    // Another customer is unaffected.
    assert!(matches!(
        mock.poll_device_code(&target("b"), &dc).await.unwrap(),
        DevicePoll::Granted(_)
    ));
    let calls = mock.calls();
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[5].customer.as_str(), "b");
    assert_eq!(calls[5].tenant.as_str(), "b.com");
    assert_eq!(mock.count(Operation::PollDeviceCode), 6);
}

#[tokio::test]
async fn approval_workflow_holds_until_approved() {
    let mock = MockProvider::new();
    mock.script(&id("a"), |s| {
        s.approval_workflow();
    });
    let t = target("a");
    let dc = DeviceCode::new("x");
    for _ in 0..3 {
        assert!(matches!(
            mock.poll_device_code(&t, &dc).await.unwrap(),
            DevicePoll::ApprovalRequested
        ));
    }
    mock.approve(&id("a"));
    assert!(matches!(
        mock.poll_device_code(&t, &dc).await.unwrap(),
        DevicePoll::Granted(_)
    ));
}

#[tokio::test]
async fn faults_are_consumed_once_per_call() {
    let mock = MockProvider::new();
    mock.script(&id("a"), |s| {
        s.throttle(Operation::Refresh, Duration::from_secs(9))
            .transient_failure(Operation::Refresh, 503);
    });
    let t = target("a");
    let rt = RefreshToken::new("r");
    assert_eq!(
        mock.refresh(&t, &rt).await.unwrap_err(),
        ProviderError::Throttled {
            retry_after: Some(Duration::from_secs(9))
        }
    );
    assert!(matches!(
        mock.refresh(&t, &rt).await.unwrap_err(),
        ProviderError::Unavailable { status: 503, .. }
    ));
    let ok = mock.refresh(&t, &rt).await.unwrap();
    assert!(ok.refresh_token.is_some());
    mock.revoke_refresh_tokens(&id("a"));
    assert!(matches!(
        mock.refresh(&t, &rt).await.unwrap_err(),
        ProviderError::ReauthenticationRequired(d) if d.codes == [700082]
    ));
}

#[tokio::test]
async fn password_grant_scripts() {
    let mock = MockProvider::new();
    let pw = Password::new("p");
    mock.script(&id("mfa"), |s| {
        s.mfa_required();
    });
    mock.script(&id("consent"), |s| {
        s.consent_required();
    });
    assert!(matches!(
        mock.password_grant(&target("mfa"), "u", &pw).await,
        Err(ProviderError::MfaRequired(d)) if d.codes == [50076]
    ));
    assert!(matches!(
        mock.password_grant(&target("consent"), "u", &pw).await,
        Err(ProviderError::ConsentRequired(d)) if d.codes == [65001]
    ));
    mock.grant_consent(&id("consent"));
    assert!(
        mock.password_grant(&target("consent"), "u", &pw)
            .await
            .is_ok()
    );
    assert!(
        mock.password_grant(&target("other"), "u", &pw)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn admin_consent_round_trip_through_the_simulated_browser() {
    let mock = MockProvider::new();
    let t = target("a");
    let state = "YQ.random".into();
    let url = mock
        .admin_consent_url(
            &t,
            &AdminConsentRequest {
                client_id: "cid".into(),
                redirect_uri: Url::parse("https://portal.example.com/cb").unwrap(),
                state: "YQ.random".into(),
            },
        )
        .unwrap();
    let redirect = mock.admin_consents(&url);
    assert!(
        redirect
            .as_str()
            .starts_with("https://portal.example.com/cb?admin_consent=True")
    );
    let callback = ConsentCallback::from_url(&redirect).unwrap();
    mock.verify_admin_consent(&t, &state, &callback)
        .await
        .unwrap();
    // Another tenant's consent is refused.
    let mut other = callback.clone();
    other.tenant = Some("00000000-0000-0000-0000-000000000001".into());
    assert!(mock.verify_admin_consent(&t, &state, &other).await.is_err());
    assert_eq!(mock.count(Operation::VerifyAdminConsent), 2);
}

#[tokio::test]
async fn a_script_no_call_used_is_named_by_assert_all_scripts_used() {
    let mock = MockProvider::new();
    // A typo: the calls are for "contoso".
    mock.script(&id("contsoo"), |s| {
        s.mfa_required();
    });
    mock.approve(&id("fabrikam"));
    assert_eq!(mock.unused_scripts(), [id("contsoo"), id("fabrikam")]);
    mock.refresh(&target("contoso"), &RefreshToken::new("rt"))
        .await
        .unwrap();
    mock.refresh(&target("fabrikam"), &RefreshToken::new("rt"))
        .await
        .unwrap();
    assert_eq!(mock.unused_scripts(), [id("contsoo")]);
    let panic = std::panic::catch_unwind(|| mock.assert_all_scripts_used()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains(r#"scripted customer(s) "contsoo""#),
        "{message}"
    );
    assert!(
        message.contains(r#"calls were made for: "contoso", "fabrikam""#),
        "{message}"
    );
    // A call for the scripted customer uses its script.
    mock.refresh(&target("contsoo"), &RefreshToken::new("rt"))
        .await
        .unwrap();
    assert!(mock.unused_scripts().is_empty());
    mock.assert_all_scripts_used();
}

#[tokio::test]
async fn a_browser_sign_in_uses_the_customers_script() {
    let mock = MockProvider::new();
    let request = tenant_access::ports::AuthorizationRequest {
        redirect_uri: Url::parse("https://portal.example.com/cb").unwrap(),
        state: tenant_access::model::SignInState::new("state"),
        code_challenge: "challenge".into(),
        login_hint: None,
    };
    let url = mock.authorization_url(&target("a"), &request).unwrap();
    // Scripted after the URL was made: only the sign-in page reads the script.
    mock.script(&id("a"), |s| {
        s.conditional_access_blocks();
    });
    assert_eq!(mock.unused_scripts(), [id("a")]);
    let redirect = mock.signs_in(&url);
    assert!(redirect.as_str().contains("AADSTS53003"), "{redirect}");
    mock.assert_all_scripts_used();
}

/// The crate re-exports what its public API makes users name: a port implemented and a
/// stream read with `tenant_access::{async_trait, time, url, Stream, StreamExt}` alone.
#[tokio::test]
async fn the_reexports_are_enough_to_implement_a_port_and_read_a_stream() {
    use tenant_access::{Stream, StreamExt, async_trait, time, url};

    #[derive(Debug)]
    struct Fixed(time::OffsetDateTime);

    #[async_trait]
    impl tenant_access::ports::Clock for Fixed {
        fn now(&self) -> time::OffsetDateTime {
            self.0
        }
        async fn sleep_until(&self, _deadline: time::OffsetDateTime) {}
    }

    let at = time::macros::datetime!(2026-01-01 0:00 UTC);
    let clock: &dyn tenant_access::ports::Clock = &Fixed(at);
    clock.sleep_until(at).await;
    assert_eq!(clock.now(), at);
    let link: url::Url = "https://portal.example.com/i/abc".parse().unwrap();
    assert_eq!(link.host_str(), Some("portal.example.com"));

    fn outcomes() -> impl Stream<Item = u32> {
        futures_util::stream::iter([1, 2])
    }
    let mut stream = std::pin::pin!(outcomes());
    assert_eq!(stream.next().await, Some(1));
}
