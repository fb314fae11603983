// Validation needs a token: a customer still signing in has none.
use tenant_access::journey::DeviceCodeIssued;
use tenant_access::{Onboarding, TenantAccess};

async fn portal(ta: &TenantAccess, device: Onboarding<DeviceCodeIssued>) {
    let _ = device.validate(ta).await;
}

fn main() {}
