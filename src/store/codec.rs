//! How a [`Record`] is laid out in a database row (feature `seal`): shared by the SQLite and
//! PostgreSQL stores, and usable by integrators writing their own SQL store.
//!
//! A record becomes an [`EncodedRecord`]:
//! - **index columns** the store filters and sorts on: customer id, version, stage, method,
//!   verification status, last-verified time, token expiry, invitation-code hash;
//! - **`body`**: every non-secret fact as JSON (times as RFC 3339, UTC), with a format version;
//! - **`secrets`**: the access and refresh tokens, password, client secret, device code and
//!   consent state, as JSON sealed by a [`Sealer`] with the customer id and a hash of the body
//!   as associated data (so a sealed blob copied onto another row, or a body edited by hand,
//!   does not open).
//!
//! Times in index columns are Unix nanoseconds in an `i64` ([`timestamp`]).
//!
//! ```
//! use tenant_access::store::codec;
//! use tenant_access::seal::{Keyring, Sealer, SealingKey};
//! # use tenant_access::{model::{Customer, Stage, Invited, Version}, store::Record, Method, NewCustomer};
//! # let now = time::macros::datetime!(2026-01-01 0:00 UTC);
//! # let customer = Customer::new(NewCustomer::new("contoso", "contoso.com", "a@contoso.com").unwrap(), Method::DeviceCode, now);
//! # let record = Record::new(customer, Stage::Invited(Invited));
//! let sealer = Sealer::new(Keyring::new(SealingKey::generate("k1").unwrap()));
//! let row = codec::encode(&record, &sealer).unwrap();
//! assert_eq!(row.stage, "invited");
//! assert_eq!(row.key_id.as_deref(), Some("k1"));
//! let back = codec::decode(&row.customer_id, Version(1), &row.body, &row.secrets, &sealer).unwrap();
//! assert_eq!(back.customer.id, record.customer.id);
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use url::Url;
use zeroize::{Zeroize, Zeroizing};

use crate::error::StoreError;
use crate::journey::{
    ApprovalRequested, BrowserSignIn, Claimed, ConsentRequired, DeviceCodeIssued, Expired,
    InvitationSent, Invited, ReauthRequired, Revoked, Stage, StageKind, TokenAcquired, Validated,
};
use crate::model::Health;
use crate::model::MessageId;
use crate::model::VerificationStatus;
use crate::model::{AccessToken, ClientSecret, ConsentState, DeviceCode, Password, RefreshToken};
use crate::model::{Actor, AuditEvent};
use crate::model::{AppCredential, ClientCertificate, CredentialExpiry};
use crate::model::{
    Cloud, CustomerId, DiscoveredTenant, EmailAddress, JourneyId, Method, PendingSwitch, TenantId,
    Version,
};
use crate::model::{CodeHash, Delivery, Invitation};
use crate::model::{Credentials, Customer, RefreshLease, TenantInfo, TokenSet, Verification};
use crate::model::{PkceVerifier, SignInState};
use crate::ports::Record;
use crate::seal::Sealer;

/// The body format this crate writes.
pub const BODY_FORMAT: u32 = 1;

/// A record laid out for a row.
///
/// Serializable (serde), for stores that keep a record as one document (a Redis hash or
/// string, an object store): the names and numbers as they are, the hashes and the sealed
/// `secrets` as standard base64. Deserializing checks the stage, method and status names
/// (an unknown name is an error) but not the body or the secrets: [`decode`] does that. The
/// record's version is not part of it: keep it beside the document and hand it to [`decode`].
///
/// ```
/// use tenant_access::store::codec::{self, EncodedRecord};
/// use tenant_access::seal::{Keyring, Sealer, SealingKey};
/// # use tenant_access::{model::{Customer, Stage, Invited}, store::Record, Method, NewCustomer};
/// # let now = time::macros::datetime!(2026-01-01 0:00 UTC);
/// # let customer = Customer::new(NewCustomer::new("contoso", "contoso.com", "a@contoso.com").unwrap(), Method::DeviceCode, now);
/// # let record = Record::new(customer, Stage::Invited(Invited));
/// use tenant_access::model::Version;
///
/// let sealer = Sealer::new(Keyring::new(SealingKey::generate("k1").unwrap()));
/// let document = serde_json::to_string(&codec::encode(&record, &sealer).unwrap()).unwrap();
/// // ... stored under the customer id with its version, read back later:
/// let row: EncodedRecord = serde_json::from_str(&document).unwrap();
/// let back = codec::decode(&row.customer_id, Version(3), &row.body, &row.secrets, &sealer).unwrap();
/// assert_eq!((back.customer.id, back.version), (record.customer.id, Version(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncodedRecord {
    /// The customer id (primary key; sort and page on it, byte-wise).
    pub customer_id: String,
    /// The stage name ([`StageKind::as_str`]).
    pub stage: &'static str,
    /// The method name ([`Method::as_str`]).
    pub method: &'static str,
    /// The last verification's status ([`VerificationStatus::as_str`]).
    pub verification_status: Option<&'static str>,
    /// When the customer was last verified ([`timestamp`]).
    pub last_verified_at: Option<i64>,
    /// When the access token expires ([`timestamp`]).
    pub token_expires_at: Option<i64>,
    /// The live invitation code's SHA-256 (32 bytes).
    #[serde(serialize_with = "base64_bytes::option::serialize")]
    pub invitation_hash: Option<Vec<u8>>,
    /// The SHA-256 of the live invitation code of the method switch under way.
    #[serde(serialize_with = "base64_bytes::option::serialize")]
    pub switch_invitation_hash: Option<Vec<u8>>,
    /// The customer's attention reasons, `,reason,reason,` (`None` when there is none): so a
    /// store can select customers that need attention.
    pub attention: Option<String>,
    /// The non-secret facts, JSON.
    pub body: String,
    /// The secrets, sealed.
    #[serde(serialize_with = "base64_bytes::serialize")]
    pub secrets: Vec<u8>,
    /// The id of the key that sealed `secrets` (`None` in plaintext test mode).
    pub key_id: Option<String>,
}

/// [`EncodedRecord`] as it is read: owned names, checked against the names the codec writes.
#[derive(Deserialize)]
struct EncodedRecordDocument {
    customer_id: String,
    stage: String,
    method: String,
    #[serde(default)]
    verification_status: Option<String>,
    #[serde(default)]
    last_verified_at: Option<i64>,
    #[serde(default)]
    token_expires_at: Option<i64>,
    #[serde(default, deserialize_with = "base64_bytes::option::deserialize")]
    invitation_hash: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "base64_bytes::option::deserialize")]
    switch_invitation_hash: Option<Vec<u8>>,
    #[serde(default)]
    attention: Option<String>,
    body: String,
    #[serde(deserialize_with = "base64_bytes::deserialize")]
    secrets: Vec<u8>,
    #[serde(default)]
    key_id: Option<String>,
}

impl<'de> Deserialize<'de> for EncodedRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let d = EncodedRecordDocument::deserialize(deserializer)?;
        let unknown = |what: &str, name: &str| D::Error::custom(format!("unknown {what} {name:?}"));
        Ok(EncodedRecord {
            stage: StageKind::parse(&d.stage)
                .ok_or_else(|| unknown("stage", &d.stage))?
                .as_str(),
            method: Method::parse(&d.method)
                .ok_or_else(|| unknown("method", &d.method))?
                .as_str(),
            verification_status: d
                .verification_status
                .map(|name| {
                    parse_status(&name)
                        .map(VerificationStatus::as_str)
                        .ok_or_else(|| unknown("verification status", &name))
                })
                .transpose()?,
            customer_id: d.customer_id,
            last_verified_at: d.last_verified_at,
            token_expires_at: d.token_expires_at,
            invitation_hash: d.invitation_hash,
            switch_invitation_hash: d.switch_invitation_hash,
            attention: d.attention,
            body: d.body,
            secrets: d.secrets,
            key_id: d.key_id,
        })
    }
}

/// Bytes as standard base64 text.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
    }

    pub(super) mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub(in super::super) fn serialize<S: Serializer>(
            bytes: &Option<Vec<u8>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(bytes) => super::serialize(bytes, s),
                None => s.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Vec<u8>>, D::Error> {
            #[derive(Deserialize)]
            struct Bytes(#[serde(deserialize_with = "super::deserialize")] Vec<u8>);
            Ok(Option::<Bytes>::deserialize(d)?.map(|b| b.0))
        }
    }
}

/// An audit event laid out for a row.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    /// The customer id.
    pub customer_id: String,
    /// The stage before, by name.
    pub from_stage: Option<&'static str>,
    /// The stage after, by name.
    pub to_stage: &'static str,
    /// When ([`timestamp`]).
    pub at: i64,
    /// Who ([`Actor`]'s text form).
    pub actor: String,
    /// The note.
    pub note: Option<String>,
}

/// A moment as Unix nanoseconds (fits years 1678 to 2261).
pub fn timestamp(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Corrupt("a time outside the years 1678-2261".into()))
}

/// The inverse of [`timestamp`], in UTC.
pub fn from_timestamp(nanos: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|_| StoreError::Corrupt("timestamp out of range".into()))
}

/// The associated data secrets are sealed with: binds them to one customer and to the exact
/// body stored beside them, so neither can be swapped or edited without the secrets failing
/// to open ([`SealError::Tampered`](crate::error::SealError::Tampered)).
pub fn associated_data(customer_id: &str, body: &str) -> Vec<u8> {
    let mut aad = b"tenant-access/record/v1\0".to_vec();
    aad.extend_from_slice(customer_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&Sha256::digest(body.as_bytes()));
    aad
}

/// Lays out `record` for a row, sealing its secrets. `record.version` is not part of the
/// output: the store writes its own version column.
pub fn encode(record: &Record, sealer: &Sealer) -> Result<EncodedRecord, StoreError> {
    let c = &record.customer;
    let mut secrets = SecretsV1::default();
    let switch = record
        .switch
        .as_deref()
        .map(|switch| -> Result<SwitchV1, StoreError> {
            let mut switch_secrets = SecretsV1::default();
            let encoded = SwitchV1 {
                journey: switch.journey.as_str().to_owned(),
                version: switch.version.0,
                facts: encode_facts(&switch.customer, &mut switch_secrets),
                stage: encode_stage(&switch.stage, &mut switch_secrets)?,
            };
            secrets.switch = Some(Box::new(switch_secrets));
            Ok(encoded)
        })
        .transpose()?;
    let body = BodyV1 {
        format: BODY_FORMAT,
        facts: encode_facts(c, &mut secrets),
        stage: encode_stage(&record.stage, &mut secrets)?,
        switch,
    };
    let body = serde_json::to_string(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let plain = Zeroizing::new(
        serde_json::to_vec(&secrets).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    );
    let sealed = sealer.seal(&plain, &associated_data(c.id.as_str(), &body))?;
    Ok(EncodedRecord {
        customer_id: c.id.as_str().to_owned(),
        stage: record.stage.kind().as_str(),
        method: c.method.as_str(),
        verification_status: c.last_verification.as_ref().map(|v| v.status.as_str()),
        last_verified_at: c
            .last_verification
            .as_ref()
            .map(|v| timestamp(v.at))
            .transpose()?,
        token_expires_at: c
            .token
            .as_ref()
            .map(|t| timestamp(t.expires_at))
            .transpose()?,
        invitation_hash: record.invitation_hash().map(|h| h.0.to_vec()),
        switch_invitation_hash: record.switch_invitation_hash().map(|h| h.0.to_vec()),
        attention: c.health.attention_index(),
        body,
        secrets: sealed,
        key_id: sealer.current_key_id().map(str::to_owned),
    })
}

/// Rebuilds a record from a row: `customer_id` and `version` from their columns (a SQL
/// column's `i64` through [`version_from_column`]), `body` and the sealed `secrets` as
/// [`encode`] wrote them.
pub fn decode(
    customer_id: &str,
    version: Version,
    body_text: &str,
    secrets: &[u8],
    sealer: &Sealer,
) -> Result<Record, StoreError> {
    let body = body_text;
    let body: BodyV1 = serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?;
    if body.format != BODY_FORMAT {
        return Err(corrupt(format!("unknown body format {}", body.format)));
    }
    if body.facts.id != customer_id {
        return Err(corrupt("the body belongs to another customer".into()));
    }
    let plain = sealer.open(secrets, &associated_data(customer_id, body_text))?;
    let mut secrets: SecretsV1 = serde_json::from_slice(&plain)
        .map_err(|_| corrupt("sealed secrets are not valid".into()))?;
    let customer = decode_facts(body.facts, &mut secrets)?;
    let record_id = customer.id.clone();
    let stage = decode_stage(body.stage, &mut secrets)?;
    let switch = body
        .switch
        .map(|switch| -> Result<Box<PendingSwitch>, StoreError> {
            let mut switch_secrets = secrets.switch.take().map(|s| *s).unwrap_or_default();
            let customer = decode_facts(switch.facts, &mut switch_secrets)?;
            if customer.id != record_id {
                return Err(corrupt("the switch belongs to another customer".into()));
            }
            Ok(Box::new(PendingSwitch {
                journey: JourneyId::parse(&switch.journey)
                    .ok_or_else(|| corrupt("bad switch journey id".into()))?,
                version: Version(switch.version),
                customer,
                stage: decode_stage(switch.stage, &mut switch_secrets)?,
            }))
        })
        .transpose()?;
    Ok(Record {
        customer,
        stage,
        version,
        switch,
    })
}

/// A version read from a signed 64-bit column (SQL has no unsigned integers): a negative
/// one is [`StoreError::Corrupt`].
pub fn version_from_column(version: i64) -> Result<Version, StoreError> {
    u64::try_from(version)
        .map(Version)
        .map_err(|_| corrupt("negative version".into()))
}

/// Lays out an audit event for a row.
pub fn encode_event(event: &AuditEvent) -> Result<EncodedEvent, StoreError> {
    Ok(EncodedEvent {
        customer_id: event.customer.as_str().to_owned(),
        from_stage: event.from.map(StageKind::as_str),
        to_stage: event.to.as_str(),
        at: timestamp(event.at)?,
        actor: event.actor.to_string(),
        note: event.note.clone(),
    })
}

/// Rebuilds an audit event from its columns.
pub fn decode_event(
    customer_id: &str,
    from_stage: Option<&str>,
    to_stage: &str,
    at: i64,
    actor: &str,
    note: Option<String>,
) -> Result<AuditEvent, StoreError> {
    let stage = |s: &str| StageKind::parse(s).ok_or_else(|| corrupt(format!("unknown stage {s}")));
    Ok(AuditEvent {
        customer: CustomerId::new(customer_id).map_err(|e| corrupt(e.to_string()))?,
        from: from_stage.map(stage).transpose()?,
        to: stage(to_stage)?,
        at: from_timestamp(at)?,
        actor: Actor::parse(actor).ok_or_else(|| corrupt("unknown actor".into()))?,
        note,
    })
}

/// Parses [`VerificationStatus::as_str`]'s names.
pub fn parse_status(name: &str) -> Option<VerificationStatus> {
    [
        VerificationStatus::Ok,
        VerificationStatus::Transient,
        VerificationStatus::Failed,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
}

fn corrupt(msg: String) -> StoreError {
    StoreError::Corrupt(msg)
}

/// The non-secret facts of `c`, its secrets moved into `secrets`.
fn encode_facts(c: &Customer, secrets: &mut SecretsV1) -> FactsV1 {
    FactsV1 {
        id: c.id.as_str().to_owned(),
        tenant: c.tenant.as_str().to_owned(),
        tenant_discovery: c.tenant.discovered().map(|d| DiscoveryV1 {
            id: d.id.clone(),
            cloud_instance_name: d.cloud_instance_name.clone(),
            msgraph_host: d.msgraph_host.clone(),
            tenant_region_scope: d.tenant_region_scope.clone(),
        }),
        tenant_cloud: c
            .tenant
            .chosen_cloud()
            .map(|cloud| cloud.as_str().to_owned()),
        admin_email: c.admin_email.as_str().to_owned(),
        method: c.method.as_str().to_owned(),
        created_at: Ts(c.created_at),
        updated_at: Ts(c.updated_at),
        invitation: c.invitation.as_ref().map(|i| InvitationV1 {
            code_hash: i.code_hash.map(|h| h.to_hex()),
            issued_at: Ts(i.issued_at),
            expires_at: Ts(i.expires_at),
            delivery: i.delivery.as_ref().map(|d| DeliveryV1 {
                message_id: d.message_id.0.clone(),
                sent_at: Ts(d.sent_at),
            }),
            opened_at: i.opened_at.map(Ts),
            codes_issued: i.codes_issued,
        }),
        credentials: c.credentials.as_ref().map(|cred| match cred {
            Credentials::Password { username, password } => {
                secrets.password = Some(password.expose_secret().to_owned());
                CredentialsV1::Password {
                    username: username.clone(),
                }
            }
            Credentials::AppRegistration {
                client_id,
                credential,
            } => {
                let mut expires_at = None;
                match credential {
                    AppCredential::Secret {
                        secret,
                        expires_at: end,
                    } => {
                        secrets.client_secret = Some(secret.expose_secret().to_owned());
                        expires_at = end.map(Ts);
                    }
                    AppCredential::Certificate(certificate) => {
                        secrets.client_certificate = Some(certificate.certificate_pem());
                        secrets.client_key = Some(certificate.expose_private_key_pem().to_string());
                    }
                }
                CredentialsV1::AppRegistration {
                    client_id: client_id.clone(),
                    secret_expires_at: expires_at,
                }
            }
        }),
        token: c.token.as_ref().map(|t| {
            secrets.access_token = Some(t.access_token.expose_secret().to_owned());
            secrets.refresh_token = t
                .refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned());
            TokenV1 {
                expires_at: Ts(t.expires_at),
                obtained_at: Ts(t.obtained_at),
                scope: t.scope.clone(),
            }
        }),
        tenant_info: c.tenant_info.as_ref().map(|t| TenantInfoV1 {
            id: t.id.clone(),
            display_name: t.display_name.clone(),
            domains: t.domains.clone(),
        }),
        device_authenticated_at: c.device_authenticated_at.map(Ts),
        last_verification: c.last_verification.as_ref().map(|v| VerificationV1 {
            at: Ts(v.at),
            status: v.status.as_str().to_owned(),
        }),
        last_error: c.last_error.clone(),
        refresh_lease: c.refresh_lease.as_ref().map(|l| LeaseV1 {
            holder: l.holder.clone(),
            until: Ts(l.until),
        }),
        app_credential_expiry: c.app_credential_expiry.as_ref().map(|e| ExpiryV1 {
            kind: e.kind.to_owned(),
            name: e.name.clone(),
            expires_at: Ts(e.expires_at),
        }),
        health: c.health.clone(),
    }
}

/// The customer `f` describes, its secrets taken from `secrets`.
fn decode_facts(f: FactsV1, secrets: &mut SecretsV1) -> Result<Customer, StoreError> {
    let input = |e: crate::error::InputError| corrupt(e.to_string());
    let customer = Customer {
        id: CustomerId::new(f.id).map_err(input)?,
        tenant: decode_tenant(f.tenant, f.tenant_discovery, f.tenant_cloud.as_deref())?,
        admin_email: EmailAddress::new(f.admin_email).map_err(input)?,
        method: Method::parse(&f.method).ok_or_else(|| corrupt("unknown method".into()))?,
        created_at: f.created_at.0,
        updated_at: f.updated_at.0,
        invitation: f
            .invitation
            .map(|i| -> Result<Invitation, StoreError> {
                Ok(Invitation {
                    code_hash: i
                        .code_hash
                        .map(|h| {
                            CodeHash::from_hex(&h).ok_or_else(|| corrupt("bad code hash".into()))
                        })
                        .transpose()?,
                    issued_at: i.issued_at.0,
                    expires_at: i.expires_at.0,
                    delivery: i.delivery.map(|d| Delivery {
                        message_id: MessageId(d.message_id),
                        sent_at: d.sent_at.0,
                    }),
                    opened_at: i.opened_at.map(|t| t.0),
                    codes_issued: i.codes_issued,
                })
            })
            .transpose()?,
        credentials: f
            .credentials
            .map(|c| -> Result<Credentials, StoreError> {
                Ok(match c {
                    CredentialsV1::Password { username } => Credentials::Password {
                        username,
                        password: Password::new(
                            secrets
                                .password
                                .take()
                                .ok_or_else(|| corrupt("the password is missing".into()))?,
                        ),
                    },
                    CredentialsV1::AppRegistration {
                        client_id,
                        secret_expires_at,
                    } => Credentials::AppRegistration {
                        client_id,
                        credential: decode_app_credential(secrets, secret_expires_at)?,
                    },
                })
            })
            .transpose()?,
        token: f
            .token
            .map(|t| -> Result<TokenSet, StoreError> {
                Ok(TokenSet {
                    access_token: AccessToken::new(
                        secrets
                            .access_token
                            .take()
                            .ok_or_else(|| corrupt("the access token is missing".into()))?,
                    ),
                    refresh_token: secrets.refresh_token.take().map(RefreshToken::new),
                    expires_at: t.expires_at.0,
                    obtained_at: t.obtained_at.0,
                    scope: t.scope,
                })
            })
            .transpose()?,
        tenant_info: f.tenant_info.map(|t| TenantInfo {
            id: t.id,
            display_name: t.display_name,
            domains: t.domains,
        }),
        device_authenticated_at: f.device_authenticated_at.map(|t| t.0),
        last_verification: f
            .last_verification
            .map(|v| -> Result<Verification, StoreError> {
                Ok(Verification {
                    at: v.at.0,
                    status: parse_status(&v.status)
                        .ok_or_else(|| corrupt("unknown verification status".into()))?,
                })
            })
            .transpose()?,
        last_error: f.last_error,
        refresh_lease: f.refresh_lease.map(|l| RefreshLease {
            holder: l.holder,
            until: l.until.0,
        }),
        app_credential_expiry: f.app_credential_expiry.map(|e| CredentialExpiry {
            kind: if e.kind == "certificate" {
                "certificate"
            } else {
                "client secret"
            },
            name: e.name,
            expires_at: e.expires_at.0,
        }),
        health: f.health,
    };
    Ok(customer)
}

/// The tenant as invited, with what discovery found when the body has it (bodies written
/// before tenant discovery have not: the tenant stays as given).
fn decode_tenant(
    tenant: String,
    discovery: Option<DiscoveryV1>,
    cloud: Option<&str>,
) -> Result<TenantId, StoreError> {
    let input = |e: crate::error::InputError| corrupt(e.to_string());
    let mut tenant = TenantId::new(tenant).map_err(input)?;
    // The MSP's chosen cloud first, so a body whose discovery contradicts it is refused
    // as it was when the customer was created.
    if let Some(name) = cloud {
        let cloud = Cloud::parse(name).ok_or_else(|| corrupt(format!("unknown cloud {name:?}")))?;
        tenant = tenant.with_cloud(cloud).map_err(input)?;
    }
    let Some(d) = discovery else {
        return Ok(tenant);
    };
    let mut found = DiscoveredTenant::new(d.id).map_err(input)?;
    found.cloud_instance_name = d.cloud_instance_name;
    found.msgraph_host = d.msgraph_host;
    found.tenant_region_scope = d.tenant_region_scope;
    tenant.with_discovery(found).map_err(input)
}

fn encode_stage(stage: &Stage, secrets: &mut SecretsV1) -> Result<StageV1, StoreError> {
    Ok(match stage {
        Stage::Invited(_) => StageV1::Invited,
        Stage::InvitationSent(_) => StageV1::InvitationSent,
        Stage::Claimed(_) => StageV1::Claimed,
        Stage::DeviceCodeIssued(d) => {
            secrets.device_code = Some(d.device_code.expose_secret().to_owned());
            StageV1::DeviceCodeIssued {
                user_code: d.user_code.clone(),
                verification_uri: d.verification_uri.to_string(),
                verification_uri_complete: d.verification_uri_complete.as_ref().map(Url::to_string),
                message: d.message.clone(),
                issued_at: Ts(d.issued_at),
                expires_at: Ts(d.expires_at),
                interval_ns: i64::try_from(d.interval.as_nanos())
                    .map_err(|_| corrupt("poll interval out of range".into()))?,
                next_poll_at: Ts(d.next_poll_at),
            }
        }
        Stage::BrowserSignIn(b) => {
            secrets.sign_in_state = Some(b.state.expose_secret().to_owned());
            secrets.pkce_verifier = Some(b.verifier.expose_secret().to_owned());
            // The URL carries the state in its query: sealed with the other secrets.
            secrets.authorize_url = Some(b.authorize_url.to_string());
            StageV1::BrowserSignIn {
                redirect_uri: b.redirect_uri.to_string(),
                started_at: Ts(b.started_at),
                expires_at: Ts(b.expires_at),
            }
        }
        Stage::ApprovalRequested(a) => StageV1::ApprovalRequested {
            requested_at: Ts(a.requested_at),
        },
        Stage::ConsentRequired(c) => {
            secrets.consent_state = Some(c.state.expose_secret().to_owned());
            // The URL carries the state in its query: sealed with the other secrets, never
            // in the plain body.
            secrets.consent_url = Some(c.admin_consent_url.to_string());
            StageV1::ConsentRequired {
                admin_consent_url: None,
                requested_at: Ts(c.requested_at),
            }
        }
        Stage::TokenAcquired(_) => StageV1::TokenAcquired,
        Stage::Validated(v) => StageV1::Validated {
            validated_at: Ts(v.validated_at),
        },
        Stage::ReauthRequired(r) => StageV1::ReauthRequired {
            since: Ts(r.since),
            reason: r.reason.clone(),
        },
        Stage::Revoked(r) => StageV1::Revoked {
            revoked_at: Ts(r.revoked_at),
        },
        Stage::Expired(e) => StageV1::Expired {
            expired_at: Ts(e.expired_at),
        },
    })
}

fn decode_stage(stage: StageV1, secrets: &mut SecretsV1) -> Result<Stage, StoreError> {
    let url = |s: String| Url::parse(&s).map_err(|_| corrupt("bad URL".into()));
    Ok(match stage {
        StageV1::Invited => Stage::Invited(Invited),
        StageV1::InvitationSent => Stage::InvitationSent(InvitationSent),
        StageV1::Claimed => Stage::Claimed(Claimed),
        StageV1::DeviceCodeIssued {
            user_code,
            verification_uri,
            verification_uri_complete,
            message,
            issued_at,
            expires_at,
            interval_ns,
            next_poll_at,
        } => Stage::DeviceCodeIssued(DeviceCodeIssued {
            device_code: DeviceCode::new(
                secrets
                    .device_code
                    .take()
                    .ok_or_else(|| corrupt("the device code is missing".into()))?,
            ),
            user_code,
            verification_uri: url(verification_uri)?,
            verification_uri_complete: verification_uri_complete.map(url).transpose()?,
            message,
            issued_at: issued_at.0,
            expires_at: expires_at.0,
            interval: std::time::Duration::from_nanos(
                u64::try_from(interval_ns).map_err(|_| corrupt("negative poll interval".into()))?,
            ),
            next_poll_at: next_poll_at.0,
        }),
        StageV1::BrowserSignIn {
            redirect_uri,
            started_at,
            expires_at,
        } => {
            let secret = |field: &mut Option<String>, what: &str| {
                field
                    .take()
                    .ok_or_else(|| corrupt(format!("the browser sign-in's {what} is missing")))
            };
            Stage::BrowserSignIn(BrowserSignIn {
                authorize_url: url(secret(&mut secrets.authorize_url, "URL")?)?,
                state: SignInState::new(secret(&mut secrets.sign_in_state, "state")?),
                verifier: PkceVerifier::new(secret(&mut secrets.pkce_verifier, "verifier")?),
                redirect_uri: url(redirect_uri)?,
                started_at: started_at.0,
                expires_at: expires_at.0,
            })
        }
        StageV1::ApprovalRequested { requested_at } => {
            Stage::ApprovalRequested(ApprovalRequested {
                requested_at: requested_at.0,
            })
        }
        StageV1::ConsentRequired {
            admin_consent_url,
            requested_at,
        } => Stage::ConsentRequired(ConsentRequired {
            // Records written before the URL was sealed kept it in the body.
            admin_consent_url: url(secrets
                .consent_url
                .take()
                .or(admin_consent_url)
                .ok_or_else(|| corrupt("the admin-consent URL is missing".into()))?)?,
            state: ConsentState::new(
                secrets
                    .consent_state
                    .take()
                    .ok_or_else(|| corrupt("the consent state is missing".into()))?,
            ),
            requested_at: requested_at.0,
        }),
        StageV1::TokenAcquired => Stage::TokenAcquired(TokenAcquired),
        StageV1::Validated { validated_at } => Stage::Validated(Validated {
            validated_at: validated_at.0,
        }),
        StageV1::ReauthRequired { since, reason } => Stage::ReauthRequired(ReauthRequired {
            since: since.0,
            reason,
        }),
        StageV1::Revoked { revoked_at } => Stage::Revoked(Revoked {
            revoked_at: revoked_at.0,
        }),
        StageV1::Expired { expired_at } => Stage::Expired(Expired {
            expired_at: expired_at.0,
        }),
    })
}

/// An app registration's credential from the sealed secrets: a certificate when one is
/// there, else the client secret.
fn decode_app_credential(
    secrets: &mut SecretsV1,
    secret_expires_at: Option<Ts>,
) -> Result<AppCredential, StoreError> {
    if let Some(certificate) = secrets.client_certificate.take() {
        let key = zeroize::Zeroizing::new(
            secrets
                .client_key
                .take()
                .ok_or_else(|| corrupt("the certificate's key is missing".into()))?,
        );
        let certificate = ClientCertificate::from_pem(&certificate, &key)
            .map_err(|e| corrupt(format!("the stored certificate: {e}")))?;
        return Ok(AppCredential::Certificate(certificate));
    }
    let secret = ClientSecret::new(
        secrets
            .client_secret
            .take()
            .ok_or_else(|| corrupt("the client secret is missing".into()))?,
    );
    Ok(AppCredential::Secret {
        secret,
        expires_at: secret_expires_at.map(|t| t.0),
    })
}

/// A moment in RFC 3339, UTC.
#[derive(Debug, Clone, Copy)]
struct Ts(OffsetDateTime);

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self
            .0
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(|t| Ts(t.to_offset(UtcOffset::UTC)))
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
struct BodyV1 {
    format: u32,
    #[serde(flatten)]
    facts: FactsV1,
    stage: StageV1,
    /// Absent in bodies without a method switch under way (and in all written before
    /// switches moved into the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    switch: Option<SwitchV1>,
}

/// A method switch under way: its journey's facts and stage.
#[derive(Serialize, Deserialize)]
struct SwitchV1 {
    journey: String,
    version: u64,
    #[serde(flatten)]
    facts: FactsV1,
    stage: StageV1,
}

/// What is known about a customer (or about a switch journey's new method).
#[derive(Serialize, Deserialize)]
struct FactsV1 {
    id: String,
    tenant: String,
    /// What tenant discovery found; absent in bodies written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant_discovery: Option<DiscoveryV1>,
    /// The cloud the MSP chose for the tenant ([`Cloud::as_str`]); absent when none was
    /// chosen, and in bodies written before clouds existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant_cloud: Option<String>,
    admin_email: String,
    method: String,
    created_at: Ts,
    updated_at: Ts,
    invitation: Option<InvitationV1>,
    credentials: Option<CredentialsV1>,
    token: Option<TokenV1>,
    tenant_info: Option<TenantInfoV1>,
    device_authenticated_at: Option<Ts>,
    last_verification: Option<VerificationV1>,
    last_error: Option<String>,
    /// Absent in bodies written before leases existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_lease: Option<LeaseV1>,
    /// Absent in bodies written before credential expiry was tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_credential_expiry: Option<ExpiryV1>,
    /// Attention reasons and failures; absent when there are none (and in bodies written
    /// before health was tracked).
    #[serde(default, skip_serializing_if = "Health::is_empty")]
    health: Health,
}

/// A [`CredentialExpiry`].
#[derive(Serialize, Deserialize)]
struct ExpiryV1 {
    kind: String,
    name: String,
    expires_at: Ts,
}

/// A [`DiscoveredTenant`]: the tenant's GUID and cloud.
#[derive(Serialize, Deserialize)]
struct DiscoveryV1 {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cloud_instance_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msgraph_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant_region_scope: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct LeaseV1 {
    holder: String,
    until: Ts,
}

#[derive(Serialize, Deserialize)]
struct InvitationV1 {
    code_hash: Option<String>,
    issued_at: Ts,
    expires_at: Ts,
    delivery: Option<DeliveryV1>,
    opened_at: Option<Ts>,
    codes_issued: u32,
}

#[derive(Serialize, Deserialize)]
struct DeliveryV1 {
    message_id: String,
    sent_at: Ts,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum CredentialsV1 {
    Password {
        username: String,
    },
    AppRegistration {
        client_id: String,
        /// A client secret's end date, when the MSP gave it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_expires_at: Option<Ts>,
    },
}

#[derive(Serialize, Deserialize)]
struct TokenV1 {
    expires_at: Ts,
    obtained_at: Ts,
    scope: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TenantInfoV1 {
    id: String,
    display_name: String,
    domains: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct VerificationV1 {
    at: Ts,
    status: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StageV1 {
    Invited,
    InvitationSent,
    Claimed,
    DeviceCodeIssued {
        user_code: String,
        verification_uri: String,
        /// Absent in records written before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verification_uri_complete: Option<String>,
        message: Option<String>,
        issued_at: Ts,
        expires_at: Ts,
        interval_ns: i64,
        next_poll_at: Ts,
    },
    BrowserSignIn {
        redirect_uri: String,
        started_at: Ts,
        expires_at: Ts,
    },
    ApprovalRequested {
        requested_at: Ts,
    },
    ConsentRequired {
        /// Only in records written before the URL (which embeds the consent state) moved to
        /// the sealed secrets.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin_consent_url: Option<String>,
        requested_at: Ts,
    },
    TokenAcquired,
    Validated {
        validated_at: Ts,
    },
    ReauthRequired {
        since: Ts,
        reason: String,
    },
    Revoked {
        revoked_at: Ts,
    },
    Expired {
        expired_at: Ts,
    },
}

/// The secrets of one record, zeroed when dropped.
#[derive(Serialize, Deserialize, Default)]
struct SecretsV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consent_state: Option<String>,
    /// The admin-consent URL, whose query carries the consent state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consent_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sign_in_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkce_verifier: Option<String>,
    /// The browser sign-in's authorization URL, whose query carries the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorize_url: Option<String>,
    /// An app registration's certificate (PEM; public, kept with its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_certificate: Option<String>,
    /// An app registration's certificate key (PKCS#8 PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_key: Option<String>,
    /// The secrets of the method switch under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    switch: Option<Box<SecretsV1>>,
}

impl Drop for SecretsV1 {
    fn drop(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
        self.password.zeroize();
        self.client_secret.zeroize();
        self.device_code.zeroize();
        self.consent_state.zeroize();
        self.consent_url.zeroize();
        self.sign_in_state.zeroize();
        self.pkce_verifier.zeroize();
        self.authorize_url.zeroize();
        self.client_certificate.zeroize();
        self.client_key.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{Keyring, SealingKey};
    use crate::testing::testdata;

    #[test]
    fn every_stage_round_trips_and_body_has_no_secret() {
        let sealer = Sealer::new(Keyring::new(SealingKey::new("k", [3; 32]).unwrap()));
        for kind in StageKind::ALL {
            let record = testdata::record("c-1", kind, 0);
            let row = encode(&record, &sealer).unwrap();
            assert_eq!(row.stage, kind.as_str());
            for secret in testdata::secrets_of(&record) {
                assert!(!row.body.contains(&secret), "{kind}: body holds a secret");
                assert!(
                    !row.secrets
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()),
                    "{kind}: secrets not sealed"
                );
            }
            let back = decode(
                &row.customer_id,
                Version(7),
                &row.body,
                &row.secrets,
                &sealer,
            )
            .unwrap();
            assert_eq!(back.version, Version(7));
            assert_eq!(testdata::fingerprint(&back), testdata::fingerprint(&record));
        }
    }

    #[test]
    fn an_encoded_record_round_trips_through_serde_json() {
        let sealer = Sealer::new(Keyring::new(SealingKey::new("k", [3; 32]).unwrap()));
        let mut statuses = 0;
        let mut hashes = 0;
        for kind in StageKind::ALL {
            let record = testdata::record("c-1", kind, 0);
            let row = encode(&record, &sealer).unwrap();
            statuses += usize::from(row.verification_status.is_some());
            hashes += usize::from(row.invitation_hash.is_some());
            let json = serde_json::to_string(&row).unwrap();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["stage"], kind.as_str());
            assert!(
                value["secrets"].is_string(),
                "sealed secrets as base64 text"
            );
            let back: EncodedRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(back, row, "{kind}");
            let record_back = decode(
                &back.customer_id,
                Version(2),
                &back.body,
                &back.secrets,
                &sealer,
            )
            .unwrap();
            assert_eq!(
                testdata::fingerprint(&record_back),
                testdata::fingerprint(&record)
            );
        }
        assert!(
            statuses > 0 && hashes > 0,
            "the optional columns were exercised"
        );
    }

    #[test]
    fn an_encoded_record_with_an_unknown_name_or_bad_base64_does_not_deserialize() {
        let sealer = Sealer::insecure_plaintext_for_tests_only();
        let row = encode(&testdata::record("c", StageKind::Validated, 0), &sealer).unwrap();
        let good = serde_json::to_value(&row).unwrap();
        assert!(serde_json::from_value::<EncodedRecord>(good.clone()).is_ok());
        for (field, bad) in [
            ("stage", "nowhere"),
            ("method", "carrier_pigeon"),
            ("verification_status", "so-so"),
            ("secrets", "not base64!"),
        ] {
            let mut value = good.clone();
            value[field] = bad.into();
            assert!(
                serde_json::from_value::<EncodedRecord>(value).is_err(),
                "{field}: {bad}"
            );
        }
    }

    #[test]
    fn a_negative_version_column_is_corrupt() {
        assert_eq!(version_from_column(4).unwrap(), Version(4));
        assert!(matches!(
            version_from_column(-1),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn moved_or_damaged_rows_are_typed_errors() {
        let sealer = Sealer::new(Keyring::new(SealingKey::new("k", [3; 32]).unwrap()));
        let a = encode(&testdata::record("a", StageKind::Validated, 0), &sealer).unwrap();
        let b = encode(&testdata::record("b", StageKind::Validated, 0), &sealer).unwrap();
        // a's sealed secrets on b's row do not open.
        assert!(matches!(
            decode(&b.customer_id, Version(1), &b.body, &a.secrets, &sealer),
            Err(StoreError::Seal(crate::error::SealError::Tampered))
        ));
        // a's body under b's id is refused.
        assert!(matches!(
            decode(&b.customer_id, Version(1), &a.body, &b.secrets, &sealer),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            decode(&a.customer_id, Version(1), "{", &a.secrets, &sealer),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn damaged_bodies_and_blobs_never_panic_or_decode_to_garbage() {
        let sealer = Sealer::new(Keyring::new(SealingKey::new("k", [3; 32]).unwrap()));
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for kind in StageKind::ALL {
            let row = encode(&testdata::record("fz", kind, 1), &sealer).unwrap();
            for _ in 0..300 {
                let mut body = row.body.clone().into_bytes();
                let i = (next() as usize) % body.len();
                body[i] = (next() % 128) as u8;
                if let Ok(body) = String::from_utf8(body) {
                    // The body is bound to the sealed secrets: any edit is an error.
                    let decoded = decode("fz", Version(1), &body, &row.secrets, &sealer);
                    assert_eq!(decoded.is_ok(), body == row.body, "{body}");
                }
                let mut blob = row.secrets.clone();
                let i = (next() as usize) % blob.len();
                blob[i] ^= 1 + (next() % 255) as u8;
                assert!(decode("fz", Version(1), &row.body, &blob, &sealer).is_err());
            }
        }
    }

    #[test]
    fn a_chosen_cloud_round_trips_and_bodies_without_one_still_decode() {
        let sealer = Sealer::new(Keyring::new(SealingKey::new("k", [3; 32]).unwrap()));
        // Without a chosen cloud the body has no `tenant_cloud`: the shape every body written
        // before clouds existed has, and it decodes to the discovered (or public) cloud.
        let plain = testdata::record("old", StageKind::Validated, 1);
        let row = encode(&plain, &sealer).unwrap();
        assert!(!row.body.contains("tenant_cloud"), "{}", row.body);
        let back = decode(
            &row.customer_id,
            Version(1),
            &row.body,
            &row.secrets,
            &sealer,
        )
        .unwrap();
        assert_eq!(back.customer.tenant.chosen_cloud(), None);
        assert_eq!(back.customer.tenant, plain.customer.tenant);

        let mut gov = testdata::record("gov", StageKind::Validated, 0);
        gov.customer.tenant = gov.customer.tenant.with_cloud(Cloud::UsGovL5Dod).unwrap();
        let row = encode(&gov, &sealer).unwrap();
        assert!(
            row.body.contains(r#""tenant_cloud":"usgov-l5-dod""#),
            "{}",
            row.body
        );
        let back = decode(
            &row.customer_id,
            Version(1),
            &row.body,
            &row.secrets,
            &sealer,
        )
        .unwrap();
        assert_eq!(back.customer.tenant.cloud(), Cloud::UsGovL5Dod);
        assert_eq!(testdata::fingerprint(&back), testdata::fingerprint(&gov));
    }

    #[test]
    fn a_stored_cloud_that_is_unknown_or_contradicts_discovery_is_corrupt() {
        let gov_discovery = || DiscoveryV1 {
            id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            cloud_instance_name: Some("microsoftonline.us".into()),
            msgraph_host: Some("graph.microsoft.us".into()),
            tenant_region_scope: None,
        };
        let tenant = decode_tenant("c.us".into(), Some(gov_discovery()), Some("usgov-l4")).unwrap();
        assert_eq!(tenant.cloud(), Cloud::UsGovL4);
        let tenant = decode_tenant("c.us".into(), Some(gov_discovery()), None).unwrap();
        assert_eq!(
            (tenant.cloud(), tenant.chosen_cloud()),
            (Cloud::UsGovL4, None)
        );
        for cloud in ["mars", "china"] {
            assert!(matches!(
                decode_tenant("c.us".into(), Some(gov_discovery()), Some(cloud)),
                Err(StoreError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn event_round_trip() {
        let e = AuditEvent {
            customer: CustomerId::new("c").unwrap(),
            from: Some(StageKind::Claimed),
            to: StageKind::DeviceCodeIssued,
            at: time::macros::datetime!(2026-01-02 03:04:05.123456789 UTC),
            actor: Actor::Operator("x".into()),
            note: Some("n".into()),
        };
        let r = encode_event(&e).unwrap();
        let back = decode_event(
            &r.customer_id,
            r.from_stage,
            r.to_stage,
            r.at,
            &r.actor,
            r.note.clone(),
        )
        .unwrap();
        assert_eq!(back, e);
    }
}
