//! How the client proves who it is to the token, device, revocation and introspection
//! endpoints (RFC 6749 §2.3, OpenID Connect Core §9).
//!
//! [`ClientAuth`] is what an integrator configures; [`Client`] is one request's client (its
//! id and a borrowed [`Credential`]), and [`Client::post`] is the one place a request's client
//! authentication is put on the wire. A certificate (`private_key_jwt`, RFC 7523) signs a
//! short-lived assertion there, for the endpoint URL it goes to; one per call (a retry of the
//! same call resends it: the first attempt failed before the server took it).

use url::Url;

use super::http::{Answer, HttpClient};
use crate::error::{ProviderDetail, ProviderError};
use crate::model::{ASSERTION_TYPE, AppCredential, ClientCertificate, ClientSecret};

/// How the client authenticates to the token, device, revocation and introspection endpoints
/// (RFC 6749 §2.3, OpenID Connect Core §9).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// A public client: only `client_id` is sent (`none`).
    None,
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`).
    ClientSecretBasic(ClientSecret),
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    ClientSecretPost(ClientSecret),
    /// A JWT assertion signed with the certificate's key (`private_key_jwt`, RFC 7523).
    PrivateKeyJwt(ClientCertificate),
}

impl ClientAuth {
    /// The registered name of the method.
    pub fn method_name(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::ClientSecretBasic(_) => "client_secret_basic",
            ClientAuth::ClientSecretPost(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }

    /// Whether the client has a credential (is confidential).
    pub(crate) fn is_confidential(&self) -> bool {
        !matches!(self, ClientAuth::None)
    }

    /// The credential, borrowed for one request.
    pub(crate) fn credential(&self) -> Credential<'_> {
        match self {
            ClientAuth::None => Credential::None,
            ClientAuth::ClientSecretBasic(secret) => Credential::SecretBasic(secret),
            ClientAuth::ClientSecretPost(secret) => Credential::SecretPost(secret),
            ClientAuth::PrivateKeyJwt(certificate) => Credential::Assertion(certificate),
        }
    }
}

/// A client's credential for one request, borrowed (no secret is copied per request).
#[derive(Clone, Copy)]
pub(crate) enum Credential<'a> {
    /// A public client.
    None,
    /// `client_secret_basic`.
    SecretBasic(&'a ClientSecret),
    /// `client_secret_post`.
    SecretPost(&'a ClientSecret),
    /// `private_key_jwt`: an assertion signed for the endpoint.
    Assertion(&'a ClientCertificate),
}

impl<'a> Credential<'a> {
    /// An app registration's credential, its secret sent as `secret` says.
    pub(crate) fn of_app(
        credential: &'a AppCredential,
        secret: fn(&'a ClientSecret) -> Credential<'a>,
    ) -> Self {
        match credential {
            AppCredential::Secret { secret: s, .. } => secret(s),
            AppCredential::Certificate(certificate) => Credential::Assertion(certificate),
        }
    }
}

/// The client making one request: its id and how it proves it.
#[derive(Clone, Copy)]
pub(crate) struct Client<'a> {
    pub(crate) id: &'a str,
    pub(crate) credential: Credential<'a>,
}

impl<'a> Client<'a> {
    /// A public client: only its id is sent.
    pub(crate) fn public(id: &'a str) -> Self {
        Self {
            id,
            credential: Credential::None,
        }
    }

    /// The client `id` sending `secret` in the form (`client_secret_post`) when it has one,
    /// public otherwise.
    pub(crate) fn secret_post(id: &'a str, secret: Option<&'a ClientSecret>) -> Self {
        Self {
            id,
            credential: secret.map_or(Credential::None, Credential::SecretPost),
        }
    }

    /// The client `id` authenticating as `auth` says.
    pub(crate) fn new(id: &'a str, auth: &'a ClientAuth) -> Self {
        Self {
            id,
            credential: auth.credential(),
        }
    }

    /// POSTs `fields` to `url` as this client: `client_id` (and `client_secret`) added to the
    /// form, or HTTP Basic.
    pub(crate) async fn post(
        self,
        http: &HttpClient,
        url: &Url,
        mut fields: Vec<(&str, &str)>,
    ) -> Result<Answer, ProviderError> {
        let assertion;
        let basic = match self.credential {
            Credential::Assertion(certificate) => {
                let now = http.clock().now();
                if now >= certificate.not_after() {
                    // Expired: refused here, before any request (Entra would answer 700027).
                    return Err(ProviderError::Misconfigured(ProviderDetail::new(
                        "certificate_expired",
                        format!(
                            "the client certificate {} ({}) expired at {}",
                            certificate.subject(),
                            certificate.thumbprint(),
                            certificate.not_after()
                        ),
                    )));
                }
                assertion = certificate
                    .client_assertion(self.id, url, now)
                    .map_err(|e| {
                        ProviderError::Misconfigured(ProviderDetail::new(
                            "invalid_certificate",
                            e.to_string(),
                        ))
                    })?;
                fields.push(("client_id", self.id));
                fields.push(("client_assertion_type", ASSERTION_TYPE));
                fields.push(("client_assertion", &assertion));
                None
            }
            Credential::None => {
                fields.push(("client_id", self.id));
                None
            }
            Credential::SecretPost(secret) => {
                fields.push(("client_id", self.id));
                fields.push(("client_secret", secret.expose_secret()));
                None
            }
            Credential::SecretBasic(secret) => Some((self.id, secret.expose_secret())),
        };
        http.post_form(url, &fields, basic).await
    }
}
