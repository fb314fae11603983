//! National clouds: the MSP's application as registered in each cloud
//! ([`CloudRegistration`]), and the configuration a request for a tenant of that cloud uses.
//!
//! An application registration lives in one cloud: the MSP registers its application again in
//! each national cloud it serves, with another client id and credential. An
//! [`EntraConfig`] is the public cloud's registration, plus one [`CloudRegistration`] per other
//! cloud ([`EntraConfig::cloud_registration`]); [`EntraConfig::for_cloud`] derives from them
//! the whole configuration a tenant of that cloud is served with, so every request path reads
//! one [`EntraConfig`] whatever the cloud.

use oauth2::{ClientId, Scope};
use url::Url;

use super::config::{EntraConfig, GRAPH_RESOURCE, host_url};
use crate::error::{ProviderDetail, ProviderError};
use crate::model::{ClientCertificate, ClientSecret, Cloud};

/// The MSP's application as registered in one national cloud: its client id, its client
/// secret if it has one, and optionally other hosts than the cloud's own (a test server such
/// as FakeEntra standing in for that cloud).
///
/// ```
/// use tenant_access::model::Cloud;
/// use tenant_access::provider::entra::{CloudRegistration, EntraConfig};
///
/// let config = EntraConfig::new("11111111-2222-3333-4444-555555555555").cloud_registration(
///     Cloud::UsGovL4,
///     CloudRegistration::new("99999999-2222-3333-4444-555555555555"),
/// );
/// assert_eq!(config.registered_clouds(), [Cloud::Global, Cloud::UsGovL4]);
/// let gov = config.for_cloud(Cloud::UsGovL4).unwrap();
/// assert_eq!(gov.authority_url().as_str(), "https://login.microsoftonline.us/");
/// assert_eq!(gov.graph_url().as_str(), "https://graph.microsoft.us/");
/// assert!(gov.scope_list().contains(&"https://graph.microsoft.us/.default".to_owned()));
/// assert!(config.for_cloud(Cloud::China).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct CloudRegistration {
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    client_certificate: Option<ClientCertificate>,
    authority: Option<Url>,
    graph: Option<Url>,
}

impl CloudRegistration {
    /// The application `client_id` registered in the cloud, as a public client (no secret),
    /// at the cloud's own hosts.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: ClientId::new(client_id.into()),
            client_secret: None,
            client_certificate: None,
            authority: None,
            graph: None,
        }
    }

    /// The application's client secret in that cloud (see [`EntraConfig::client_secret`]).
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.client_secret = Some(secret);
        self.client_certificate = None;
        self
    }

    /// The application's certificate in that cloud (see
    /// [`EntraConfig::client_certificate`]): a cloud never gets another cloud's credential.
    pub fn client_certificate(mut self, certificate: ClientCertificate) -> Self {
        self.client_certificate = Some(certificate);
        self.client_secret = None;
        self
    }

    /// Another authority host than the cloud's own; a bare `http(s)://host[:port]`.
    pub fn authority(mut self, url: &str) -> Result<Self, ProviderError> {
        self.authority = Some(host_url(url)?);
        Ok(self)
    }

    /// Another Microsoft Graph host than the cloud's own; a bare `http(s)://host[:port]`.
    pub fn graph(mut self, url: &str) -> Result<Self, ProviderError> {
        self.graph = Some(host_url(url)?);
        Ok(self)
    }

    /// The application's client id in that cloud.
    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }
}

impl EntraConfig {
    /// Registers the MSP's application in `cloud`: tenants of that cloud are served with
    /// `registration`'s client id and secret, at the cloud's authority and Graph hosts (or
    /// the registration's), asking for the cloud's Graph resource. A second registration for
    /// the same cloud replaces the first. For [`Cloud::Global`] it replaces this
    /// configuration's own client id, secret and (when given) hosts.
    pub fn cloud_registration(mut self, cloud: Cloud, registration: CloudRegistration) -> Self {
        if cloud == Cloud::Global {
            self.client_id = registration.client_id;
            self.client_secret = registration.client_secret;
            self.client_certificate = registration.client_certificate;
            self.client_secret_expires_at = None;
            self.authority = registration.authority.unwrap_or(self.authority);
            self.graph = registration.graph.unwrap_or(self.graph);
            return self;
        }
        self.clouds.retain(|(c, _)| *c != cloud);
        self.clouds.push((cloud, registration));
        self
    }

    /// The clouds the MSP's application is registered in: [`Cloud::Global`] (this
    /// configuration's own) and each of [`cloud_registration`](Self::cloud_registration),
    /// in [`Cloud`] order.
    pub fn registered_clouds(&self) -> Vec<Cloud> {
        let mut clouds: Vec<Cloud> = std::iter::once(Cloud::Global)
            .chain(self.clouds.iter().map(|(c, _)| *c))
            .collect();
        clouds.sort();
        clouds
    }

    /// The configuration requests for a tenant of `cloud` use: this one for
    /// [`Cloud::Global`]; for another cloud, its registration's client id, secret and hosts
    /// (the cloud's own unless overridden), the cloud's Graph resource, and the delegated
    /// scopes with every Microsoft Graph scope (`https://graph.microsoft.com/…`) naming the
    /// cloud's Graph instead. Timeout, user agent and retries are shared.
    /// [`ProviderError::Misconfigured`] when the application is not registered in `cloud`.
    pub fn for_cloud(&self, cloud: Cloud) -> Result<EntraConfig, ProviderError> {
        if cloud == Cloud::Global {
            return Ok(self.clone());
        }
        let Some((_, registration)) = self.clouds.iter().find(|(c, _)| *c == cloud) else {
            return Err(unregistered(cloud));
        };
        let static_url = |text: String| Url::parse(&text).expect("a cloud's host is a URL");
        let resource = cloud.graph_resource();
        let scopes = (self.scopes.iter())
            .map(|s| Scope::new(graph_scope_in(s, &resource)))
            .collect();
        Ok(EntraConfig {
            authority: (registration.authority.clone())
                .unwrap_or_else(|| static_url(cloud.authority_url())),
            graph: (registration.graph.clone()).unwrap_or_else(|| static_url(resource.clone())),
            client_id: registration.client_id.clone(),
            // The cloud's own credential, never the public cloud's.
            client_secret: registration.client_secret.clone(),
            client_secret_expires_at: None,
            client_certificate: registration.client_certificate.clone(),
            scopes,
            resource,
            clouds: Vec::new(),
            ..self.clone()
        })
    }
}

impl EntraConfig {
    /// `scope` as this configuration's cloud spells it: a Microsoft Graph scope
    /// (`https://graph.microsoft.com/…`) names the cloud's Graph; any other is unchanged.
    pub(super) fn in_cloud(&self, scope: &str) -> String {
        graph_scope_in(scope, &self.resource)
    }
}

/// `scope` with the public cloud's Graph resource replaced by `resource`.
fn graph_scope_in(scope: &str, resource: &str) -> String {
    match scope.strip_prefix(GRAPH_RESOURCE) {
        Some(permission) if permission.starts_with('/') => format!("{resource}{permission}"),
        _ => scope.to_owned(),
    }
}

/// The refusal for a tenant of `cloud` when the MSP's application is not registered there.
pub(super) fn unregistered(cloud: Cloud) -> ProviderError {
    ProviderError::Misconfigured(ProviderDetail::new(
        "no_cloud_registration",
        format!(
            "no application registered for cloud {cloud}; add one with EntraConfig::cloud_registration"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EntraConfig {
        EntraConfig::new("global-app")
            .client_secret(ClientSecret::new("global-secret"))
            .scopes([
                "https://graph.microsoft.com/.default",
                "https://graph.microsoft.com/User.Read",
                "https://management.azure.com/user_impersonation",
                "offline_access",
            ])
            .cloud_registration(Cloud::UsGovL5Dod, CloudRegistration::new("dod-app"))
            .cloud_registration(
                Cloud::China,
                CloudRegistration::new("china-app")
                    .client_secret(ClientSecret::new("china-secret"))
                    .authority("http://127.0.0.1:9001")
                    .unwrap(),
            )
    }

    #[test]
    fn each_cloud_gets_its_hosts_client_and_graph_scopes() {
        let dod = config().for_cloud(Cloud::UsGovL5Dod).unwrap();
        assert_eq!(
            dod.authority_url().as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(dod.graph_url().as_str(), "https://dod-graph.microsoft.us/");
        assert_eq!(dod.client_id(), "dod-app");
        // The global secret never goes to another cloud's authority.
        assert!(dod.client_secret.is_none());
        assert_eq!(
            dod.default_scope(),
            "https://dod-graph.microsoft.us/.default"
        );
        assert_eq!(
            dod.scope_param(),
            "https://dod-graph.microsoft.us/.default https://dod-graph.microsoft.us/User.Read \
             https://management.azure.com/user_impersonation offline_access"
        );
        assert_eq!(
            dod.token_url("t").as_str(),
            "https://login.microsoftonline.us/t/oauth2/v2.0/token"
        );

        let china = config().for_cloud(Cloud::China).unwrap();
        assert_eq!(china.authority_url().as_str(), "http://127.0.0.1:9001/");
        assert_eq!(
            china.graph_url().as_str(),
            "https://microsoftgraph.chinacloudapi.cn/"
        );
        assert_eq!(
            china
                .client_secret
                .as_ref()
                .map(ClientSecret::expose_secret),
            Some("china-secret")
        );

        let global = config().for_cloud(Cloud::Global).unwrap();
        assert_eq!(global.client_id(), "global-app");
        assert_eq!(
            global.default_scope(),
            "https://graph.microsoft.com/.default"
        );
    }

    #[test]
    fn an_unregistered_cloud_is_misconfigured() {
        match config().for_cloud(Cloud::UsGovL4) {
            Err(ProviderError::Misconfigured(detail)) => {
                assert_eq!(detail.error, "no_cloud_registration");
                assert!(detail.description.contains("usgov-l4"), "{detail:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            config().registered_clouds(),
            [Cloud::Global, Cloud::UsGovL5Dod, Cloud::China]
        );
    }

    #[test]
    fn a_cloud_gets_its_own_certificate_never_the_global_one() {
        let global = ClientCertificate::from_pem(
            include_str!("../../../tests/fixtures/certificates/rsa-a.cert.pem"),
            include_str!("../../../tests/fixtures/certificates/rsa-a.key.pem"),
        )
        .unwrap();
        let config = config().client_certificate(global.clone());
        let dod = config.for_cloud(Cloud::UsGovL5Dod).unwrap();
        assert!(dod.client_certificate.is_none());
        assert!(dod.client_secret.is_none());
        let with_own = config.cloud_registration(
            Cloud::UsGovL4,
            CloudRegistration::new("gov-app").client_certificate(global.clone()),
        );
        let gov = with_own.for_cloud(Cloud::UsGovL4).unwrap();
        assert_eq!(
            gov.client_certificate.as_ref().map(|c| c.thumbprint()),
            Some(global.thumbprint())
        );
        assert!(
            with_own
                .for_cloud(Cloud::Global)
                .unwrap()
                .client_certificate
                .is_some()
        );
    }

    #[test]
    fn a_global_registration_replaces_the_configurations_own() {
        let config = config().cloud_registration(
            Cloud::Global,
            CloudRegistration::new("other")
                .graph("http://127.0.0.1:9")
                .unwrap(),
        );
        assert_eq!(config.client_id(), "other");
        assert!(config.client_secret.is_none());
        assert_eq!(config.graph_url().as_str(), "http://127.0.0.1:9/");
        assert_eq!(
            config.authority_url().as_str(),
            "https://login.microsoftonline.com/"
        );
    }
}
