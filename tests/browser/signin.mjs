// A person signs in to the dashboard at a real OpenID Provider (tests/support/oidc, its
// URL in ISSUER_URL): the page offers "Sign in", the provider's own login page takes the
// person, the page comes back signed in and shows the day and a payment live; the 20 s
// access token is refreshed before it expires and handed to the open socket, which
// outlives the first token (the server forgives no skew here) without a reconnect; and
// when the provider logs the person out (end_session, back-channel logout to the server),
// the socket is closed and the page says "Signed out" and offers Sign in again. Then the
// operator console signs the person in the same way, tails an event, and is signed out.
import { BASE, check, launch, pay, practice, schedule, screenshot, watch } from './lib.mjs';

const ISSUER = process.env.ISSUER_URL;
const SUB = process.env.SUB;
const ACCESS_TTL_MS = Number(process.env.ACCESS_TTL ?? 20) * 1000;
if (!ISSUER || !SUB) throw new Error('ISSUER_URL and SUB are required');

/** The provider's test-control endpoints (tests/support/oidc/provider.mjs). */
async function control(what, body) {
  const response = await fetch(`${ISSUER}/test/${what}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`/test/${what}: ${JSON.stringify(answer)}`);
  return answer;
}

const p = await practice();
const [ada, sam] = p.providers;
const [maria, tom] = p.patients;
const a = await schedule(p, { patient: maria, provider: ada, minutesFromNow: 60, reason: 'Cleaning' });
const b = await schedule(p, { patient: tom, provider: sam, minutesFromNow: 90, reason: 'Filling' });
await control('accounts', { sub: SUB, name: 'Ann Front-Desk', role: 'BACKOFFICE', practice_id: p.id });

const { browser, context } = await launch();
let page;
let seen;
try {
  page = await context.newPage();
  seen = watch(page);
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${BASE}/`);

  // The server names an issuer, so the page offers Sign in; it leads to the provider's page.
  await page.waitForSelector('#person-signin', { state: 'visible', timeout: 10_000 });
  await page.click('#person-signin');
  await page.waitForURL((url) => url.href.startsWith(ISSUER), { timeout: 10_000 });
  await page.fill('input[name=login]', SUB);
  await page.fill('input[name=password]', 'any password');
  await screenshot(page, 'signin-provider-login');
  await page.click('form button[type=submit]');

  // Back on the dashboard, signed in, with the day's appointments.
  await page.waitForURL((url) => url.href.startsWith(BASE), { timeout: 10_000 });
  await page.waitForSelector('body[data-status=live]', { timeout: 15_000 });
  const signedInAt = Date.now();
  check(page.url() === `${BASE}/`, `the code is not left in the address bar (${page.url()})`);
  check((await page.textContent('#person-name')) === 'Ann Front-Desk', 'the page names the person');
  check(await page.isHidden('#person-signin'), 'Sign in is not offered while signed in');
  const row = (id) => `li.appointment[data-id="${id}"]`;
  await page.waitForSelector(row(a));
  await page.waitForSelector(row(b));

  // A payment (posted with a key) arrives live.
  await pay(p, maria, 4500);
  await page.waitForSelector('li.payment', { timeout: 5_000 });
  await screenshot(page, 'signin-dashboard');

  // The token is refreshed ahead of its expiry and the open socket takes the new one.
  await page.waitForFunction(() => Number(document.body.dataset.credentialRefreshes ?? 0) >= 1, null, {
    timeout: ACCESS_TTL_MS + 10_000,
  });
  const refreshedAfter = Date.now() - signedInAt;
  check(refreshedAfter < ACCESS_TTL_MS, `refreshed ${refreshedAfter} ms after sign-in, before the ${ACCESS_TTL_MS} ms token expired`);
  // Past the first token's expiry (no leeway): the same socket is still open and live.
  await page.waitForTimeout(Math.max(0, signedInAt + ACCESS_TTL_MS + 3_000 - Date.now()));
  await pay(p, tom, 1250);
  await page.waitForFunction(() => document.querySelectorAll('li.payment').length >= 2, null, { timeout: 5_000 });
  const after = await page.evaluate(() => ({ ...document.body.dataset }));
  check(after.status === 'live', `still live past the first token's expiry (${after.status})`);
  check(after.connections === '1', `one connection throughout (the page counted ${after.connections})`);
  check(sockets.length === 1, `the browser opened one websocket (${sockets.join(', ')})`);
  const stored = await page.evaluate(() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)]));
  check(!stored.includes('eyJ'), `no token in the browser's storage: ${stored}`);
  console.log(`signed in; token refreshed after ${refreshedAfter} ms; one socket past the first token's expiry`);

  // The provider logs the person out: its logout token closes the socket (4403).
  const logout = await control('logout', { sub: SUB });
  check(logout.sessions >= 1, `the provider ended the session (${JSON.stringify(logout)})`);
  check(logout.sent.length >= 1 && logout.sent.every((s) => s.status === 200), `the server took the logout token: ${JSON.stringify(logout.sent)}`);
  const loggedOutAt = Date.now();
  await page.waitForSelector('body[data-status=signed-out]', { timeout: 5_000 });
  console.log(`signed out ${Date.now() - loggedOutAt} ms after the provider's logout`);
  check((await page.textContent('#error')).includes('Signed out'), 'the page says "Signed out"');
  check(await page.isVisible('#person-signin'), 'Sign in is offered again');
  check((await page.textContent('#status')) === 'signed out', 'the badge says signed out');
  check((await page.$$('li.appointment, li.payment')).length === 0, 'the signed-out page shows no patient data');
  await screenshot(page, 'signin-signed-out');

  // The console signs people in the same way (a new session: the provider's ended). The
  // server refuses the person's tokens issued up to the logout's second (iat has whole
  // seconds), so the new sign-in waits for the next second, as a person would anyway.
  await page.waitForTimeout(1000 - (Date.now() % 1000) + 50);
  await page.goto(`${BASE}/console`);
  await page.waitForSelector('#person-signin', { state: 'visible', timeout: 10_000 });
  await page.click('#person-signin');
  await page.waitForURL((url) => url.href.startsWith(ISSUER), { timeout: 10_000 });
  await page.fill('input[name=login]', SUB);
  await page.fill('input[name=password]', 'any password');
  await page.click('form button[type=submit]');
  await page.waitForURL((url) => url.href.startsWith(`${BASE}/console`), { timeout: 10_000 });
  await page.waitForSelector('body[data-signed-in=yes][data-tail=live]', { timeout: 15_000 });
  check((await page.textContent('#person-name')) === 'Ann Front-Desk', 'the console names the person');
  await pay(p, maria, 700);
  await page.waitForSelector('#tail-rows tr.event[data-type=PAYMENT_POSTED]', { timeout: 5_000 });
  await screenshot(page, 'signin-console');
  await control('logout', { sub: SUB });
  await page.waitForSelector('body[data-signed-in=no]', { timeout: 5_000 });
  check((await page.textContent('#error')).includes('Signed out'), 'the console says "Signed out"');

  // Nothing but this server and the issuer was reached; the CSP let the issuer through.
  const hosts = new Set([new URL(BASE).host, new URL(ISSUER).host]);
  const foreign = seen.requests.filter((u) => !hosts.has(new URL(u).host));
  check(foreign.length === 0, `requests left the server and the issuer: ${foreign.join(', ')}`);
  const blocked = seen.errors.filter((e) => /Content Security Policy/i.test(e));
  check(blocked.length === 0, `the page's CSP blocked something: ${blocked.join('; ')}`);
} catch (error) {
  // What the page showed when a step failed.
  const state = await page?.evaluate(() => ({ url: location.href, ...document.body.dataset, error: document.querySelector('#error')?.textContent }))
    .catch((e) => String(e));
  console.log('page state:', JSON.stringify(state), '\npage errors:', seen?.errors.join('\n'));
  if (page) await screenshot(page, 'signin-failed').catch(() => {});
  throw error;
} finally {
  await browser.close();
}
