// Signing a person in at the identity provider the server names (GET /auth/config): the
// authorization code flow with PKCE, as the server's public client, through oauth4webapi.
// The tokens live in this module's memory only (never in storage), so a reload signs in
// again (silently, while the provider's session lasts). Only the PKCE verifier, state and
// nonce of a sign-in in progress wait in sessionStorage for the one redirect; they are
// useless without the code and are removed when it comes back.
import * as oauth from 'oauth4webapi';

const PENDING = 'clinicstream.signin.pending';
/** Retry a failed refresh (the provider unreachable) this often while the token lasts. */
const RETRY_MS = 5000;

/** The server's sign-in settings `{issuer, clientId, audience, scope}`, or null when it has none. */
export async function provider() {
  try {
    const response = await fetch('/auth/config', { cache: 'no-store' });
    const config = response.ok ? await response.json() : {};
    if (!config.issuer || !config.clientId) return null;
    const issuer = new URL(config.issuer);
    // The server accepts http only for an issuer on loopback (a provider beside it).
    const options = issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
    return { config, issuer, options, client: { client_id: config.clientId }, metadata: null };
  } catch {
    return null;
  }
}

async function discover(p) {
  p.metadata ??= await oauth.processDiscoveryResponse(p.issuer, await oauth.discoveryRequest(p.issuer, p.options));
  return p.metadata;
}

/** This page's own URL (no query): where the provider sends the person back. */
function redirectUri() {
  return new URL(window.location.pathname, window.location.origin).href;
}

/** Leaves for the provider's sign-in page. */
export async function begin(p) {
  const as = await discover(p);
  const verifier = oauth.generateRandomCodeVerifier();
  const pending = { verifier, state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce(), redirectUri: redirectUri() };
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: p.config.clientId,
    response_type: 'code',
    redirect_uri: pending.redirectUri,
    scope: p.config.scope,
    // The token is for the API: the audience as the resource indicator (RFC 8707).
    resource: p.config.audience,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  window.location.assign(url.href);
}

/**
 * When this page load is the provider's redirect back: exchanges the code and returns the
 * signed-in `Person`; null when it is not. Throws when the provider refused or the
 * response does not match the sign-in this tab started.
 */
export async function finish(p) {
  const here = new URL(window.location.href);
  if (!here.searchParams.has('code') && !here.searchParams.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  // The code is single-use: keep it out of the history and of a reload.
  window.history.replaceState(null, '', window.location.pathname);
  if (!pending) throw new Error('a sign-in response arrived that this tab did not start');
  const as = await discover(p);
  const callback = oauth.validateAuthResponse(as, p.client, here, pending.state);
  const response = await oauth.authorizationCodeGrantRequest(
    as, p.client, oauth.None(), callback, pending.redirectUri, pending.verifier, p.options,
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, p.client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  return new Person(p, as, tokens);
}

/**
 * A signed-in person: the current access token, refreshed (refresh_token grant) ahead of
 * its expiry. `onToken(token)` hears each new one; `onEnd(reason)` hears the end (the
 * provider refused the refresh: logged out, or the session is over).
 */
export class Person {
  #p;
  #as;
  #access;
  #refresh;
  #expiresAt = 0;
  #timer = null;
  #tokenListeners = [];
  #endListeners = [];
  ended = false;
  refreshes = 0;

  constructor(p, as, tokens) {
    this.#p = p;
    this.#as = as;
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    this.subject = claims?.sub;
    this.name = claims?.name ?? claims?.sub ?? 'signed in';
    this.#take(tokens);
  }

  get token() {
    return this.#access;
  }

  onToken(listener) {
    this.#tokenListeners.push(listener);
  }

  onEnd(listener) {
    this.#endListeners.push(listener);
  }

  /** Forgets the tokens (they are in memory only) and stops refreshing. */
  end(reason) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.#timer);
    this.#access = null;
    this.#refresh = null;
    for (const listener of this.#endListeners) listener(reason);
  }

  #take(tokens) {
    this.#access = tokens.access_token;
    this.#refresh = tokens.refresh_token ?? this.#refresh; // rotated, or kept
    const lifetime = Number(tokens.expires_in ?? 0);
    this.#expiresAt = Date.now() + lifetime * 1000;
    clearTimeout(this.#timer);
    if (lifetime > 0 && this.#refresh) {
      // A quarter of the lifetime ahead, at most a minute: 20 s tokens refresh at 15 s.
      const ahead = Math.min(60, lifetime / 4);
      this.#timer = setTimeout(() => this.#renew(), (lifetime - ahead) * 1000);
    }
  }

  async #renew() {
    if (this.ended) return;
    try {
      const response = await oauth.refreshTokenGrantRequest(this.#as, this.#p.client, oauth.None(), this.#refresh, this.#p.options);
      const tokens = await oauth.processRefreshTokenResponse(this.#as, this.#p.client, response);
      if (this.ended) return;
      this.#take(tokens);
      this.refreshes += 1;
      for (const listener of this.#tokenListeners) listener(this.#access);
    } catch (error) {
      if (this.ended) return;
      if (error instanceof oauth.ResponseBodyError || Date.now() + RETRY_MS >= this.#expiresAt) {
        // The provider said no (invalid_grant after a logout), or no time is left.
        this.end(error.error ?? error.message);
      } else {
        this.#timer = setTimeout(() => this.#renew(), RETRY_MS);
      }
    }
  }
}

/**
 * The page's "Sign in" control (`#person`, `#person-signin`, `#person-name`) and the
 * person it signed in, shared by the dashboard and the console. The page says what each
 * moment means to it: `adopted(person)` (act as their token from now on), `token(token)`
 * (a refreshed one, for what is open), `left()` (the person is gone from this page),
 * `ended(reason)` (their access ended at the provider) and `failed(message)`.
 */
export function personControls(page) {
  const $ = (selector) => document.querySelector(selector);
  let person = null;
  const controls = {
    /** The signed-in person, or null (signed in with a key, or not at all). */
    get person() {
      return person;
    },

    adopt(signedIn) {
      person = signedIn;
      $('#person-signin').hidden = true;
      $('#person-name').textContent = signedIn.name;
      signedIn.onToken((token) => person === signedIn && page.token(token));
      signedIn.onEnd((reason) => {
        if (person !== signedIn) return;
        controls.leave();
        page.ended(reason);
      });
      return page.adopted(signedIn);
    },

    /** Forgets the person's tokens and shows "Sign in" again. */
    leave() {
      const leaving = person;
      person = null;
      leaving?.end('signed out of this page');
      $('#person-name').textContent = '';
      $('#person-signin').hidden = false;
      page.left?.();
    },

    /** Offers "Sign in" when the server names a provider; true when this load signed someone in. */
    async offer() {
      const idp = await provider();
      if (!idp) return false;
      $('#person').hidden = false;
      $('#person-signin').addEventListener('click', () => begin(idp).catch((error) => page.failed(`Sign-in failed: ${error.message}`)));
      try {
        const signedIn = await finish(idp);
        if (!signedIn) return false;
        await controls.adopt(signedIn);
      } catch (error) {
        page.failed(`Sign-in failed: ${error.message}`);
      }
      return true;
    },
  };
  return controls;
}
