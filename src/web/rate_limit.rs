//! A per-client rate limit for the routers: a tower layer over governor's keyed limiter
//! (GCRA), keyed by the client's IP address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// How often the limiter forgets clients whose allowance is full again (every this many
/// checks), so its memory follows the clients of the last moments, not of all time.
const FORGET_EVERY: u64 = 1024;

/// Which client a request comes from, for [`RateLimit`].
///
/// An IPv6 address counts by its /64 prefix: one host usually holds a whole /64, and would
/// otherwise get a fresh allowance from each of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientKey {
    /// The TCP peer's address (the default). The app must be served with it:
    /// `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`.
    PeerAddress,
    /// Behind a reverse proxy that appends the address it saw to `X-Forwarded-For`: the last
    /// address there (what the client itself wrote comes before it and is ignored). Without
    /// the header, the peer's address.
    ForwardedFor,
    /// Behind a reverse proxy that sets this header (e.g. `X-Real-IP`) to the client's
    /// address, replacing whatever the client sent. Without the header, the peer's address.
    Header(HeaderName),
}

/// A per-client rate limit for [`customer_router`](super::customer_router) and
/// [`admin_router`](super::admin_router): each client may send `burst` requests at once, then
/// one more each `every`; past that it gets `429 Too Many Requests` with `Retry-After`, and
/// the routers never see the request. It bounds guessing at invitation links, at the consent
/// callback and at the admin sign-in (which the [`AdminAuthorizer`](super::AdminAuthorizer)
/// answers behind it).
///
/// A tower [`Layer`](tower_layer::Layer): wrap the merged app with it. Clones share their
/// counts, so one limit can wrap several routers.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use std::time::Duration;
/// use tenant_access::web::{self, ClientKey, RateLimit, WebConfig};
/// # use tenant_access::web::{AdminAuthorizer, Operator};
/// # struct Auth;
/// # #[async_trait::async_trait]
/// # impl AdminAuthorizer for Auth {
/// #     async fn authorize(&self, _: &axum::http::request::Parts)
/// #         -> Result<Operator, axum::response::Response> { Ok(Operator::new("a")) }
/// # }
///
/// # async fn run(ta: tenant_access::TenantAccess) -> std::io::Result<()> {
/// let config = WebConfig::new().signing_key([7u8; 32]);
/// // 30 requests at once per client, then one each half second (120 a minute).
/// let limit = RateLimit::per_client(30, Duration::from_millis(500));
/// // Behind a reverse proxy: .client_key(ClientKey::ForwardedFor)
/// let app = axum::Router::new()
///     .merge(web::customer_router(ta.clone(), config.clone()))
///     .merge(web::admin_router(ta, config, Auth))
///     .layer(limit);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// // The limit needs the peer's address.
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    key: ClientKey,
    checks: Arc<AtomicU64>,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("key", &self.key)
            .field("clients", &self.limiter.len())
            .finish()
    }
}

impl Default for RateLimit {
    /// 30 requests at once, then one each half second, per client: far above what a person
    /// clicking through the wizard or the admin pages sends (pages poll for progress about
    /// once a second), far below what a guessing script does.
    fn default() -> Self {
        Self::per_client(30, Duration::from_millis(500))
    }
}

impl RateLimit {
    /// Each client may send `burst` requests at once (at least 1), then one more each `every`
    /// (at least a nanosecond), keyed by [`ClientKey::PeerAddress`].
    pub fn per_client(burst: u32, every: Duration) -> Self {
        let every = every.max(Duration::from_nanos(1));
        let quota = Quota::with_period(every)
            .expect("the period is not zero")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"));
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            key: ClientKey::PeerAddress,
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How a client is told apart (default [`ClientKey::PeerAddress`]).
    pub fn client_key(mut self, key: ClientKey) -> Self {
        self.key = key;
        self
    }

    /// The client `headers` and `peer` stand for, if any.
    fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let named = |name: &HeaderName| {
            // A proxy appends to the last header line, and within it to the end; an
            // unreadable last line names no one (never an earlier, client-written one).
            headers
                .get_all(name)
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        };
        let from_header = match &self.key {
            ClientKey::PeerAddress => None,
            ClientKey::ForwardedFor => named(&HeaderName::from_static("x-forwarded-for")),
            ClientKey::Header(name) => named(name),
        };
        from_header.or(peer.map(|p| p.ip())).map(per_host)
    }

    /// `None` when the request may go on, else the answer to send instead.
    fn refuse<B>(&self, request: &Request<B>) -> Option<Response> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let Some(client) = self.client(request.headers(), peer) else {
            tracing::error!(
                "RateLimit cannot tell the client: serve the app with \
                 into_make_service_with_connect_info::<SocketAddr>()"
            );
            return Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the portal is not set up correctly",
                )
                    .into_response(),
            );
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let not_until = self.limiter.check_key(&client).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::info!(%client, path = %request.uri().path(), "rate limit: request refused");
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests. Please try again in {seconds} seconds."),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(response)
    }
}

/// An IPv6 address's /64 prefix (IPv4 and IPv4-mapped addresses as they are).
fn per_host(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        v4 => v4,
    }
}

impl<S> tower_layer::Layer<S> for RateLimit {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limit: self.clone(),
        }
    }
}

/// A service behind a [`RateLimit`] (what the layer makes).
#[derive(Debug, Clone)]
pub struct RateLimited<S> {
    inner: S,
    limit: RateLimit,
}

impl<S, B> tower_service::Service<Request<B>> for RateLimited<S>
where
    S: tower_service::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.limit.refuse(&request) {
            Some(refused) => Either::Left(ready(Ok(refused))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn clients_are_told_apart_by_the_configured_key() {
        let peer: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let limit = RateLimit::per_client(1, Duration::from_secs(1));
        let spoofed = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(limit.client(&spoofed, Some(peer)), Some(ip("192.0.2.1")));
        assert_eq!(limit.client(&spoofed, None), None);

        let proxied = limit.clone().client_key(ClientKey::ForwardedFor);
        let chain = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "10.0.0.1, 203.0.113.9"),
        ]);
        assert_eq!(proxied.client(&chain, Some(peer)), Some(ip("203.0.113.9")));
        assert_eq!(
            proxied.client(&HeaderMap::new(), Some(peer)),
            Some(ip("192.0.2.1"))
        );
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(proxied.client(&garbage, Some(peer)), Some(ip("192.0.2.1")));

        let real_ip = limit
            .clone()
            .client_key(ClientKey::Header(HeaderName::from_static("x-real-ip")));
        let set = headers(&[("x-real-ip", "2001:db8:1:2:3:4:5:6")]);
        assert_eq!(real_ip.client(&set, Some(peer)), Some(ip("2001:db8:1:2::")));
    }

    #[test]
    fn the_limit_bites_after_the_burst_per_client() {
        let limit = RateLimit::per_client(2, Duration::from_secs(3600));
        let from = |addr: &str| {
            let mut request = Request::new(());
            let peer: SocketAddr = addr.parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        };
        assert!(limit.refuse(&from("192.0.2.1:1")).is_none());
        assert!(limit.refuse(&from("192.0.2.1:2")).is_none());
        let refused = limit.refuse(&from("192.0.2.1:3")).unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers()[header::RETRY_AFTER] != "0");
        assert!(limit.refuse(&from("192.0.2.2:1")).is_none());
        // Without the peer's address: refused loudly, not let through.
        let unknown = limit.refuse(&Request::new(())).unwrap();
        assert_eq!(unknown.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
