//! CSRF protection: a signed double-submit token bound to who is asking. The middleware gives
//! every request a token (from its cookie when genuine for this request's binding, else a
//! fresh one it sets); pages put it in a hidden field; [`CsrfForm`] checks on every `POST`
//! that the field and the cookie carry the same token, genuine for the same binding, and
//! answers a 403 page otherwise.
//!
//! **The binding.** A token is a random nonce signed (HMAC) together with who it was minted
//! for: on the wizard, the session the signed session cookie proves (customer, method switch,
//! invitation number); on the admin pages, the [`Operator`] the integrator's authoriser
//! named; without either, "anonymous". A token is accepted only for the binding it was minted
//! for, so a pair an attacker minted for themselves (as an anonymous visitor, with their own
//! wizard session, or on the other router) and planted in a victim's browser is refused once
//! the victim has a session, or on the admin pages. The wizard binds to the session's
//! identity rather than to the cookie's bytes, so opening the link again (a fresh expiry)
//! does not expire the forms of an open tab.
//!
//! **Why the cookie stays.** With the binding, the field alone could not be forged (it needs
//! the key) nor carried to another session. The cookie still makes a token that leaked on its
//! own (a copied page, a log) useless without the victim's cookie jar, and gives each browser
//! its own nonce, so the admin's token, whose binding (an operator's name) is no secret, is
//! not one fixed value per operator. The wizard and the admin pages keep separate cookies so
//! the two, open side by side in one browser, do not replace each other's token.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::operator::Operator;
use super::session::{Session, cookie, set_cookie, sign, verify};
use super::{Web, WebError};

/// The wizard's CSRF cookie (before any `__Host-` prefix) and form field.
pub(crate) const CSRF_COOKIE: &str = "ta_csrf";
/// The admin pages' CSRF cookie (before any `__Host-` prefix).
pub(crate) const ADMIN_CSRF_COOKIE: &str = "ta_admin_csrf";
pub(crate) const CSRF_FIELD: &str = "csrf";

/// Which router's tokens these are: what they are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The customer's wizard: bound to the wizard session.
    Wizard,
    /// The admin pages: bound to the operator.
    Admin,
}

/// This request's CSRF token, for the page's forms.
#[derive(Debug, Clone)]
pub(crate) struct CsrfToken(pub String);

/// Who this request's tokens are for (see the module's docs).
fn binding(web: &Web, parts: &Parts) -> String {
    match web.csrf_scope {
        Scope::Admin => parts
            .extensions
            .get::<Operator>()
            .map(|operator| format!("operator\0{}", operator.name())),
        Scope::Wizard => cookie(&parts.headers, &web.session_cookie)
            .and_then(|value| Session::decode(&web.config.key, value, web.engine.clock().now()))
            .map(|session| {
                format!(
                    "wizard\0{}\0{}\0{}",
                    URL_SAFE_NO_PAD.encode(session.customer.as_str()),
                    session.switch.as_ref().map_or("-", |s| s.as_str()),
                    session.invitation
                )
            }),
    }
    .unwrap_or_else(|| "anonymous".to_owned())
}

/// The signing purpose of tokens for `binding`: the binding is MACed with the nonce, never
/// shown.
fn purpose(binding: &str) -> String {
    format!(
        "csrf {}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(binding.as_bytes()))
    )
}

fn genuine(web: &Web, binding: &str, token: &str) -> bool {
    verify(&web.config.key, &purpose(binding), token).is_some_and(|nonce| nonce.len() == 32)
}

fn fresh(web: &Web, binding: &str) -> String {
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).expect("the OS random source is unavailable");
    sign(&web.config.key, &purpose(binding), &nonce)
}

/// Middleware: makes sure the request has a token (reusing a genuine cookie) and sets the
/// cookie when it minted one.
pub(crate) async fn provide(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let bound = binding(&web, &parts);
    let existing = cookie(&parts.headers, &web.csrf_cookie)
        .filter(|t| genuine(&web, &bound, t))
        .map(str::to_owned);
    let minted = existing.is_none();
    let token = existing.unwrap_or_else(|| fresh(&web, &bound));
    parts.extensions.insert(CsrfToken(token.clone()));
    let request = Request::from_parts(parts, body);
    let mut response = next.run(request).await;
    if minted {
        let value = set_cookie(
            &web.config,
            web.secure,
            &web.csrf_cookie,
            &token,
            "Strict",
            None,
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The CSRF field of an `application/x-www-form-urlencoded` body (the first, if several).
fn csrf_field(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned())
}

/// The CSRF field of a form `body` checked as a token for an anonymous visitor under `key`
/// (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_form(key: &[u8; 32], body: &[u8]) {
    if let Some(token) = csrf_field(body) {
        let _ = verify(key, &purpose("anonymous"), &token);
    }
}

/// A form whose CSRF token was checked: the field equals the cookie (constant time) and is
/// signed with the router's key for this request's binding (session or operator). Anything else is a 403 page and the handler never runs.
pub(crate) struct CsrfForm<T>(pub T);

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
    Arc<Web>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let web = &Arc::<Web>::from_ref(state);
        let (parts, body) = request.into_parts();
        let token = parts.extensions.get::<CsrfToken>().map(|t| t.0.clone());
        let reject = |web: &Web| web.error_page(&WebError::Csrf, token.as_deref());
        let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), state).await
        {
            Ok(bytes) => bytes,
            Err(e) => return Err(e.into_response()),
        };
        let sent = csrf_field(&bytes);
        let from_cookie = cookie(&parts.headers, &web.csrf_cookie);
        let ok = match (sent.as_deref(), from_cookie) {
            (Some(sent), Some(kept)) => {
                bool::from(sent.as_bytes().ct_eq(kept.as_bytes()))
                    && genuine(web, &binding(web, &parts), sent)
            }
            _ => false,
        };
        if !ok {
            tracing::info!(path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return Err(reject(web));
        }
        let form =
            axum::Form::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state)
                .await
                .map_err(|e| web.error_page(&WebError::Input(e.body_text()), token.as_deref()))?;
        Ok(CsrfForm(form.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_signed_for_their_binding_only() {
        let key = [9u8; 32];
        let alice = purpose("operator\0alice");
        let a = sign(&key, &alice, &[1u8; 32]);
        assert!(verify(&key, &alice, &a).is_some());
        assert!(verify(&[8u8; 32], &alice, &a).is_none());
        assert!(verify(&key, &purpose("operator\0bob"), &a).is_none());
        assert!(verify(&key, &purpose("anonymous"), &a).is_none());
        assert!(!a.contains("alice"));
        let payload = URL_SAFE_NO_PAD.encode([1u8; 32]);
        assert!(a.starts_with(&payload));
    }
}
