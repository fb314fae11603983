//! The admin pages' *Bulk invite* (`/admin/bulk`) over real HTTP on 127.0.0.1: a pasted CSV
//! is checked without creating anything, then invited in the background with the report on
//! the page and as CSV; the form needs the operator's CSRF token.

use std::time::{Duration, Instant};

use tenant_access::store::Filter;

#[path = "support/web.rs"]
mod web_support;
use web_support::*;

fn form(token: &str, mode: &str, csv: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", token)
        .append_pair("mode", mode)
        .append_pair("csv", csv)
        .finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_invite_checks_then_invites_and_reports() {
    let portal = Portal::start().await;
    portal.fake.forget_tenant("ghost.example");
    let admin = format!("{ADMIN_COOKIE}={ADMIN_TOKEN}");
    let page_url = format!("{}/admin/bulk", portal.url);
    let (cookie, token, page) = form_page(&http(), &page_url, &admin).await;
    assert!(page.contains("customer_id,tenant,admin_email,method"));
    let cookies = format!("{admin}; {cookie}");
    let csv = "customer_id,tenant,admin_email,method\n\
               contoso,contoso.example,admin@contoso.example,device_code\n\
               fabrikam,fabrikam.example,admin@fabrikam.example,device_code\n\
               ghost,ghost.example,admin@ghost.example,device_code\n\
               pw,pw.example,admin@pw.example,password\n";

    // Without the operator's token: refused, nothing done.
    let refused = post_form(
        &http(),
        page_url.clone(),
        cookies.clone(),
        form("x", "invite", csv),
    )
    .await;
    assert_eq!(refused.status(), 403);

    // Check: the report, nothing created.
    let checked = post_form(
        &http(),
        page_url.clone(),
        cookies.clone(),
        form(&token, "check", csv),
    )
    .await;
    assert_eq!(checked.status(), 200);
    let text = checked.text().await.unwrap();
    assert!(
        text.contains("2 row(s) would be invited, 2 refused"),
        "{text}"
    );
    assert!(
        text.contains("data-line=\"4\" data-outcome=\"refused\""),
        "{text}"
    );
    assert!(text.contains("must not travel in a CSV file"), "{text}");
    assert_eq!(portal.ta.count(&Filter::all()).await.unwrap(), 0);

    // A file without the header's columns is refused as a whole.
    let bad = post_form(
        &http(),
        page_url.clone(),
        cookies.clone(),
        form(&token, "check", "id,email\na,b\n"),
    )
    .await;
    assert_eq!(bad.status(), 422);

    // Invite: runs in the background (held at its first paced wait), then reports.
    portal.gate.shut();
    let started = post_form(
        &http(),
        page_url.clone(),
        cookies.clone(),
        form(&token, "invite", csv),
    )
    .await;
    assert_eq!(started.status(), 303);
    let running = page_text(&page_url, &cookies).await;
    assert!(running.contains("id=\"bulk-running\""), "{running}");
    assert!(running.contains("http-equiv=\"refresh\""));
    portal.gate.open();
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let page = page_text(&page_url, &cookies).await;
        if page.contains("Bulk invitation report") {
            break page;
        }
        assert!(Instant::now() < deadline, "the run never finished: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(done.contains("2 customer(s) invited (2 mailed)"), "{done}");
    assert_eq!(portal.ta.count(&Filter::all()).await.unwrap(), 2);
    assert!(portal.mailer.last_to("admin@contoso.example").is_some());
    assert!(portal.mailer.last_to("admin@ghost.example").is_none());

    let report = http()
        .get(format!("{page_url}/report.csv"))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    assert_eq!(report.headers()["content-type"], "text/csv; charset=utf-8");
    let report = report.text().await.unwrap();
    assert!(report.starts_with("line,customer_id,outcome,mail,action,message\n"));
    assert!(report.contains("2,contoso,created,sent,,"), "{report}");
    assert!(report.contains("4,ghost,refused,,fix_input,"), "{report}");
}
