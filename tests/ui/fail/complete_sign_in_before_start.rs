// Completing a browser sign-in needs one under way: a claimed invitation has none to complete.
use tenant_access::journey::Claimed;
use tenant_access::ports::SignInCallback;
use tenant_access::{Onboarding, TenantAccess};

async fn portal(ta: &TenantAccess, claimed: Onboarding<Claimed>, callback: SignInCallback) {
    let _ = claimed.complete(ta, &callback).await;
}

fn main() {}
