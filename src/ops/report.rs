//! The status report: one row per customer, as a portal's "authentication status" table shows.

use std::fmt::Write as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::journey::StageKind;
use crate::model::VerificationStatus;
use crate::model::{Attention, HealthPolicy, assess, reconcile};
use crate::model::{CredentialStatus, CustomerId, EmailAddress, Method};
use std::time::Duration;

use super::DayTwo;
use crate::error::Error;
use crate::model::PendingSwitch;
use crate::ports::{Filter, Pager, Record, Unreadable};

/// The flat, serialisable form of a row for CSV and JSON.
#[derive(serde::Serialize)]
struct Flat<'a> {
    customer: &'a str,
    admin_email: &'a str,
    method: &'static str,
    stage: &'static str,
    email_sent: bool,
    device_authenticated: bool,
    token_created_at: Option<String>,
    token_expires_at: Option<String>,
    last_verified_at: Option<String>,
    last_verification: Option<&'static str>,
    last_error: Option<&'a str>,
    switch_method: Option<&'static str>,
    switch_stage: Option<&'static str>,
    credential: Option<String>,
    credential_expires_at: Option<String>,
    credential_state: Option<&'static str>,
    attention: String,
    attention_actions: String,
    attention_since: Option<String>,
}

/// A method switch under way, shown in its customer's [`StatusRow`]: the journey kept in the
/// customer's record while the old connection keeps serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingSwitchStatus {
    /// The method the customer is switching to.
    pub method: Method,
    /// The switch journey's stage.
    pub stage: StageKind,
}

impl PendingSwitchStatus {
    /// The status of a method switch under way.
    pub fn of(switch: &PendingSwitch) -> Self {
        PendingSwitchStatus {
            method: switch.customer.method,
            stage: switch.stage.kind(),
        }
    }
}

/// One customer's status. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    /// The customer's id.
    pub customer: CustomerId,
    /// The admin or service-account email.
    pub admin_email: EmailAddress,
    /// How the connection is obtained.
    pub method: Method,
    /// The journey's stage.
    pub stage: StageKind,
    /// Whether the current invitation email was accepted by the mail server.
    pub email_sent: bool,
    /// Whether the customer finished the device sign-in.
    pub device_authenticated: bool,
    /// When the current token was obtained.
    pub token_created_at: Option<OffsetDateTime>,
    /// When the current access token expires.
    pub token_expires_at: Option<OffsetDateTime>,
    /// When the connection was last verified.
    pub last_verified_at: Option<OffsetDateTime>,
    /// What that verification found.
    pub last_verification: Option<VerificationStatus>,
    /// The last error any step met.
    pub last_error: Option<String>,
    /// The method switch under way, if any (its journey has no row of its own).
    pub switch: Option<PendingSwitchStatus>,
    /// The app registration's credential and where it stands against its expiry, where the
    /// end is known ([`Customer::credential_expiry`](crate::model::Customer::credential_expiry)).
    pub credential: Option<CredentialStatus>,
    /// Why the customer needs attention now, each with since when, its evidence and its
    /// [`remedy`](Attention::remedy) (assessed when the report is made; a reason already
    /// reported keeps its `since`).
    pub attention: Vec<Attention>,
}

impl StatusRow {
    /// The row for a stored record at `now`, with the method switch under way in it; a
    /// credential ending within the policy's warning window (see
    /// [`Config::credential_warning`](crate::Config::credential_warning)) is reported as
    /// expiring soon, and the attention reasons are assessed under `policy`
    /// ([`Config::health`](crate::Config::health)).
    pub fn from_record(record: &Record, now: OffsetDateTime, policy: &HealthPolicy) -> Self {
        let c = &record.customer;
        let warning: Duration = policy.credential_warning;
        let current = assess(c, &record.stage, record.switch.as_deref(), now, policy);
        let (attention, _) = reconcile(&c.health.attention, current);
        StatusRow {
            customer: c.id.clone(),
            admin_email: c.admin_email.clone(),
            method: c.method,
            stage: record.stage.kind(),
            email_sent: c.invitation.as_ref().is_some_and(|i| i.delivery.is_some()),
            device_authenticated: c.device_authenticated_at.is_some(),
            token_created_at: c.token.as_ref().map(|t| t.obtained_at),
            token_expires_at: c.token.as_ref().map(|t| t.expires_at),
            last_verified_at: c.last_verification.as_ref().map(|v| v.at),
            last_verification: c.last_verification.as_ref().map(|v| v.status),
            last_error: c.last_error.clone(),
            switch: record.switch.as_deref().map(PendingSwitchStatus::of),
            credential: c
                .credential_expiry()
                .map(|expiry| CredentialStatus::at(expiry, now, warning)),
            attention,
        }
    }

    /// Whether the customer needs someone's attention: any attention reason (a credential
    /// that expires soon or has expired is one).
    pub fn needs_attention(&self) -> bool {
        !self.attention.is_empty()
            || self
                .credential
                .as_ref()
                .is_some_and(CredentialStatus::needs_attention)
    }

    /// The reasons, `reason (remedy)`, joined by `; ` (empty when none).
    pub fn attention_summary(&self) -> String {
        self.attention
            .iter()
            .map(|a| format!("{} ({})", a.reason, a.remedy()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Renders rows as a plain-text table with a header, for terminals and logs.
    pub fn table(rows: &[StatusRow]) -> String {
        let header = [
            "customer",
            "admin email",
            "method",
            "stage",
            "email sent",
            "device auth",
            "token created",
            "token expires",
            "last verified",
            "status",
            "last error",
            "switching to",
            "credential",
            "attention",
        ];
        let cells: Vec<[String; 14]> = rows.iter().map(StatusRow::cells).collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[&str]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", parts.join("  ").trim_end());
        };
        line(&header);
        for row in &cells {
            line(&row.each_ref().map(String::as_str));
        }
        out
    }

    /// Writes rows as CSV with a header line (RFC 4180 quoting; times in RFC 3339).
    pub fn write_csv<W: std::io::Write>(rows: &[StatusRow], out: W) -> std::io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        for row in rows {
            writer
                .serialize(row.flat())
                .map_err(std::io::Error::other)?;
        }
        writer.flush()
    }

    /// Rows as CSV text.
    pub fn csv(rows: &[StatusRow]) -> String {
        let mut out = Vec::new();
        Self::write_csv(rows, &mut out).expect("writing to memory cannot fail");
        String::from_utf8(out).expect("CSV of UTF-8 fields is UTF-8")
    }

    /// Rows as a JSON array of objects (times in RFC 3339, absent values `null`).
    pub fn json(rows: &[StatusRow]) -> String {
        let flat: Vec<Flat<'_>> = rows.iter().map(StatusRow::flat).collect();
        serde_json::to_string_pretty(&flat).expect("plain strings and booleans serialise")
    }

    fn flat(&self) -> Flat<'_> {
        let time = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        Flat {
            customer: self.customer.as_str(),
            admin_email: self.admin_email.as_str(),
            method: self.method.as_str(),
            stage: self.stage.as_str(),
            email_sent: self.email_sent,
            device_authenticated: self.device_authenticated,
            token_created_at: time(self.token_created_at),
            token_expires_at: time(self.token_expires_at),
            last_verified_at: time(self.last_verified_at),
            last_verification: self.last_verification.map(VerificationStatus::as_str),
            last_error: self.last_error.as_deref(),
            switch_method: self.switch.map(|s| s.method.as_str()),
            switch_stage: self.switch.map(|s| s.stage.as_str()),
            credential: self
                .credential
                .as_ref()
                .map(|c| format!("{} {}", c.expiry.kind, c.expiry.name)),
            credential_expires_at: time(self.credential.as_ref().map(|c| c.expiry.expires_at)),
            credential_state: self.credential.as_ref().map(|c| c.state.as_str()),
            attention: self
                .attention
                .iter()
                .map(|a| a.reason.as_str())
                .collect::<Vec<_>>()
                .join(";"),
            attention_actions: self
                .attention
                .iter()
                .map(|a| a.remedy().as_str())
                .collect::<Vec<_>>()
                .join(";"),
            attention_since: time(self.attention.iter().map(|a| a.since).min()),
        }
    }

    fn cells(&self) -> [String; 14] {
        let time = |t: Option<OffsetDateTime>| {
            t.and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| "-".into())
        };
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        let mut error = self.last_error.clone().unwrap_or_else(|| "-".into());
        if error.chars().count() > 60 {
            error = error.chars().take(57).collect::<String>() + "...";
        }
        [
            self.customer.to_string(),
            self.admin_email.to_string(),
            self.method.to_string(),
            self.stage.to_string(),
            yes_no(self.email_sent),
            yes_no(self.device_authenticated),
            time(self.token_created_at),
            time(self.token_expires_at),
            time(self.last_verified_at),
            self.last_verification
                .map_or("-", VerificationStatus::as_str)
                .to_owned(),
            error,
            self.switch
                .map_or_else(|| "-".into(), |s| format!("{} ({})", s.method, s.stage)),
            self.credential.as_ref().map_or_else(
                || "-".into(),
                |c| {
                    format!(
                        "{} until {} ({})",
                        c.expiry.kind,
                        time(Some(c.expiry.expires_at)),
                        c.state.as_str()
                    )
                },
            ),
            match self.attention.is_empty() {
                true => "-".into(),
                false => self.attention_summary(),
            },
        ]
    }
}

/// The status report: one [`StatusRow`] per readable customer, and the customers whose
/// records could not be read, kept apart (a row needs facts an unreadable record does not
/// give). Derefs to the rows, so `StatusRow::table(&report)` and `report.len()` read the rows.
#[derive(Debug, Default)]
pub struct StatusReport {
    /// One row per readable customer, in customer-id order.
    pub rows: Vec<StatusRow>,
    /// The customers whose records could not be read, in customer-id order, with why and
    /// what to do ([`Unreadable::action`]).
    pub unreadable: Vec<Unreadable>,
    /// The MSP's own client credential and where it stands, when the provider knows its end
    /// ([`IdentityProvider::client_credential_expiry`](crate::ports::IdentityProvider::client_credential_expiry)):
    /// every customer depends on it.
    pub client_credential: Option<CredentialStatus>,
}

impl StatusReport {
    /// The rows that need someone's attention ([`StatusRow::needs_attention`]).
    pub fn attention(&self) -> impl Iterator<Item = &StatusRow> {
        self.rows.iter().filter(|row| row.needs_attention())
    }

    /// The rows as [`StatusRow::table`] renders them, then one line per unreadable customer
    /// (its id, the error and the action).
    pub fn table(&self) -> String {
        let mut out = StatusRow::table(&self.rows);
        if let Some(own) = &self.client_credential {
            let _ = writeln!(
                out,
                "the MSP's client {}: {} until {} ({})",
                own.expiry.kind,
                own.expiry.name,
                own.expiry.expires_at,
                own.state.as_str()
            );
        }
        for u in &self.unreadable {
            let _ = writeln!(
                out,
                "unreadable: {}: {} (action: {:?})",
                u.customer,
                u.error,
                u.action()
            );
        }
        out
    }
}

/// The rows (the unreadable customers are in [`StatusReport::unreadable`]).
impl IntoIterator for StatusReport {
    type Item = StatusRow;
    type IntoIter = std::vec::IntoIter<StatusRow>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

/// The rows (the unreadable customers are in [`StatusReport::unreadable`]).
impl<'a> IntoIterator for &'a StatusReport {
    type Item = &'a StatusRow;
    type IntoIter = std::slice::Iter<'a, StatusRow>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

impl std::ops::Deref for StatusReport {
    type Target = [StatusRow];

    fn deref(&self) -> &[StatusRow] {
        &self.rows
    }
}

/// How many records the status report asks the store for at a time.
const STATUS_PAGE: usize = 500;

impl DayTwo {
    /// How many customers match `filter`: the total a progress bar for
    /// [`verify_all`](crate::TenantAccess::verify_all) needs, read a page at a time. A
    /// customer whose record cannot be read counts (verify all reports it too).
    pub(crate) async fn count(&self, filter: &Filter) -> Result<usize, Error> {
        let mut count = 0;
        let mut pager = Pager::new(self.store(), filter.clone(), STATUS_PAGE);
        while let Some(records) = pager.next_page().await? {
            count += records.len() + pager.take_unreadable().len();
        }
        Ok(count + pager.take_unreadable().len())
    }

    /// One status row per customer matching `filter`, in customer-id order, with the method
    /// switch under way (if any) in [`StatusRow::switch`]. The filter applies to the
    /// customer's connection, not to the switch.
    pub(crate) async fn status_report(&self, filter: &Filter) -> Result<StatusReport, Error> {
        let mut report = StatusReport {
            client_credential: self.client_credential_status(),
            ..StatusReport::default()
        };
        let now = self.clock().now();
        let policy = self.config().health();
        let mut pager = Pager::new(self.store(), filter.clone(), STATUS_PAGE);
        while let Some(records) = pager.next_page().await? {
            report.rows.extend(
                records
                    .iter()
                    .map(|record| StatusRow::from_record(record, now, policy)),
            );
        }
        report.unreadable = pager.take_unreadable();
        Ok(report)
    }
}
