// The twins of the compile-fail cases: each step from its own stage compiles.
use tenant_access::journey::{DeviceCodeIssued, InvitationSent, TokenAcquired, Validated};
use tenant_access::{Onboarding, TenantAccess};

async fn portal(
    ta: &TenantAccess,
    sent: Onboarding<InvitationSent>,
    device: Onboarding<DeviceCodeIssued>,
    token: Onboarding<TokenAcquired>,
    connected: Onboarding<Validated>,
) {
    let _ = sent.claim(ta).await;
    let _ = device.poll(ta).await;
    let _ = token.validate(ta).await;
    let _ = connected.revoke(ta).await;
}

fn main() {}
