// Shared by the client-library scripts: the server under test, a practice to test on,
// checks, and a fetch that records what the libraries sent.
import { createHash } from 'node:crypto';

export const BASE = process.env.BASE_URL; // http://127.0.0.1:port
export const ADMIN_KEY = process.env.ADMIN_KEY;
if (!BASE || !ADMIN_KEY) throw new Error('BASE_URL and ADMIN_KEY are required');
export const GRAPHQL = `${BASE}/graphql`;
export const WS = GRAPHQL.replace(/^http/, 'ws');

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok: ${message}`);
}

export const sha256 = (text) => createHash('sha256').update(text).digest('hex');

export async function gql(key, query, variables = {}) {
  const response = await fetch(GRAPHQL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** A practice with a patient, and a BACKOFFICE key for it. */
export async function fixture() {
  const { createPractice: practice } = await gql(ADMIN_KEY,
    'mutation { createPractice(input: {name: "Client libraries", timezone: "UTC", currency: "USD"}) { id } }');
  const { createApiKey: { key } } = await gql(ADMIN_KEY,
    'mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: BACKOFFICE, name: "clients"}) { key } }',
    { p: practice.id });
  const { createPatient: patient } = await gql(key,
    'mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: "Maria", lastName: "Lopez"}) { id } }',
    { p: practice.id });
  return { practice: practice.id, patient: patient.id, key };
}

export async function postPayment(key, patient, amountCents) {
  return gql(key,
    'mutation($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id } }',
    { p: patient, a: amountCents });
}

/** `fetch` that records each request's method, URL and parsed body. */
export function recordingFetch() {
  const sent = [];
  const recording = (url, options = {}) => {
    let body = null;
    try { body = options.body ? JSON.parse(options.body) : null; } catch { body = options.body; }
    sent.push({ method: options.method ?? 'GET', url: String(url), body, accept: options.headers?.accept });
    return fetch(url, options);
  };
  return { fetch: recording, sent };
}

/** Resolves with the first value `subscribe(next)` passes to `next`, or rejects after `ms`. */
export function first(subscribe, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
    const stop = subscribe((value) => { clearTimeout(timer); resolve(value); stop?.(); }, (error) => {
      clearTimeout(timer); reject(error);
    });
  });
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
