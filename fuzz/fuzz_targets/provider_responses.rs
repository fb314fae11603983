//! The providers' response parsers: a two-byte HTTP status, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tenant_access::fuzzing::provider_response(data));
