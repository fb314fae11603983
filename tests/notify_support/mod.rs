//! A webhook receiver for the notifier tests: a small axum server on 127.0.0.1 that checks
//! each request's HMAC signature and timestamp with `WebhookVerifier`, records every notice id
//! it acknowledged (how many times), and can be told to fail the next requests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tenant_access::notify::webhook::{ID_HEADER, SIGNATURE_HEADER, WebhookVerifier};
use tenant_access::ports::Clock;

pub const SECRET: &[u8] = b"whsec_tenant_access_test";

#[derive(Default)]
struct Seen {
    /// Acknowledged notices: id → times.
    acknowledged: BTreeMap<String, usize>,
    /// Requests refused (bad signature, stale, forced failure).
    refused: usize,
    /// Requests to fail on purpose before answering 200 again.
    fail_next: usize,
    /// Every request's id header, in order.
    requests: Vec<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct App {
    seen: Arc<Mutex<Seen>>,
    verifier: WebhookVerifier,
    clock: Arc<dyn Clock>,
    delay: Duration,
}

async fn hook(State(app): State<App>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !app.delay.is_zero() {
        tokio::time::sleep(app.delay).await;
    }
    let id = headers
        .get(ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut seen = app.seen.lock().unwrap();
    seen.requests.push(id.clone());
    let notice = match app.verifier.verify(signature, &body, app.clock.now()) {
        Ok(notice) => notice,
        Err(_) => {
            seen.refused += 1;
            return StatusCode::UNAUTHORIZED;
        }
    };
    if notice.id.as_str() != id {
        seen.refused += 1;
        return StatusCode::BAD_REQUEST;
    }
    if seen.fail_next > 0 {
        seen.fail_next -= 1;
        seen.refused += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    *seen.acknowledged.entry(id).or_default() += 1;
    StatusCode::OK
}

impl Receiver {
    /// Starts a receiver checking signatures against `clock`, answering after `delay`.
    pub async fn start(clock: Arc<dyn Clock>, delay: Duration) -> Receiver {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = App {
            seen: Arc::clone(&seen),
            verifier: WebhookVerifier::new(SECRET.to_vec()),
            clock,
            delay,
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { url, seen }
    }

    /// Fails the next `n` requests with HTTP 500.
    pub fn fail_next(&self, n: usize) {
        self.seen.lock().unwrap().fail_next = n;
    }

    /// Acknowledged notice ids and how many times each.
    pub fn acknowledged(&self) -> BTreeMap<String, usize> {
        self.seen.lock().unwrap().acknowledged.clone()
    }

    /// Requests refused.
    pub fn refused(&self) -> usize {
        self.seen.lock().unwrap().refused
    }

    /// Every request's id, in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }
}
