// A journey cannot be conjured in a stage: only the engine and the store make them.
use tenant_access::model::Customer;
use tenant_access::journey::Validated;
use tenant_access::{Onboarding, Version};

fn forge(customer: Customer, stage: Validated, version: Version) -> Onboarding<Validated> {
    Onboarding { customer, stage, version }
}

fn main() {}
