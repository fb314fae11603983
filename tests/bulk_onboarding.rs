//! Bulk onboarding (`TenantAccess::invite_many`): every row checked before anything is
//! created, paced sends on the engine's clock, and a report of what was created and refused.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use support::{Harness, harness};
use tenant_access::error::{Action, Error, InputError, MailError, ProviderError};
use tenant_access::journey::StageKind;
use tenant_access::ops::bulk::{
    BulkCsvError, BulkField, BulkMail, BulkOptions, BulkRefusal, BulkReport, BulkRow,
    parse_bulk_csv,
};
use tenant_access::ports::Clock;
use tenant_access::store::Filter;
use tenant_access::{CustomerId, Method, NewCustomer};
use time::macros::datetime;

const HEADER: &str = "customer_id,tenant,admin_email,method";

fn good(i: usize) -> String {
    format!("cust-{i:04},cust-{i:04}.onmicrosoft.com,admin@cust-{i:04}.com,device_code")
}

fn id(text: &str) -> CustomerId {
    CustomerId::new(text).unwrap()
}

/// What a bad row must be refused for.
type Expect = fn(&BulkRefusal) -> bool;

/// 1,000 data lines (file lines 2 to 1001), 20 of them bad in every way the checks know.
/// Returns the CSV and, per bad file line, the refusal it must get.
fn thousand_with_twenty_bad(h: &Harness) -> (String, HashMap<u64, Expect>) {
    h.mock.unknown_tenant("ghost-1.example");
    h.mock.unknown_tenant("ghost-2.example");
    h.mock.fail_discovery(
        "flaky.example",
        ProviderError::Unavailable {
            status: 503,
            retry_after: Some(Duration::from_secs(20)),
        },
    );
    let mut bad: HashMap<usize, (String, Expect)> = HashMap::new();
    let mut put = |i: usize, line: &str, expect: Expect| {
        bad.insert(i, (line.to_owned(), expect));
    };
    put(
        10,
        "bad-email-1,bad1.example,not-an-email,device_code",
        |r| matches!(r, BulkRefusal::Invalid(InputError::Email(_))),
    );
    put(20, "bad-email-2,bad2.example,admin@,device_code", |r| {
        matches!(r, BulkRefusal::Invalid(InputError::Email(_)))
    });
    put(
        30,
        "ghost-1,ghost-1.example,admin@ghost-1.example,device_code",
        |r| {
            matches!(
                r,
                BulkRefusal::Tenant(Error::Input(InputError::UnknownTenant(_)))
            )
        },
    );
    put(
        40,
        "ghost-2,ghost-2.example,admin@ghost-2.example,device_code",
        |r| {
            matches!(
                r,
                BulkRefusal::Tenant(Error::Input(InputError::UnknownTenant(_)))
            )
        },
    );
    put(
        50,
        "cust-0001,dup.example,other@dup.example,device_code",
        |r| matches!(r, BulkRefusal::DuplicateCustomerId { first_line: 2 }),
    );
    put(
        60,
        "cust-0002,dup2.example,other2@dup.example,device_code",
        |r| matches!(r, BulkRefusal::DuplicateCustomerId { first_line: 3 }),
    );
    put(
        70,
        "existing-1,existing.example,x@existing.example,device_code",
        |r| matches!(r, BulkRefusal::AlreadyExists),
    );
    put(
        80,
        "existing-2,existing.example,y@existing.example,device_code",
        |r| matches!(r, BulkRefusal::AlreadyExists),
    );
    put(90, "pw-1,pw1.example,admin@pw1.example,password", |r| {
        matches!(r, BulkRefusal::NeedsCredentials(Method::Password))
    });
    put(100, "pw-2,pw2.example,admin@pw2.example,Password", |r| {
        matches!(r, BulkRefusal::NeedsCredentials(Method::Password))
    });
    put(
        110,
        "app-1,app1.example,admin@app1.example,app_registration",
        |r| matches!(r, BulkRefusal::NeedsCredentials(Method::AppRegistration)),
    );
    put(
        120,
        "pigeon,pigeon.example,admin@pigeon.example,carrier_pigeon",
        |r| matches!(r, BulkRefusal::UnknownMethod(_)),
    );
    put(130, ",noid.example,admin@noid.example,device_code", |r| {
        matches!(r, BulkRefusal::EmptyField(BulkField::CustomerId))
    });
    put(140, "no-tenant,,admin@no-tenant.example,device_code", |r| {
        matches!(r, BulkRefusal::EmptyField(BulkField::Tenant))
    });
    put(150, "no-email,noemail.example,,device_code", |r| {
        matches!(r, BulkRefusal::EmptyField(BulkField::AdminEmail))
    });
    put(160, "common,common,admin@common.example,device_code", |r| {
        matches!(r, BulkRefusal::Invalid(InputError::Tenant(_)))
    });
    put(
        170,
        "spaces,not a domain!,admin@spaces.example,device_code",
        |r| matches!(r, BulkRefusal::Invalid(InputError::Tenant(_))),
    );
    put(
        180,
        "dup-mail,dupmail.example,ADMIN@cust-0003.com,device_code",
        |r| matches!(r, BulkRefusal::DuplicateAdminEmail { first_line: 4 }),
    );
    put(190, "short-line,short.example", |r| {
        matches!(r, BulkRefusal::Unreadable(_))
    });
    put(
        200,
        "flaky,flaky.example,admin@flaky.example,device_code",
        |r| {
            matches!(r, BulkRefusal::Tenant(Error::Provider(_)))
                && matches!(r.action(), Action::Retry { after } if after == Duration::from_secs(20))
        },
    );
    assert_eq!(bad.len(), 20);
    let mut csv = format!("{HEADER}\n");
    let mut expected = HashMap::new();
    for i in 1..=1000 {
        let line = (i + 1) as u64;
        match bad.remove(&i) {
            Some((text, expect)) => {
                csv.push_str(&text);
                expected.insert(line, expect);
            }
            None => csv.push_str(&good(i)),
        }
        csv.push('\n');
    }
    (csv, expected)
}

#[tokio::test]
async fn a_thousand_rows_with_twenty_bad_ones_invite_980_and_refuse_20_with_reasons() {
    let h = harness();
    for existing in ["existing-1", "existing-2"] {
        let new = NewCustomer::new(
            existing,
            "existing.example",
            format!("{existing}@existing.example"),
        )
        .unwrap();
        h.ta.invite(new).await.unwrap();
    }
    let (csv, expected) = thousand_with_twenty_bad(&h);
    let started_at = h.clock.now();
    let options = BulkOptions::default();
    let wall = Instant::now();
    let parsed = parse_bulk_csv(csv.as_bytes()).unwrap();
    let report = h.ta.invite_many(parsed, &options).await;
    let took = wall.elapsed();
    eprintln!("1,000 rows (980 invited, 20 refused) in {took:?}");

    // 980 created, each mailed once, each in InvitationSent.
    assert_eq!(report.created.len(), 980, "{:#?}", report.refused);
    assert_eq!(report.sent(), 980);
    assert_eq!(h.mailer.messages().len(), 980);
    assert_eq!(h.mailer.attempts(), 980);
    assert_eq!(h.ta.count(&Filter::all()).await.unwrap(), 980 + 2);
    for created in &report.created {
        let journey = h.ta.load(&created.customer).await.unwrap();
        assert_eq!(
            journey.kind(),
            StageKind::InvitationSent,
            "{}",
            created.customer
        );
        assert_eq!(journey.customer().admin_email, created.admin_email);
        assert_eq!(journey.customer().method, Method::DeviceCode);
        // The tenant was resolved by discovery, as `invite` resolves it.
        assert!(journey.customer().tenant.guid().is_some());
        let to = created.admin_email.as_str();
        let sent: Vec<_> = h.mailer.messages();
        assert_eq!(sent.iter().filter(|m| m.to.as_str() == to).count(), 1);
    }

    // 20 refused, each with its line and the right reason.
    assert_eq!(report.refused.len(), 20);
    for refused in &report.refused {
        let expect = expected
            .get(&refused.line)
            .unwrap_or_else(|| panic!("line {} refused: {}", refused.line, refused.message));
        assert!(
            expect(&refused.reason),
            "line {}: {:?}",
            refused.line,
            refused.reason
        );
        assert!(
            refused.message.starts_with("Refused: "),
            "{}",
            refused.message
        );
    }
    let lines: Vec<u64> = report.refused.iter().map(|r| r.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "refusals in file order");
    let flaky = report
        .refused
        .iter()
        .find(|r| r.customer_id == "flaky")
        .unwrap();
    assert!(
        flaky.message.contains("try this row again"),
        "{}",
        flaky.message
    );
    let password = report
        .refused
        .iter()
        .find(|r| r.customer_id == "pw-1")
        .unwrap();
    assert!(password.message.contains("must not travel in a CSV"));
    assert_eq!(password.action(), Action::FixInput);

    // Nothing half-created: no record for a refused id (the duplicates' ids belong to their
    // first line, the existing ones are untouched).
    for refused in &report.refused {
        let Ok(refused_id) = CustomerId::new(refused.customer_id.as_str()) else {
            continue;
        };
        let stored = h.ta.load(&refused_id).await;
        match &refused.reason {
            BulkRefusal::DuplicateCustomerId { .. } => {
                let first = stored.unwrap();
                assert!(
                    first
                        .customer()
                        .admin_email
                        .as_str()
                        .starts_with("admin@cust-")
                );
            }
            BulkRefusal::AlreadyExists => {
                let existing = stored.unwrap();
                assert_eq!(existing.kind(), StageKind::Invited);
                assert_eq!(existing.version().0, 1);
            }
            _ => assert!(
                stored.is_err(),
                "line {}: {} was stored",
                refused.line,
                refused.customer_id
            ),
        }
    }
    assert!(h.mailer.last_to("admin@flaky.example").is_none());

    // Paced: 980 sends, the engine's clock moved by exactly the pace 979 times, no real sleep.
    assert_eq!(h.clock.now() - started_at, options.pace * 979);
    assert!(took < Duration::from_secs(60), "{took:?}");

    // The report's CSV: a header and one line per input row, in file order.
    let out = report.csv();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "line,customer_id,outcome,mail,action,message");
    assert_eq!(lines.len(), 1 + 1000);
    assert!(lines[1].starts_with("2,cust-0001,created,sent,,"));
    assert!(
        out.lines()
            .any(|l| l.starts_with("201,flaky,refused,,retry,")),
        "{out}"
    );
}

#[tokio::test]
async fn a_mail_failure_leaves_the_customer_created_not_sent_and_resend_mails_it() {
    let h = harness();
    h.mailer
        .fail_next(MailError::Transient("421 try later".into()));
    let rows = vec![
        BulkRow::new(
            2,
            "contoso",
            "contoso.com",
            "admin@contoso.com",
            "device_code",
        ),
        BulkRow::new(
            3,
            "fabrikam",
            "fabrikam.com",
            "admin@fabrikam.com",
            "device-code",
        ),
    ];
    let report = h.ta.invite_many(rows, &BulkOptions::default()).await;
    assert!(report.refused.is_empty());
    assert_eq!(report.created.len(), 2);
    assert!(matches!(
        report.created[0].mail,
        BulkMail::NotSent(Error::Mail(_))
    ));
    assert!(report.created[1].mail.is_sent());
    let not_sent: Vec<_> = report.not_sent().map(|c| c.customer.clone()).collect();
    assert_eq!(not_sent, [id("contoso")]);

    let contoso = h.ta.load(&id("contoso")).await.unwrap();
    assert_eq!(contoso.kind(), StageKind::Invited);
    assert!(contoso.customer().last_error.is_some());
    assert!(report.csv().contains("2,contoso,created,not_sent,resend,"));

    h.ta.resend_invitation(&id("contoso")).await.unwrap();
    assert!(h.mailer.last_to("admin@contoso.com").is_some());
    assert_eq!(
        h.ta.load(&id("contoso")).await.unwrap().kind(),
        StageKind::InvitationSent
    );
}

#[tokio::test]
async fn a_misconfigured_mailer_stops_the_sends_but_not_the_creations() {
    let h = harness();
    h.mailer
        .fail_next(MailError::Misconfigured("535 authentication failed".into()));
    let rows: Vec<BulkRow> = (1..=4)
        .map(|i| {
            BulkRow::new(
                i + 1,
                format!("c{i}"),
                format!("c{i}.com"),
                format!("admin@c{i}.com"),
                "device_code",
            )
        })
        .collect();
    let started_at = h.clock.now();
    let report = h.ta.invite_many(rows, &BulkOptions::default()).await;
    assert_eq!(report.created.len(), 4);
    assert!(matches!(report.created[0].mail, BulkMail::NotSent(_)));
    for created in &report.created[1..] {
        assert!(matches!(created.mail, BulkMail::Skipped));
    }
    assert_eq!(h.mailer.attempts(), 1);
    assert_eq!(report.not_sent().count(), 4);
    assert_eq!(
        h.clock.now(),
        started_at,
        "nothing was paced after the first send"
    );
    for i in 1..=4 {
        let journey = h.ta.load(&id(&format!("c{i}"))).await.unwrap();
        assert_eq!(journey.kind(), StageKind::Invited);
    }
}

#[tokio::test]
async fn pacing_waits_on_the_engine_clock_between_sends() {
    let h = harness();
    let rows: Vec<BulkRow> = (1..=5)
        .map(|i| {
            BulkRow::new(
                i + 1,
                format!("p{i}"),
                format!("p{i}.com"),
                format!("admin@p{i}.com"),
                "device_code",
            )
        })
        .collect();
    let at = h.clock.now();
    let options = BulkOptions {
        pace: Duration::from_secs(3),
        ..BulkOptions::default()
    };
    let wall = Instant::now();
    let report = h.ta.invite_many(rows, &options).await;
    assert_eq!(report.sent(), 5);
    assert_eq!(h.clock.now() - at, Duration::from_secs(12));
    assert!(wall.elapsed() < Duration::from_secs(3), "no real sleep");
    // Each invitation was issued when its send was due.
    let issued: Vec<_> = h
        .mailer
        .messages()
        .iter()
        .map(|m| m.expires_at - at)
        .collect();
    let lifetime = issued[0];
    for (n, each) in issued.iter().enumerate() {
        assert_eq!(*each - lifetime, Duration::from_secs(3 * n as u64));
    }
}

#[tokio::test]
async fn a_dry_run_checks_every_row_and_creates_nothing() {
    let h = harness();
    h.mock.unknown_tenant("ghost.example");
    let csv = format!(
        "{HEADER}\n{}\nghost,ghost.example,admin@ghost.example,device_code\n{}\n",
        good(1),
        good(2)
    );
    let options = BulkOptions {
        dry_run: true,
        ..BulkOptions::default()
    };
    let report =
        h.ta.invite_many(parse_bulk_csv(csv.as_bytes()).unwrap(), &options)
            .await;
    assert!(report.dry_run);
    assert_eq!(report.created.len(), 2);
    assert!(
        report
            .created
            .iter()
            .all(|c| matches!(c.mail, BulkMail::DryRun))
    );
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].line, 3);
    assert_eq!(h.ta.count(&Filter::all()).await.unwrap(), 0);
    assert!(h.mailer.messages().is_empty());
    assert!(report.csv().contains("2,cust-0001,would_create,,,"));
}

#[tokio::test]
async fn a_tenant_named_on_many_rows_is_discovered_once() {
    let h = harness();
    let rows: Vec<BulkRow> = (1..=10)
        .map(|i| {
            BulkRow::new(
                i + 1,
                format!("site-{i}"),
                "contoso.onmicrosoft.com",
                format!("admin{i}@contoso.com"),
                "device_code",
            )
        })
        .collect();
    let report = h.ta.invite_many(rows, &BulkOptions::default()).await;
    assert_eq!(report.sent(), 10);
    assert_eq!(h.mock.discoveries(), 1);

    // An unknown tenant is asked about once too; its rows are all refused.
    h.mock.unknown_tenant("ghost.example");
    let rows: Vec<BulkRow> = (1..=3)
        .map(|i| {
            BulkRow::new(
                i + 1,
                format!("g-{i}"),
                "ghost.example",
                format!("admin{i}@ghost.example"),
                "device_code",
            )
        })
        .collect();
    let report = h.ta.invite_many(rows, &BulkOptions::default()).await;
    assert_eq!(report.refused.len(), 3);
    assert_eq!(h.mock.discoveries(), 2);
}

#[test]
fn the_csv_reader_takes_columns_in_any_order_and_refuses_unreadable_lines() {
    let csv = "\u{feff}Method, Admin_Email ,tenant,customer_id,notes\n\
               device_code,admin@contoso.com,contoso.com,contoso,first\n\
               \n\
               device_code,\"admin@fabrikam.com\",fabrikam.com,fabrikam,\"a, b\"\n\
               device_code,admin@x.com,x.com,x,too,many\n";
    let parsed = BulkRow::from_csv(csv.as_bytes()).unwrap();
    assert_eq!(
        parsed.rows,
        [
            BulkRow::new(
                2,
                "contoso",
                "contoso.com",
                "admin@contoso.com",
                "device_code"
            ),
            BulkRow::new(
                4,
                "fabrikam",
                "fabrikam.com",
                "admin@fabrikam.com",
                "device_code"
            ),
        ]
    );
    assert_eq!(parsed.refused.len(), 1);
    assert_eq!(parsed.refused[0].line, 5);
    assert_eq!(parsed.refused[0].customer_id, "x");

    assert_eq!(
        parse_bulk_csv("".as_bytes()).unwrap_err(),
        BulkCsvError::Empty
    );
    assert_eq!(
        parse_bulk_csv("customer_id,tenant,email,method\n".as_bytes()).unwrap_err(),
        BulkCsvError::MissingColumn(BulkField::AdminEmail)
    );
}

#[tokio::test]
async fn a_report_lists_every_row_once() {
    let h = harness();
    let csv = format!("{HEADER}\n{}\nbad,bad.example,nope,device_code\n", good(7));
    let report: BulkReport =
        h.ta.invite_many(
            parse_bulk_csv(csv.as_bytes()).unwrap(),
            &BulkOptions::default(),
        )
        .await;
    assert_eq!(report.created.len() + report.refused.len(), 2);
    assert_eq!(report.created[0].line, 2);
    assert_eq!(report.refused[0].line, 3);
}

/// The same checks on the SQLite store: 100 rows, 5 bad.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn on_sqlite_good_rows_are_invited_and_bad_ones_leave_nothing() {
    use tenant_access::seal::{Keyring, Sealer, SealingKey};
    use tenant_access::store::SqliteStore;
    use tenant_access::testing::mock::MockProvider;
    use tenant_access::testing::{CaptureMailer, ManualClock};
    use tenant_access::{Config, TenantAccess};

    let sealer = Sealer::new(Keyring::new(SealingKey::new("k1", [7; 32]).unwrap()));
    let store = SqliteStore::in_memory(sealer).await.unwrap();
    let mailer = CaptureMailer::new();
    let mock = MockProvider::new();
    let clock = ManualClock::new(datetime!(2026-11-23 10:00 UTC));
    let ta = TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .store(store)
        .mailer(mailer.clone())
        .provider(mock.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    ta.invite(NewCustomer::new("cust-0050", "old.example", "old@old.example").unwrap())
        .await
        .unwrap();
    mock.unknown_tenant("ghost.example");
    let mut csv = format!("{HEADER}\n");
    for i in 1..=100 {
        let line = match i {
            10 => "bad,bad.example,nope,device_code".to_owned(),
            20 => "ghost,ghost.example,admin@ghost.example,device_code".to_owned(),
            30 => "cust-0001,dup.example,dup@dup.example,device_code".to_owned(),
            40 => "pw,pw.example,admin@pw.example,password".to_owned(),
            50 => "cust-0050,new.example,new@new.example,device_code".to_owned(),
            _ => good(i),
        };
        csv.push_str(&line);
        csv.push('\n');
    }
    let at = clock.now();
    let wall = Instant::now();
    let report = ta
        .invite_many(
            parse_bulk_csv(csv.as_bytes()).unwrap(),
            &BulkOptions::default(),
        )
        .await;
    eprintln!("100 rows on SQLite in {:?}", wall.elapsed());
    assert_eq!(report.created.len(), 95);
    assert_eq!(report.sent(), 95);
    let lines: Vec<u64> = report.refused.iter().map(|r| r.line).collect();
    assert_eq!(lines, [11, 21, 31, 41, 51]);
    assert_eq!(ta.count(&Filter::all()).await.unwrap(), 96);
    assert_eq!(mailer.messages().len(), 95);
    assert_eq!(clock.now() - at, Duration::from_millis(200) * 94);
    for bad in ["bad", "ghost", "pw"] {
        assert!(ta.load(&id(bad)).await.is_err());
    }
    let old = ta.load(&id("cust-0050")).await.unwrap();
    assert_eq!(old.customer().admin_email.as_str(), "old@old.example");
    assert_eq!(
        ta.load(&id("cust-0099")).await.unwrap().kind(),
        StageKind::InvitationSent
    );
}

#[test]
fn a_header_that_is_not_text_is_refused_as_a_whole() {
    let mut csv = b"customer_id,tenant,admin_email,\xff\xfe\n".to_vec();
    csv.extend_from_slice(b"a,b,c,d\n");
    let error = parse_bulk_csv(csv.as_slice()).unwrap_err();
    assert!(matches!(error, BulkCsvError::Malformed(_)), "{error:?}");
    assert_eq!(error.action(), Action::FixInput);
}

#[test]
fn line_numbers_count_crlf_quoted_newlines_and_blank_lines() {
    let csv = "customer_id,tenant,admin_email,method\r\n\
               a,a.com,admin@a.com,device_code\r\n\
               \r\n\
               \"b\nb\",b.com,admin@b.com,device_code\r\n\
               c,c.com,admin@c.com,device_code\r\n\
               d,d.com,é@d.com\r\n";
    let parsed = parse_bulk_csv(csv.as_bytes()).unwrap();
    let lines: Vec<u64> = parsed.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4, 6]);
    assert_eq!(parsed.refused[0].line, 7);
}
