//! How FakeEntra answers on the wire, shared by its endpoints: Entra-shaped JSON and error
//! bodies (every field the real ones have), and the form a request posts.

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub(super) fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// An error answer shaped like Entra's (every field the real one has).
pub(super) fn oauth_error(
    now: OffsetDateTime,
    status: StatusCode,
    error: &str,
    code: Option<u32>,
    text: &str,
    suberror: Option<&str>,
) -> Response {
    json_response(status, error_body(now, error, code, text, suberror))
}

/// The JSON of an Entra error answer.
pub(super) fn error_body(
    now: OffsetDateTime,
    error: &str,
    code: Option<u32>,
    text: &str,
    suberror: Option<&str>,
) -> Value {
    let timestamp = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let description = match code {
        Some(code) => format!(
            "AADSTS{code}: {text} Trace ID: 00000000-0000-0000-0000-000000000000 Correlation ID: 00000000-0000-0000-0000-000000000000 Timestamp: {timestamp}"
        ),
        None => text.to_owned(),
    };
    let mut body = json!({
        "error": error,
        "error_description": description,
        "error_codes": code.map(|c| vec![c]).unwrap_or_default(),
        "timestamp": timestamp,
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
    });
    if let Some(code) = code {
        body["error_uri"] = json!(format!(
            "https://login.microsoftonline.com/error?code={code}"
        ));
    }
    if let Some(suberror) = suberror {
        body["suberror"] = json!(suberror);
    }
    body
}

/// The fields of a form post.
pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Entra's answer for a client id the directory does not know: 400 `unauthorized_client`,
/// AADSTS700016.
pub(super) fn unknown_client(now: OffsetDateTime) -> Response {
    oauth_error(
        now,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        Some(700016),
        "Application was not found in the directory.",
        None,
    )
}
