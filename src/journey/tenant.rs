//! Tenant pinning: a new customer's tenant is resolved to its GUID (and cloud) before
//! anything is stored, and from then on every admin-consent callback and every token is
//! compared with that GUID.

use crate::error::{Error, FlowError, InputError, ProviderError};
use crate::model::{AccessToken, ConsentState, NewCustomer, TenantId, jwt_tenant};
use crate::ports::{ConsentCallback, Ports, TenantDiscovery};

impl Ports {
    /// Resolves `new`'s tenant with the provider's tenant discovery and pins what it found
    /// (the GUID, the cloud) in the tenant. An unknown tenant is
    /// [`InputError::UnknownTenant`]; a cloud the MSP chose that discovery contradicts is
    /// [`InputError::CloudMismatch`]; a provider without discovery leaves the tenant as given.
    pub(crate) async fn resolve_tenant(&self, mut new: NewCustomer) -> Result<NewCustomer, Error> {
        let found = match self.provider().discover_tenant(&new.tenant).await? {
            TenantDiscovery::Found(found) => found,
            TenantDiscovery::Unknown(detail) => {
                tracing::info!(tenant = %new.tenant, error = %detail, "unknown tenant");
                return Err(InputError::UnknownTenant(new.tenant.to_string()).into());
            }
            TenantDiscovery::Unsupported => return Ok(new),
        };
        new.tenant = new.tenant.with_discovery(found).map_err(|e| match e {
            // The MSP's choice contradicts what the tenant is: the caller's mistake to fix.
            InputError::CloudMismatch { .. } => Error::from(e),
            e => {
                ProviderError::InvalidResponse(format!("tenant discovery for {}: {e}", new.tenant))
                    .into()
            }
        })?;
        tracing::debug!(tenant = ?new.tenant, "tenant resolved");
        Ok(new)
    }
}

/// Refuses a token issued in another tenant (its `tid` claim) than `tenant`'s GUID, before it
/// is stored. A token without a readable `tid` (opaque), or a tenant whose GUID is not known
/// (a record from before discovery), passes: the validating call proves the tenant later.
pub(crate) fn check_token_tenant(tenant: &TenantId, token: &AccessToken) -> Result<(), FlowError> {
    let Some(guid) = tenant.guid() else {
        return Ok(());
    };
    match jwt_tenant(token.expose_secret()) {
        Some(tid) if tenant.is_other_than(&tid) => {
            tracing::warn!(expected = guid, actual = %tid, "token for another tenant refused");
            Err(FlowError::TenantMismatch {
                expected: guid.to_owned(),
                actual: tid,
            })
        }
        _ => Ok(()),
    }
}

/// Refuses an admin-consent callback that carries the expected `state` but names another
/// tenant than `tenant`'s GUID. A callback with another state is left to the provider's
/// check (which refuses it), so nobody without the state learns anything from this one.
pub(crate) fn check_callback_tenant(
    tenant: &TenantId,
    expected_state: &ConsentState,
    callback: &ConsentCallback,
) -> Result<(), FlowError> {
    let ours = callback
        .state
        .as_ref()
        .is_some_and(|s| s.ct_eq(expected_state));
    match (tenant.guid(), callback.tenant.as_deref()) {
        (Some(guid), Some(named)) if ours && tenant.is_other_than(named) => {
            Err(FlowError::ConsentTenantMismatch {
                expected: guid.to_owned(),
                actual: named.to_owned(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DiscoveredTenant;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const GUID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const OTHER: &str = "00000000-0000-0000-0000-000000000001";

    fn pinned() -> TenantId {
        TenantId::new("contoso.com")
            .unwrap()
            .with_discovery(DiscoveredTenant::new(GUID).unwrap())
            .unwrap()
    }

    fn jwt(tid: &str) -> AccessToken {
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"tid":"{tid}"}}"#));
        AccessToken::new(format!("eyJ0eXAiOiJKV1QifQ.{claims}.sig"))
    }

    #[test]
    fn a_token_of_another_tenant_is_refused_once_the_guid_is_known() {
        assert!(check_token_tenant(&pinned(), &jwt(GUID)).is_ok());
        assert!(check_token_tenant(&pinned(), &jwt(&GUID.to_uppercase())).is_ok());
        assert_eq!(
            check_token_tenant(&pinned(), &jwt(OTHER)),
            Err(FlowError::TenantMismatch {
                expected: GUID.into(),
                actual: OTHER.into()
            })
        );
        // Opaque tokens, and domains never resolved, pass (validation proves them later).
        assert!(check_token_tenant(&pinned(), &AccessToken::new("opaque")).is_ok());
        let unresolved = TenantId::new("contoso.com").unwrap();
        assert!(check_token_tenant(&unresolved, &jwt(OTHER)).is_ok());
        // A tenant given as a GUID is its own pin.
        let guid = TenantId::new(GUID).unwrap();
        assert!(check_token_tenant(&guid, &jwt(OTHER)).is_err());
    }

    #[test]
    fn a_callback_of_another_tenant_is_refused_only_with_our_state() {
        let state = ConsentState::new("s1");
        let callback = |tenant: &str, state: &str| {
            ConsentCallback::from_query(&format!(
                "admin_consent=True&tenant={tenant}&state={state}"
            ))
            .unwrap()
        };
        assert!(check_callback_tenant(&pinned(), &state, &callback(GUID, "s1")).is_ok());
        assert!(matches!(
            check_callback_tenant(&pinned(), &state, &callback(OTHER, "s1")),
            Err(FlowError::ConsentTenantMismatch { .. })
        ));
        // The domain itself is not the GUID: refused too.
        assert!(check_callback_tenant(&pinned(), &state, &callback("contoso.com", "s1")).is_err());
        // Another state: left to the provider's check.
        assert!(check_callback_tenant(&pinned(), &state, &callback(OTHER, "s2")).is_ok());
        let unresolved = TenantId::new("contoso.com").unwrap();
        assert!(check_callback_tenant(&unresolved, &state, &callback(OTHER, "s1")).is_ok());
    }
}
