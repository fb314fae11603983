//! The record codec: `body \0 secrets` decoded under a plaintext and a keyring sealer; whatever
//! decodes must encode and decode back to the same row.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tenant_access::fuzzing::codec(data));
