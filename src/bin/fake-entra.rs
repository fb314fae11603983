//! # `fake-entra`: FakeEntra as its own process
//!
//! The fake Microsoft Entra ID of `tenant_access::testing::fake_entra` (its v2 OAuth
//! endpoints, tenant discovery and Graph's `/v1.0/organization` and `/v1.0/applications`),
//! served by a process of its own, so that a portal under test can be killed and started
//! again against the same fake, and the fake itself too, like a wiremock or mockito server.
//!
//! ```sh
//! cargo run --features testing --bin fake-entra -- --listen 127.0.0.1:8400 --state fake-entra.json
//! ```
//!
//! On start it prints one line on standard output, which a test reads to learn the address
//! (useful with `--listen 127.0.0.1:0`, an OS-chosen port):
//!
//! ```text
//! FakeEntra listening on http://127.0.0.1:8400/
//! ```
//!
//! It then serves until it is killed (SIGTERM, SIGKILL, Ctrl-C): with a state file, nothing
//! is lost either way, since the file is written before every answer goes out.
//!
//! ## Options
//!
//! | option | meaning |
//! |---|---|
//! | `--listen ADDR` | the address to listen on (default `127.0.0.1:0`) |
//! | `--state FILE` | keep the state in this JSON file: load it at start if it exists, write it after every change |
//! | `--client-id ID` | the MSP application's client id (default `11111111-2222-3333-4444-555555555555`) |
//! | `--client-secret SECRET` | the MSP application's secret (default none: its grants are not checked for one) |
//! | `--redirect-uri URL` | a sign-in redirect URI registered for the MSP's application (repeatable) |
//! | `--cloud NAME` | the cloud it plays: `global` (default), `usgov-l4`, `usgov-l5-dod`, `china` |
//! | `--help` | this text, shortly |
//!
//! A state file's client id, secret, redirect URIs and cloud win over the options.
//!
//! ## Pointing a portal at it
//!
//! Both the authority and the Graph host are the printed URL:
//!
//! ```text
//! EntraConfig::new("11111111-2222-3333-4444-555555555555")
//!     .authority("http://127.0.0.1:8400/")?
//!     .graph("http://127.0.0.1:8400/")?
//! ```
//!
//! Its time is the system clock: device codes live 15 minutes, access tokens an hour, as in
//! Entra ID. A test that must not wait drives expiry through the control API
//! (`/_control/device-codes/expire`, a scenario's `access_token_lifetime`) instead.
//!
#![doc = include_str!("../testing/fake_entra/CONTROL_API.md")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use tenant_access::model::Cloud;
use tenant_access::testing::fake_entra::FakeEntra;

const USAGE: &str = "\
fake-entra: a fake Microsoft Entra ID (v2 endpoints + Graph) with an HTTP control API

USAGE:
    fake-entra [--listen ADDR] [--state FILE] [--client-id ID] [--client-secret SECRET]
               [--redirect-uri URL]... [--cloud NAME]

OPTIONS:
    --listen ADDR           address to listen on [default: 127.0.0.1:0]
    --state FILE            keep the state in FILE (loaded at start, written after every change)
    --client-id ID          the MSP application's client id
                            [default: 11111111-2222-3333-4444-555555555555]
    --client-secret SECRET  the MSP application's client secret [default: none]
    --redirect-uri URL      a registered sign-in redirect URI (repeatable)
    --cloud NAME            global | usgov-l4 | usgov-l5-dod | china [default: global]
    -h, --help              print this help

Prints `FakeEntra listening on http://ADDR/` when ready, then serves until killed.
The control API is under /_control/ (GET /_control/health, POST /_control/device-codes/approve,
GET /_control/counters, ...): see `cargo doc --features testing --bin fake-entra`.
";

/// The command line, read.
struct Args {
    listen: SocketAddr,
    state: Option<PathBuf>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uris: Vec<url::Url>,
    cloud: Option<Cloud>,
}

/// What the command line asks for.
enum Parsed {
    Run(Args),
    Help,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        state: None,
        client_id: None,
        client_secret: None,
        redirect_uris: Vec::new(),
        cloud: None,
    };
    while let Some(arg) = raw.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        if matches!(name.as_str(), "-h" | "--help") {
            return Ok(Parsed::Help);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| raw.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--listen" => {
                let text = value()?;
                args.listen = text
                    .parse()
                    .map_err(|e| format!("--listen {text:?}: {e} (expected IP:PORT)"))?;
            }
            "--state" => args.state = Some(PathBuf::from(value()?)),
            "--client-id" => args.client_id = Some(value()?),
            "--client-secret" => args.client_secret = Some(value()?),
            "--redirect-uri" => {
                let text = value()?;
                let uri =
                    url::Url::parse(&text).map_err(|e| format!("--redirect-uri {text:?}: {e}"))?;
                args.redirect_uris.push(uri);
            }
            "--cloud" => {
                let text = value()?;
                args.cloud = Some(Cloud::parse(&text).ok_or_else(|| {
                    format!("--cloud {text:?}: expected global, usgov-l4, usgov-l5-dod or china")
                })?);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(args))
}

async fn serve(args: Args) -> std::io::Result<()> {
    let mut builder = FakeEntra::builder().listen(args.listen);
    if let Some(path) = args.state {
        builder = builder.state_file(path);
    }
    if let Some(id) = args.client_id {
        builder = builder.client_id(id);
    }
    if let Some(secret) = args.client_secret {
        builder = builder.client_secret(secret);
    }
    for uri in args.redirect_uris {
        builder = builder.sign_in_redirect_uri(uri);
    }
    if let Some(cloud) = args.cloud {
        builder = builder.cloud(cloud);
    }
    let fake = builder.start().await?;
    if let Some(path) = fake.state_file() {
        eprintln!("FakeEntra state file: {}", path.display());
    }
    println!("FakeEntra listening on {}", fake.url());
    std::future::pending::<()>().await;
    drop(fake);
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-entra: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fake-entra: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-entra: {e}");
            ExitCode::FAILURE
        }
    }
}
