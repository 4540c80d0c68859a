// Local OpenID Provider (panva/oidc-provider) used as a test peer by
// responder's integration tests and by examples/record_login.py.
//
// TEST ONLY: fixed client secret, fixed cookie keys, in-memory storage,
// development login/consent pages that accept any login and any password.
//
//   OP_PORT  port to listen on (default 3000); issuer is http://127.0.0.1:OP_PORT
//   RP_PORT  port of the relying party that uses the `demo-spa` client (default 3001)
//
// Once listening it prints exactly one line, `READY <issuer>`, to stdout.

import { generateKeyPairSync } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

// stdout is reserved for the READY line a harness waits for; oidc-provider
// prints its notices with console.info, so send those to stderr instead.
console.info = console.error;
console.log = console.error;

const PORT = Number(process.env.OP_PORT ?? 3000);
const RP_PORT = Number(process.env.RP_PORT ?? 3001);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RP_ORIGIN = `http://127.0.0.1:${RP_PORT}`;

// Resource server whose access tokens are JWTs. oidc-provider only mints a
// JWT access token for a resource server named with `resource=` (RFC 8707);
// such a token carries that `aud`, so the userinfo endpoint refuses it, and
// JWT access tokens cannot be introspected or revoked. Hence there is no
// default resource: access tokens are opaque (usable at userinfo,
// introspectable, revocable) unless the client asks for
// `resource=urn:responder:api` (at authorization and then at the token
// endpoint, e.g. on a refresh_token grant, or directly on client_credentials).
const API = 'urn:responder:api';

// A fresh signing key per run: nothing secret is committed, and tokens from
// one run are (deliberately) not valid against another.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const isResponder = (client) => client.clientId === 'responder';

const configuration = {
  clients: [
    {
      // Confidential client for the test harness: client_credentials, and
      // introspection/revocation of any token (see allowedPolicy below).
      client_id: 'responder',
      client_secret: 'responder-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      // Public browser app: authorization code + PKCE (PKCE is mandatory
      // for token_endpoint_auth_method none), refresh tokens via offline_access.
      client_id: 'demo-spa',
      application_type: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [`${RP_ORIGIN}/callback`],
      post_logout_redirect_uris: [`${RP_ORIGIN}/`],
    },
  ],

  jwks: { keys: [signingKey] },
  cookies: { keys: ['responder-test-cookie-key-1', 'responder-test-cookie-key-2'] },

  // Any login name is an account; it doubles as the email address.
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: sub,
          email_verified: false,
          name: sub.split('@')[0],
          preferred_username: sub.split('@')[0],
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  scopes: ['openid', 'offline_access'],

  // Refresh tokens need the offline_access scope, which is only kept when
  // the authorization request also has prompt=consent.
  async issueRefreshToken(ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },

  // Browser clients call the token and userinfo endpoints with fetch(). Same
  // policy as the library default, made explicit: CORS is allowed from the
  // origins of the client's redirect URIs, at userinfo for any client and
  // elsewhere (token, revocation, ...) only for public clients.
  clientBasedCORS(ctx, origin, client) {
    if (origin === 'null') return false;
    if (ctx.oidc.route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
    return client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin);
  },

  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => isResponder(client) || token.clientId === client.clientId,
    },
    revocation: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => isResponder(client) || token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, resource) => {
        if (resource !== API) throw new errors.InvalidTarget();
        return { scope: 'api:read', audience: API, accessTokenFormat: 'jwt', accessTokenTTL: 3600 };
      },
    },
  },

  // Explicit lifetimes (seconds); also silences "you SHOULD change" notices.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
};

const provider = new Provider(ISSUER, configuration);

// The built-in HTML pages (dev login/consent, logout, errors) @import a
// Google Fonts stylesheet; strip it so a browser driven against this peer
// never leaves 127.0.0.1.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);?/g, '');
  }
});

const server = provider.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`READY ${ISSUER}\n`);
});
server.on('error', (err) => {
  console.error(err);
  process.exit(1);
});

// In-memory state only, so there is nothing to flush: just exit.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
