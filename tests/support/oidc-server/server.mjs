// A real, OpenID Certified authorization server (panva's oidc-provider) on 127.0.0.1, for
// tenant-access's `oidc` integration tests (tests/oidc_provider.rs).
//
//   node server.mjs <port>
//
// Issuer: http://127.0.0.1:<port>. Prints "ready <issuer>" on stdout once listening.
//
// Device flow, client credentials, refresh tokens, revocation, introspection and userinfo are
// enabled. The interactive sign-in page is replaced by a control endpoint the Rust test calls,
// so approving or denying a device code needs no browser:
//
//   POST /control/device/approve?user_code=XXXX   signs in as the test account and consents
//   POST /control/device/deny?user_code=XXXX      the customer declines (access_denied)
//   POST /control/interaction/finish?uid=U       completes the sign-in and consent of an
//                                                  authorization request (the consent step,
//                                                  a browser sign-in)
//   POST /control/interaction/abort?uid=U        the customer cancels that sign-in: the
//                                                  redirect carries error=access_denied
//   POST /control/slow-down?count=N               the next N device-code token requests answer
//                                                  `slow_down` (oidc-provider itself never sends
//                                                  it: its SlowDown error exists but no grant
//                                                  handler throws it)
//
// Everything else is oidc-provider's own code: discovery, the token endpoint and its errors
// (authorization_pending, access_denied, expired_token, invalid_grant), revocation,
// introspection and userinfo, and client authentication, `private_key_jwt` (RFC 7523)
// included: the `portal-jwt` client's key is the public half of
// tests/fixtures/certificates/rsa-b.key.pem.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const ACCOUNT = 'alice';
const TENANT = 'fabrikam.example';

const portalGrants = [DEVICE, 'refresh_token', 'authorization_code'];

// The public key of the test key rsa-b as a JWK (createPublicKey derives it from the private
// key's PEM). Our assertions carry `x5t#S256` and no `kid`: oidc-provider then tries every
// key of the client's jwks whose kty, alg and use fit (lib/helpers/keystore.js), so none is
// needed here.
const rsaB = crypto
  .createPublicKey(fs.readFileSync(new URL('../../fixtures/certificates/rsa-b.key.pem', import.meta.url)))
  .export({ format: 'jwk' });
const clients = [
  // The MSP portal as a confidential client, each auth method.
  {
    client_id: 'portal-basic',
    client_secret: 'basic-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: portalGrants,
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
  {
    client_id: 'portal-post',
    client_secret: 'post-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: portalGrants,
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
  // The MSP portal authenticating with a certificate's key (`private_key_jwt`): every
  // request carries a fresh assertion signed with rsa-b (PS256). Client credentials too, so
  // it can stand for a customer's app registration with a certificate.
  {
    client_id: 'portal-jwt',
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: [...portalGrants, 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
    jwks: { keys: [{ ...rsaB, alg: 'PS256', use: 'sig' }] },
  },
  // A public client (no secret): browser sign-in with PKCE alone, and the device flow.
  {
    client_id: 'portal-public',
    token_endpoint_auth_method: 'none',
    grant_types: portalGrants,
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
  // A public client whose device codes live one second (the expiry test).
  {
    client_id: 'portal-shortlived',
    token_endpoint_auth_method: 'none',
    grant_types: [DEVICE, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
  // A customer's own application (client credentials).
  {
    client_id: 'customer-app',
    client_secret: 'app-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
];

const configuration = {
  clients,
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
  },
  scopes: ['openid', 'offline_access'],
  claims: { openid: ['sub', 'tenant'], email: ['email'] },
  async findAccount(ctx, id) {
    if (id !== ACCOUNT) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, tenant: TENANT, email: 'alice@fabrikam.example' };
      },
    };
  },
  // Access tokens (opaque) carry the tenant, so introspection answers it too.
  async extraTokenClaims() {
    return { tenant: TENANT };
  },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 600,
    DeviceCode(ctx, token, client) {
      return client.clientId === 'portal-shortlived' ? 1 : 600;
    },
    Grant: 86400,
    Interaction: 3600,
    RefreshToken: 86400,
    Session: 86400,
  },
  // Tokens stay stored 15 s past expiry, so an expired device code is `expired_token`.
  clockTolerance: 15,
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));

let slowDowns = 0;

async function control(req, res, url) {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'POST') return reply(405, { error: 'POST only' });
  if (url.pathname === '/control/slow-down') {
    slowDowns = Number(url.searchParams.get('count') ?? '1');
    return reply(200, { slow_down: slowDowns });
  }
  if (url.pathname === '/control/interaction/finish') {
    // The browser sign-in and consent of an authorization request, done: the test account
    // signs in and grants what was asked. The caller then follows `returnTo` (with the
    // cookies the authorization endpoint set) to get the redirect with the code.
    const interaction = await provider.Interaction.find(url.searchParams.get('uid') ?? '');
    if (!interaction) return reply(404, { error: 'no such interaction' });
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId: interaction.params.client_id });
    grant.addOIDCScope(interaction.params.scope ?? 'openid');
    const grantId = await grant.save();
    interaction.result = { login: { accountId: ACCOUNT }, consent: { grantId } };
    await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
    return reply(200, { returnTo: interaction.returnTo });
  }
  if (url.pathname === '/control/interaction/abort') {
    // What oidc-provider's own interaction pages do when the user clicks "Cancel":
    // `provider.interactionFinished(req, res, { error: 'access_denied', ... })`. That call
    // needs the browser's request (it finds the interaction by its cookie); this endpoint is
    // called by the test, so it stores the same result on the interaction found by uid, as
    // `interactionResult` does. Resuming (`returnTo`) then redirects to the client with the
    // error.
    const interaction = await provider.Interaction.find(url.searchParams.get('uid') ?? '');
    if (!interaction) return reply(404, { error: 'no such interaction' });
    interaction.result = {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    };
    await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
    return reply(200, { returnTo: interaction.returnTo });
  }
  const userCode = url.searchParams.get('user_code');
  // Stored normalised, as the verification page normalises what the user types.
  const normalized = userCode && userCode.toUpperCase().replace(/[^A-Z0-9]/g, '');
  const code = normalized && await provider.DeviceCode.findByUserCode(normalized);
  if (!code) return reply(404, { error: 'no such user_code' });
  if (url.pathname === '/control/device/approve') {
    const scope = code.params.scope ?? 'openid';
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId: code.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    Object.assign(code, {
      accountId: ACCOUNT,
      grantId,
      authTime: Math.floor(Date.now() / 1000),
      scope,
    });
    await code.save();
    return reply(200, { approved: userCode });
  }
  if (url.pathname === '/control/device/deny') {
    Object.assign(code, {
      error: 'access_denied',
      errorDescription: 'End-User aborted interaction',
    });
    await code.save();
    return reply(200, { denied: userCode });
  }
  return reply(404, { error: 'no such control endpoint' });
}

// Answers `slow_down` to an armed device-code poll; any other token request while armed is a
// test bug and fails loudly.
function slowDown(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    if (form.get('grant_type') !== DEVICE) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'server_error', error_description: 'slow_down armed, but this is not a device-code poll' }));
      return;
    }
    slowDowns -= 1;
    res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: 'slow_down', error_description: 'you are polling too quickly and should back off at a reasonable rate' }));
  });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/control/')) {
    control(req, res, url).catch((err) => {
      console.error(err);
      res.writeHead(500);
      res.end(String(err));
    });
    return;
  }
  if (slowDowns > 0 && req.method === 'POST' && url.pathname === '/token') {
    slowDown(req, res);
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
process.on('SIGTERM', () => process.exit(0));
// The test harness holds our stdin: when it goes away (even killed), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
