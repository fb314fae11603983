//! The web tests' portal: FakeEntra, a `ManualClock` (behind a gate), a memory store, the
//! routers on 127.0.0.1 with a cookie-based admin check, and a browser without JavaScript
//! played with plain HTTP. Shared by `web_e2e` and `web_hardening`.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tenant_access::provider::RetryPolicy;
use tenant_access::store::MemoryStore;
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::fake_entra::FakeEntra;
use tenant_access::web::{self, AdminAuthorizer, Operator, WebConfig};
use tenant_access::{AnyOnboarding, Config, NewCustomer, PollOutcome, TenantAccess};
use tenant_access::{ports::Clock, testing::ManualClock};

pub const ADMIN_COOKIE: &str = "e2e_admin";
pub const ADMIN_TOKEN: &str = "e2e-operator-token";

/// The test portal's admin check: a fixed cookie, as an integrator's session would be.
pub struct CookieAuth;

#[async_trait]
impl AdminAuthorizer for CookieAuth {
    async fn authorize(&self, request: &Parts) -> Result<Operator, Response> {
        let has = request
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|c| c.trim() == format!("{ADMIN_COOKIE}={ADMIN_TOKEN}"));
        if has {
            Ok(Operator::new("alice@northwind.example"))
        } else {
            Err((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Cookie realm=\"e2e\"")],
                "sign in first",
            )
                .into_response())
        }
    }
}

/// A `ManualClock` whose waits can be held: while the gate is shut, `sleep_until` does not
/// return. Lets a test look at a run that is waiting (e.g. *Verify all* paused by a
/// `Retry-After`) for as long as it likes, then let it go; time still never passes by itself.
#[derive(Debug, Clone)]
pub struct GatedClock {
    pub clock: ManualClock,
    pub open: tokio::sync::watch::Sender<bool>,
}

impl GatedClock {
    pub fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            open: tokio::sync::watch::Sender::new(true),
        }
    }

    pub fn shut(&self) {
        self.open.send_replace(false);
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

#[async_trait]
impl Clock for GatedClock {
    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    async fn sleep_until(&self, deadline: time::OffsetDateTime) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        self.clock.sleep_until(deadline).await;
    }
}

pub struct Portal {
    pub url: String,
    pub ta: TenantAccess,
    pub fake: FakeEntra,
    pub clock: ManualClock,
    pub gate: GatedClock,
    pub mailer: CaptureMailer,
}

impl Portal {
    pub async fn start() -> Portal {
        Self::start_at(None, "").await
    }

    /// A portal whose public address (where invitation links point) is `public`, e.g. an
    /// https reverse proxy in front of it, with the routers nested under `base` ("" for the
    /// root); it still listens on 127.0.0.1.
    pub async fn start_at(public: Option<&str>, base: &str) -> Portal {
        Self::start_wrapped(public, base, |app| app).await
    }

    /// [`start_at`](Self::start_at), with `wrap` around the whole app (e.g. a layer); served
    /// with the peer's address (`ConnectInfo<SocketAddr>`).
    pub async fn start_wrapped(
        public: Option<&str>,
        base: &str,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> Portal {
        let clock = ManualClock::starting_now();
        let gate = GatedClock::new(clock.clone());
        let fake = FakeEntra::builder()
            .clock(Arc::new(gate.clone()))
            .start()
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        fake.register_sign_in_redirect_uri(
            &format!("{url}/authenticate/SignInCallback")
                .parse()
                .unwrap(),
        );
        let mailer = CaptureMailer::new();
        let ta = TenantAccess::builder()
            .config(
                Config::builder(public.unwrap_or(&format!("{url}{base}")))
                    .msp_name("Northwind IT")
                    .consent_client_id(fake.client_id())
                    .consent_redirect_url(format!("{url}/authenticate/OAuth2Callback"))
                    .sign_in_redirect_url(format!("{url}/authenticate/SignInCallback"))
                    .notify_channels(["webhook"])
                    .build()
                    .unwrap(),
            )
            .store(MemoryStore::new())
            .mailer(mailer.clone())
            // No retries inside a provider call, so an injected fault shows in the run.
            .provider(fake.provider_with_retry(RetryPolicy::none()).unwrap())
            .clock(gate.clone())
            .build()
            .unwrap();
        let mut config = WebConfig::new().check_every(StdDuration::from_millis(150));
        if !base.is_empty() {
            config = config.base_path(base).unwrap();
        }
        let routers = web::customer_router(ta.clone(), config.clone()).merge(web::admin_router(
            ta.clone(),
            config,
            CookieAuth,
        ));
        let app = if base.is_empty() {
            routers
        } else {
            axum::Router::new().nest(base, routers)
        };
        let app = wrap(app).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Portal {
            url,
            ta,
            fake,
            clock,
            gate,
            mailer,
        }
    }

    /// Invites and mails a customer; returns the link from the email.
    pub async fn invite(&self, id: &str, tenant: &str) -> String {
        let email = format!("admin@{tenant}");
        let new = NewCustomer::new(id, tenant, &email).unwrap();
        self.ta
            .invite(new)
            .await
            .unwrap()
            .send(&self.ta)
            .await
            .unwrap();
        self.link_to(&email)
    }

    pub fn link_to(&self, email: &str) -> String {
        let message = self.mailer.last_to(email).expect("an invitation email");
        message.link.expose_secret().to_owned()
    }

    /// A customer connected through the whole device-code journey, without a browser.
    pub async fn connected(&self, id: &str, tenant: &str) {
        let link = self.invite(id, tenant).await;
        let code = link.rsplit('/').next().unwrap();
        let AnyOnboarding::InvitationSent(sent) = self.ta.open_invitation(code).await.unwrap()
        else {
            panic!("not waiting")
        };
        let device = sent
            .claim(&self.ta)
            .await
            .unwrap()
            .start_device_code(&self.ta)
            .await
            .unwrap();
        self.fake.sign_in(device.stage().user_code());
        let PollOutcome::Authenticated(token) = device.poll_until_done(&self.ta).await.unwrap()
        else {
            panic!("no token")
        };
        token.validate(&self.ta).await.unwrap();
    }

    /// One device-code poll interval passes.
    pub fn tick(&self) {
        self.clock.advance(Duration::from_secs(5));
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` part of the response's `Set-Cookie` for `name`.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(header::SET_COOKIE.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let pair = v.split(';').next().unwrap().to_owned();
            (pair, v.to_owned())
        })
}

/// The user code a device-code page shows.
pub fn user_code_in(page: &str) -> String {
    let marker = "id=\"user-code\" class=\"user-code\">";
    let at = page.find(marker).expect("a user code") + marker.len();
    page[at..].split('<').next().unwrap().to_owned()
}

/// The hidden CSRF field's value in a page.
pub fn csrf_field(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = page.find(marker).expect("a CSRF field") + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// `GET`s a page with forms: its CSRF cookie (`name=value`), the token in its forms and its
/// text.
pub async fn form_page(
    client: &reqwest::Client,
    url: &str,
    cookies: &str,
) -> (String, String, String) {
    let page = client
        .get(url)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "{url}");
    // The wizard's or the admin pages' CSRF cookie.
    let (csrf_cookie, _) = set_cookie(&page, "ta_csrf")
        .or_else(|| set_cookie(&page, "ta_admin_csrf"))
        .expect("a CSRF cookie");
    let text = page.text().await.unwrap();
    (csrf_cookie, csrf_field(&text), text)
}

/// A browser without JavaScript, played with plain HTTP: the cookies it holds.
pub struct NoScript {
    pub client: reqwest::Client,
    pub url: String,
    pub session: String,
    pub csrf_cookie: String,
    pub token: String,
}

impl NoScript {
    /// Opens the invitation link and the wizard page it leads to.
    pub async fn open(portal: &Portal, link: &str) -> NoScript {
        let client = http();
        let opened = client.get(link).send().await.unwrap();
        let (session, _) = set_cookie(&opened, "ta_wizard").unwrap();
        let (csrf_cookie, token, _) =
            form_page(&client, &format!("{}/wizard", portal.url), &session).await;
        NoScript {
            client,
            url: portal.url.clone(),
            session,
            csrf_cookie,
            token,
        }
    }

    /// Presses *Start authentication* and returns the device-code page.
    pub async fn start_authentication(&self) -> String {
        let form = format!("csrf={}", self.token);
        self.post("/wizard/start", self.cookies(), form).await;
        self.get("/wizard").await
    }

    pub fn cookies(&self) -> String {
        format!("{}; {}", self.session, self.csrf_cookie)
    }

    pub async fn post(&self, path: &str, cookies: String, body: String) -> reqwest::Response {
        post_form(&self.client, format!("{}{path}", self.url), cookies, body).await
    }

    pub async fn get(&self, path: &str) -> String {
        page_text(&format!("{}{path}", self.url), &self.cookies()).await
    }
}

/// `POST`s a form with these cookies.
pub async fn post_form(
    client: &reqwest::Client,
    url: String,
    cookies: String,
    body: String,
) -> reqwest::Response {
    client
        .post(url)
        .header("cookie", cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The body of a `GET` with these cookies.
pub async fn page_text(url: &str, cookies: &str) -> String {
    http()
        .get(url)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Asserts that a form was refused for its CSRF token: 403 and the page that says so.
pub async fn assert_csrf_refused(refused: reqwest::Response, what: &str) {
    assert_eq!(refused.status(), 403, "{what}");
    let page = refused.text().await.unwrap();
    assert!(page.contains("data-error=\"csrf\""), "{what}: {page}");
}
