// Polling needs a device code: an invitation that was only sent has none.
use tenant_access::journey::InvitationSent;
use tenant_access::{Onboarding, TenantAccess};

async fn portal(ta: &TenantAccess, sent: Onboarding<InvitationSent>) {
    let _ = sent.poll(ta).await;
}

fn main() {}
