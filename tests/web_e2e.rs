//! End-to-end tests of the web wizard (feature `axum`) in a real browser: Debian's chromium,
//! headless, driven over WebDriver (chromedriver) with fantoccini. The portal runs on
//! 127.0.0.1 with FakeEntra and a `ManualClock`: the tests move time, the browser's own
//! waits for the page to change are bounded by a timeout.
//!
//! `TENANT_ACCESS_CHROMEDRIVER` names the chromedriver binary (`scripts/test` installs Debian's
//! `chromium` and `chromium-driver` and sets it); without it the browser tests say loudly that
//! they did not run. The HTTP-level checks (CSRF, headers, cookies, the no-JavaScript
//! fallback) run always. With `TA_SCREENSHOTS=docs/screenshots` the browser tests save PNGs of
//! the main pages there.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use std::time::Duration;
use tenant_access::AnyOnboarding;
use tenant_access::NewCustomer;
use tenant_access::model::Password;
use tenant_access::testing::fake_entra::{FakeEndpoint, FakeRequest, Fault};

#[path = "support/web.rs"]
mod web_support;
use web_support::*;

/// Browser sessions run one at a time: two cores do not carry several chromiums well.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: StdDuration = StdDuration::from_secs(15);

/// chromedriver on a free loopback port, and a headless chromium session through it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Drop for Browser {
    /// Also when a test fails half-way: chromedriver runs in its own process group (with the
    /// chromium it started), and the whole group is ended by its id.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chromedriver(test: &str) -> Option<String> {
    match std::env::var("TENANT_ACCESS_CHROMEDRIVER") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! {test}: TENANT_ACCESS_CHROMEDRIVER is not set: the browser tests were NOT run \
                 (scripts/test installs chromium and chromium-driver and sets it) !!!"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    async fn start(driver_path: &str) -> Browser {
        let port = free_port();
        let mut command = Command::new(driver_path);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_path}: {e}"));
        let profile = TempDir(
            std::env::temp_dir().join(format!("ta-e2e-chromium-{}-{port}", std::process::id())),
        );
        std::fs::create_dir_all(&profile.0).unwrap();
        let mut caps = serde_json::Map::new();
        let chrome = serde_json::json!({
            "binary": std::env::var("TENANT_ACCESS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1000,700",
                format!("--user-data-dir={}", profile.0.display()),
            ],
        });
        caps.insert("goog:chromeOptions".into(), chrome);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let url = format!("http://{address}");
        // chromedriver needs a moment to listen: try to connect for up to 10 s.
        let mut last = None;
        for _ in 0..100 {
            if std::net::TcpStream::connect(address).is_ok() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        for _ in 0..3 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        _profile: profile,
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        panic!("no WebDriver session: {last:?}");
    }

    async fn stop(self) {
        let _ = self.client.clone().close().await;
        // Drop ends chromedriver.
    }

    async fn text(&self, css: &str) -> String {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element.text().await.unwrap(),
            Err(e) => panic!("no {css}: {e}; page:\n{}", self.page().await),
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn page(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    async fn press(&self, key: Key) {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client.perform_actions(keys).await.unwrap();
    }

    async fn focused_id(&self) -> String {
        let el = self.client.active_element().await.unwrap();
        let id = el.attr("id").await.unwrap().unwrap_or_default();
        if id.is_empty() {
            el.attr("class").await.unwrap().unwrap_or_default()
        } else {
            id
        }
    }

    /// Saves a screenshot when `TA_SCREENSHOTS` names a directory.
    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("TA_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }

    async fn sign_in_as_admin(&self, portal: &Portal) {
        // A cookie can only be set for the page's origin: visit it first.
        self.client
            .goto(&format!("{}/assets/ta-wizard.css", portal.url))
            .await
            .unwrap();
        // (WebDriver's add-cookie refuses an IP address as the domain; the page's own
        // document.cookie is the same thing.)
        self.client
            .execute(
                &format!("document.cookie = '{ADMIN_COOKIE}={ADMIN_TOKEN}; path=/';"),
                vec![],
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_journey_in_the_browser() {
    let Some(driver) = chromedriver("device_code_journey_in_the_browser") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    let b = Browser::start(&driver).await;

    // The MSP invites the customer on the admin page.
    b.sign_in_as_admin(&portal).await;
    b.client
        .goto(&format!("{}/admin/invitations", portal.url))
        .await
        .unwrap();
    let form = b.client.form(Locator::Css("form.grid")).await.unwrap();
    form.set_by_name("customer", "contoso").await.unwrap();
    form.set_by_name("tenant", "contoso.com").await.unwrap();
    form.set_by_name("admin_email", "admin@contoso.com")
        .await
        .unwrap();
    b.click("#invite").await;
    assert!(
        b.text(".notice")
            .await
            .contains("Invitation sent to contoso")
    );
    let row = b.text("#invitations tr[data-customer=contoso]").await;
    assert!(row.contains("invitation sent"), "{row}");
    b.screenshot("admin-invitations").await;

    // The customer opens the link from the email: the code leaves the address bar at once.
    let link = portal.link_to("admin@contoso.com");
    b.client.goto(&link).await.unwrap();
    let title = b.text("#welcome-title").await;
    assert!(title.contains("Northwind IT"), "{title}");
    assert_eq!(b.client.current_url().await.unwrap().path(), "/wizard");
    b.screenshot("welcome").await;

    // Keyboard: the skip link comes first, then "Sign in with Microsoft", then the device
    // code; Enter starts.
    b.press(Key::Tab).await;
    assert_eq!(b.focused_id().await, "skip");
    b.press(Key::Tab).await;
    assert_eq!(b.focused_id().await, "sign-in-browser");
    b.press(Key::Tab).await;
    assert_eq!(b.focused_id().await, "start");
    b.press(Key::Enter).await;

    let user_code = b.text("#user-code").await;
    assert!(!user_code.is_empty());
    let link = b
        .client
        .find(Locator::Css("#verification-link"))
        .await
        .unwrap();
    assert_eq!(
        link.attr("target").await.unwrap().as_deref(),
        Some("_blank")
    );
    assert_eq!(
        link.attr("rel").await.unwrap().as_deref(),
        Some("noopener noreferrer")
    );
    // With script, the copy button shows; the live region waits.
    assert!(
        b.client
            .find(Locator::Css("button[data-copy]"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(b.text("#progress").await.contains("Waiting"));
    b.screenshot("device-code").await;

    // The customer signs in at Microsoft; a poll interval passes; the page moves on by itself.
    portal.fake.sign_in(&user_code);
    portal.tick();
    let done = b.text("#success-title").await;
    assert_eq!(done, "You are connected");
    let said = b.text("#success").await;
    assert!(
        said.contains("Northwind IT now has delegated access to"),
        "{said}"
    );
    b.screenshot("success").await;
    assert!(matches!(
        portal
            .ta
            .load(&"contoso".try_into().unwrap())
            .await
            .unwrap(),
        AnyOnboarding::Validated(_)
    ));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_journey_in_the_browser() {
    let Some(driver) = chromedriver("browser_sign_in_journey_in_the_browser") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    let link = portal.invite("contoso", "contoso.com").await;
    let b = Browser::start(&driver).await;

    // "Sign in with Microsoft" comes first on the welcome page.
    b.client.goto(&link).await.unwrap();
    assert_eq!(b.text("#sign-in-browser").await, "Sign in with Microsoft");
    b.click("#sign-in-browser").await;

    // The wizard sends the browser on to the sign-in page (FakeEntra's, as Microsoft's would
    // be), with the invited administrator filled in.
    assert_eq!(b.text("button[value=accept]").await, "Accept");
    let at = b.client.current_url().await.unwrap();
    assert!(
        at.path().ends_with("/oauth2/v2.0/authorize"),
        "not at the sign-in page: {at}"
    );
    assert!(b.page().await.contains("admin@contoso.com"));
    let stored = portal
        .ta
        .load(&"contoso".try_into().unwrap())
        .await
        .unwrap();
    assert!(matches!(stored, AnyOnboarding::BrowserSignIn(_)));
    b.screenshot("microsoft-sign-in").await;

    // Accept: back to the portal's callback, which redeems the code and validates.
    b.click("button[value=accept]").await;
    assert_eq!(b.text("#success-title").await, "You are connected");
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        "/authenticate/SignInCallback"
    );
    assert!(matches!(
        portal
            .ta
            .load(&"contoso".try_into().unwrap())
            .await
            .unwrap(),
        AnyOnboarding::Validated(_)
    ));
    // The callback cannot be used twice: reloading it changes nothing.
    b.client.refresh().await.unwrap();
    assert!(
        b.page()
            .await
            .contains("does not match a sign-in under way")
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_code_blocked_by_conditional_access_moves_the_customer_to_the_browser() {
    let Some(driver) = chromedriver("a_device_code_blocked_by_conditional_access") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    let link = portal.invite("fabrikam", "fabrikam.com").await;
    portal.fake.scenario("fabrikam.com", |s| {
        s.conditional_access_blocks_device_code();
    });
    let b = Browser::start(&driver).await;

    // The customer tries the code on another device; the policy refuses it on the next poll.
    b.client.goto(&link).await.unwrap();
    b.click("#start").await;
    let user_code = b.text("#user-code").await;
    portal.fake.sign_in(&user_code);
    portal.tick();
    let note = b.text("#note").await;
    assert!(note.contains("Conditional Access"), "{note}");
    assert!(note.contains("Sign in with Microsoft"), "{note}");
    b.screenshot("device-code-blocked").await;

    // The browser sign-in is not blocked: it connects.
    b.click("#sign-in-browser").await;
    b.click("button[value=accept]").await;
    assert_eq!(b.text("#success-title").await, "You are connected");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_workflow_journey_in_the_browser() {
    let Some(driver) = chromedriver("approval_workflow_journey_in_the_browser") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    portal.fake.require_admin_approval("fabrikam.com");
    let link = portal.invite("fabrikam", "fabrikam.com").await;
    let b = Browser::start(&driver).await;

    b.client.goto(&link).await.unwrap();
    b.click("#start").await;
    let user_code = b.text("#user-code").await;
    portal.fake.sign_in(&user_code);
    portal.tick();
    let title = b.text("#approval-title").await;
    assert_eq!(title, "An administrator must approve");
    assert!(b.page().await.contains("admin consent workflow"));
    b.screenshot("approval-requested").await;

    // A day later a reviewer approves; the customer comes back with the same link.
    portal.clock.advance(Duration::from_secs(20 * 3600));
    assert_eq!(
        portal.fake.approve_admin_consent_requests("fabrikam.com"),
        1
    );
    b.client.goto(&link).await.unwrap();
    b.click("#continue").await;
    let user_code = b.text("#user-code").await;
    portal.fake.sign_in(&user_code);
    portal.tick();
    assert_eq!(b.text("#success-title").await, "You are connected");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_unknown_links_get_clear_pages() {
    let Some(driver) = chromedriver("expired_revoked_and_unknown_links_get_clear_pages") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    let expired = portal.invite("woodgrove", "woodgrove.com").await;
    let b = Browser::start(&driver).await;

    portal.clock.advance(Duration::from_secs(8 * 86_400));
    b.client.goto(&expired).await.unwrap();
    assert_eq!(
        b.text("[data-error=invalid_invitation] h1").await,
        "This invitation link does not work"
    );
    assert!(
        b.page()
            .await
            .contains("ask your IT provider to send you a new invitation")
    );
    b.screenshot("expired-link").await;

    let revoked = portal.invite("tailspin", "tailspin.com").await;
    let AnyOnboarding::InvitationSent(sent) = portal
        .ta
        .load(&"tailspin".try_into().unwrap())
        .await
        .unwrap()
    else {
        panic!()
    };
    sent.revoke(&portal.ta).await.unwrap();
    b.client.goto(&revoked).await.unwrap();
    b.text("[data-error=invalid_invitation]").await;

    b.client
        .goto(&format!("{}/invitation/not-a-real-code", portal.url))
        .await
        .unwrap();
    b.text("[data-error=invalid_invitation]").await;

    // No session at all: a clear page too.
    b.client
        .goto(&format!("{}/wizard", portal.url))
        .await
        .unwrap();
    b.text("[data-error=no_session]").await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_verify_all_shows_live_progress_until_done() {
    let Some(driver) = chromedriver("admin_verify_all_shows_live_progress_until_done") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    for i in 0..6 {
        portal
            .connected(
                &format!("customer-{i}"),
                &format!("customer-{i}.onmicrosoft.com"),
            )
            .await;
    }
    portal.invite("waiting", "waiting.onmicrosoft.com").await;
    // One throttling answer pauses the run; a 503 makes one customer fail.
    portal.fake.inject(
        FakeEndpoint::Organization,
        Fault::Throttle { retry_after: 2 },
    );
    portal
        .fake
        .inject(FakeEndpoint::Organization, Fault::Status(503));
    let b = Browser::start(&driver).await;
    b.sign_in_as_admin(&portal).await;
    b.client
        .goto(&format!("{}/admin", portal.url))
        .await
        .unwrap();
    let table = b.text("#status").await;
    assert!(
        table.contains("customer-0") && table.contains("waiting"),
        "{table}"
    );
    b.screenshot("admin-status").await;

    // The throttled customer waits for its Retry-After on the clock, which the test holds:
    // the page shows the run in progress and keeps asking the server for its counts.
    portal.gate.shut();
    b.click("#verify-all").await;
    b.text("#run-title").await;
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        "/admin/verify-all"
    );
    let live = b
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//div[@id='verify-status'][@data-finished='no'][contains(., '5 of 6 verified')]",
        ))
        .await
        .unwrap_or_else(|e| panic!("no live progress at 5 of 6: {e}"));
    let text = live.text().await.unwrap();
    assert!(text.ends_with('\u{2026}'), "{text}");
    let bar = b
        .client
        .execute(
            "return document.getElementById('verify-progress').value;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bar, serde_json::json!(5));
    b.screenshot("admin-verify-all").await;

    // The wait ends: the page follows the run to the end by itself.
    portal.gate.open();
    let finished = b
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#verify-status[data-finished=yes]"))
        .await
        .unwrap();
    let text = finished.text().await.unwrap();
    assert!(
        text.starts_with("6 of 6 verified: 5 working, 1 failing"),
        "{text}"
    );
    assert!(text.contains("slow down 1 time"), "{text}");
    assert!(b.text("#failures").await.contains("customer-"));
    b.screenshot("admin-verify-all-done").await;

    // Refresh token now, from the status table.
    b.client
        .goto(&format!("{}/admin", portal.url))
        .await
        .unwrap();
    b.click("tr[data-customer=customer-1] form button").await;
    assert!(
        b.text(".notice")
            .await
            .contains("The token of customer-1 was refreshed")
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_switches_a_customer_to_an_app_registration() {
    let Some(driver) = chromedriver("admin_switches_a_customer_to_an_app_registration") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    portal.connected("contoso", "contoso.com").await;
    let app = "99999999-8888-7777-6666-555555555555";
    portal.fake.add_app("contoso.com", app, "app-secret");
    let b = Browser::start(&driver).await;
    b.sign_in_as_admin(&portal).await;
    b.client
        .goto(&format!("{}/admin", portal.url))
        .await
        .unwrap();
    b.client
        .find(Locator::Css("#switch-method"))
        .await
        .unwrap()
        .select_by_value("app_registration")
        .await
        .unwrap();
    let form = b
        .client
        .form(Locator::Css("form[action='/admin/switch']"))
        .await
        .unwrap();
    form.set_by_name("client_id", app).await.unwrap();
    form.set_by_name("client_secret", "app-secret")
        .await
        .unwrap();
    b.click("#switch").await;
    assert!(b.text(".notice").await.contains("Switching contoso"));
    let row = b.text("tr[data-customer=contoso]").await;
    assert!(
        row.contains("Switching to App registration: consent required"),
        "{row}"
    );
    assert!(
        row.contains("Device code") && row.contains("validated"),
        "{row}"
    );
    b.screenshot("admin-switch").await;

    // The operator opens the admin consent; Entra sends the browser back to the callback.
    b.click("tr[data-customer=contoso] a.button").await;
    assert_eq!(b.text("#success-title").await, "Consent granted: connected");
    b.client
        .goto(&format!("{}/admin", portal.url))
        .await
        .unwrap();
    let row = b.text("tr[data-customer=contoso]").await;
    assert!(
        row.contains("App registration") && row.contains("validated") && !row.contains("Switching"),
        "{row}"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_consent_callback_in_the_browser() {
    let Some(driver) = chromedriver("admin_consent_callback_in_the_browser") else {
        return;
    };
    let _one = BROWSER.lock().await;
    let portal = Portal::start().await;
    portal
        .fake
        .add_user("litware.com", "admin@litware.com", "correct horse");
    let consent = portal
        .ta
        .connect_with_password(
            NewCustomer::new("litware", "litware.com", "admin@litware.com").unwrap(),
            "admin@litware.com",
            Password::new("correct horse"),
        )
        .await
        .unwrap();
    let b = Browser::start(&driver).await;
    // The administrator opens the consent URL; FakeEntra redirects to the portal's callback.
    b.client
        .goto(consent.stage().admin_consent_url().as_str())
        .await
        .unwrap();
    assert_eq!(b.text("#success-title").await, "Consent granted: connected");
    // Replaying the callback finds no pending consent: a clear page, nothing changes.
    b.client.refresh().await.unwrap();
    b.text("[data-error=engine]").await;
    b.stop().await;
}

// ---- HTTP-level checks: no browser needed ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let portal = Portal::start().await;
    let link = portal.invite("contoso", "contoso.com").await;
    let browser = NoScript::open(&portal, &link).await;
    let (session, token) = (browser.session.clone(), browser.token.clone());

    // No token, a token without its cookie, a forged token: 403 and nothing changes.
    for (cookies, body) in [
        (browser.cookies(), String::new()),
        (session.clone(), format!("csrf={token}")),
        (
            format!("{session}; ta_csrf=AAAA.BBBB"),
            "csrf=AAAA.BBBB".to_owned(),
        ),
    ] {
        let refused = browser.post("/wizard/start", cookies, body).await;
        assert_csrf_refused(refused, "a wrong token").await;
    }
    assert_eq!(
        portal
            .ta
            .load(&"contoso".try_into().unwrap())
            .await
            .unwrap()
            .kind(),
        tenant_access::journey::StageKind::Claimed
    );
    // The right token works.
    let started = browser
        .post("/wizard/start", browser.cookies(), format!("csrf={token}"))
        .await;
    assert_eq!(started.status(), 303);

    // The admin pages: no authorisation, 401 before anything else; authorised but no token, 403.
    let anonymous = http()
        .get(format!("{}/admin", portal.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let refused = browser
        .post(
            "/admin/invitations",
            format!("{ADMIN_COOKIE}={ADMIN_TOKEN}"),
            "customer=evil&tenant=evil.com&admin_email=a%40evil.com".into(),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert!(portal.ta.load(&"evil".try_into().unwrap()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_no_secret() {
    let portal = Portal::start().await;
    let link = portal.invite("contoso", "contoso.com").await;
    let code = link.rsplit('/').next().unwrap().to_owned();
    let client = http();
    let opened = client.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    assert_eq!(opened.headers()["location"], "/wizard");
    let (session, full) = set_cookie(&opened, "ta_wizard").unwrap();
    assert!(
        full.contains("HttpOnly") && full.contains("SameSite=Lax"),
        "{full}"
    );
    assert!(
        !full.contains(&code),
        "the session cookie must not hold the code"
    );

    for (path, cookie) in [
        ("/wizard".to_owned(), session.clone()),
        ("/invitation/unknown".to_owned(), String::new()),
        ("/admin".to_owned(), format!("{ADMIN_COOKIE}={ADMIN_TOKEN}")),
        ("/admin".to_owned(), String::new()),
    ] {
        let response = client
            .get(format!("{}{path}", portal.url))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&code), "{path} shows the invitation code");
        assert!(!body.contains("<script>"), "{path} has inline script");
    }
    // The admin pages list the customer but never its link.
    let admin = client
        .get(format!("{}/admin/invitations", portal.url))
        .header("cookie", format!("{ADMIN_COOKIE}={ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(admin.contains("contoso") && !admin.contains(&code));

    // Whatever the MSP typed is escaped (HTML auto-escaping on every template).
    portal
        .invite("<script>alert(1)</script>", "fabrikam.com")
        .await;
    let admin = client
        .get(format!("{}/admin/invitations", portal.url))
        .header("cookie", format!("{ADMIN_COOKIE}={ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!admin.contains("<script>alert"));
    assert!(
        admin.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{admin}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_device_code_page_refreshes_and_polls() {
    let portal = Portal::start().await;
    let link = portal.invite("contoso", "contoso.com").await;
    let browser = NoScript::open(&portal, &link).await;
    let device = browser.start_authentication().await;
    assert!(device.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
    let user_code = user_code_in(&device);

    // A refresh before the interval passed does not poll upstream.
    let polls = || portal.fake.requests(FakeRequest::DevicePoll);
    let before = polls();
    browser.get("/wizard").await;
    assert_eq!(polls(), before);
    portal.fake.sign_in(&user_code);
    portal.tick();
    let done = browser.get("/wizard").await;
    assert!(done.contains("You are connected"), "{done}");
    assert_eq!(polls(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_portals_get_secure_host_only_cookies() {
    let portal = Portal::start_at(Some("https://portal.example.com"), "").await;
    let link = portal.invite("contoso", "contoso.com").await;
    let code = link.rsplit('/').next().unwrap();
    let fetch = |path: String, cookie: String| {
        http()
            .get(format!("{}{path}", portal.url))
            .header("cookie", cookie)
            .send()
    };
    let opened = fetch(format!("/invitation/{code}"), String::new())
        .await
        .unwrap();
    let (session, full) = set_cookie(&opened, "__Host-ta_wizard").unwrap();
    let page = fetch("/wizard".into(), session).await.unwrap();
    let (_, csrf) = set_cookie(&page, "__Host-ta_csrf").unwrap();
    for (cookie, same_site) in [(full, "SameSite=Lax"), (csrf, "SameSite=Strict")] {
        for part in ["; Path=/;", "; Secure", "; HttpOnly", same_site] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
    }
    assert!(page.text().await.unwrap().contains("id=\"start\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_code_switch_runs_through_the_wizard_and_takes_over() {
    let portal = Portal::start().await;
    portal.connected("contoso", "contoso.com").await;
    let id = "contoso".try_into().unwrap();
    let invited = portal
        .ta
        .switch_to_device_code(
            &id,
            Some(tenant_access::EmailAddress::new("it@contoso.com").unwrap()),
        )
        .await
        .unwrap();
    invited.send(&portal.ta).await.unwrap();
    let browser = NoScript::open(&portal, &portal.link_to("it@contoso.com")).await;
    let device = browser.start_authentication().await;
    portal.fake.sign_in(&user_code_in(&device));
    portal.tick();
    assert!(browser.get("/wizard").await.contains("You are connected"));
    // The switch took over and is gone: the session made for it opens nothing any more.
    let after = browser.get("/wizard").await;
    assert!(
        after.contains("This invitation link does not work"),
        "{after}"
    );
    let AnyOnboarding::Validated(done) = portal.ta.load(&id).await.unwrap() else {
        panic!("not validated")
    };
    assert_eq!(done.customer().admin_email.as_str(), "it@contoso.com");
    assert!(portal.ta.pending_switch(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wizard_session_made_for_a_cancelled_switch_opens_nothing_afterwards() {
    let portal = Portal::start().await;
    portal.connected("contoso", "contoso.com").await;
    let id = "contoso".try_into().unwrap();
    let switch = |to: &'static str| {
        let ta = portal.ta.clone();
        let id: tenant_access::CustomerId = "contoso".try_into().unwrap();
        async move {
            let email = tenant_access::EmailAddress::new(to).unwrap();
            let invited = ta.switch_to_device_code(&id, Some(email)).await.unwrap();
            invited.send(&ta).await.unwrap();
        }
    };
    switch("it@contoso.com").await;
    let browser = NoScript::open(&portal, &portal.link_to("it@contoso.com")).await;
    assert!(browser.get("/wizard").await.contains("id=\"start\""));
    portal.ta.cancel_switch(&id).await.unwrap();
    let after = browser.get("/wizard").await;
    assert!(
        after.contains("This invitation link does not work"),
        "{after}"
    );
    // A new switch of the same customer is another journey: the old session stays refused.
    switch("it@contoso.com").await;
    let after = browser.get("/wizard").await;
    assert!(
        after.contains("This invitation link does not work"),
        "{after}"
    );
    // The new switch's own link works.
    let fresh = NoScript::open(&portal, &portal.link_to("it@contoso.com")).await;
    assert!(fresh.get("/wizard").await.contains("id=\"start\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_nested_under_a_base_path_link_and_scope_cookies_there() {
    let portal = Portal::start_at(None, "/portal").await;
    let url = portal.url.clone();
    let link = portal.invite("contoso", "contoso.com").await;
    assert!(link.starts_with(&format!("{url}/portal/invitation/")));

    let opened = http().get(&link).send().await.unwrap();
    assert_eq!(opened.headers()["location"], "/portal/wizard");
    let (session, full) = set_cookie(&opened, "ta_wizard").unwrap();
    assert!(full.contains("; Path=/portal;"), "{full}");
    let page = page_text(&format!("{url}/portal/wizard"), &session)
        .await
        // Auto-escaping writes '/' in attribute values as an entity; browsers read it back.
        .replace("&#x2f;", "/");
    for wanted in [
        "action=\"/portal/wizard/start\"",
        "href=\"/portal/assets/ta-wizard.css\"",
        "src=\"/portal/assets/ta-wizard.js\"",
    ] {
        assert!(page.contains(wanted), "{wanted} not in {page}");
    }
    let css = http()
        .get(format!("{url}/portal/assets/ta-wizard.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_status_shows_a_pending_switch_in_its_customers_row_and_resend_checks_the_stage() {
    let portal = Portal::start().await;
    portal.connected("contoso", "contoso.com").await;
    let id: tenant_access::CustomerId = "contoso".try_into().unwrap();
    portal
        .ta
        .switch_to_device_code(&id, None)
        .await
        .unwrap()
        .send(&portal.ta)
        .await
        .unwrap();
    let client = http();
    let admin = format!("{ADMIN_COOKIE}={ADMIN_TOKEN}");
    let (csrf_cookie, token, page) =
        form_page(&client, &format!("{}/admin", portal.url), &admin).await;
    // One row, for the customer; the switch journey shows inside it.
    assert_eq!(page.matches("<tr data-customer=").count(), 1, "{page}");
    assert!(page.contains("data-customer=\"contoso\""));
    assert!(!page.contains("contoso#switch"), "{page}");
    assert!(page.contains("Switching to"), "{page}");

    let resend_form = |body: String| {
        let client = client.clone();
        let url = format!("{}/admin/invitations/resend", portal.url);
        let cookies = format!("{admin}; {csrf_cookie}");
        let body = format!("csrf={token}&{body}");
        async move { post_form(&client, url, cookies, body).await }
    };
    let resend = |customer: &'static str| resend_form(format!("customer={customer}"));
    // The connected customer has no invitation to resend: the library's typed refusal.
    let before = portal.ta.load(&id).await.unwrap().version();
    let refused = resend("contoso").await;
    assert_eq!(refused.status(), 409);
    let text = refused.text().await.unwrap();
    assert!(text.contains("data-error=\"wrong_stage\""), "{text}");
    assert!(text.contains("there is no invitation to resend"), "{text}");
    assert_eq!(portal.ta.load(&id).await.unwrap().version(), before);
    // The switch journey's invitation can be sent again: a new link, the old one dead.
    let old = portal.link_to("admin@contoso.com");
    let switch = portal.ta.pending_switch(&id).await.unwrap().unwrap();
    let switch = switch.switch_journey().unwrap().to_string();
    let invitations = form_page(
        &client,
        &format!("{}/admin/invitations", portal.url),
        &admin,
    )
    .await
    .2;
    assert!(
        invitations.contains(&format!("data-switch=\"{switch}\"")),
        "the switch has a row of its own among the invitations: {invitations}"
    );
    let resent = resend_form(format!("customer=contoso&switch={switch}")).await;
    assert_eq!(resent.status(), 303);
    let new = portal.link_to("admin@contoso.com");
    assert_ne!(new, old);
    let old_code = old.rsplit('/').next().unwrap();
    assert!(portal.ta.open_invitation(old_code).await.is_err());
    let new_code = new.rsplit('/').next().unwrap();
    assert!(portal.ta.open_invitation(new_code).await.is_ok());
    // An unknown customer: not found.
    assert_eq!(resend("nobody").await.status(), 404);
}

/// Issue 17 items 8 and 15 in the wizard: a sign-in that needs an administrator's consent
/// (AADSTS65001 on the poll) shows the admin-consent link; the administrator's consent lands
/// on the callback, which says the customer signs in again; the wizard then offers "Start"
/// again. A provider that sends `verification_uri_complete` gets a one-click link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_required_on_a_poll_in_the_wizard_then_a_new_sign_in() {
    let portal = Portal::start().await;
    portal.fake.scenario("litware.com", |s| {
        s.consent_required_on_poll = true;
        s.verification_uri_complete = true;
    });
    let link = portal.invite("litware", "litware.com").await;
    let browser = NoScript::open(&portal, &link).await;
    let device = browser.start_authentication().await;
    let user_code = user_code_in(&device);
    assert!(
        device.contains(&format!(
            "id=\"one-click-link\" class=\"button\" href=\"https:&#x2f;&#x2f;microsoft.com&#x2f;devicelogin?user_code={user_code}\""
        )),
        "{device}"
    );
    portal.fake.sign_in(&user_code);
    portal.tick();
    let waiting = browser.get("/wizard").await;
    assert!(
        waiting.contains("An administrator must consent"),
        "{waiting}"
    );
    let href = waiting
        .split("id=\"admin-consent-link\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the admin-consent link")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let consent_url = url::Url::parse(&href).unwrap();
    let landed = portal.fake.admin_consents(&consent_url).await.unwrap();
    let given = page_text(landed.as_str(), "").await;
    assert!(given.contains("Consent granted"), "{given}");
    assert!(given.contains("litware.com"), "{given}");
    let again = browser.get("/wizard").await;
    assert!(again.contains("id=\"start\""), "{again}");
}
