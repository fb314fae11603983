//! The portal example's HTTP server: `axum::serve` has no header-read timeout, so a client
//! that opens connections and sends a request head slowly (or not at all) could hold them
//! for as long as it likes. This server is hyper-util's, with:
//!
//! - a **header-read timeout**: a connection whose request head has not arrived in full
//!   within it is closed (also an idle keep-alive connection waiting for its next request);
//! - a **request timeout**: a request (reading its body included) that has not been answered
//!   within it gets `408 Request Timeout`;
//! - the peer's address for each request (`ConnectInfo<SocketAddr>`), which
//!   `tenant_access::web::RateLimit` keys on.
//!
//! `tests/web_hardening.rs` runs this file with 1-second timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower::Service as _;
use tower_http::timeout::TimeoutLayer;

/// How long the server waits for a client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request head to arrive in full, from when the connection is ready for it.
    pub header_read: Duration,
    /// For a request to be answered, from when its head arrived.
    pub request: Duration,
}

/// Serves `app` on `listener` until the task is dropped, one task per connection (HTTP/1.1).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let app = app.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        timeouts.request,
    ));
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // E.g. out of file descriptors: wait a moment instead of spinning.
            Err(error) => {
                eprintln!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = match make.call(peer).await {
            Ok(service) => TowerToHyperService::new(service),
            Err(never) => match never {},
        };
        let builder = builder.clone();
        tokio::spawn(async move {
            // A client that timed out or went away ends its connection; nothing to report.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
