// A validated customer's invitation cannot be claimed again.
use tenant_access::journey::Validated;
use tenant_access::{Onboarding, TenantAccess};

async fn portal(ta: &TenantAccess, connected: Onboarding<Validated>) {
    let _ = connected.claim(ta).await;
}

fn main() {}
