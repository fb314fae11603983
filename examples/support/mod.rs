//! Shared set-up for the `entra_*` examples: real Entra ID by default, an in-process
//! FakeEntra when `TENANT_ACCESS_FAKE_ENTRA=1` (or `ENTRA_AUTHORITY=fake`).
#![allow(dead_code)]

use std::error::Error;
use std::io::{BufRead, Write};
use std::sync::Arc;

use tenant_access::journey::{TokenAcquired, Validated};
use tenant_access::mail::Mailer;
use tenant_access::model::ClientSecret;
use tenant_access::provider::entra::{EntraConfig, EntraProvider};
use tenant_access::store::MemoryStore;
use tenant_access::testing::fake_entra::FakeEntra;
use tenant_access::{Config, Onboarding, TenantAccess};
use tenant_access::{ports::SystemClock, testing::ManualClock};

/// A boxed error for `main`.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Where the example runs.
pub struct Env {
    /// The in-process FakeEntra, in fake mode.
    pub fake: Option<FakeEntra>,
    /// The clock shared by the fake and the engine, in fake mode (so nothing really waits).
    pub clock: Option<ManualClock>,
    /// The customer's tenant (GUID or domain).
    pub tenant: String,
    /// The MSP application's client id.
    pub client_id: String,
    /// The Entra provider, pointed at the real cloud or the fake.
    pub provider: EntraProvider,
}

/// Whether to run against an in-process FakeEntra.
pub fn fake_mode() -> bool {
    std::env::var("TENANT_ACCESS_FAKE_ENTRA")
        .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        || std::env::var("ENTRA_AUTHORITY").is_ok_and(|v| v.eq_ignore_ascii_case("fake"))
}

/// An environment variable, if set and not empty.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An environment variable the real-cloud mode needs, or a default in fake mode.
pub fn need(name: &str, fake_default: &str) -> Result<String, BoxError> {
    match var(name) {
        Some(v) => Ok(v),
        None if fake_mode() => Ok(fake_default.to_owned()),
        None => Err(format!(
            "set {name} (see the README section Connect to real Entra ID), or run with TENANT_ACCESS_FAKE_ENTRA=1 to use the in-process FakeEntra"
        )
        .into()),
    }
}

/// Starts FakeEntra (fake mode) or configures the real cloud from the environment.
pub async fn setup() -> Result<Env, BoxError> {
    let tenant = need("ENTRA_TENANT", "contoso.onmicrosoft.com")?;
    if fake_mode() {
        let clock = ManualClock::starting_now();
        let fake = FakeEntra::builder()
            .clock(Arc::new(clock.clone()))
            .start()
            .await?;
        println!("[fake] FakeEntra listening on {}", fake.url());
        let provider = fake.provider()?;
        return Ok(Env {
            client_id: fake.client_id(),
            fake: Some(fake),
            clock: Some(clock),
            tenant,
            provider,
        });
    }
    let client_id = need("ENTRA_CLIENT_ID", "")?;
    let mut config = EntraConfig::new(client_id.clone());
    if let Some(authority) = var("ENTRA_AUTHORITY") {
        config = config.authority(&authority)?;
    }
    if let Some(graph) = var("ENTRA_GRAPH") {
        config = config.graph(&graph)?;
    }
    if let Some(secret) = var("ENTRA_CLIENT_SECRET") {
        config = config.client_secret(ClientSecret::new(secret));
    }
    Ok(Env {
        fake: None,
        clock: None,
        tenant,
        client_id,
        provider: EntraProvider::new(config)?,
    })
}

impl Env {
    /// The engine on an in-memory store with `mailer`, on the shared clock.
    pub fn engine(
        &self,
        config: Config,
        mailer: impl Mailer + 'static,
    ) -> Result<TenantAccess, BoxError> {
        let builder = TenantAccess::builder()
            .config(config)
            .store(MemoryStore::new())
            .mailer(mailer)
            .provider(self.provider.clone());
        let builder = match &self.clock {
            Some(clock) => builder.clock(clock.clone()),
            None => builder.clock(SystemClock),
        };
        Ok(builder.build()?)
    }

    /// The fake, in fake mode.
    pub fn fake(&self) -> Option<&FakeEntra> {
        self.fake.as_ref()
    }
}

/// Asks the person running the example for one line (real-cloud mode only).
pub fn ask(prompt: &str) -> Result<String, BoxError> {
    print!("{prompt} ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// Validates the acquired token (one Graph call) and prints the connection: how every
/// example's journey ends.
pub async fn validate(
    ta: &TenantAccess,
    token: Onboarding<TokenAcquired>,
) -> Result<Onboarding<Validated>, BoxError> {
    println!("{}: {:?}", token.id(), token.kind());
    let connected = token.validate(ta).await?;
    let info = connected
        .customer()
        .tenant_info
        .clone()
        .ok_or("no tenant info")?;
    println!(
        "{}: {:?} - tenant {} ({}), domains {:?}",
        connected.id(),
        connected.kind(),
        info.id,
        info.display_name,
        info.domains
    );
    Ok(connected)
}

/// An Admin Consent Reviewer approves the open requests: FakeEntra's reviewer in fake mode
/// (returns how many it approved), the person at the keyboard in the Entra admin centre
/// otherwise (returns 0).
pub fn reviewer_approves(env: &Env) -> Result<usize, BoxError> {
    match env.fake() {
        Some(fake) => {
            let n = fake.approve_admin_consent_requests(&env.tenant);
            println!("[fake] the reviewer approves {n} request(s)");
            Ok(n)
        }
        None => {
            ask("Press Enter once the request is approved in the Entra admin centre:")?;
            Ok(0)
        }
    }
}
