//! CSRF protection: a signed double-submit token. The middleware gives every request a token
//! (from its cookie when genuine, else a fresh one it sets); pages put it in a hidden field;
//! [`CsrfForm`] checks on every `POST` that the field and the cookie carry the same genuine
//! token, and answers a 403 page otherwise.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::session::{cookie, set_cookie, sign, verify};
use super::{Web, WebError};

/// The CSRF cookie (before any `__Host-` prefix) and form field.
pub(crate) const CSRF_COOKIE: &str = "ta_csrf";
pub(crate) const CSRF_FIELD: &str = "csrf";
const PURPOSE: &str = "csrf";

/// This request's CSRF token, for the page's forms.
#[derive(Debug, Clone)]
pub(crate) struct CsrfToken(pub String);

fn genuine(web: &Web, token: &str) -> bool {
    verify(&web.config.key, PURPOSE, token).is_some_and(|nonce| nonce.len() == 32)
}

fn fresh(web: &Web) -> String {
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).expect("the OS random source is unavailable");
    sign(&web.config.key, PURPOSE, &nonce)
}

/// Middleware: makes sure the request has a token (reusing a genuine cookie) and sets the
/// cookie when it minted one.
pub(crate) async fn provide(
    State(web): State<Arc<Web>>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = cookie(request.headers(), &web.csrf_cookie)
        .filter(|t| genuine(&web, t))
        .map(str::to_owned);
    let minted = existing.is_none();
    let token = existing.unwrap_or_else(|| fresh(&web));
    request.extensions_mut().insert(CsrfToken(token.clone()));
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

/// A form whose CSRF token was checked: the field equals the cookie (constant time) and is
/// signed with the router's key. Anything else is a 403 page and the handler never runs.
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
        let sent = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
        let from_cookie = cookie(&parts.headers, &web.csrf_cookie);
        let ok = match (sent.as_deref(), from_cookie) {
            (Some(sent), Some(kept)) => {
                bool::from(sent.as_bytes().ct_eq(kept.as_bytes())) && genuine(web, sent)
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
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn tokens_are_random_and_signed() {
        let key = [9u8; 32];
        let a = sign(&key, PURPOSE, &[1u8; 32]);
        assert!(verify(&key, PURPOSE, &a).is_some());
        assert!(verify(&[8u8; 32], PURPOSE, &a).is_none());
        let payload = URL_SAFE_NO_PAD.encode([1u8; 32]);
        assert!(a.starts_with(&payload));
    }
}
