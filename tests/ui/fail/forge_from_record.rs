// A stored record is a claim about the past: only the engine and the store turn one into a
// typed journey, so a record built by hand cannot become a validated stage.
use tenant_access::journey::{Stage, Validated};
use tenant_access::model::Customer;
use tenant_access::store::Record;
use tenant_access::{AnyOnboarding, Onboarding};

fn forge(customer: Customer, validated: Validated) -> Onboarding<Validated> {
    let record = Record::new(customer, Stage::Validated(validated));
    match AnyOnboarding::from_record(record) {
        AnyOnboarding::Validated(connected) => connected,
        _ => unreachable!(),
    }
}

fn main() {}
