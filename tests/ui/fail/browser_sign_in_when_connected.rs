// A validated connection does not sign in again through the invitation journey.
use tenant_access::journey::Validated;
use tenant_access::{Onboarding, TenantAccess};

async fn portal(ta: &TenantAccess, connected: Onboarding<Validated>) {
    let _ = connected.start_browser_sign_in(ta).await;
}

fn main() {}
