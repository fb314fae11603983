//! Admin consent: building the URL and checking the callback, shared by every provider.

use url::Url;

use super::target::Target;
use crate::error::{InputError, ProviderDetail, ProviderError};
use crate::model::{AuthorizationCode, ConsentState};

/// The query parameters an admin-consent redirect brings back to the portal.
#[derive(Debug, Clone, Default)]
pub struct ConsentCallback {
    /// `admin_consent=True`.
    pub admin_consent: bool,
    /// The tenant that consented (not proof of anything on its own).
    pub tenant: Option<String>,
    /// The `state` the request carried.
    pub state: Option<ConsentState>,
    /// The scopes granted.
    pub scope: Option<String>,
    /// An OAuth error (`consent_required`, `access_denied`, …).
    pub error: Option<String>,
    /// The error's description.
    pub error_description: Option<String>,
    /// The authorization `code` (standards-only servers, where consent is an authorization
    /// code grant with PKCE; Entra's admin-consent redirect carries none).
    pub code: Option<AuthorizationCode>,
}

impl ConsentCallback {
    /// Reads the callback from the redirect's query string (with or without the leading `?`).
    ///
    /// ```
    /// use tenant_access::provider::ConsentCallback;
    /// let cb = ConsentCallback::from_query(
    ///     "admin_consent=True&tenant=72f988bf-86f1-41af-91ab-2d7cd011db47&state=abc",
    /// ).unwrap();
    /// assert!(cb.admin_consent);
    /// assert!(ConsentCallback::from_query("admin_consent=True").is_err());
    /// ```
    pub fn from_query(query: &str) -> Result<Self, InputError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut callback = ConsentCallback::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "admin_consent" => callback.admin_consent = value.eq_ignore_ascii_case("true"),
                "tenant" => callback.tenant = Some(value),
                "state" => callback.state = Some(ConsentState::new(value)),
                "scope" => callback.scope = Some(value),
                "error" => callback.error = Some(value),
                "error_description" => callback.error_description = Some(value),
                "code" => callback.code = Some(AuthorizationCode::new(value)),
                _ => {}
            }
        }
        if callback.state.is_none() {
            return Err(InputError::ConsentCallback("has no state parameter"));
        }
        Ok(callback)
    }

    /// Reads the callback from the full redirect URL.
    pub fn from_url(url: &Url) -> Result<Self, InputError> {
        Self::from_query(url.query().unwrap_or(""))
    }
}

/// Builds `{authority}/{tenant}/v2.0/adminconsent?client_id=…&scope=…&redirect_uri=…&state=…`.
pub fn admin_consent_url(
    authority: &Url,
    tenant: &str,
    client_id: &str,
    scope: &str,
    redirect_uri: &Url,
    state: &ConsentState,
) -> Result<Url, ProviderError> {
    let mut url = authority.clone();
    url.path_segments_mut()
        .map_err(|_| {
            ProviderError::Misconfigured(ProviderDetail::new(
                "invalid_authority",
                "the authority URL cannot have a path",
            ))
        })?
        .pop_if_empty()
        .extend([tenant, "v2.0", "adminconsent"]);
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("scope", scope)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("state", state.expose_secret());
    Ok(url)
}

/// The checks every provider makes on an admin-consent callback: the state matches (in
/// constant time), no error came back, `admin_consent` is true, and the tenant is the expected
/// one when the expected tenant's GUID is known ([`TenantId::guid`](crate::model::TenantId::guid):
/// given as a GUID, or resolved by discovery). The tenant is still not proven until a token
/// works.
pub fn check_admin_consent(
    target: &Target,
    expected_state: &ConsentState,
    callback: &ConsentCallback,
) -> Result<(), ProviderError> {
    let state_ok = callback
        .state
        .as_ref()
        .is_some_and(|s| s.ct_eq(expected_state));
    if !state_ok {
        return Err(ProviderError::ConsentCallback(
            "the state does not match the request",
        ));
    }
    if let Some(error) = &callback.error {
        let description = callback.error_description.clone().unwrap_or_default();
        let mut detail = ProviderDetail::new(error.clone(), description.clone());
        detail.codes = aadsts_codes(&description);
        return Err(ProviderError::ConsentDeclined(detail));
    }
    if !callback.admin_consent {
        return Err(ProviderError::ConsentCallback("admin_consent is not True"));
    }
    let Some(tenant) = &callback.tenant else {
        return Err(ProviderError::ConsentCallback("no tenant in the callback"));
    };
    if target.tenant.is_other_than(tenant) {
        return Err(ProviderError::ConsentCallback(
            "consent came from another tenant than the invited one",
        ));
    }
    Ok(())
}

/// The `AADSTSnnnn` codes mentioned in a description, for errors that carry no `error_codes`.
pub(crate) fn aadsts_codes(description: &str) -> Vec<u32> {
    description
        .match_indices("AADSTS")
        .filter_map(|(i, _)| {
            let digits: String = description[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CustomerId, TenantId};

    const GUID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn target() -> Target {
        Target {
            customer: CustomerId::new("c").unwrap(),
            tenant: TenantId::new(GUID).unwrap(),
        }
    }

    #[test]
    fn builds_the_v2_url() {
        let url = admin_consent_url(
            &Url::parse("https://login.microsoftonline.com").unwrap(),
            GUID,
            "client-1",
            "https://graph.microsoft.com/.default",
            &Url::parse("https://portal.example.com/authenticate/OAuth2Callback").unwrap(),
            &ConsentState::new("s1"),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            format!(
                "https://login.microsoftonline.com/{GUID}/v2.0/adminconsent?client_id=client-1&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&redirect_uri=https%3A%2F%2Fportal.example.com%2Fauthenticate%2FOAuth2Callback&state=s1"
            )
        );
    }

    #[test]
    fn checks_state_tenant_and_errors() {
        let expected = ConsentState::new("s1");
        let ok = ConsentCallback::from_query(&format!("admin_consent=True&tenant={GUID}&state=s1"))
            .unwrap();
        assert!(check_admin_consent(&target(), &expected, &ok).is_ok());

        let wrong_state =
            ConsentCallback::from_query(&format!("admin_consent=True&tenant={GUID}&state=s2"))
                .unwrap();
        assert!(matches!(
            check_admin_consent(&target(), &expected, &wrong_state),
            Err(ProviderError::ConsentCallback(_))
        ));

        let other_tenant = ConsentCallback::from_query(
            "admin_consent=True&tenant=00000000-0000-0000-0000-000000000001&state=s1",
        )
        .unwrap();
        assert!(check_admin_consent(&target(), &expected, &other_tenant).is_err());

        let declined = ConsentCallback::from_query(
            "admin_consent=True&error=consent_required&error_description=AADSTS65004%3A+User+declined&state=s1",
        )
        .unwrap();
        match check_admin_consent(&target(), &expected, &declined) {
            Err(ProviderError::ConsentDeclined(d)) => assert_eq!(d.codes, vec![65004]),
            other => panic!("{other:?}"),
        }
    }
}
