//! A real SMTP server for the integration tests: `tests/smtp_support/smtp_server.py` (aiosmtpd),
//! started on 127.0.0.1 with a free port and killed when dropped.
//!
//! CI must install aiosmtpd first: `python3 -m pip install 'aiosmtpd==1.4.6'`. Without it
//! every test that starts a server fails, saying so; none passes silently.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The line CI (and a developer) must run once.
pub const INSTALL: &str = "python3 -m pip install 'aiosmtpd==1.4.6'";

/// A running test SMTP server.
pub struct SmtpServer {
    child: Child,
    /// The port it listens on (on 127.0.0.1).
    pub port: u16,
    /// Where it writes `events.log` and the received messages.
    pub dir: PathBuf,
}

impl SmtpServer {
    /// Starts the server in `mode` (`accept`, `refuse`, `bad-sender`, `tempfail`, `drop`,
    /// `hang`) with extra arguments (`--auth user:pass`, `--fail N`).
    pub fn start(mode: &str, extra: &[&str]) -> SmtpServer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "smtp-{}-{}-{mode}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let python = std::env::var("TENANT_ACCESS_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/smtp_support/smtp_server.py"
        );
        let mut child = Command::new(&python)
            .arg(script)
            .arg(mode)
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {python:?} for the test SMTP server ({e}). Install Python 3 and \
                     aiosmtpd: {INSTALL}"
                )
            });
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let _ = stdout.read_line(&mut line);
        let Some(port) = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse::<u16>().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!(
                "the test SMTP server did not start (stdout {line:?}).\n{stderr}\n\
                 The SMTP integration tests need aiosmtpd: {INSTALL}"
            );
        };
        SmtpServer { child, port, dir }
    }

    /// The events so far (`connect`, `mail`, `rcpt`, `data`, `auth-ok`, `auth-fail`).
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("events.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// How many times `event` happened.
    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| *e == event).count()
    }

    /// Every accepted message, as received, oldest first.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("read the server's directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read(p).expect("read a received message"))
            .collect()
    }

    /// The envelope (`mail_from`, `rcpt_tos`) of the `n`-th accepted message (1-based), as JSON.
    pub fn envelope(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("{n:03}.envelope.json")))
            .expect("read an envelope")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a certificate it issued for `localhost` and 127.0.0.1, written to a fresh
/// directory. Returns (the CA's PEM, the directory with `cert.pem` and `key.pem`).
pub fn test_pki() -> (String, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "pki-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tenant-access test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    (ca.pem(), dir)
}
