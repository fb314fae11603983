//! Issue 18, items 5, 7 and 8, attacked over real HTTP on 127.0.0.1 as an outsider would:
//! CSRF tokens bound to the wizard session and to the operator, a plain 404 for unmatched
//! paths of the combined app, the per-client rate limit, and the portal example's server
//! timeouts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use axum::http::header;
use tenant_access::journey::StageKind;
use tenant_access::web::{ClientKey, RateLimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/web.rs"]
mod web_support;
use web_support::*;

#[path = "../examples/portal/serve.rs"]
mod serve;

/// Anything a page sets as the CSRF cookie for a visitor without a session: an attacker gets
/// a genuine token this way (the double-submit field carries the same value).
async fn anonymous_token(portal: &Portal) -> String {
    let page = http()
        .get(format!("{}/wizard", portal.url))
        .send()
        .await
        .unwrap();
    let (pair, _) = set_cookie(&page, "ta_csrf").expect("a CSRF cookie for anyone");
    pair.split_once('=').unwrap().1.to_owned()
}

/// Item 5, the wizard: a token minted for an anonymous visitor (or for the attacker's own
/// wizard session), planted with the victim's session cookie, is refused and changes nothing;
/// the victim's own token still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_tokens_are_bound_to_the_wizard_session() {
    let portal = Portal::start().await;
    let victim = NoScript::open(&portal, &portal.invite("contoso", "contoso.com").await).await;
    let attacker = NoScript::open(&portal, &portal.invite("evil", "evil.example").await).await;
    let anonymous = anonymous_token(&portal).await;

    for (what, token) in [
        ("anonymous", anonymous.as_str()),
        ("another session's", attacker.token.as_str()),
    ] {
        let refused = victim
            .post(
                "/wizard/start",
                format!("{}; ta_csrf={token}", victim.session),
                format!("csrf={token}"),
            )
            .await;
        assert_csrf_refused(refused, &format!("the {what} token")).await;
    }
    let id = "contoso".try_into().unwrap();
    assert_eq!(
        portal.ta.load(&id).await.unwrap().kind(),
        StageKind::Claimed
    );

    // The genuine flow: the token the victim's own page carries.
    let started = victim
        .post(
            "/wizard/start",
            victim.cookies(),
            format!("csrf={}", victim.token),
        )
        .await;
    assert_eq!(started.status(), 303);
    assert_eq!(
        portal.ta.load(&id).await.unwrap().kind(),
        StageKind::DeviceCodeIssued
    );
}

/// Item 5, the admin pages: neither an anonymous token nor a wizard session's token is
/// accepted on an admin POST made with the operator's credentials; the admin page's own
/// token is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_tokens_are_bound_to_the_operator() {
    let portal = Portal::start().await;
    let customer = NoScript::open(&portal, &portal.invite("contoso", "contoso.com").await).await;
    let anonymous = anonymous_token(&portal).await;
    let admin = format!("{ADMIN_COOKIE}={ADMIN_TOKEN}");
    let invite = |customer: &str| {
        format!("customer={customer}&tenant={customer}.example&admin_email=it%40{customer}.example")
    };

    for (what, token) in [
        ("anonymous", anonymous.as_str()),
        ("wizard session's", customer.token.as_str()),
    ] {
        // Planted under every name a CSRF cookie might have.
        let cookies = format!("{admin}; ta_csrf={token}; ta_admin_csrf={token}");
        let refused = post_form(
            &http(),
            format!("{}/admin/invitations", portal.url),
            cookies,
            format!("csrf={token}&{}", invite("mallory")),
        )
        .await;
        assert_eq!(refused.status(), 403, "the {what} token was accepted");
    }
    assert!(
        portal
            .ta
            .load(&"mallory".try_into().unwrap())
            .await
            .is_err()
    );

    let (cookie, token, _) = form_page(
        &http(),
        &format!("{}/admin/invitations", portal.url),
        &admin,
    )
    .await;
    let created = post_form(
        &http(),
        format!("{}/admin/invitations", portal.url),
        format!("{admin}; {cookie}"),
        format!("csrf={token}&{}", invite("fabrikam")),
    )
    .await;
    assert_eq!(created.status(), 303);
    assert!(
        portal
            .ta
            .load(&"fabrikam".try_into().unwrap())
            .await
            .is_ok()
    );
}

/// Item 7: unmatched paths of the combined app (customer router merged with the admin router,
/// as the portal example does) are a plain 404, not a request for admin credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_paths_are_a_plain_404() {
    let portal = Portal::start().await;
    for path in [
        "/nonexistent",
        "/wizard/",
        "/admin/nonexistent",
        "/assets/x.css",
    ] {
        let response = http()
            .get(format!("{}{path}", portal.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers().get(header::WWW_AUTHENTICATE).is_none(),
            "{path} asks for credentials"
        );
    }
    // The admin pages themselves still do.
    let admin = http()
        .get(format!("{}/admin", portal.url))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 401);
    assert!(admin.headers().get(header::WWW_AUTHENTICATE).is_some());
}

/// A client whose connections come from `source` (any 127.x.y.z is this machine).
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(source))
        .build()
        .unwrap()
}

const BURST: u32 = 5;

/// Item 8: guesses at the invitation link, the consent callback and the admin sign-in from
/// one client get 429 once the burst is spent; other clients are answered as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_from_one_client_are_rate_limited() {
    // One request back per hour: nothing refills while the test runs.
    let limit = RateLimit::per_client(BURST, Duration::from_secs(3600));
    let portal = Portal::start_wrapped(None, "", move |app| app.layer(limit)).await;
    let guesses = [
        "/invitation/guess",
        "/authenticate/OAuth2Callback?state=contoso&admin_consent=True&tenant=x",
        "/admin",
    ];
    for (n, path) in guesses.into_iter().enumerate() {
        let guesser = client_from(Ipv4Addr::new(127, 0, 0, 10 + n as u8));
        let url = format!("{}{path}", portal.url);
        let status = guesser.get(&url).send().await.unwrap().status();
        assert!(
            status.is_client_error() && status != 429,
            "{path}: {status}"
        );
        for i in 1..BURST {
            let answered = guesser.get(&url).send().await.unwrap();
            assert_eq!(answered.status(), status, "guess {i} at {path}");
        }
        let limited = guesser.get(&url).send().await.unwrap();
        assert_eq!(limited.status(), 429, "{path} after the burst");
        assert!(limited.headers().contains_key(header::RETRY_AFTER));
        // Another client is not affected.
        let other = client_from(Ipv4Addr::new(127, 0, 0, 20 + n as u8));
        assert_eq!(other.get(&url).send().await.unwrap().status(), status);
    }
}

/// Item 8 behind a reverse proxy: the client is the address the proxy appended to
/// `X-Forwarded-For`, not what the client wrote there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_forwarded_address_is_the_client() {
    let limit =
        RateLimit::per_client(BURST, Duration::from_secs(3600)).client_key(ClientKey::ForwardedFor);
    let portal = Portal::start_wrapped(None, "", move |app| app.layer(limit)).await;
    let url = format!("{}/invitation/guess", portal.url);
    let proxy = http();
    let forwarding = |forwarded: String| {
        let asked = proxy.get(&url).header("x-forwarded-for", forwarded).send();
        async move { asked.await.unwrap().status() }
    };
    for i in 0..BURST {
        // The client varies what it sends; the proxy appends the address it saw.
        assert_eq!(forwarding(format!("10.9.{i}.1, 203.0.113.7")).await, 404);
    }
    assert_eq!(forwarding("10.9.99.1, 203.0.113.7".into()).await, 429);
    assert_eq!(forwarding("203.0.113.8".into()).await, 404);
}

/// The example server with 1-second timeouts, serving a fast and a slow route.
async fn example_server() -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let timeouts = serve::Timeouts {
        header_read: Duration::from_secs(1),
        request: Duration::from_secs(1),
    };
    tokio::spawn(serve::serve(listener, app, timeouts));
    address
}

/// Reads from `stream` until the server closes it (or answers and closes): how long that took,
/// or `None` if it was still open after 5 s.
async fn closed_after(mut stream: tokio::net::TcpStream) -> Option<Duration> {
    let opened = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue, // e.g. a 408 before the close
            }
        }
    })
    .await
    .ok()
    .map(|()| opened.elapsed())
}

/// Item 8, slow clients: the portal example's server closes a connection whose request head
/// does not arrive within the header-read timeout: sent in part, or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_server_closes_connections_with_a_partial_header() {
    let address = example_server().await;
    // The server answers at all.
    let ok = http()
        .get(format!("http://{address}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "ok");

    let mut partial = tokio::net::TcpStream::connect(address).await.unwrap();
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let (partial, silent) = tokio::join!(closed_after(partial), closed_after(silent));
    for (what, closed) in [
        ("half-sent request", partial),
        ("silent connection", silent),
    ] {
        let after = closed.unwrap_or_else(|| panic!("the {what} was still open after 5 s"));
        assert!(
            after < Duration::from_secs(3),
            "the {what} closed after {after:?}"
        );
    }
}

/// Item 8: a request that takes longer than the request timeout is answered 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_server_times_requests_out() {
    let address = example_server().await;
    let asked = Instant::now();
    let answer = http()
        .get(format!("http://{address}/slow"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 408);
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
}
