//! The web wizard's query, form and cookie parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tenant_access::fuzzing::web_input(data));
