//! Reading a client assertion (`private_key_jwt`, RFC 7523) back as a server would: the JWT
//! split, its key found by `x5t#S256` among registered certificates, the signature checked
//! with that certificate's public key, then its claims. FakeEntra checks every assertion it
//! gets this way, and wire tests use it to check what the client sent.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;
use time::OffsetDateTime;

use crate::model::{ClientCertificate, KeyAlgorithm};

/// Why a client assertion is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionRefusal {
    /// Not a JWT, or its header or claims are not the JSON they must be.
    Malformed(String),
    /// No registered certificate has the header's `x5t#S256`.
    UnknownKey,
    /// The signature does not verify with the certificate's key (or `alg` does not fit the
    /// key).
    BadSignature,
    /// `aud` is not the expected endpoint.
    WrongAudience(String),
    /// `iss` or `sub` is not the client id.
    WrongClient,
    /// `now` is before `nbf` or not before `exp`.
    OutsideValidity,
}

impl std::fmt::Display for AssertionRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssertionRefusal::Malformed(why) => {
                write!(f, "the client assertion is malformed: {why}")
            }
            AssertionRefusal::UnknownKey => f.write_str("the assertion's key is not registered"),
            AssertionRefusal::BadSignature => f.write_str("the assertion's signature is invalid"),
            AssertionRefusal::WrongAudience(aud) => {
                write!(f, "the assertion's aud {aud:?} is wrong")
            }
            AssertionRefusal::WrongClient => {
                f.write_str("the assertion's iss or sub is not the client id")
            }
            AssertionRefusal::OutsideValidity => {
                f.write_str("the assertion is not within its valid time range")
            }
        }
    }
}

impl std::error::Error for AssertionRefusal {}

/// A client assertion whose signature verified with one of the registered certificates.
#[derive(Debug, Clone)]
pub struct ClientAssertion {
    /// The JOSE header (`alg`, `typ`, `x5t#S256`).
    pub header: Value,
    /// The claims (`aud`, `iss`, `sub`, `jti`, `nbf`, `iat`, `exp`).
    pub claims: Value,
    /// The certificate whose key signed it.
    pub certificate: ClientCertificate,
}

impl ClientAssertion {
    /// Splits `jwt`, finds its certificate among `certificates` by `x5t#S256` and verifies the
    /// signature: PS256 or RS256 with an RSA key (Entra accepts both), ES256 with P-256.
    pub fn verify(jwt: &str, certificates: &[ClientCertificate]) -> Result<Self, AssertionRefusal> {
        let malformed = |why: &str| AssertionRefusal::Malformed(why.to_owned());
        let (input, signature) = jwt.rsplit_once('.').ok_or_else(|| malformed("not a JWT"))?;
        let (header, claims) = input
            .split_once('.')
            .ok_or_else(|| malformed("not a JWT"))?;
        let json = |part: &str| -> Result<Value, AssertionRefusal> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| malformed("a part is not base64url"))?;
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| malformed("a part is not a JSON object"))
        };
        let (header, claims) = (json(header)?, json(claims)?);
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| malformed("the signature is not base64url"))?;
        let thumbprint = header["x5t#S256"]
            .as_str()
            .ok_or(AssertionRefusal::UnknownKey)?;
        let certificate = certificates
            .iter()
            .find(|c| c.thumbprint() == thumbprint)
            .ok_or(AssertionRefusal::UnknownKey)?;
        let algorithm: &'static dyn VerificationAlgorithm =
            match (header["alg"].as_str(), certificate.algorithm()) {
                (Some("PS256"), KeyAlgorithm::Rsa) => &signature::RSA_PSS_2048_8192_SHA256,
                (Some("RS256"), KeyAlgorithm::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA256,
                (Some("ES256"), KeyAlgorithm::EcP256) => &signature::ECDSA_P256_SHA256_FIXED,
                _ => return Err(AssertionRefusal::BadSignature),
            };
        UnparsedPublicKey::new(algorithm, public_key(certificate)?)
            .verify(input.as_bytes(), &signature)
            .map_err(|_| AssertionRefusal::BadSignature)?;
        Ok(Self {
            header,
            claims,
            certificate: certificate.clone(),
        })
    }

    /// Checks the claims: `aud` is `audience`, `iss` = `sub` = `client_id`, and `now` is within
    /// `nbf` (when present) and `exp`.
    pub fn check(
        &self,
        client_id: &str,
        audience: &str,
        now: OffsetDateTime,
    ) -> Result<(), AssertionRefusal> {
        let claim = |name: &str| self.claims[name].as_str();
        let aud = claim("aud").unwrap_or_default();
        if aud != audience {
            return Err(AssertionRefusal::WrongAudience(aud.to_owned()));
        }
        if claim("iss") != Some(client_id) || claim("sub") != Some(client_id) {
            return Err(AssertionRefusal::WrongClient);
        }
        let now = now.unix_timestamp();
        let exp = self.claims["exp"]
            .as_i64()
            .ok_or(AssertionRefusal::OutsideValidity)?;
        let nbf = self.claims["nbf"].as_i64().unwrap_or(i64::MIN);
        if now < nbf || now >= exp {
            return Err(AssertionRefusal::OutsideValidity);
        }
        Ok(())
    }

    /// The `jti` claim, if it is a string.
    pub fn jti(&self) -> Option<&str> {
        self.claims["jti"].as_str()
    }
}

/// The certificate's public key as ring reads it: the `subjectPublicKey` bits (an RSA
/// `RSAPublicKey`, or an uncompressed EC point).
fn public_key(certificate: &ClientCertificate) -> Result<Vec<u8>, AssertionRefusal> {
    use x509_parser::prelude::*;
    let (_, parsed) = X509Certificate::from_der(certificate.certificate_der())
        .map_err(|_| AssertionRefusal::Malformed("the certificate does not parse".into()))?;
    Ok(parsed.public_key().subject_public_key.data.to_vec())
}
