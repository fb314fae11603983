//! How FakeEntra checks the client of a token request: a client secret, or a client assertion
//! (`private_key_jwt`, RFC 7523) verified against the certificates registered for that client
//! id, as Entra ID does (shared/entra-wire.md, "Certificate credentials").

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use time::OffsetDateTime;

use super::answer::{oauth_error, unknown_client};
use super::state::{FakeRequest, State};
use crate::model::ASSERTION_TYPE;
use crate::testing::assertion::{AssertionRefusal, ClientAssertion};

/// How a token request's client proved who it is.
pub(super) enum Proof {
    /// Nothing: a public client.
    None,
    /// This `client_secret` (not checked yet: the grant knows whose it must be).
    Secret(String),
    /// A client assertion that verified, for a client id with registered certificates.
    Assertion,
}

/// Reads the client's proof from a token request's `fields` and checks a client assertion
/// there and then: `audiences` are the URLs of the token endpoint the request reached (the
/// tenant as named in the path, and as its GUID), `tenant` the tenant's GUID.
///
/// An assertion whose `jti` was accepted before for the same client is refused with
/// `invalid_client` AADSTS700024. Entra documents no code of its own for a replay; 700024
/// ("not within its valid time range") says the same to the client, that this assertion is
/// no longer good and a fresh one must be signed, and it is among the client codes the
/// provider reads as a client refusal, so a replay reads like any other client failure.
/// Only an accepted assertion's `jti` is recorded: a refused one never authenticated anyone.
pub(super) fn authenticate(
    s: &mut State,
    now: OffsetDateTime,
    tenant: &str,
    audiences: &[String],
    client_id: &str,
    fields: &HashMap<String, String>,
) -> Result<Proof, Box<Response>> {
    let assertion_type = fields.get("client_assertion_type");
    let secret = fields.get("client_secret");
    if assertion_type.is_none() && !fields.contains_key("client_assertion") {
        return Ok(secret.map_or(Proof::None, |s| Proof::Secret(s.clone())));
    }
    s.count(FakeRequest::ClientAssertion);
    let invalid_request = |text: &str| {
        oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(50027),
            text,
            None,
        )
    };
    if secret.is_some() {
        // Two credentials at once: Entra will not pick one.
        return Err(Box::new(invalid_request(
            "Only one client credential may be sent: a client secret or a client assertion.",
        )));
    }
    if assertion_type.map(String::as_str) != Some(ASSERTION_TYPE) {
        return Err(Box::new(invalid_request(
            "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        )));
    }
    let certificates = if client_id == s.client_id {
        s.client_certificates.clone()
    } else {
        match s.tenants.get(tenant).and_then(|t| t.apps.get(client_id)) {
            Some(app) => app.certificates.clone(),
            None => return Err(Box::new(unknown_client(now))),
        }
    };
    let jwt = fields
        .get("client_assertion")
        .map(String::as_str)
        .unwrap_or("");
    let assertion = ClientAssertion::verify(jwt, &certificates)
        .and_then(|a| {
            let aud = a.claims["aud"].as_str().unwrap_or_default();
            let audience = audiences
                .iter()
                .find(|u| *u == aud)
                .unwrap_or(&audiences[0]);
            a.check(client_id, audience, now)?;
            Ok(a)
        })
        .map_err(|refusal| Box::new(refused(now, &refusal)))?;
    let Some(jti) = assertion.jti() else {
        return Err(Box::new(invalid_request(
            "The client assertion has no jti claim.",
        )));
    };
    let key = (client_id.to_owned(), jti.to_owned());
    if s.used_assertions.contains(&key) {
        return Err(Box::new(client_error(
            now,
            700024,
            "Client assertion is not within its valid time range: its jti was already used.",
        )));
    }
    s.used_assertions.insert(key);
    Ok(Proof::Assertion)
}

/// Entra's answer to a refused client assertion.
fn refused(now: OffsetDateTime, refusal: &AssertionRefusal) -> Response {
    match refusal {
        AssertionRefusal::Malformed(_) => oauth_error(
            now,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(50027),
            "JWT token is invalid or malformed.",
            None,
        ),
        AssertionRefusal::UnknownKey => client_error(
            now,
            700027,
            "Client assertion failed signature validation. (Reason - The key was not found.)",
        ),
        AssertionRefusal::WrongAudience(_) => client_error(
            now,
            50013,
            "Assertion audience claim does not match the required value.",
        ),
        AssertionRefusal::WrongClient => client_error(
            now,
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ),
        AssertionRefusal::OutsideValidity => client_error(
            now,
            700024,
            "Client assertion is not within its valid time range.",
        ),
        // BadSignature, and anything a later version refuses for.
        _ => client_error(now, 700027, "Client assertion failed signature validation."),
    }
}

/// HTTP 401 `invalid_client` with `code`.
pub(super) fn client_error(now: OffsetDateTime, code: u32, text: &str) -> Response {
    oauth_error(
        now,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        Some(code),
        text,
        None,
    )
}
