//! Token revocation (RFC 7009), for customer removal.

use url::Url;

use super::errors::classify;
use crate::error::ProviderError;
use crate::model::{AccessToken, RefreshToken};
use crate::provider::oauth::{Client, HttpClient, Request, parse_error};

/// Which token [`OidcProvider::revoke`](super::OidcProvider::revoke) revokes (RFC 7009
/// `token_type_hint`).
#[derive(Debug, Clone, Copy)]
pub enum Revocable<'a> {
    /// A refresh token (revoking it usually ends the whole grant).
    Refresh(&'a RefreshToken),
    /// An access token.
    Access(&'a AccessToken),
}

/// Revokes `token` at `url` as `client`. An unknown or already revoked token succeeds, as the
/// RFC says (the server answers 200).
pub(super) async fn revoke(
    http: &HttpClient,
    url: &Url,
    client: Client<'_>,
    token: Revocable<'_>,
) -> Result<(), ProviderError> {
    let (value, hint) = match token {
        Revocable::Refresh(t) => (t.expose_secret(), "refresh_token"),
        Revocable::Access(t) => (t.expose_secret(), "access_token"),
    };
    let fields = vec![("token", value), ("token_type_hint", hint)];
    let answer = client.post(http, url, fields).await?;
    if answer.status == 200 {
        Ok(())
    } else {
        Err(classify(
            Request::Other,
            parse_error(answer.status, &answer.body)?,
        ))
    }
}
