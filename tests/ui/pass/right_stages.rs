// The twins of the compile-fail cases: each step from its own stage compiles.
use tenant_access::journey::{
    BrowserSignIn, Claimed, DeviceCodeIssued, InvitationSent, TokenAcquired, Validated,
};
use tenant_access::ports::SignInCallback;
use tenant_access::{Onboarding, TenantAccess};

#[allow(clippy::too_many_arguments)]
async fn portal(
    ta: &TenantAccess,
    sent: Onboarding<InvitationSent>,
    claimed: Onboarding<Claimed>,
    browser: Onboarding<BrowserSignIn>,
    callback: SignInCallback,
    device: Onboarding<DeviceCodeIssued>,
    token: Onboarding<TokenAcquired>,
    connected: Onboarding<Validated>,
) {
    let _ = claimed.start_browser_sign_in(ta).await;
    let _ = browser.complete(ta, &callback).await;
    let _ = sent.claim(ta).await;
    let _ = device.poll(ta).await;
    let _ = token.validate(ta).await;
    let _ = connected.revoke(ta).await;
}

fn main() {}
