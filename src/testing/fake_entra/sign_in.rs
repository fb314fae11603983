//! FakeEntra's browser sign-in (authorization code with PKCE): the sign-in page at
//! `/{tenant}/oauth2/v2.0/authorize`, the choice its buttons post back, and the redemption of
//! the code at the token endpoint (shared/entra-wire.md, "Authorization code + PKCE").
//!
//! A request Entra would refuse in the browser (unknown client, redirect URI not registered,
//! no S256 challenge) gets an HTML error page, never a redirect: the portal never hears of
//! it, as with the real service.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use super::answer::{form, json_response, oauth_error};
use super::scenario::SignInAnswer;
use super::state::{AUTHORIZATION_CODE_LIFETIME, FakeRequest, IssuedCode, Shared, State, lock};
use crate::html::escape_html as escape;

/// What an authorization request asks for, once checked.
struct Authorize {
    tenant: String,
    client_id: String,
    redirect_uri: Url,
    state: Option<String>,
    scope: String,
    code_challenge: String,
    login_hint: Option<String>,
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: the sign-in page, or the scripted answer at once.
pub(super) async fn authorize_page(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::Authorize);
    s.count_for(&tenant, FakeRequest::Authorize);
    let fields = form(query.unwrap_or_default().as_bytes());
    let request = match check(&mut s, &tenant, &fields) {
        Ok(request) => request,
        Err(refused) => return refused.page(),
    };
    let t = &s.tenants[&request.tenant];
    if let Some(answer) = t.scenario.sign_in_answer {
        return decide(&mut s, &request, answer);
    }
    let blocked = t.scenario.sign_in_blocked;
    let approval_only = !t.consented.contains(&request.client_id)
        && t.user_consent_blocked
        && !t.scenario.consent_required_on_poll;
    page(&request, blocked, approval_only)
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: a button of the page; the request's parameters
/// come back as hidden fields and are checked again.
pub(super) async fn authorize_decide(
    AxumState(state): AxumState<Shared>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    s.count(FakeRequest::Authorize);
    s.count_for(&tenant, FakeRequest::Authorize);
    let fields = form(&body);
    let request = match check(&mut s, &tenant, &fields) {
        Ok(request) => request,
        Err(refused) => return refused.page(),
    };
    let answer = match fields.get("decision").map(String::as_str) {
        Some("accept") => SignInAnswer::Approve,
        Some("cancel") => SignInAnswer::Cancel,
        Some("request_approval") => SignInAnswer::RequestApproval,
        Some("back") => SignInAnswer::Blocked,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                Some(900144),
                "The request body must contain the following parameter: 'decision'.",
            );
        }
    };
    decide(&mut s, &request, answer)
}

/// Why an authorization request is refused in the browser: its AADSTS code and text.
struct Refused(Option<u32>, String);

impl Refused {
    /// Entra's HTTP 400 error page.
    fn page(self) -> Response {
        error_page(StatusCode::BAD_REQUEST, self.0, &self.1)
    }
}

/// Checks an authorization request as Entra does before showing anything.
fn check(
    s: &mut State,
    tenant: &str,
    fields: &HashMap<String, String>,
) -> Result<Authorize, Refused> {
    let bad = |code: Option<u32>, text: &str| Refused(code, text.to_owned());
    let missing = |name: &str| {
        bad(
            Some(900144),
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
    let Some(tenant_id) = s.tenant(tenant).map(|t| t.id.clone()) else {
        return Err(bad(
            Some(90002),
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
    if client_id != s.client_id {
        return Err(bad(
            Some(700016),
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        ));
    }
    let raw_redirect = field("redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    let redirect_uri = match Url::parse(&raw_redirect) {
        Ok(url) if s.redirect_uris.contains(url.as_str()) => url,
        _ => {
            return Err(bad(
                Some(50011),
                &format!(
                    "The redirect URI '{raw_redirect}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."
                ),
            ));
        }
    };
    match field("response_type").as_deref() {
        Some("code") => {}
        Some(other) => {
            return Err(bad(
                Some(700054),
                &format!("response_type '{other}' is not enabled for the application."),
            ));
        }
        None => return Err(missing("response_type")),
    }
    let scope = field("scope").ok_or_else(|| missing("scope"))?;
    let code_challenge = field("code_challenge").ok_or_else(|| missing("code_challenge"))?;
    match field("code_challenge_method").as_deref() {
        Some("S256") => {}
        // Entra would fall back to `plain`; the portal never should, so the fake refuses.
        Some(other) => {
            return Err(bad(
                None,
                &format!("The code_challenge_method '{other}' is not supported; use S256."),
            ));
        }
        None => return Err(missing("code_challenge_method")),
    }
    Ok(Authorize {
        tenant: tenant_id,
        client_id,
        redirect_uri,
        state: field("state"),
        scope,
        code_challenge,
        login_hint: field("login_hint"),
    })
}

/// What the customer's choice sends the browser back to the portal with.
fn decide(s: &mut State, request: &Authorize, answer: SignInAnswer) -> Response {
    let now = s.now();
    let tenant = s.tenants.get_mut(&request.tenant).expect("checked");
    let client_id = &request.client_id;
    let mut answer = answer;
    if tenant.scenario.sign_in_blocked && answer != SignInAnswer::Cancel {
        answer = SignInAnswer::Blocked;
    }
    let consented = tenant.consented.contains(client_id);
    // A tenant answering AADSTS65001 hands out the code anyway; the token endpoint refuses it.
    let may_consent = !tenant.user_consent_blocked || tenant.scenario.consent_required_on_poll;
    if answer == SignInAnswer::Approve && !consented && !may_consent {
        answer = SignInAnswer::RequestApproval;
    }
    let error = |text: &str| {
        vec![
            ("error", "access_denied".to_owned()),
            ("error_description", text.to_owned()),
        ]
    };
    let params = match answer {
        SignInAnswer::Approve => {
            if !consented && !tenant.scenario.consent_required_on_poll {
                tenant.consented.insert(client_id.clone());
            }
            let code = format!("1.AXkA{}", s.random(48));
            let session_state = s.random(16);
            s.codes.insert(
                code.clone(),
                IssuedCode {
                    tenant: request.tenant.clone(),
                    client_id: client_id.clone(),
                    redirect_uri: request.redirect_uri.to_string(),
                    challenge: request.code_challenge.clone(),
                    scope: request.scope.clone(),
                    expires_at: now + AUTHORIZATION_CODE_LIFETIME,
                    redeemed: false,
                },
            );
            return redirect(
                &request.redirect_uri,
                &[("code", code)],
                request.state.as_deref(),
                Some(&session_state),
            );
        }
        SignInAnswer::Cancel => error("AADSTS65004: User declined to consent to access the app."),
        SignInAnswer::RequestApproval => {
            if !tenant.approval_requests.contains(client_id) {
                tenant.approval_requests.push(client_id.clone());
            }
            error(
                "AADSTS90095: Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin.",
            )
        }
        SignInAnswer::Blocked => error(
            "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        ),
    };
    redirect(
        &request.redirect_uri,
        &params,
        request.state.as_deref(),
        None,
    )
}

/// HTTP 302 to `base` with `params`, then `state` and `session_state`, in Entra's order.
fn redirect(
    base: &Url,
    params: &[(&str, String)],
    state: Option<&str>,
    session_state: Option<&str>,
) -> Response {
    let mut url = base.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in params {
            pairs.append_pair(key, value);
        }
        if let Some(state) = state {
            pairs.append_pair("state", state);
        }
        if let Some(session_state) = session_state {
            pairs.append_pair("session_state", session_state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

const STYLE: &str = "body{margin:0;background:#f2f2f2;font:15px/1.45 'Segoe UI',system-ui,sans-serif;color:#1b1b1b}\
main{max-width:440px;margin:8vh auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
.brand{font-weight:600;color:#737373;margin:0 0 16px}h1{font-size:24px;font-weight:600;margin:0 0 12px}\
.who{color:#444;margin:0 0 16px}ul{padding-left:20px}.blocked{border-left:4px solid #a4262c;padding-left:12px}\
.buttons{display:flex;gap:8px;justify-content:flex-end;margin-top:24px}\
button{min-width:108px;padding:6px 12px;font:inherit;border:1px solid #8a8886;background:#fff;cursor:pointer}\
button.primary{background:#0067b8;border-color:#0067b8;color:#fff}";

/// The sign-in page: Accept and Cancel; "Request approval" where only a reviewer can
/// consent; the Conditional Access block and "Back to the app" where a policy blocks it.
fn page(request: &Authorize, blocked: bool, approval_only: bool) -> Response {
    let mut hidden = String::new();
    let mut field = |name: &str, value: &str| {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        ));
    };
    field("client_id", &request.client_id);
    field("response_type", "code");
    field("redirect_uri", request.redirect_uri.as_str());
    field("scope", &request.scope);
    field("code_challenge", &request.code_challenge);
    field("code_challenge_method", "S256");
    if let Some(state) = &request.state {
        field("state", state);
    }
    if let Some(hint) = &request.login_hint {
        field("login_hint", hint);
    }
    let account = request.login_hint.as_deref().unwrap_or("your account");
    let scopes: String = request
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let (title, body, buttons) = if blocked {
        (
            "You cannot access this right now",
            "<p class=\"blocked\">Your sign-in was successful but does not meet the criteria to access this resource: a Conditional Access policy of your organisation blocks it (AADSTS53003).</p>".to_owned(),
            "<button class=\"primary\" name=\"decision\" value=\"back\">Back to the app</button>",
        )
    } else if approval_only {
        (
            "Approval required",
            format!(
                "<p>This app requires your admin's approval to access resources in your organisation:</p><ul>{scopes}</ul><p>Request approval, and sign in again once it is granted.</p>"
            ),
            "<button name=\"decision\" value=\"cancel\">Cancel</button><button class=\"primary\" name=\"decision\" value=\"request_approval\">Request approval</button>",
        )
    } else {
        (
            "Permissions requested",
            format!("<p>This app would like to:</p><ul>{scopes}</ul>"),
            "<button name=\"decision\" value=\"cancel\">Cancel</button><button class=\"primary\" name=\"decision\" value=\"accept\">Accept</button>",
        )
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Sign in to your account</title><style>{STYLE}</style></head><body><main><p class=\"brand\">Microsoft (FakeEntra)</p><p class=\"who\">{account}</p><h1>{title}</h1><p>Application <strong>{app}</strong></p>{body}<form method=\"post\" action=\"/{tenant}/oauth2/v2.0/authorize\">{hidden}<div class=\"buttons\">{buttons}</div></form></main></body></html>",
        account = escape(account),
        app = escape(&request.client_id),
        tenant = escape(&request.tenant),
    );
    html_response(StatusCode::OK, html)
}

/// Entra's error page in the browser (the portal never hears of it).
fn error_page(status: StatusCode, code: Option<u32>, text: &str) -> Response {
    let code = code.map(|c| format!("AADSTS{c}: ")).unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to your account</title><style>{STYLE}</style></head><body><main><p class=\"brand\">Microsoft (FakeEntra)</p><h1>Sorry, but we're having trouble signing you in.</h1><p class=\"blocked\">{}</p></main></body></html>",
        escape(&format!("{code}{text}"))
    );
    html_response(status, html)
}

fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // No script, no external asset, no framing: the page is a form and its style.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        html,
    )
        .into_response()
}

/// The authorization-code grant at the token endpoint: the code must be known, unused
/// (AADSTS54005), unexpired (70008), issued to this client and redirect URI in this tenant,
/// its challenge must be the S256 of `code_verifier` (50148), and the application consented
/// in the tenant (65001). Then the tokens are those of any delegated sign-in.
pub(super) fn redeem(
    s: &mut State,
    now: OffsetDateTime,
    tenant_id: &str,
    client_id: &str,
    fields: &HashMap<String, String>,
) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let refuse = |code: u32, text: &str, suberror: Option<&str>| {
        oauth_error(now, bad, "invalid_grant", Some(code), text, suberror)
    };
    let Some(issued) = s.codes.get(field("code")) else {
        return refuse(
            9002313,
            "Invalid request. Request is malformed or invalid.",
            None,
        );
    };
    if issued.redeemed {
        return refuse(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            None,
        );
    }
    if now >= issued.expires_at {
        return refuse(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            None,
        );
    }
    if issued.tenant != tenant_id || issued.client_id != client_id {
        return refuse(
            70000,
            "The provided value for the 'code' parameter is not valid.",
            None,
        );
    }
    if issued.redirect_uri != field("redirect_uri") {
        return refuse(
            500112,
            "The reply address does not match the reply address provided when requesting the authorization code.",
            None,
        );
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if challenge != issued.challenge {
        return refuse(
            50148,
            "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            None,
        );
    }
    let consented = s
        .tenants
        .get(tenant_id)
        .is_some_and(|t| t.consented.contains(client_id));
    if !consented {
        return refuse(
            65001,
            "The user or administrator has not consented to use the application.",
            Some("consent_required"),
        );
    }
    let issued = s.codes.get_mut(field("code")).expect("found above");
    issued.redeemed = true;
    let scope = issued.scope.clone();
    let body = s.issue(tenant_id, client_id, &scope, false);
    json_response(StatusCode::OK, body)
}
