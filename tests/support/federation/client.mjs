// Drives the supergraph as an app would (run by tests/api/federation.rs): queries over HTTP
// that join clinicstream and the notes subgraph, and one subscription over a websocket
// (graphql-ws) and one over SSE (graphql-sse), each through Hive Gateway, whose events carry
// the notes subgraph's field. Authorization travels through the gateway: a practice's key
// sees its practice and nothing of another's. Exits non-zero on the first failed check.
import assert from 'node:assert/strict';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

const { GATEWAY_URL, KEY, PRACTICE, PATIENT, OTHER_KEY, OTHER_PATIENT } = process.env;
const bearer = (key) => `Bearer ${key}`;

async function gql(key, query, variables = {}) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = bearer(key);
  const response = await fetch(GATEWAY_URL, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return response.json();
}
const codes = (body) => (body.errors ?? []).map((e) => e.extensions?.code);

// A query that joins both subgraphs: clinicstream's patient, the notes subgraph's field.
let body = await gql(KEY, 'query($id: ID!) { patient(id: $id) { id firstName chartNote } }', { id: PATIENT });
assert.deepEqual(body, { data: { patient: { id: PATIENT, firstName: 'Maria', chartNote: `chart of ${PATIENT}` } } });
console.log('query joined both subgraphs:', JSON.stringify(body.data));

// The other way round: the notes subgraph names patients, clinicstream's _entities fills
// them in, as the caller may see them (the other practice's patient stays empty).
body = await gql(KEY, 'query($ids: [ID!]!) { notedPatients(ids: $ids) { id chartNote firstName } }', {
  ids: [PATIENT, OTHER_PATIENT],
});
assert.equal(body.data.notedPatients[0].firstName, 'Maria', JSON.stringify(body));
assert.equal(body.data.notedPatients[1]?.firstName ?? null, null, JSON.stringify(body));
assert.ok(!JSON.stringify(body.data).includes('Other'), `another practice's data leaked: ${JSON.stringify(body)}`);
assert.ok(codes(body).includes('NOT_FOUND'), `the missing reference is NOT_FOUND: ${JSON.stringify(body)}`);
console.log('entity references through the gateway:', JSON.stringify(body));

// Authorization is forwarded: another practice's patient is NOT_FOUND, no key is refused.
body = await gql(KEY, 'query($id: ID!) { patient(id: $id) { id firstName } }', { id: OTHER_PATIENT });
assert.equal(body.data?.patient ?? null, null, JSON.stringify(body));
assert.deepEqual(codes(body), ['NOT_FOUND'], JSON.stringify(body));
body = await gql(null, 'query($id: ID!) { patient(id: $id) { id } }', { id: PATIENT });
assert.deepEqual(codes(body), ['UNAUTHENTICATED'], JSON.stringify(body));
console.log('authorization forwarded on queries');

const SUBSCRIPTION = `subscription($p: ID!) { patientCreated(practiceId: $p) { seq type patient { id firstName chartNote } } }`;

/** Subscribes with `client`; resolves the first event (or rejects with the errors). */
function first(client, door) {
  return new Promise((resolve, reject) => {
    const dispose = client.subscribe(
      { query: SUBSCRIPTION, variables: { p: PRACTICE } },
      {
        next: (result) => { dispose(); result.errors ? reject(result.errors) : resolve(result.data); },
        error: (e) => reject(e),
        complete: () => reject(new Error(`the ${door} subscription completed without an event`)),
      },
    );
  });
}

const ws = createWsClient({
  url: GATEWAY_URL.replace('http', 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: { authorization: bearer(KEY) },
  retryAttempts: 0,
});
const sse = createSseClient({ url: GATEWAY_URL, headers: { authorization: bearer(KEY) }, retryAttempts: 0 });

// Another practice's key may not subscribe to this practice through the gateway.
const otherWs = createWsClient({
  url: GATEWAY_URL.replace('http', 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: { authorization: bearer(OTHER_KEY) },
  retryAttempts: 0,
});
const refused = first(otherWs, 'other practice').then(
  (data) => { throw new Error(`another practice's key got an event: ${JSON.stringify(data)}`); },
  (errors) => errors,
);

const overWs = first(ws, 'websocket');
const overSse = first(sse, 'SSE');
const refusal = await Promise.race([refused, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
assert.notEqual(refusal, 'timeout', 'the other practice subscription was refused within 20 s');
const refusedCodes = (Array.isArray(refusal) ? refusal : [refusal]).map((e) => e?.extensions?.code ?? e?.message);
assert.ok(refusedCodes.some((c) => c === 'NOT_FOUND' || c === 'FORBIDDEN'), `refused with ${JSON.stringify(refusal)}`);
console.log('subscription of another practice refused:', JSON.stringify(refusedCodes));

// Both subscriptions are open once the upstream ones are: create patients until both see one.
let created;
const both = Promise.all([overWs, overSse]);
for (let i = 0; i < 50; i++) {
  body = await gql(
    KEY,
    'mutation($p: ID!, $n: String!) { createPatient(input: { practiceId: $p, firstName: $n, lastName: "Gateway" }) { id } }',
    { p: PRACTICE, n: `Sub${i}` },
  );
  assert.ok(!body.errors, JSON.stringify(body));
  created = body.data.createPatient.id;
  const done = await Promise.race([both.then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
  if (done) break;
}
const [wsEvent, sseEvent] = await Promise.race([
  both,
  new Promise((_, reject) => setTimeout(() => reject(new Error('no event within 30 s')), 30000)),
]);
for (const [door, event] of [['websocket', wsEvent], ['SSE', sseEvent]]) {
  const { patient, type } = event.patientCreated;
  assert.equal(type, 'PATIENT_CREATED');
  assert.equal(patient.chartNote, `chart of ${patient.id}`, `${door}: ${JSON.stringify(event)}`);
  assert.match(patient.firstName, /^Sub\d+$/);
  console.log(`${door} event through the gateway:`, JSON.stringify(event));
}
await ws.dispose();
await otherWs.dispose();
sse.dispose();
console.log('last patient created', created);
