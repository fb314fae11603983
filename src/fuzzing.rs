//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default): thin
//! wrappers over the crate's parsers of untrusted input (the record codec, the providers'
//! response parsers, the web wizard's query, form and cookie parsing). Each takes bytes and
//! panics only on a bug. Not a stable API: hidden from the docs and not covered by semver.

use crate::model::Version;
use crate::seal::{Keyring, Sealer, SealingKey};
use crate::store::codec::{self, EncodedRecord};

/// The record codec under both sealers. `input` is `body \0 secrets`: the body text of a row
/// and its secrets blob (the customer id is the body's own `id` when it has one).
///
/// Decodes the row as given; then seals the secrets bytes as plaintext for the body (so the
/// keyring sealer's AEAD does not stop the fuzzer at the door) and decodes that. Whenever a
/// decode succeeds, the record is encoded and decoded again, and both encodings must be
/// equal: panics if not.
pub fn codec(input: &[u8]) {
    let (body, secrets) = match input.iter().position(|&b| b == 0) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &[][..]),
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let id = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "c".to_owned());
    let plain = Sealer::insecure_plaintext_for_tests_only();
    let keyring = Sealer::new(Keyring::new(
        SealingKey::new("fuzz", [7; 32]).expect("a valid key id"),
    ));
    for sealer in [&plain, &keyring] {
        if let Ok(record) = codec::decode(&id, Version(1), body, secrets, sealer) {
            round_trip(&record, sealer);
        }
        let Ok(sealed) = sealer.seal(secrets, &codec::associated_data(&id, body)) else {
            continue;
        };
        if let Ok(record) = codec::decode(&id, Version(1), body, &sealed, sealer) {
            round_trip(&record, sealer);
        }
    }
}

/// Encodes `record`, decodes that, encodes again: the two encodings must be equal.
fn round_trip(record: &crate::ports::Record, sealer: &Sealer) {
    let first = codec::encode(record, sealer).expect("a decoded record encodes");
    let again = codec::decode(
        &first.customer_id,
        record.version,
        &first.body,
        &first.secrets,
        sealer,
    )
    .expect("an encoded record decodes");
    assert_eq!(again.version, record.version);
    let second = codec::encode(&again, sealer).expect("a decoded record encodes");
    assert_eq!(columns(&first), columns(&second), "index columns differ");
    assert_eq!(first.body, second.body, "bodies differ");
    let aad = codec::associated_data(&first.customer_id, &first.body);
    let open = |row: &EncodedRecord| sealer.open(&row.secrets, &aad).expect("secrets open");
    assert!(*open(&first) == *open(&second), "secrets differ");
}

type Columns<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<i64>,
    Option<i64>,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Option<&'a str>,
);

fn columns(row: &EncodedRecord) -> Columns<'_> {
    (
        &row.customer_id,
        row.stage,
        row.method,
        row.verification_status,
        row.last_verified_at,
        row.token_expires_at,
        row.invitation_hash.as_deref(),
        row.switch_invitation_hash.as_deref(),
        row.key_id.as_deref(),
    )
}

/// The providers' response parsers: `input` is a two-byte big-endian HTTP status, then the
/// body. Runs every parser of an answer from Entra ID (token, device authorization, OAuth
/// error and its classification, OpenID discovery, Graph organization and error, the
/// token's tenant claim) and from an OIDC server (discovery metadata, error classification).
pub fn provider_response(input: &[u8]) {
    let (status, body) = match input {
        [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
        _ => (200, input),
    };
    crate::provider::entra::fuzz_responses(status, body);
    crate::provider::oidc::fuzz_responses(status, body);
}

/// The web wizard's untrusted input: `input` is parsed as an admin-consent callback query,
/// as the wizard's and admin pages' forms and queries (with the CSRF field), as a `Cookie`
/// header, and as a signed session cookie / CSRF token.
pub fn web_input(input: &[u8]) {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = crate::provider::ConsentCallback::from_query(text);
    }
    crate::web::fuzz_input(input);
}
