// A real OpenID Provider for the tests: panva's certified oidc-provider, with a public
// client `clinicstream-test` (authorization code + PKCE, refresh tokens, back-channel
// logout), JWT access tokens for one resource (AUDIENCE) carrying the clinicstream claims
// object, and test-control endpoints under /test/ that drive the provider's own endpoints
// (a real code flow, real refresh, real end_session). Started by tests/api/oidc.rs.
//
// Environment: PORT (0: any free port; the first stdout line says which), AUDIENCE,
// CLAIMS_NAMESPACE, ACCESS_TTL (s), ACCESS_TOKEN_ALG (RS256 | ES256 | EdDSA), JWKS_MAX_AGE
// (s), REDIRECT_URIS (comma-separated), POST_LOGOUT_REDIRECT_URIS, BACKCHANNEL_LOGOUT_URI.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const env = process.env;
const AUDIENCE = env.AUDIENCE || 'https://api.clinicstream.test';
const CLAIMS_NAMESPACE = env.CLAIMS_NAMESPACE || 'https://clinicstream.dev/claims';
const ACCESS_TTL = Number(env.ACCESS_TTL || 300);
const ACCESS_TOKEN_ALG = env.ACCESS_TOKEN_ALG || 'RS256';
const JWKS_MAX_AGE = Number(env.JWKS_MAX_AGE || 300);
const list = (value, fallback) => (value || fallback).split(',').map((s) => s.trim()).filter(Boolean);
const REDIRECT_URIS = list(env.REDIRECT_URIS || env.REDIRECT_URI, 'http://127.0.0.1:9/cb');
const POST_LOGOUT_REDIRECT_URIS = list(env.POST_LOGOUT_REDIRECT_URIS, 'http://127.0.0.1:9/signed-out');
const BACKCHANNEL_LOGOUT_URI = env.BACKCHANNEL_LOGOUT_URI || undefined;
const CLIENT_ID = 'clinicstream-test';
// The resource server's scope: a token for AUDIENCE needs it in the request's scope.
const API_SCOPE = 'api';

// ---- accounts (created by POST /test/accounts) ----
const accounts = new Map();

// ---- signing keys: per algorithm, the current key first; all of them are in the JWKS ----
const KEY_SPECS = {
  RS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}],
};
let keySerial = 0;
function newKey(alg) {
  const spec = KEY_SPECS[alg];
  if (!spec) throw new Error(`unsupported alg ${alg} (one of ${Object.keys(KEY_SPECS)})`);
  const { privateKey } = generateKeyPairSync(...spec);
  keySerial += 1;
  const kid = `${alg.toLowerCase()}-${keySerial}-${randomBytes(4).toString('hex')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}
const keys = Object.fromEntries(Object.keys(KEY_SPECS).map((alg) => [alg, [newKey(alg)]]));
if (!keys[ACCESS_TOKEN_ALG]) throw new Error(`ACCESS_TOKEN_ALG ${ACCESS_TOKEN_ALG} is not supported`);
// The ID token's default alg (RS256) picks the first RSA key: order the JWKS current-first.
const jwks = () => ({ keys: Object.values(keys).flat() });
const publicJwk = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

// ---- storage: a plain Map (the bundled memory adapter is an LRU of 1,000 entries,
// which would forget sessions and grants in a test that signs in many people) ----
const store = new Map();
const grantIndex = new Map();
const uidIndex = new Map();
const userCodeIndex = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
    if (payload.uid) uidIndex.set(payload.uid, id);
    if (payload.userCode) userCodeIndex.set(payload.userCode, id);
  }

  async find(id) {
    const key = this.key(id);
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expires !== undefined && entry.expires < Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = uidIndex.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodeIndex.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantIndex.get(grantId) ?? []) store.delete(key);
    grantIndex.delete(grantId);
  }
}
const sessionsOf = (sub) => [...store.entries()]
  .filter(([key, { payload }]) => key.startsWith('Session:') && payload.accountId === sub)
  .map(([key]) => key.slice('Session:'.length));

// ---- outgoing requests (back-channel logout): recorded, and sent without the
// provider's SSRF guard, which refuses loopback addresses such as the test listener's ----
const sent = [];
async function recordingFetch(url, options) {
  const { dispatcher, ...rest } = options;
  const body = rest.body instanceof URLSearchParams ? rest.body : new URLSearchParams(String(rest.body ?? ''));
  const record = { url: String(url), logout_token: body.get('logout_token') ?? undefined };
  sent.push(record);
  try {
    const response = await globalThis.fetch(url, rest);
    record.status = response.status;
    return response;
  } catch (err) {
    record.error = String(err?.cause?.message ?? err?.message ?? err);
    throw err;
  }
}

const claimsObject = (account) => ({
  practice_id: account.practice_id ?? undefined,
  role: account.role,
  patient_id: account.patient_id ?? undefined,
});

const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>`;
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let issuer;
let provider;
let handler;

function buildProvider() {
  const client = {
    client_id: CLIENT_ID,
    client_name: 'clinicstream tests',
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_REDIRECT_URIS,
  };
  if (BACKCHANNEL_LOGOUT_URI) {
    client.backchannel_logout_uri = BACKCHANNEL_LOGOUT_URI;
    client.backchannel_logout_session_required = true;
  }
  const p = new Provider(issuer, {
    adapter: MapAdapter,
    clients: [client],
    jwks: jwks(),
    claims: { openid: ['sub'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'profile'],
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ sub, name: account.name }) };
    },
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken') return undefined;
      const account = accounts.get(token.accountId);
      if (!account) return undefined;
      const claims = { [CLAIMS_NAMESPACE]: claimsObject(account), name: account.name };
      // The session's id as the back-channel logout token names it, so a resource
      // server can refuse that session's tokens after a logout.
      if (token.sessionUid) {
        const session = await p.Session.findByUid(token.sessionUid);
        const sid = session?.authorizations?.[token.clientId]?.sid;
        if (sid) claims.sid = sid;
      }
      return claims;
    },
    // Every code exchange of a client allowed refresh_token gets one, without
    // offline_access: such refresh tokens rotate (public client) and end with the session,
    // so a logout revokes them (offline_access ones would outlive it, as the spec says).
    issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: ACCESS_TTL,
      IdToken: ACCESS_TTL,
      Interaction: 600,
      Session: 86400,
      Grant: 86400,
      RefreshToken: 86400,
    },
    clientBasedCORS: () => true,
    fetch: recordingFetch,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => AUDIENCE,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== AUDIENCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: API_SCOPE,
            audience: AUDIENCE,
            accessTokenTTL: ACCESS_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: ACCESS_TOKEN_ALG } },
          };
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre>${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
    },
  });
  p.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/jwks') ctx.set('Cache-Control', `public, max-age=${JWKS_MAX_AGE}`);
  });
  p.on('server_error', (_ctx, err) => console.error('server_error', err));
  p.on('backchannel.error', (_ctx, err) => console.error('backchannel.error', err));
  return p;
}

// A new provider over the same storage: its keystore is fixed at construction.
function install() {
  provider = buildProvider();
  handler = provider.callback();
}

// ---- interactions: a plain login page (any password), consent given automatically ----
const loginForm = (uid, message = '') => page('Sign in', `${message}
<form method="post" action="/interaction/${uid}/login">
<label>User <input name="login" autofocus autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>`);

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') ?? '';
    if (!accounts.has(login)) {
      return send(res, 200, loginForm(uid, `<p class="error">No account ${escapeHtml(login)}.</p>`), 'text/html');
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'login') return send(res, 200, loginForm(uid), 'text/html');
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Error', `unknown prompt ${escapeHtml(prompt.name)}`), 'text/html');
}

// ---- a user agent with a cookie jar, for the flows the provider runs against itself ----
class Agent {
  jar = new Map();

  async request(url, { method = 'GET', form } = {}) {
    const headers = {};
    if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const response = await fetch(new URL(url, issuer), { method, headers, body, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return response;
  }
}

const base64url = (buf) => Buffer.from(buf).toString('base64url');

async function tokenEndpoint(form) {
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...form }).toString(),
  });
  const json = await response.json();
  if (!response.ok) throw Object.assign(new Error(`token endpoint: ${JSON.stringify(json)}`), { status: 400 });
  return json;
}

// The authorization code flow with PKCE, as a browser and a client would run it.
async function signIn(sub, { scope = `openid profile ${API_SCOPE}` } = {}) {
  if (!accounts.has(sub)) throw Object.assign(new Error(`no account ${sub}`), { status: 404 });
  const agent = new Agent();
  const verifier = base64url(randomBytes(32));
  const redirectUri = REDIRECT_URIS[0];
  const state = base64url(randomBytes(12));
  const authorize = new URL('/auth', issuer);
  authorize.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    resource: AUDIENCE,
    state,
    nonce: base64url(randomBytes(12)),
    code_challenge: base64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();
  let response = await agent.request(authorize);
  for (let hops = 0; hops < 20; hops += 1) {
    if (response.status >= 300 && response.status < 400) {
      const location = new URL(response.headers.get('location'), issuer);
      if (location.href.startsWith(redirectUri)) {
        const params = location.searchParams;
        if (params.get('error')) throw new Error(`authorization: ${params.get('error')}: ${params.get('error_description')}`);
        if (params.get('state') !== state) throw new Error('authorization: state mismatch');
        const tokens = await tokenEndpoint({
          grant_type: 'authorization_code',
          code: params.get('code'),
          redirect_uri: redirectUri,
          code_verifier: verifier,
        });
        return { ...tokens, session: agent.jar.get('_session') };
      }
      response = await agent.request(location);
    } else if (response.status === 200 && new URL(response.url).pathname.startsWith('/interaction/')) {
      const html = await response.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      if (!action) throw new Error(`no login form in ${html.slice(0, 200)}`);
      response = await agent.request(action, { method: 'POST', form: { login: sub, password: 'test' } });
    } else {
      throw new Error(`authorization flow stopped at ${response.url}: ${response.status} ${(await response.text()).slice(0, 500)}`);
    }
  }
  throw new Error('authorization flow: too many redirects');
}

// RP-initiated logout of every session of `sub` through the provider's own end_session
// (which sends the back-channel logout tokens): the session cookie is the session's id.
async function logout(sub) {
  const ended = [];
  for (const sessionId of sessionsOf(sub)) {
    const agent = new Agent();
    agent.jar.set('_session', sessionId);
    const form = await agent.request('/session/end');
    const html = await form.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    if (!xsrf) throw new Error(`no logout form: ${form.status} ${html.slice(0, 300)}`);
    const done = await agent.request('/session/end/confirm', { method: 'POST', form: { xsrf, logout: 'yes' } });
    if (done.status !== 303) throw new Error(`end_session confirm: ${done.status} ${(await done.text()).slice(0, 300)}`);
    ended.push(sessionId);
  }
  const mine = sent.filter((r) => {
    if (!r.logout_token || r.reported) return false;
    const payload = JSON.parse(Buffer.from(r.logout_token.split('.')[1], 'base64url').toString());
    return payload.sub === sub;
  });
  for (const r of mine) r.reported = true;
  return { sessions: ended.length, sent: mine.map(({ reported, ...r }) => r) };
}

function currentKid(alg = ACCESS_TOKEN_ALG) {
  return keys[alg][0].kid;
}

// ---- the HTTP server: /test/ and /interaction/ here, everything else the provider's ----
function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res, status, body, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

const testRoutes = {
  async accounts(body) {
    if (typeof body.sub !== 'string' || !body.sub) throw Object.assign(new Error('sub is required'), { status: 400 });
    const account = {
      name: body.name ?? body.sub,
      practice_id: body.practice_id ?? undefined,
      role: body.role ?? 'SUBSCRIBER',
      patient_id: body.patient_id ?? undefined,
    };
    accounts.set(body.sub, account);
    return { sub: body.sub, ...account };
  },
  async token(body) {
    const { access_token, refresh_token, id_token, expires_in, scope, session } = await signIn(body.sub, body);
    return { access_token, refresh_token, id_token, expires_in, scope, session };
  },
  async refresh(body) {
    const { access_token, refresh_token, id_token, expires_in, scope } = await tokenEndpoint({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token,
    });
    return { access_token, refresh_token, id_token, expires_in, scope };
  },
  async rotate(body) {
    const alg = body.alg ?? ACCESS_TOKEN_ALG;
    const previous = currentKid(alg);
    keys[alg].unshift(newKey(alg));
    install();
    return { alg, kid: currentKid(alg), previous };
  },
  async retire(body) {
    const alg = body.alg ?? ACCESS_TOKEN_ALG;
    const retired = keys[alg].splice(1).map((k) => k.kid);
    install();
    return { alg, kid: currentKid(alg), retired };
  },
  async logout(body) {
    return logout(body.sub);
  },
  async keys() {
    return { current: currentKid(), jwks: { keys: jwks().keys.map(publicJwk) } };
  },
};

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const test = /^\/test\/([a-z]+)$/.exec(url.pathname);
    if (test && req.method === 'POST' && Object.hasOwn(testRoutes, test[1])) {
      const raw = await readBody(req);
      return send(res, 200, await testRoutes[test[1]](raw ? JSON.parse(raw) : {}));
    }
    const step = /^\/interaction\/([^/]+)(?:\/(login))?$/.exec(url.pathname);
    if (step && (req.method === 'GET' || step[2])) return await interaction(req, res, step[1], step[2]);
    return handler(req, res);
  } catch (err) {
    if (!res.headersSent) send(res, err.status ?? 500, { error: String(err.message ?? err) });
    else res.end();
    if (!err.status) console.error(err);
  }
});

server.listen(Number(env.PORT || 0), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  install();
  console.log(JSON.stringify({ issuer }));
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
