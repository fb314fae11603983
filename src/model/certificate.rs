//! Client credentials of an application: a client secret, or a certificate with its private
//! key (`private_key_jwt`, RFC 7523), and when each stops working.
//!
//! A certificate is read from PEM once ([`ClientCertificate::from_pem`]): the X.509
//! certificate gives the thumbprint Entra ID matches (`x5t#S256`) and the expiry (`notAfter`);
//! the PKCS#8 private key (RSA, or EC P-256) must be the certificate's. The key is a secret
//! like the others: redacted in `Debug`, zeroed when dropped, sealed at rest.
//! [`ClientCertificate::client_assertion`] signs the short-lived JWT a token request carries
//! instead of a secret (PS256 for RSA, ES256 for EC), with `ring`; no OpenSSL.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use super::input::InputError;
use super::secret::ClientSecret;

/// How long a client assertion is valid: Entra ID accepts 5 to 10 minutes (entra-wire.md).
pub const ASSERTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The kind of a certificate's key, which decides the assertion's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA (2048 bits or more): assertions are signed PS256 (RSASSA-PSS with SHA-256).
    Rsa,
    /// EC on P-256: assertions are signed ES256, where the server allows it.
    EcP256,
}

impl KeyAlgorithm {
    /// The JWS `alg` of assertions signed with this key.
    pub fn jws_alg(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "PS256",
            KeyAlgorithm::EcP256 => "ES256",
        }
    }
}

/// An X.509 certificate and its private key, for `private_key_jwt` client authentication.
///
/// Cheap to clone (shared). `Debug` shows the subject, thumbprint and expiry, never the key.
///
/// ```
/// use tenant_access::model::ClientCertificate;
/// # let key = rcgen::KeyPair::generate().unwrap();
/// # let cert = rcgen::CertificateParams::new(vec!["portal.example.com".into()]).unwrap().self_signed(&key).unwrap();
/// # let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
/// let certificate = ClientCertificate::from_pem(&cert_pem, &key_pem)?;
/// assert_eq!(certificate.thumbprint().len(), 43); // base64url of a SHA-256
/// assert!(ClientCertificate::from_pem(&cert_pem, "not a key").is_err());
/// # Ok::<(), tenant_access::error::InputError>(())
/// ```
#[derive(Clone)]
pub struct ClientCertificate(Arc<Inner>);

struct Inner {
    certificate_der: Vec<u8>,
    private_key: SecretSlice<u8>,
    algorithm: KeyAlgorithm,
    thumbprint: String,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl ClientCertificate {
    /// Reads a PEM certificate (the first `CERTIFICATE` block; a chain may follow) and its
    /// PEM PKCS#8 private key (`PRIVATE KEY`; RSA of 2048 bits or more, or EC P-256), and
    /// checks that the key is the certificate's. Any problem is an
    /// [`InputError::Certificate`] naming it.
    pub fn from_pem(certificate_pem: &str, private_key_pem: &str) -> Result<Self, InputError> {
        let certificate_der = pem_block(certificate_pem, "CERTIFICATE")
            .ok_or_else(|| bad("no PEM CERTIFICATE block"))?;
        let private_key = pem_block(private_key_pem, "PRIVATE KEY").ok_or_else(|| {
            bad("no PEM PRIVATE KEY block (a PKCS#8 key; convert an RSA PRIVATE KEY with `openssl pkcs8 -topk8 -nocrypt`)")
        })?;
        let private_key = zeroize::Zeroizing::new(private_key);
        Self::from_der(certificate_der, &private_key)
    }

    /// [`from_pem`](Self::from_pem) for DER bytes: the certificate, and the PKCS#8 key.
    pub fn from_der(
        certificate_der: Vec<u8>,
        private_key_pkcs8: &[u8],
    ) -> Result<Self, InputError> {
        use x509_parser::prelude::*;
        let (_, parsed) = X509Certificate::from_der(&certificate_der)
            .map_err(|e| bad(&format!("the certificate does not parse: {e}")))?;
        let public_key = parsed.public_key().subject_public_key.data.to_vec();
        let algorithm = key_algorithm(private_key_pkcs8)?;
        let key_public = match algorithm {
            KeyAlgorithm::Rsa => RsaKeyPair::from_pkcs8(private_key_pkcs8)
                .map_err(|e| bad(&format!("the RSA key is not usable: {e}")))?
                .public_key()
                .as_ref()
                .to_vec(),
            KeyAlgorithm::EcP256 => EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                private_key_pkcs8,
                &SystemRandom::new(),
            )
            .map_err(|e| bad(&format!("the EC key is not usable: {e}")))?
            .public_key()
            .as_ref()
            .to_vec(),
        };
        if key_public != public_key {
            return Err(bad("the private key is not the certificate's"));
        }
        let validity = parsed.validity();
        let time = |t: &x509_parser::time::ASN1Time| t.to_datetime();
        let subject = parsed.subject().to_string();
        Ok(Self(Arc::new(Inner {
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(&certificate_der)),
            subject,
            not_before: time(&validity.not_before),
            not_after: time(&validity.not_after),
            certificate_der,
            private_key: SecretSlice::from(private_key_pkcs8.to_vec()),
            algorithm,
        })))
    }

    /// The certificate's SHA-256 thumbprint, base64url (the assertion header's `x5t#S256`,
    /// and how Entra ID finds the registered certificate).
    pub fn thumbprint(&self) -> &str {
        &self.0.thumbprint
    }

    /// The certificate's subject (`CN=…`).
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// When the certificate starts being valid.
    pub fn not_before(&self) -> OffsetDateTime {
        self.0.not_before
    }

    /// When the certificate stops being valid: no assertion it signs is accepted after.
    pub fn not_after(&self) -> OffsetDateTime {
        self.0.not_after
    }

    /// The key's kind (RSA or EC P-256).
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.0.algorithm
    }

    /// The certificate, DER (public).
    pub fn certificate_der(&self) -> &[u8] {
        &self.0.certificate_der
    }

    /// The certificate, PEM (public).
    pub fn certificate_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.0.certificate_der)
    }

    /// The private key, PKCS#8 PEM. Call it only where the key leaves the process (a sealed
    /// column).
    pub fn expose_private_key_pem(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(to_pem("PRIVATE KEY", self.0.private_key.expose_secret()))
    }

    /// Signs a client assertion (RFC 7523) for `client_id` to present at `audience` (the
    /// token endpoint URL of the tenant, in its cloud), valid from `now` for
    /// [`ASSERTION_LIFETIME`], with a fresh random `jti`: header `alg` PS256 (RSA) or ES256
    /// (EC), `typ` JWT, `x5t#S256`; claims `aud`, `iss` = `sub` = `client_id`, `jti`, `nbf`,
    /// `iat`, `exp`.
    ///
    /// ```
    /// # use tenant_access::model::ClientCertificate;
    /// # let key = rcgen::KeyPair::generate().unwrap();
    /// # let cert = rcgen::CertificateParams::new(vec!["portal.example.com".into()]).unwrap().self_signed(&key).unwrap();
    /// # let certificate = ClientCertificate::from_pem(&cert.pem(), &key.serialize_pem()).unwrap();
    /// let aud = "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token".parse().unwrap();
    /// let jwt = certificate.client_assertion("my-client-id", &aud, time::OffsetDateTime::now_utc()).unwrap();
    /// assert_eq!(jwt.split('.').count(), 3);
    /// ```
    pub fn client_assertion(
        &self,
        client_id: &str,
        audience: &Url,
        now: OffsetDateTime,
    ) -> Result<String, InputError> {
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).expect("the OS random source is unavailable");
        let iat = now.unix_timestamp();
        let header = serde_json::json!({
            "alg": self.0.algorithm.jws_alg(),
            "typ": "JWT",
            "x5t#S256": self.0.thumbprint,
        });
        let claims = serde_json::json!({
            "aud": audience.as_str(),
            "iss": client_id,
            "sub": client_id,
            "jti": uuid_text(&jti),
            "nbf": iat,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs() as i64,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, InputError> {
        let rng = SystemRandom::new();
        let key = self.0.private_key.expose_secret();
        match self.0.algorithm {
            KeyAlgorithm::Rsa => {
                let pair = RsaKeyPair::from_pkcs8(key)
                    .map_err(|e| bad(&format!("the RSA key is not usable: {e}")))?;
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PSS_SHA256, &rng, message, &mut signature)
                    .map_err(|_| bad("signing the assertion failed"))?;
                Ok(signature)
            }
            KeyAlgorithm::EcP256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    key,
                    &rng,
                )
                .map_err(|e| bad(&format!("the EC key is not usable: {e}")))?;
                Ok(pair
                    .sign(&rng, message)
                    .map_err(|_| bad("signing the assertion failed"))?
                    .as_ref()
                    .to_vec())
            }
        }
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.0.subject)
            .field("thumbprint", &self.0.thumbprint)
            .field("algorithm", &self.0.algorithm)
            .field("not_after", &self.0.not_after)
            .field("private_key", &"[REDACTED]")
            .finish()
    }
}

/// How an application (a customer's app registration, or the MSP's own) proves who it is:
/// a client secret, or a certificate. Each knows its expiry where it can be known.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AppCredential {
    /// A client secret, with its end date when the MSP gave it (Entra shows it on the app
    /// registration's *Certificates & secrets* page; secrets live 24 months at most).
    Secret {
        /// The secret.
        secret: ClientSecret,
        /// When it stops working, if known.
        expires_at: Option<OffsetDateTime>,
    },
    /// A certificate and its private key (`private_key_jwt`).
    Certificate(ClientCertificate),
}

impl AppCredential {
    /// A client secret whose end date is not known.
    pub fn secret(secret: ClientSecret) -> Self {
        AppCredential::Secret {
            secret,
            expires_at: None,
        }
    }

    /// A client secret that stops working at `expires_at`.
    pub fn secret_expiring(secret: ClientSecret, expires_at: OffsetDateTime) -> Self {
        AppCredential::Secret {
            secret,
            expires_at: Some(expires_at),
        }
    }

    /// When the credential stops working, where it is known: a certificate's `notAfter`, a
    /// secret's end date when given.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        match self {
            AppCredential::Secret { expires_at, .. } => *expires_at,
            AppCredential::Certificate(certificate) => Some(certificate.not_after()),
        }
    }

    /// `"client secret"` or `"certificate"`, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            AppCredential::Secret { .. } => "client secret",
            AppCredential::Certificate(_) => "certificate",
        }
    }

    /// Whether it is empty (a blank secret).
    pub(crate) fn is_blank(&self) -> bool {
        matches!(self, AppCredential::Secret { secret, .. } if secret.expose_secret().is_empty())
    }
}

/// One credential of an application and when it stops working: what the status report and
/// the attention list show, from the credential itself or from Graph's
/// `applications(appId=…)` (`passwordCredentials`, `keyCredentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialExpiry {
    /// `"client secret"` or `"certificate"`.
    pub kind: &'static str,
    /// What names it: a certificate's subject and thumbprint, a secret's display name or
    /// hint.
    pub name: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Where a credential stands against its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpiryState {
    /// It works for longer than the warning window.
    Valid,
    /// It stops working within the warning window: replace it now.
    ExpiresSoon,
    /// It has stopped working: no request is sent with it.
    Expired,
}

impl ExpiryState {
    /// `valid`, `expires_soon`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryState::Valid => "valid",
            ExpiryState::ExpiresSoon => "expires_soon",
            ExpiryState::Expired => "expired",
        }
    }
}

/// A credential's expiry and where it stands at a moment, with a warning window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    /// The credential and its end.
    pub expiry: CredentialExpiry,
    /// Valid, expiring within the window, or expired.
    pub state: ExpiryState,
}

impl CredentialStatus {
    /// Where `expiry` stands at `now`, warning `window` ahead.
    ///
    /// ```
    /// use tenant_access::model::{CredentialExpiry, CredentialStatus, ExpiryState};
    /// use time::macros::datetime;
    /// let expiry = CredentialExpiry { kind: "client secret", name: "s".into(), expires_at: datetime!(2027-01-31 0:00 UTC) };
    /// let window = std::time::Duration::from_secs(30 * 86_400);
    /// assert_eq!(CredentialStatus::at(expiry.clone(), datetime!(2026-12-01 0:00 UTC), window).state, ExpiryState::Valid);
    /// assert_eq!(CredentialStatus::at(expiry.clone(), datetime!(2027-01-01 0:00 UTC), window).state, ExpiryState::ExpiresSoon);
    /// assert_eq!(CredentialStatus::at(expiry, datetime!(2027-01-31 0:00 UTC), window).state, ExpiryState::Expired);
    /// ```
    pub fn at(expiry: CredentialExpiry, now: OffsetDateTime, window: std::time::Duration) -> Self {
        let state = if now >= expiry.expires_at {
            ExpiryState::Expired
        } else if now + window >= expiry.expires_at {
            ExpiryState::ExpiresSoon
        } else {
            ExpiryState::Valid
        };
        CredentialStatus { expiry, state }
    }

    /// Whether it needs someone's attention (expiring soon or expired).
    pub fn needs_attention(&self) -> bool {
        self.state != ExpiryState::Valid
    }
}

impl AppCredential {
    /// The credential's expiry as a report line, where it is known.
    pub fn expiry(&self) -> Option<CredentialExpiry> {
        let expires_at = self.expires_at()?;
        let name = match self {
            AppCredential::Secret { .. } => "client secret".to_owned(),
            AppCredential::Certificate(c) => format!("{} ({})", c.subject(), c.thumbprint()),
        };
        Some(CredentialExpiry {
            kind: self.kind(),
            name,
            expires_at,
        })
    }
}

impl From<ClientSecret> for AppCredential {
    fn from(secret: ClientSecret) -> Self {
        AppCredential::secret(secret)
    }
}

impl From<ClientCertificate> for AppCredential {
    fn from(certificate: ClientCertificate) -> Self {
        AppCredential::Certificate(certificate)
    }
}

fn bad(why: &str) -> InputError {
    InputError::Certificate(why.to_owned())
}

/// The key's kind, from the PKCS#8 `AlgorithmIdentifier` OID.
fn key_algorithm(pkcs8: &[u8]) -> Result<KeyAlgorithm, InputError> {
    // rsaEncryption 1.2.840.113549.1.1.1 and id-ecPublicKey 1.2.840.10045.2.1, DER-encoded.
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let head = &pkcs8[..pkcs8.len().min(40)];
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    if has(RSA) {
        Ok(KeyAlgorithm::Rsa)
    } else if has(EC) {
        Ok(KeyAlgorithm::EcP256)
    } else {
        Err(bad("the private key is neither RSA nor EC P-256"))
    }
}

/// The first PEM block labelled `label`, decoded.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// 16 random bytes as a UUID-shaped text (version 4 bits set).
fn uuid_text(bytes: &[u8; 16]) -> String {
    let mut b = *bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    super::ids::guid_text(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_A: &str = include_str!("../../tests/fixtures/certificates/rsa-a.key.pem");
    const RSA_B: &str = include_str!("../../tests/fixtures/certificates/rsa-b.key.pem");

    fn rsa_with(key_pem: &str) -> (String, String) {
        let key = rcgen::KeyPair::from_pem(key_pem).expect("RSA key");
        let cert = rcgen::CertificateParams::new(vec!["portal.example.com".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn rsa() -> (String, String) {
        rsa_with(RSA_A)
    }

    fn ec() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["portal.example.com".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn verify(certificate: &ClientCertificate, jwt: &str) -> serde_json::Value {
        use x509_parser::prelude::*;
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let (_, parsed) = X509Certificate::from_der(certificate.certificate_der()).unwrap();
        let spki = parsed.public_key().subject_public_key.data.to_vec();
        let algorithm: &dyn signature::VerificationAlgorithm = match certificate.algorithm() {
            KeyAlgorithm::Rsa => &signature::RSA_PSS_2048_8192_SHA256,
            KeyAlgorithm::EcP256 => &signature::ECDSA_P256_SHA256_FIXED,
        };
        signature::UnparsedPublicKey::new(algorithm, spki)
            .verify(input.as_bytes(), &signature)
            .expect("the signature verifies with the certificate's public key");
        let (header, claims) = input.split_once('.').unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        serde_json::json!({ "header": header, "claims": claims })
    }

    #[test]
    fn rsa_and_ec_assertions_verify_with_the_certificates_key() {
        let aud: Url = "https://login.microsoftonline.com/t/oauth2/v2.0/token"
            .parse()
            .unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        for ((cert, key), alg) in [(rsa(), "PS256"), (ec(), "ES256")] {
            let certificate = ClientCertificate::from_pem(&cert, &key).unwrap();
            let jwt = certificate.client_assertion("client-1", &aud, now).unwrap();
            let parts = verify(&certificate, &jwt);
            assert_eq!(parts["header"]["alg"], alg);
            assert_eq!(parts["header"]["typ"], "JWT");
            assert_eq!(parts["header"]["x5t#S256"], certificate.thumbprint());
            let claims = &parts["claims"];
            assert_eq!(claims["aud"], aud.as_str());
            assert_eq!(claims["iss"], "client-1");
            assert_eq!(claims["sub"], "client-1");
            assert_eq!(claims["nbf"], 1_800_000_000);
            assert_eq!(claims["iat"], 1_800_000_000);
            assert_eq!(claims["exp"], 1_800_000_600);
            let again = certificate.client_assertion("client-1", &aud, now).unwrap();
            assert_ne!(
                verify(&certificate, &again)["claims"]["jti"],
                claims["jti"],
                "every assertion has its own jti"
            );
            // PEM round trip keeps the key and the certificate.
            let back = ClientCertificate::from_pem(
                &certificate.certificate_pem(),
                &certificate.expose_private_key_pem(),
            )
            .unwrap();
            assert_eq!(back.thumbprint(), certificate.thumbprint());
            assert!(!format!("{certificate:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let (cert, _) = rsa();
        let (_, other_key) = rsa_with(RSA_B);
        let err = ClientCertificate::from_pem(&cert, &other_key).unwrap_err();
        assert!(err.to_string().contains("not the certificate's"), "{err}");
        let (cert_ec, _) = ec();
        assert!(ClientCertificate::from_pem(&cert_ec, &other_key).is_err());
        assert!(ClientCertificate::from_pem("junk", &other_key).is_err());
    }
}
