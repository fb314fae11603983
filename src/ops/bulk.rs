//! Bulk onboarding: many device-code invitations from one CSV file, every row checked before
//! anything is created, mail sending paced, and a report of what was created and what was
//! refused and why.
//!
//! The file has a header row naming the columns `customer_id`, `tenant`, `admin_email` and
//! `method` (in any order; other columns are ignored), then one customer a line:
//!
//! ```csv
//! customer_id,tenant,admin_email,method
//! contoso,contoso.onmicrosoft.com,admin@contoso.com,device_code
//! ```
//!
//! [`parse_bulk_csv`] reads it into [`BulkRow`]s (a line that cannot be read is refused there,
//! with its line number), and [`TenantAccess::invite_many`](crate::TenantAccess::invite_many)
//! runs them in three passes:
//!
//! 1. **Check every row, create nothing.** The fields parse ([`NewCustomer::new`]); the method
//!    is one an invitation starts (`device_code`; `password` and `app_registration` need
//!    credentials, which must not travel in a CSV file, and are refused saying so); the
//!    customer id and the admin email are not repeated in the file (the first row keeps
//!    them, later ones are refused naming it); the customer id is not taken in the store; the
//!    tenant is resolved by the identity provider's tenant discovery, as
//!    [`TenantAccess::invite`](crate::TenantAccess::invite) resolves it (once per distinct
//!    tenant). A tenant discovery says does not exist is refused as
//!    [`InputError::UnknownTenant`]; a discovery that
//!    failed for now is refused with the error's [`Action::Retry`]: run that row again later.
//! 2. **Create** each row that passed, in file order, in stage
//!    [`Invited`], exactly as `invite` creates one customer.
//! 3. **Mail** each invitation right after its row is created, at most one send per
//!    [`BulkOptions::pace`], waiting on the engine's [`Clock`](crate::ports::Clock) (a
//!    [`ManualClock`](crate::testing::ManualClock) in tests, so nothing sleeps for real).
//!
//! **Nothing is half-created.** A refused row creates nothing: no record, no audit event, no
//! mail. A row whose customer was created but whose mail failed is reported as created with
//! [`BulkMail::NotSent`]: its journey is whole, in stage `Invited` (the failure is its last
//! error), and [`TenantAccess::resend_invitation`](crate::TenantAccess::resend_invitation)
//! (the admin pages' *Resend*) mails it. That is the same state a single
//! [`invite`](crate::TenantAccess::invite) whose [`send`](crate::Onboarding::send) failed
//! leaves, so nothing new has to be cleaned up. After a mail failure that says the mailer is
//! misconfigured, the rows after it are still created but not mailed ([`BulkMail::Skipped`]):
//! resend them once the mailer is fixed.
//!
//! A row created by someone else between the check and the creation is refused then
//! ([`BulkRefusal::AlreadyExists`]): creation is one compare-and-swap write, as for `invite`.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;

use super::DayTwo;
use crate::error::{Action, Error, InputError, StoreError};
use crate::journey::Invited;
use crate::model::{Customer, CustomerId, EmailAddress, Method, NewCustomer, TenantId};

/// The header every bulk CSV names its columns with.
pub const BULK_CSV_HEADER: &str = "customer_id,tenant,admin_email,method";

/// The columns of a bulk CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BulkField {
    /// `customer_id`: the MSP's id for the customer.
    CustomerId,
    /// `tenant`: the tenant's GUID or a verified domain.
    Tenant,
    /// `admin_email`: where the invitation goes.
    AdminEmail,
    /// `method`: how the customer connects (`device_code`).
    Method,
}

impl BulkField {
    const ALL: [BulkField; 4] = [
        BulkField::CustomerId,
        BulkField::Tenant,
        BulkField::AdminEmail,
        BulkField::Method,
    ];

    /// The column's name in the header row.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkField::CustomerId => "customer_id",
            BulkField::Tenant => "tenant",
            BulkField::AdminEmail => "admin_email",
            BulkField::Method => "method",
        }
    }
}

impl fmt::Display for BulkField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One customer to invite, as the file gave it (not checked yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRow {
    /// The line of the file it came from (1 is the header), for the report.
    pub line: u64,
    /// The customer id, as written.
    pub customer_id: String,
    /// The tenant (GUID or verified domain), as written.
    pub tenant: String,
    /// The admin email, as written.
    pub admin_email: String,
    /// The method, as written (`device_code`).
    pub method: String,
}

impl BulkRow {
    /// A row from its four fields and the line it came from.
    pub fn new(
        line: u64,
        customer_id: impl Into<String>,
        tenant: impl Into<String>,
        admin_email: impl Into<String>,
        method: impl Into<String>,
    ) -> Self {
        Self {
            line,
            customer_id: customer_id.into(),
            tenant: tenant.into(),
            admin_email: admin_email.into(),
            method: method.into(),
        }
    }

    /// Reads a bulk CSV file: [`parse_bulk_csv`].
    pub fn from_csv(reader: impl std::io::Read) -> Result<BulkCsv, BulkCsvError> {
        parse_bulk_csv(reader)
    }

    fn field(&self, field: BulkField) -> &str {
        match field {
            BulkField::CustomerId => &self.customer_id,
            BulkField::Tenant => &self.tenant,
            BulkField::AdminEmail => &self.admin_email,
            BulkField::Method => &self.method,
        }
    }
}

/// A bulk CSV file read into rows: the lines that could be read, and those that could not
/// (refused already, with their line numbers). What
/// [`TenantAccess::invite_many`](crate::TenantAccess::invite_many) takes; a `Vec<BulkRow>`
/// converts into it.
#[derive(Debug, Default)]
pub struct BulkCsv {
    /// The rows read, in file order.
    pub rows: Vec<BulkRow>,
    /// The lines that could not be read as a row ([`BulkRefusal::Unreadable`]).
    pub refused: Vec<BulkRefused>,
}

impl From<Vec<BulkRow>> for BulkCsv {
    fn from(rows: Vec<BulkRow>) -> Self {
        Self {
            rows,
            refused: Vec::new(),
        }
    }
}

/// A bulk CSV file that cannot be read at all (a line that cannot be read is refused on its
/// own instead: [`BulkRefusal::Unreadable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkCsvError {
    /// The file is empty: not even a header row.
    #[error("the CSV file is empty: it needs the header row {BULK_CSV_HEADER}")]
    Empty,
    /// The header row does not name this column.
    #[error("the CSV header row has no {0} column: it must name {BULK_CSV_HEADER}")]
    MissingColumn(BulkField),
    /// The file is not CSV text (a header row that is not UTF-8, say).
    #[error("the file cannot be read as CSV: {0}")]
    Malformed(String),
    /// The reader failed.
    #[error("the CSV file could not be read: {0}")]
    Read(String),
}

impl BulkCsvError {
    /// What to do about it: [`Action::FixInput`] (fix the file), but [`Action::Retry`] when
    /// the reader failed.
    pub fn action(&self) -> Action {
        match self {
            BulkCsvError::Read(_) => Action::Retry {
                after: Action::DEFAULT_RETRY_AFTER,
            },
            _ => Action::FixInput,
        }
    }
}

/// Reads a bulk CSV file (header `customer_id,tenant,admin_email,method`, columns in any
/// order, other columns ignored, fields trimmed, empty lines skipped) into rows. A line with
/// another number of fields than the header, or that is not UTF-8, is refused with its line
/// number; the file fails as a whole only without a usable header row or when the reader
/// fails.
///
/// ```
/// use tenant_access::ops::bulk::{parse_bulk_csv, BulkRefusal};
/// let csv = "customer_id,tenant,admin_email,method\n\
///            contoso,contoso.com,admin@contoso.com,device_code\n\
///            fabrikam,fabrikam.com\n";
/// let parsed = parse_bulk_csv(csv.as_bytes()).unwrap();
/// assert_eq!(parsed.rows[0].customer_id, "contoso");
/// assert_eq!(parsed.rows[0].line, 2);
/// assert_eq!(parsed.refused[0].line, 3);
/// assert!(matches!(parsed.refused[0].reason, BulkRefusal::Unreadable(_)));
/// ```
pub fn parse_bulk_csv(mut reader: impl std::io::Read) -> Result<BulkCsv, BulkCsvError> {
    // Read whole (such files are small): the line numbers are counted here, since the csv
    // reader's own count leaves out the empty lines it skips.
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .map_err(|e| BulkCsvError::Read(e.to_string()))?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data.as_slice());
    let headers = match csv.headers() {
        Ok(headers) if !headers.is_empty() && headers.iter().any(|h| !h.is_empty()) => {
            headers.clone()
        }
        Ok(_) => return Err(BulkCsvError::Empty),
        Err(e) => return Err(BulkCsvError::Malformed(e.to_string())),
    };
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let mut columns = [0usize; 4];
    for (slot, field) in columns.iter_mut().zip(BulkField::ALL) {
        *slot = names
            .iter()
            .position(|n| n == field.as_str())
            .ok_or(BulkCsvError::MissingColumn(field))?;
    }
    let mut parsed = BulkCsv::default();
    // The line a record starts on: 1 + the newlines before its first byte.
    let (mut line, mut counted) = (1u64, 0usize);
    for record in csv.byte_records() {
        // Reading from memory, with flexible records and bytes: no error is left but a
        // line the CSV grammar cannot split, which ends the file.
        let record = record.map_err(|e| BulkCsvError::Malformed(e.to_string()))?;
        let mut start = record.position().map_or(counted, |p| {
            usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(data.len())
        });
        // The position is where the reader stood before the empty lines it skipped.
        while matches!(data.get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        line += data[counted.min(start)..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        counted = start;
        let text = |i: usize| {
            record
                .get(i)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let raw_id = text(columns[0]).unwrap_or_default();
        let refuse =
            |why: String| BulkRefused::new(line, raw_id.clone(), BulkRefusal::Unreadable(why));
        if record.len() != headers.len() {
            parsed.refused.push(refuse(format!(
                "the line has {} fields where the header has {} (is a value with a comma not quoted?)",
                record.len(),
                headers.len()
            )));
            continue;
        }
        let Ok(record) = csv::StringRecord::from_byte_record(record.clone()) else {
            parsed
                .refused
                .push(refuse("the line is not UTF-8 text".into()));
            continue;
        };
        let field = |i: usize| record.get(columns[i]).unwrap_or_default().to_owned();
        parsed
            .rows
            .push(BulkRow::new(line, field(0), field(1), field(2), field(3)));
    }
    Ok(parsed)
}

/// How [`TenantAccess::invite_many`](crate::TenantAccess::invite_many) runs.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// The least time between the starts of two invitation sends (default 200 ms: at most
    /// five mails a second, which keeps a mail relay's rate limits and spam scoring calm).
    /// Waited on the engine's clock.
    pub pace: Duration,
    /// At most this many checks (store look-ups and tenant discoveries) at once (default 8).
    pub concurrency: usize,
    /// Check every row and report what would be created, but create and mail nothing
    /// (default `false`).
    pub dry_run: bool,
}

impl Default for BulkOptions {
    fn default() -> Self {
        Self {
            pace: Duration::from_millis(200),
            concurrency: 8,
            dry_run: false,
        }
    }
}

/// Why a row was refused. Each has one [`Action`]: [`action`](Self::action).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkRefusal {
    /// The line could not be read as a row (another number of fields than the header, not
    /// UTF-8).
    #[error("the line cannot be read: {0}")]
    Unreadable(String),
    /// A field is empty.
    #[error("the {0} field is empty")]
    EmptyField(BulkField),
    /// A field is malformed (the customer id, the tenant or the email), as
    /// [`NewCustomer::new`] says.
    #[error("the {0}")]
    Invalid(InputError),
    /// The method is not one this crate knows.
    #[error(
        "the method {0:?} is unknown: use device_code (its invitation offers the browser sign-in too)"
    )]
    UnknownMethod(String),
    /// The method needs credentials (a password, an application's secret or certificate),
    /// which must not travel in a CSV file: connect this customer on its own.
    #[error(
        "the {0} method needs credentials, which must not travel in a CSV file: connect this customer on its own, or invite it with device_code"
    )]
    NeedsCredentials(Method),
    /// The customer id is on an earlier line of the file, which keeps it.
    #[error("the customer id is already on line {first_line} of the file")]
    DuplicateCustomerId {
        /// The line that keeps it.
        first_line: u64,
    },
    /// The admin email is on an earlier line of the file, which keeps it.
    #[error("the admin email is already on line {first_line} of the file")]
    DuplicateAdminEmail {
        /// The line that keeps it.
        first_line: u64,
    },
    /// A customer with this id exists already.
    #[error("a customer with this id exists already")]
    AlreadyExists,
    /// The tenant could not be resolved: unknown to the identity provider
    /// ([`InputError::UnknownTenant`]), or discovery failed for now (a retryable
    /// [`Error::Provider`]: try the row again later).
    #[error("{}", tenant_refusal(.0))]
    Tenant(Error),
    /// The store failed while the row was checked or created; nothing was stored for it.
    #[error("not created: {0}")]
    NotCreated(Error),
}

impl BulkRefusal {
    /// What to do about it: fix the row ([`Action::FixInput`]) for every refusal of the
    /// row's content; the tenant discovery's or the store's own action otherwise (for a
    /// passing failure, [`Action::Retry`]: run the row again later).
    pub fn action(&self) -> Action {
        match self {
            BulkRefusal::Tenant(e) | BulkRefusal::NotCreated(e) => e.action(),
            _ => Action::FixInput,
        }
    }
}

/// A refused row: nothing was created for it.
#[derive(Debug)]
pub struct BulkRefused {
    /// The line of the file (1 is the header).
    pub line: u64,
    /// The customer id as the line wrote it (perhaps malformed or empty).
    pub customer_id: String,
    /// Why.
    pub reason: BulkRefusal,
    /// The reason and what to do, in a sentence for people.
    pub message: String,
}

impl BulkRefused {
    /// A refusal of `line`, its message made from `reason`.
    pub fn new(line: u64, customer_id: impl Into<String>, reason: BulkRefusal) -> Self {
        let message = format!("Refused: {reason}; {}.", advice(reason.action()));
        Self {
            line,
            customer_id: customer_id.into(),
            reason,
            message,
        }
    }

    /// What to do about it ([`BulkRefusal::action`]).
    pub fn action(&self) -> Action {
        self.reason.action()
    }
}

/// Whether a created customer's invitation was mailed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BulkMail {
    /// The mailer accepted it: the customer is in stage
    /// [`InvitationSent`](crate::model::InvitationSent).
    Sent,
    /// The mailer refused or failed: the customer is in stage
    /// [`Invited`] with the failure as its last error;
    /// [`resend_invitation`](crate::TenantAccess::resend_invitation) mails it.
    NotSent(Error),
    /// Not tried: an earlier send found the mailer misconfigured. The customer is in stage
    /// [`Invited`]; resend once the mailer is fixed.
    Skipped,
    /// A dry run ([`BulkOptions::dry_run`]): nothing was created or mailed.
    DryRun,
}

impl BulkMail {
    /// Whether the invitation was mailed.
    pub fn is_sent(&self) -> bool {
        matches!(self, BulkMail::Sent)
    }

    /// A short, stable name (`sent`, `not_sent`, `skipped`, `dry_run`).
    pub fn as_str(&self) -> &'static str {
        match self {
            BulkMail::Sent => "sent",
            BulkMail::NotSent(_) => "not_sent",
            BulkMail::Skipped => "skipped",
            BulkMail::DryRun => "dry_run",
        }
    }
}

/// A row whose customer was created (or, in a dry run, would be).
#[derive(Debug)]
pub struct BulkCreated {
    /// The line of the file.
    pub line: u64,
    /// The customer.
    pub customer: CustomerId,
    /// Its tenant, as discovery resolved it.
    pub tenant: TenantId,
    /// Where its invitation goes.
    pub admin_email: EmailAddress,
    /// Whether the invitation was mailed.
    pub mail: BulkMail,
}

/// What [`TenantAccess::invite_many`](crate::TenantAccess::invite_many) did: every row of the
/// input is in exactly one of `created` and `refused`, each list in file order.
#[derive(Debug, Default)]
pub struct BulkReport {
    /// The rows whose customers were created (in a dry run: would be).
    pub created: Vec<BulkCreated>,
    /// The rows refused, nothing created for them.
    pub refused: Vec<BulkRefused>,
    /// Whether this was a dry run (nothing created).
    pub dry_run: bool,
}

impl BulkReport {
    /// How many invitations were mailed.
    pub fn sent(&self) -> usize {
        self.created.iter().filter(|c| c.mail.is_sent()).count()
    }

    /// The customers created whose invitation was not mailed (resend them).
    pub fn not_sent(&self) -> impl Iterator<Item = &BulkCreated> {
        self.created
            .iter()
            .filter(|c| matches!(c.mail, BulkMail::NotSent(_) | BulkMail::Skipped))
    }

    /// The report as CSV, one row per input line in file order: `line, customer_id, outcome`
    /// (`created`, `would_create` in a dry run, `refused`), `mail` (`sent`, `not_sent`,
    /// `skipped`, empty when refused), `action` (what to do: empty when all is done) and
    /// `message`.
    pub fn write_csv<W: std::io::Write>(&self, out: W) -> std::io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record([
            "line",
            "customer_id",
            "outcome",
            "mail",
            "action",
            "message",
        ])?;
        for row in self.rows() {
            writer.write_record([
                row.line.to_string().as_str(),
                &row.customer_id,
                row.outcome,
                row.mail,
                row.action,
                &row.message,
            ])?;
        }
        writer.flush()
    }

    /// [`write_csv`](Self::write_csv) into a string.
    pub fn csv(&self) -> String {
        let mut out = Vec::new();
        self.write_csv(&mut out)
            .expect("writing to memory cannot fail");
        String::from_utf8(out).expect("the CSV writer writes UTF-8")
    }

    /// One line per input row, in file order, as the CSV and the admin page show them.
    pub(crate) fn rows(&self) -> Vec<BulkLine> {
        let created = self.created.iter().map(|c| {
            let (action, message) = match &c.mail {
                BulkMail::Sent => ("", "Invited; the invitation was mailed.".to_owned()),
                BulkMail::DryRun => ("", "Would be invited.".to_owned()),
                BulkMail::NotSent(e) => (
                    "resend",
                    format!("Created, but the invitation was not mailed ({e}): resend it."),
                ),
                BulkMail::Skipped => (
                    "resend",
                    "Created, but not mailed: the mailer is misconfigured; resend once it is fixed."
                        .to_owned(),
                ),
            };
            BulkLine {
                line: c.line,
                customer_id: c.customer.to_string(),
                outcome: if self.dry_run {
                    "would_create"
                } else {
                    "created"
                },
                mail: if self.dry_run { "" } else { c.mail.as_str() },
                action,
                message,
            }
        });
        let refused = self.refused.iter().map(|r| BulkLine {
            line: r.line,
            customer_id: r.customer_id.clone(),
            outcome: "refused",
            mail: "",
            action: action_name(r.action()),
            message: r.message.clone(),
        });
        let mut rows: Vec<BulkLine> = created.chain(refused).collect();
        rows.sort_by_key(|r| r.line);
        rows
    }
}

/// One input row's outcome, flat.
#[derive(Debug, serde::Serialize)]
pub(crate) struct BulkLine {
    pub(crate) line: u64,
    pub(crate) customer_id: String,
    pub(crate) outcome: &'static str,
    pub(crate) mail: &'static str,
    pub(crate) action: &'static str,
    pub(crate) message: String,
}

/// A tenant discovery's refusal in words: the input error itself (`the tenant … is not
/// known …`), or the failure.
fn tenant_refusal(error: &Error) -> String {
    match error {
        Error::Input(input) => format!("the {input}"),
        other => format!("the tenant could not be resolved now ({other})"),
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Retry { .. } => "retry",
        Action::AskCustomer => "ask_customer",
        Action::FixConfiguration => "fix_configuration",
        Action::Reload => "reload",
        Action::FixInput => "fix_input",
        Action::NotFound => "not_found",
    }
}

fn advice(action: Action) -> String {
    match action {
        Action::Retry { after } => format!(
            "try this row again in {} s or later",
            after.as_secs().max(1)
        ),
        Action::Reload => "try this row again".into(),
        Action::FixInput => "fix the row".into(),
        Action::FixConfiguration => "fix the configuration, then try this row again".into(),
        Action::AskCustomer => "ask the customer".into(),
        Action::NotFound => "check the row".into(),
    }
}

/// A row after the store and tenant discovery: its line, the customer (tenant resolved when
/// discovery found it), and whether it passed.
type Checked = (u64, NewCustomer, Result<(), BulkRefusal>);

/// A row that passed the checks made without I/O.
struct Candidate {
    line: u64,
    new: NewCustomer,
}

/// The checks of one row that need no I/O: fields present, parsed, a method an invitation
/// starts.
fn check_fields(row: &BulkRow) -> Result<NewCustomer, BulkRefusal> {
    for field in BulkField::ALL {
        if row.field(field).trim().is_empty() {
            return Err(BulkRefusal::EmptyField(field));
        }
    }
    let method = row.method.trim().to_ascii_lowercase().replace('-', "_");
    match Method::parse(&method) {
        Some(Method::DeviceCode) => {}
        Some(other) => return Err(BulkRefusal::NeedsCredentials(other)),
        None => return Err(BulkRefusal::UnknownMethod(row.method.clone())),
    }
    NewCustomer::new(
        row.customer_id.trim(),
        row.tenant.trim(),
        row.admin_email.trim(),
    )
    .map_err(BulkRefusal::Invalid)
}

impl DayTwo {
    /// [`TenantAccess::invite_many`](crate::TenantAccess::invite_many).
    pub(crate) async fn invite_many(&self, input: BulkCsv, options: &BulkOptions) -> BulkReport {
        let BulkCsv { rows, mut refused } = input;
        let mut report = BulkReport {
            dry_run: options.dry_run,
            ..BulkReport::default()
        };

        // 1. The checks without I/O, and the file's own duplicates, in file order.
        let mut ids: HashMap<CustomerId, u64> = HashMap::new();
        let mut emails: HashMap<String, u64> = HashMap::new();
        let mut candidates = Vec::new();
        for row in rows {
            let checked = check_fields(&row).and_then(|new| {
                if let Some(&first_line) = ids.get(&new.id) {
                    return Err(BulkRefusal::DuplicateCustomerId { first_line });
                }
                let email = new.admin_email.as_str().to_ascii_lowercase();
                if let Some(&first_line) = emails.get(&email) {
                    return Err(BulkRefusal::DuplicateAdminEmail { first_line });
                }
                ids.insert(new.id.clone(), row.line);
                emails.insert(email, row.line);
                Ok(new)
            });
            match checked {
                Ok(new) => candidates.push(Candidate {
                    line: row.line,
                    new,
                }),
                Err(reason) => refused.push(BulkRefused::new(row.line, row.customer_id, reason)),
            }
        }

        // 2. The store and tenant discovery, once per distinct tenant, a few at a time.
        let mut groups: Vec<Vec<Candidate>> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        for candidate in candidates {
            let key = tenant_key(&candidate.new.tenant);
            let index = *group_of.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[index].push(candidate);
        }
        let checked: Vec<Vec<Checked>> =
            futures_util::stream::iter(groups.into_iter().map(|group| self.check_group(group)))
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        let mut valid = Vec::new();
        for (line, new, outcome) in checked.into_iter().flatten() {
            match outcome {
                Ok(()) => valid.push(Candidate { line, new }),
                Err(reason) => refused.push(BulkRefused::new(line, new.id.as_str(), reason)),
            }
        }
        valid.sort_by_key(|c| c.line);

        // 3. Create and mail, in file order, paced.
        let mut last_send = None;
        let mut mailer_broken = false;
        for Candidate { line, new } in valid {
            let (customer, tenant, admin_email) =
                (new.id.clone(), new.tenant.clone(), new.admin_email.clone());
            let created = |mail| BulkCreated {
                line,
                customer: customer.clone(),
                tenant: tenant.clone(),
                admin_email: admin_email.clone(),
                mail,
            };
            if options.dry_run {
                report.created.push(created(BulkMail::DryRun));
                continue;
            }
            let record = Customer::new(new, Method::DeviceCode, self.clock().now());
            let invited = match self.create(record, Invited).await {
                Ok(invited) => invited,
                Err(Error::Store(StoreError::AlreadyExists(_))) => {
                    let reason = BulkRefusal::AlreadyExists;
                    refused.push(BulkRefused::new(line, customer.as_str(), reason));
                    continue;
                }
                Err(error) => {
                    let reason = BulkRefusal::NotCreated(error);
                    refused.push(BulkRefused::new(line, customer.as_str(), reason));
                    continue;
                }
            };
            if mailer_broken {
                report.created.push(created(BulkMail::Skipped));
                continue;
            }
            if let Some(last) = last_send {
                self.clock().sleep_until(last + options.pace).await;
            }
            last_send = Some(self.clock().now());
            let mail = match invited.send(self).await {
                Ok(_) => BulkMail::Sent,
                Err(rejected) => {
                    let error = Error::from(rejected);
                    tracing::warn!(customer = %customer, %error, "bulk invitation not mailed");
                    mailer_broken = error.action() == Action::FixConfiguration;
                    BulkMail::NotSent(error)
                }
            };
            report.created.push(created(mail));
        }
        refused.sort_by_key(|r| r.line);
        report.refused = refused;
        tracing::info!(
            created = report.created.len(),
            sent = report.sent(),
            refused = report.refused.len(),
            dry_run = report.dry_run,
            "bulk invitation"
        );
        report
    }

    /// Resolves one tenant for the rows naming it (as [`TenantAccess::invite`] resolves it)
    /// and checks each row's customer id against the store.
    ///
    /// [`TenantAccess::invite`]: crate::TenantAccess::invite
    async fn check_group(&self, group: Vec<Candidate>) -> Vec<Checked> {
        let mut resolved: Option<TenantId> = None;
        // What discovery said of a tenant that is wrong for good (unknown, another cloud).
        let mut wrong: Option<InputError> = None;
        let mut out = Vec::with_capacity(group.len());
        for Candidate { line, mut new } in group {
            let tenant = match (&resolved, &wrong) {
                (Some(tenant), _) => Ok(tenant.clone()),
                (None, Some(wrong)) => Err(Error::Input(wrong.clone())),
                // A failure for now may pass for the next row: it asks again.
                (None, None) => self.resolve_tenant(new.clone()).await.map(|n| n.tenant),
            };
            let outcome = match tenant {
                Err(Error::Input(input)) => {
                    wrong = Some(input.clone());
                    Err(BulkRefusal::Tenant(Error::Input(input)))
                }
                Ok(tenant) => {
                    resolved = Some(tenant.clone());
                    new.tenant = tenant;
                    match self.store().load(&new.id).await {
                        Ok(None) => Ok(()),
                        Ok(Some(_)) => Err(BulkRefusal::AlreadyExists),
                        Err(StoreError::AlreadyExists(_)) => Err(BulkRefusal::AlreadyExists),
                        Err(error) => Err(BulkRefusal::NotCreated(error.into())),
                    }
                }
                Err(error) => Err(BulkRefusal::Tenant(error)),
            };
            out.push((line, new, outcome));
        }
        out
    }
}

/// The rows naming the same tenant (the same way) share one discovery.
fn tenant_key(tenant: &TenantId) -> String {
    format!("{}|{:?}", tenant.as_str(), tenant.cloud())
}
