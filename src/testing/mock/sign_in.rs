//! The mock's browser sign-in: the authorization URL it builds, the sign-in page a test
//! drives ([`MockProvider::signs_in`], [`MockProvider::cancels_sign_in`]) and the code
//! redemption, which checks the PKCE verifier and redeems each code once, as Entra ID does.

use std::collections::HashMap;

use url::Url;

use super::Script;
use super::{AUTHORITY, Inner, MockProvider, consent_missing, detail};
use crate::error::{CodeRefusal, ProviderError};
use crate::model::{CustomerId, PkceVerifier};
use crate::ports::{AuthorizationRequest, CodeRedemption, Target, TokenResponse};

/// A code the sign-in page handed out.
#[derive(Debug)]
pub(super) struct IssuedCode {
    customer: String,
    challenge: String,
    redirect_uri: String,
    redeemed: bool,
}

/// `{AUTHORITY}/{tenant}/oauth2/v2.0/authorize?…`, with Entra ID's parameters.
pub(super) fn authorization_url(target: &Target, request: &AuthorizationRequest) -> Url {
    let mut url = Url::parse(AUTHORITY).expect("static URL");
    url.path_segments_mut().expect("an http URL").extend([
        target.tenant.as_str(),
        "oauth2",
        "v2.0",
        "authorize",
    ]);
    {
        let mut pairs = url.query_pairs_mut();
        pairs
            .append_pair("client_id", "mock-client")
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", request.redirect_uri.as_str())
            .append_pair("response_mode", "query")
            .append_pair(
                "scope",
                "https://graph.microsoft.com/.default offline_access openid profile",
            )
            .append_pair("state", request.state.expose_secret())
            .append_pair("code_challenge", &request.code_challenge)
            .append_pair("code_challenge_method", "S256")
            // The mock's own parameter: whose sign-in page this is.
            .append_pair("mock_customer", target.customer.as_str());
        if let Some(hint) = &request.login_hint {
            pairs.append_pair("login_hint", hint);
        }
        pairs.append_pair("prompt", "select_account");
    }
    url
}

impl MockProvider {
    /// What the customer's browser is redirected to after signing in at `url` (an
    /// authorization URL this provider built): the portal's redirect URI with a fresh `code`
    /// and the `state`; or, when the customer's script says so, Entra ID's refusals: the
    /// admin consent workflow until [`approve`](Self::approve) (AADSTS90095, the request goes
    /// to a reviewer), or a Conditional Access block (AADSTS53003).
    ///
    /// A tenant needing consent ([`Script::consent_required`](super::Script::consent_required))
    /// still gets a code here; redeeming it answers AADSTS65001, as Entra's token endpoint
    /// does.
    pub fn signs_in(&self, url: &Url) -> Url {
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let customer = query.get("mock_customer").cloned().unwrap_or_default();
        let mut inner = self.lock();
        let mut unscripted = Script::default();
        let script = match CustomerId::new(customer.as_str()) {
            Ok(id) => inner.scripts.entry(id).or_default(),
            // Not a URL this provider built: nobody's script.
            Err(_) => &mut unscripted,
        };
        script.used = true;
        if script.conditional_access_blocks {
            return redirect(
                &query,
                &[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "AADSTS53003: Access has been blocked by Conditional Access policies.",
                    ),
                ],
            );
        }
        if script.approval_workflow && !script.approved {
            return redirect(
                &query,
                &[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "AADSTS90095: Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin.",
                    ),
                ],
            );
        }
        inner.issued += 1;
        let code = format!("mock-code-{customer}-{}", inner.issued);
        inner.codes.insert(
            code.clone(),
            IssuedCode {
                customer,
                challenge: query.get("code_challenge").cloned().unwrap_or_default(),
                redirect_uri: query.get("redirect_uri").cloned().unwrap_or_default(),
                redeemed: false,
            },
        );
        redirect(
            &query,
            &[("code", &code), ("session_state", "mock-session")],
        )
    }

    /// What the customer's browser is redirected to after cancelling at `url`:
    /// `error=access_denied` (AADSTS65004, the permissions declined).
    pub fn cancels_sign_in(&self, url: &Url) -> Url {
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        redirect(
            &query,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
            ],
        )
    }
}

/// The portal's redirect URI from the authorization request, with `extra` and the `state`.
fn redirect(query: &HashMap<String, String>, extra: &[(&str, &str)]) -> Url {
    let mut redirect = query
        .get("redirect_uri")
        .and_then(|r| Url::parse(r).ok())
        .unwrap_or_else(|| Url::parse("http://127.0.0.1/").expect("static URL"));
    {
        let mut pairs = redirect.query_pairs_mut();
        for (k, v) in extra {
            pairs.append_pair(k, v);
        }
        if let Some(state) = query.get("state") {
            pairs.append_pair("state", state);
        }
    }
    redirect
}

impl Inner {
    /// Redeems a code as Entra ID does: once (AADSTS54005 after), for the verifier whose
    /// challenge the request carried (AADSTS50148), to the same redirect URI; AADSTS65001
    /// while the tenant needs consent.
    pub(super) fn redeem_code(
        &mut self,
        target: &Target,
        redemption: CodeRedemption<'_>,
    ) -> Result<TokenResponse, ProviderError> {
        let Some(issued) = self.codes.get_mut(redemption.code.expose_secret()) else {
            return Err(ProviderError::Other(detail(
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            )));
        };
        if issued.redeemed {
            return Err(ProviderError::CodeRefused {
                reason: CodeRefusal::AlreadyRedeemed,
                detail: detail(
                    "invalid_grant",
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
                ),
            });
        }
        if issued.customer != target.customer.as_str()
            || PkceVerifier::challenge(redemption.verifier) != issued.challenge
        {
            return Err(ProviderError::CodeRefused {
                reason: CodeRefusal::VerifierMismatch,
                detail: detail(
                    "invalid_grant",
                    50148,
                    "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                ),
            });
        }
        if issued.redirect_uri != redemption.redirect_uri.as_str() {
            return Err(ProviderError::Misconfigured(detail(
                "invalid_grant",
                500112,
                "The reply address does not match the reply address provided when requesting the authorization code.",
            )));
        }
        issued.redeemed = true;
        let script = self.script(target);
        if script.consent_required && !script.consent_granted {
            return Err(consent_missing());
        }
        Ok(self.tokens(target, true))
    }
}
