//! FakeEntra's state file: the whole directory (tenants, their users, apps and scenarios,
//! device codes, authorization codes, tokens, queued faults, counters and the request log)
//! as one JSON document, so that a fake killed and started again with the same file goes on
//! where it stopped: a device code issued before answers its polls after.
//!
//! The file is written whole to `FILE.tmp` and renamed over `FILE` (atomic on POSIX), only
//! when the JSON changed. It survives the process being killed, not a power cut (no fsync).
//! Not written: the clock, and certificates (their private keys stay in memory; an app
//! restored from the file has none, and the MSP's come from the builder).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::serde_fields::{cloud, rfc3339, rfc3339_option};
use super::state::{
    Access, Device, FakeEndpoint, FakeRequest, Fault, IssuedCode, Refresh, Shared, State, Tenant,
    lock,
};
use crate::model::Cloud;

/// The version of the file's layout.
const FORMAT: u32 = 1;

/// One request of the log.
#[derive(Serialize, Deserialize)]
struct Logged {
    request: FakeRequest,
    #[serde(with = "rfc3339")]
    at: OffsetDateTime,
}

/// A tenant's count of one kind of request.
#[derive(Serialize, Deserialize)]
struct TenantCount {
    tenant: String,
    request: FakeRequest,
    count: u64,
}

/// The state as written (borrowed from the live state).
#[derive(Serialize)]
struct Out<'a> {
    format: u32,
    #[serde(with = "cloud")]
    cloud: Cloud,
    client_id: &'a str,
    client_secret: &'a Option<String>,
    #[serde(with = "rfc3339_option")]
    client_secret_expires_at: Option<OffsetDateTime>,
    redirect_uris: Vec<&'a String>,
    tenants: &'a HashMap<String, Tenant>,
    unknown: &'a HashSet<String>,
    devices: &'a HashMap<String, Device>,
    codes: &'a HashMap<String, IssuedCode>,
    refresh: &'a HashMap<String, Refresh>,
    access: &'a HashMap<String, Access>,
    faults: &'a HashMap<FakeEndpoint, VecDeque<Fault>>,
    counts: &'a HashMap<FakeRequest, u64>,
    tenant_counts: Vec<TenantCount>,
    log: Vec<Logged>,
    used_assertions: &'a HashSet<(String, String)>,
    next: u64,
}

/// The state as read back.
#[derive(Deserialize)]
pub(super) struct Snapshot {
    format: u32,
    #[serde(with = "cloud")]
    cloud: Cloud,
    client_id: String,
    client_secret: Option<String>,
    #[serde(with = "rfc3339_option")]
    client_secret_expires_at: Option<OffsetDateTime>,
    redirect_uris: Vec<String>,
    tenants: HashMap<String, Tenant>,
    unknown: HashSet<String>,
    devices: HashMap<String, Device>,
    codes: HashMap<String, IssuedCode>,
    refresh: HashMap<String, Refresh>,
    access: HashMap<String, Access>,
    faults: HashMap<FakeEndpoint, VecDeque<Fault>>,
    counts: HashMap<FakeRequest, u64>,
    tenant_counts: Vec<TenantCount>,
    log: Vec<Logged>,
    used_assertions: HashSet<(String, String)>,
    next: u64,
}

/// The JSON of `s`.
fn to_json(s: &State) -> String {
    let mut redirect_uris: Vec<&String> = s.redirect_uris.iter().collect();
    redirect_uris.sort();
    let mut tenant_counts: Vec<TenantCount> = s
        .tenant_counts
        .iter()
        .map(|((tenant, request), count)| TenantCount {
            tenant: tenant.clone(),
            request: *request,
            count: *count,
        })
        .collect();
    tenant_counts.sort_by(|a, b| (&a.tenant, a.request).cmp(&(&b.tenant, b.request)));
    let out = Out {
        format: FORMAT,
        cloud: s.cloud,
        client_id: &s.client_id,
        client_secret: &s.client_secret,
        client_secret_expires_at: s.client_secret_expires_at,
        redirect_uris,
        tenants: &s.tenants,
        unknown: &s.unknown,
        devices: &s.devices,
        codes: &s.codes,
        refresh: &s.refresh,
        access: &s.access,
        faults: &s.faults,
        counts: &s.counts,
        tenant_counts,
        log: s
            .log
            .iter()
            .map(|(request, at)| Logged {
                request: *request,
                at: *at,
            })
            .collect(),
        used_assertions: &s.used_assertions,
        next: s.next,
    };
    serde_json::to_string_pretty(&out).expect("the fake's state is plain data")
}

impl State {
    /// Replaces everything the file holds with what it held; the clock and the MSP's
    /// certificates stay.
    pub(super) fn restore(&mut self, snapshot: Snapshot) {
        let Snapshot {
            format: _,
            cloud,
            client_id,
            client_secret,
            client_secret_expires_at,
            redirect_uris,
            tenants,
            unknown,
            devices,
            codes,
            refresh,
            access,
            faults,
            counts,
            tenant_counts,
            log,
            used_assertions,
            next,
        } = snapshot;
        self.cloud = cloud;
        self.client_id = client_id;
        self.client_secret = client_secret;
        self.client_secret_expires_at = client_secret_expires_at;
        self.redirect_uris = redirect_uris.into_iter().collect();
        self.tenants = tenants;
        self.unknown = unknown;
        self.devices = devices;
        self.codes = codes;
        self.refresh = refresh;
        self.access = access;
        self.faults = faults;
        self.counts = counts;
        self.tenant_counts = tenant_counts
            .into_iter()
            .map(|c| ((c.tenant, c.request), c.count))
            .collect();
        self.log = log.into_iter().map(|l| (l.request, l.at)).collect();
        self.used_assertions = used_assertions;
        self.next = next;
    }
}

/// Keeps the state file up to date.
#[derive(Debug)]
pub(super) struct Persister {
    path: PathBuf,
    /// What the file holds now.
    written: Mutex<String>,
}

impl Persister {
    /// A persister for `path`, and what the file held, if it exists (an unreadable or
    /// malformed file is an error: starting empty over it would lose it).
    pub(super) fn open(path: &Path) -> std::io::Result<(Self, Option<Snapshot>)> {
        let (text, snapshot) = match std::fs::read_to_string(path) {
            Ok(text) => {
                let snapshot: Snapshot = serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("FakeEntra state file {}: {e}", path.display()),
                    )
                })?;
                if snapshot.format != FORMAT {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "FakeEntra state file {}: format {} (this FakeEntra reads {FORMAT})",
                            path.display(),
                            snapshot.format
                        ),
                    ));
                }
                (text, Some(snapshot))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
            Err(e) => return Err(e),
        };
        let persister = Self {
            path: path.to_owned(),
            written: Mutex::new(text),
        };
        Ok((persister, snapshot))
    }

    /// The file it writes.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the state if it changed since the last write: whole, to `FILE.tmp`, renamed
    /// over `FILE`. Writes are serialised, so the file never goes back to an older state.
    pub(super) fn save(&self, state: &Shared) -> std::io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let text = to_json(&lock(state));
        if text == *written {
            return Ok(());
        }
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, &text)?;
        std::fs::rename(&temporary, &self.path)?;
        *written = text;
        Ok(())
    }
}
