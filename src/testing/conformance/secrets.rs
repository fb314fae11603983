//! No secret appears in the store's raw contents, when the harness exposes them.

use super::Harness;
use super::support::{create, ensure, err};
use crate::journey::StageKind;
use crate::model::Version;
use crate::ports::Store;
use crate::testing::testdata::{self, MARKER};

/// `Ok(false)`: the harness has no raw access.
pub(super) async fn no_plaintext_secrets<H: Harness>(
    harness: &H,
    store: &H::Store,
) -> Result<bool, String> {
    let mut secrets = Vec::new();
    for (i, kind) in StageKind::ALL.into_iter().enumerate() {
        let id = format!("ns-{}", kind.as_str());
        let r = testdata::record(&id, kind, i as u64);
        secrets.extend(testdata::secrets_of(&r));
        create(store, &r).await?;
        let mut next = testdata::record(&id, kind, i as u64 + 50);
        next.version = Version(1);
        secrets.extend(testdata::secrets_of(&next));
        store
            .update(&next, None, &[])
            .await
            .map_err(err("update"))?;
    }
    let Some(raw) = harness.raw_contents(store).await else {
        return Ok(false);
    };
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    ensure!(
        contains(b"ns-validated"),
        "the raw contents do not even hold the customer ids: the raw hook reads nothing"
    );
    for s in &secrets {
        ensure!(
            !contains(s.as_bytes()),
            "a secret is stored in plaintext ({} bytes of raw storage searched)",
            raw.len()
        );
    }
    ensure!(
        !contains(MARKER.as_bytes()),
        "part of a secret is stored in plaintext"
    );
    Ok(true)
}
