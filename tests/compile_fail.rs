//! The typestate at work: steps taken from the wrong stage do not compile.
//! The `.stderr` files pin the compiler's message; `pass/` holds the twins that compile.

#[test]
fn wrong_stage_transitions_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
