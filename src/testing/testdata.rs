//! Records with every field set, for store tests and the conformance kit.

use time::{Duration, OffsetDateTime, macros::datetime};
use url::Url;

use crate::journey::{
    ApprovalRequested, BrowserSignIn, Claimed, ConsentRequired, DeviceCodeIssued, Expired,
    InvitationSent, Invited, ReauthRequired, Revoked, Stage, StageKind, TokenAcquired, Validated,
};
use crate::model::MessageId;
use crate::model::{AccessToken, ClientSecret, ConsentState, DeviceCode, Password, RefreshToken};
use crate::model::{AppCredential, ClientCertificate, CredentialExpiry};
use crate::model::{
    Credentials, Customer, RefreshLease, TenantInfo, TokenSet, Verification, VerificationStatus,
};
use crate::model::{
    CustomerId, DiscoveredTenant, EmailAddress, JourneyId, Method, PendingSwitch, TenantId, Version,
};
use crate::model::{Delivery, Invitation, InvitationCode};
use crate::model::{PkceVerifier, SignInState};
use crate::ports::Record;

/// The marker every sample secret contains, so raw storage can be searched for it.
pub(crate) const MARKER: &str = "tA-sEcReT";

pub(crate) const BASE: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456789 UTC);

/// A record in stage `kind`, with every optional fact set and distinct secrets; `n` varies
/// the secrets and times. A validated record or one needing re-authentication has a method
/// switch under way beside it (to an app registration, waiting for consent, with secrets and
/// a live invitation code of its own).
pub(crate) fn record(id: &str, kind: StageKind, n: u64) -> Record {
    let (customer, stage) = parts(id, kind, n, "");
    let switch = matches!(kind, StageKind::Validated | StageKind::ReauthRequired).then(|| {
        let (customer, stage) = parts(id, StageKind::ConsentRequired, n | 1, "switch-");
        Box::new(PendingSwitch {
            journey: JourneyId::parse(&format!("{:032x}", 0x5717c4 + n)).expect("hex id"),
            version: Version(2 + n),
            customer,
            stage,
        })
    });
    Record {
        customer,
        stage,
        version: Version::NEW,
        switch,
    }
}

/// The sample tenant: as given for even `n`, resolved by discovery (GUID and cloud) for odd.
fn sample_tenant(n: u64) -> TenantId {
    let tenant = TenantId::new("contoso.onmicrosoft.com").expect("tenant");
    if n.is_multiple_of(2) {
        return tenant;
    }
    let mut found = DiscoveredTenant::new("72f988bf-86f1-41af-91ab-2d7cd011db47").expect("guid");
    found.cloud_instance_name = Some("microsoftonline.com".into());
    found.msgraph_host = Some("graph.microsoft.com".into());
    found.tenant_region_scope = Some("EU".into());
    tenant.with_discovery(found).expect("a GUID")
}

/// The facts and stage of a sample journey; every secret starts with `MARKER` and names
/// `prefix`.
fn parts(id: &str, kind: StageKind, n: u64, prefix: &str) -> (Customer, Stage) {
    let secret = |id: &str, what: &str, n: u64| format!("{MARKER}-{prefix}{what}-{id}-{n}");
    let t = BASE + Duration::seconds(n as i64);
    let method = match kind {
        StageKind::ConsentRequired if n.is_multiple_of(2) => Method::Password,
        StageKind::ConsentRequired => Method::AppRegistration,
        _ => Method::DeviceCode,
    };
    let code = InvitationCode::from_received(&secret(id, "invitation-code", n));
    let credentials = match method {
        Method::Password => Some(Credentials::Password {
            username: format!("admin@{id}.example"),
            password: Password::new(secret(id, "password", n)),
        }),
        Method::AppRegistration => Some(Credentials::AppRegistration {
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            // Every other record has a certificate, so stores round-trip both kinds.
            credential: if n % 2 == 1 {
                AppCredential::Certificate(sample_certificate())
            } else {
                AppCredential::secret_expiring(
                    ClientSecret::new(secret(id, "client-secret", n)),
                    t + Duration::days(365),
                )
            },
        }),
        Method::DeviceCode => None,
    };
    let customer = Customer {
        id: CustomerId::new(id).expect("sample id"),
        tenant: sample_tenant(n),
        admin_email: EmailAddress::new("admin@contoso.com").expect("email"),
        method,
        created_at: BASE,
        updated_at: t,
        invitation: Some(Invitation {
            code_hash: Some(code.hash()),
            issued_at: BASE,
            expires_at: BASE + Duration::days(7),
            delivery: Some(Delivery {
                message_id: MessageId(format!("<{id}-{n}@mail.example>")),
                sent_at: BASE + Duration::seconds(1),
            }),
            opened_at: Some(BASE + Duration::minutes(5)),
            codes_issued: 1 + (n % 3) as u32,
        }),
        credentials,
        token: Some(TokenSet {
            access_token: AccessToken::new(secret(id, "access-token", n)),
            refresh_token: Some(RefreshToken::new(secret(id, "refresh-token", n))),
            expires_at: t + Duration::hours(1),
            obtained_at: t,
            scope: Some("https://graph.microsoft.com/.default offline_access".into()),
        }),
        tenant_info: Some(TenantInfo {
            id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            display_name: "Contoso Ltd — ünïcode".into(),
            domains: vec!["contoso.com".into(), "contoso.onmicrosoft.com".into()],
        }),
        device_authenticated_at: Some(t - Duration::minutes(1)),
        last_verification: Some(Verification {
            at: t,
            status: VerificationStatus::Ok,
        }),
        last_error: Some("AADSTS70016: authorization_pending \"quoted\" 'single'".into()),
        refresh_lease: (n % 2 == 1).then(|| RefreshLease {
            holder: format!("replica-{n}"),
            until: t + Duration::seconds(30),
        }),
        app_credential_expiry: n.is_multiple_of(3).then(|| CredentialExpiry {
            kind: "client secret",
            name: "portal secret (abc)".into(),
            expires_at: t + Duration::days(200),
        }),
        // A third of the samples need attention: the reasons and the failure they come
        // from round-trip through the store, and the attention filter has something to find.
        health: match n % 3 {
            0 => crate::model::Health {
                attention: vec![crate::model::Attention {
                    reason: crate::model::Reason::ConsentRevoked,
                    since: t,
                    evidence: crate::model::Evidence {
                        codes: vec![65001],
                        date: Some(t),
                        ..Default::default()
                    },
                }],
                failures: 2,
                last_failure: Some(crate::model::Failure {
                    at: t,
                    codes: vec![65001],
                    reason: Some(crate::model::Reason::ConsentRevoked),
                }),
            },
            _ => crate::model::Health::default(),
        },
    };
    let stage = match kind {
        StageKind::Invited => Stage::Invited(Invited),
        StageKind::InvitationSent => Stage::InvitationSent(InvitationSent),
        StageKind::Claimed => Stage::Claimed(Claimed),
        StageKind::DeviceCodeIssued => Stage::DeviceCodeIssued(DeviceCodeIssued {
            device_code: DeviceCode::new(secret(id, "device-code", n)),
            user_code: "ABCD-EFGH".into(),
            verification_uri: Url::parse("https://microsoft.com/devicelogin").expect("url"),
            // Every other record has a one-click link, so stores round-trip both shapes.
            verification_uri_complete: n.is_multiple_of(2).then(|| {
                Url::parse("https://microsoft.com/devicelogin?user_code=ABCD-EFGH").expect("url")
            }),
            message: Some("To sign in, use a web browser…".into()),
            issued_at: t,
            expires_at: t + Duration::minutes(15),
            interval: std::time::Duration::from_millis(5_250),
            next_poll_at: t + Duration::seconds(5),
        }),
        StageKind::BrowserSignIn => {
            // The URL carries the real state, as the engine builds it: a store that keeps the
            // URL in plain text fails the kit's plain-text check.
            let state = secret(id, "sign-in-state", n);
            let mut authorize_url = Url::parse(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?client_id=x",
            )
            .expect("url");
            authorize_url.query_pairs_mut().append_pair("state", &state);
            Stage::BrowserSignIn(BrowserSignIn {
                authorize_url,
                state: SignInState::new(state),
                verifier: PkceVerifier::new(secret(id, "pkce-verifier", n)),
                redirect_uri: Url::parse("https://portal.example.com/authenticate/SignInCallback")
                    .expect("url"),
                started_at: t,
                expires_at: t + Duration::minutes(15),
            })
        }
        StageKind::ApprovalRequested => {
            Stage::ApprovalRequested(ApprovalRequested { requested_at: t })
        }
        StageKind::ConsentRequired => {
            // The URL carries the real state, as the engine builds it: a store that keeps the
            // URL in plain text fails the kit's plain-text check.
            let state = secret(id, "consent-state", n);
            let mut admin_consent_url = Url::parse(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/adminconsent?client_id=x",
            )
            .expect("url");
            admin_consent_url
                .query_pairs_mut()
                .append_pair("state", &state);
            Stage::ConsentRequired(ConsentRequired {
                admin_consent_url,
                state: ConsentState::new(state),
                requested_at: t,
            })
        }
        StageKind::TokenAcquired => Stage::TokenAcquired(TokenAcquired),
        StageKind::Validated => Stage::Validated(Validated { validated_at: t }),
        StageKind::ReauthRequired => Stage::ReauthRequired(ReauthRequired {
            since: t,
            reason: "invalid_grant AADSTS700082".into(),
        }),
        StageKind::Revoked => Stage::Revoked(Revoked { revoked_at: t }),
        StageKind::Expired => Stage::Expired(Expired { expired_at: t }),
    };
    (customer, stage)
}

/// A test certificate and its RSA key (tests/fixtures/certificates: they protect nothing).
pub(crate) fn sample_certificate() -> ClientCertificate {
    ClientCertificate::from_pem(
        include_str!("../../tests/fixtures/certificates/rsa-a.cert.pem"),
        include_str!("../../tests/fixtures/certificates/rsa-a.key.pem"),
    )
    .expect("the sample certificate parses")
}

/// Every secret value in `record`, its method switch's included.
pub(crate) fn secrets_of(record: &Record) -> Vec<String> {
    let mut out = journey_secrets(&record.customer, &record.stage);
    if let Some(switch) = &record.switch {
        out.extend(journey_secrets(&switch.customer, &switch.stage));
    }
    out
}

/// Every secret value of one journey.
fn journey_secrets(c: &Customer, stage: &Stage) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &c.token {
        out.push(t.access_token.expose_secret().to_owned());
        if let Some(r) = &t.refresh_token {
            out.push(r.expose_secret().to_owned());
        }
    }
    match &c.credentials {
        Some(Credentials::Password { password, .. }) => {
            out.push(password.expose_secret().to_owned())
        }
        Some(Credentials::AppRegistration {
            credential: AppCredential::Secret { secret, .. },
            ..
        }) => out.push(secret.expose_secret().to_owned()),
        Some(Credentials::AppRegistration {
            credential: AppCredential::Certificate(certificate),
            ..
        }) => out.push(certificate.expose_private_key_pem().to_string()),
        None => {}
    }
    match stage {
        Stage::DeviceCodeIssued(d) => out.push(d.device_code.expose_secret().to_owned()),
        Stage::ConsentRequired(c) => out.push(c.state.expose_secret().to_owned()),
        Stage::BrowserSignIn(b) => {
            out.push(b.state.expose_secret().to_owned());
            out.push(b.verifier.expose_secret().to_owned());
        }
        _ => {}
    }
    out
}

/// Everything in `record` except its version, secrets included, as text to compare.
pub(crate) fn fingerprint(record: &Record) -> String {
    format!(
        "{:?}\n{:?}\nswitch={:?}\nsecrets={:?}",
        record.customer,
        record.stage,
        record.switch,
        secrets_of(record)
    )
}
