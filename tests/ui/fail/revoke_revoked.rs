// Revoked is terminal: it cannot be revoked again, nor resent.
use tenant_access::journey::Revoked;
use tenant_access::{Onboarding, TenantAccess};

async fn portal(ta: &TenantAccess, gone: Onboarding<Revoked>) {
    let _ = gone.resend(ta).await;
}

fn main() {}
