// Shared by the browser test scripts: launching Debian's chromium, talking to the API,
// a practice to test on, a TCP proxy that can cut the browser's network, and checks.
import { chromium } from 'playwright-core';
import net from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const BASE = process.env.BASE_URL; // http://127.0.0.1:port
export const ADMIN_KEY = process.env.ADMIN_KEY;
export const ARTIFACTS = process.env.ARTIFACTS ?? 'test-artifacts';
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

if (!BASE || !ADMIN_KEY) throw new Error('BASE_URL and ADMIN_KEY are required');

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  return { browser, context };
}

/** Records every request a page makes, and its console errors. */
export function watch(page) {
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => requests.push(ws.url()));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  return { requests, errors };
}

/** Every request went to `origin` (http or ws): nothing from a CDN or anywhere else. */
export function onlyOwnOrigin(requests, origin) {
  const host = new URL(origin).host;
  const foreign = requests.filter((u) => {
    const url = new URL(u);
    return url.host !== host || !['http:', 'ws:'].includes(url.protocol);
  });
  check(requests.length > 0, 'the page made requests');
  check(foreign.length === 0, `requests left the server's origin: ${foreign.join(', ')}`);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

export async function gql(key, query, variables = {}, base = BASE) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * A practice whose local time is about midday now (an `Etc/GMT±N` zone), so "today" has
 * room before and after now whatever the hour; with two providers, a patient and keys.
 */
export async function practice() {
  const utcHour = new Date().getUTCHours();
  const shift = Math.max(-12, Math.min(14, 12 - utcHour)); // local = UTC + shift
  const timezone = shift === 0 ? 'Etc/GMT' : `Etc/GMT${shift > 0 ? '-' : '+'}${Math.abs(shift)}`;
  const { createPractice } = await gql(
    ADMIN_KEY,
    'mutation($n: String!, $tz: String!) { createPractice(input: {name: $n, timezone: $tz, currency: "USD"}) { id } }',
    { n: `Maple Street Dental ${Date.now()}`, tz: timezone },
  );
  const id = createPractice.id;
  const key = async (role) =>
    (await gql(ADMIN_KEY, 'mutation($p: ID!, $r: Role!) { createApiKey(input: {practiceId: $p, role: $r, name: "browser test"}) { key } }', { p: id, r: role })).createApiKey.key;
  const backoffice = await key('BACKOFFICE');
  const subscriber = await key('SUBSCRIBER');
  const provider = async (name, kind) =>
    (await gql(backoffice, 'mutation($p: ID!, $n: String!, $k: ProviderKind!) { createProvider(input: {practiceId: $p, name: $n, kind: $k}) { id } }', { p: id, n: name, k: kind })).createProvider.id;
  const providers = [await provider('Dr. Ada Park', 'DENTIST'), await provider('Sam Lee', 'HYGIENIST')];
  const patient = async (first, last) =>
    (await gql(backoffice, 'mutation($p: ID!, $f: String!, $l: String!) { createPatient(input: {practiceId: $p, firstName: $f, lastName: $l}) { id } }', { p: id, f: first, l: last })).createPatient.id;
  const patients = [await patient('Maria', 'Lopez'), await patient('Tom', 'Okafor'), await patient('Lena', 'Fischer')];
  return { id, timezone, backoffice, subscriber, providers, patients };
}

export async function schedule(p, { patient, provider, minutesFromNow, reason = 'Check-up' }) {
  const startsAt = new Date(Date.now() + minutesFromNow * 60_000);
  startsAt.setUTCSeconds(0, 0);
  const data = await gql(
    p.backoffice,
    'mutation($pt: ID!, $pr: ID!, $at: DateTime!, $r: String) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $at, durationMinutes: 30, reason: $r}) { id } }',
    { pt: patient, pr: provider, at: startsAt.toISOString(), r: reason },
  );
  return data.scheduleAppointment.id;
}

export async function cancel(p, id) {
  await gql(p.backoffice, 'mutation($id: ID!) { cancelAppointment(input: {id: $id, reason: "patient called"}) { id } }', { id });
}

export async function pay(p, patient, cents) {
  const data = await gql(p.backoffice, 'mutation($pt: ID!, $a: Int!) { postPayment(input: {patientId: $pt, amountCents: $a, method: CARD}) { id } }', { pt: patient, a: cents });
  return data.postPayment.id;
}

/** Waits until the server holds `n` subscriptions over `transport` (read from /metrics). */
export async function subscriptions(transport, n, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await (await fetch(`${BASE}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`clinicstream_subscriptions{transport="${transport}"}`));
    if (line && Number(line.split(' ').pop()) >= n) return;
    if (Date.now() > deadline) throw new Error(`no ${n} ${transport} subscription(s) within ${timeout} ms: ${line}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A TCP proxy in front of the server: the browser talks to it, and `cut()` drops every
 * connection and refuses new ones (a network outage) until `restore()`.
 */
export async function proxy(target = BASE) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  let up = true;
  const server = net.createServer((client) => {
    if (!up) return client.destroy();
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
