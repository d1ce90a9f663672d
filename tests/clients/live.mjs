// Live queries with the clients people use for them: graphql-ws (`query @live` over
// graphql-transport-ws, whole results with `extensions.revision`) and n1ru4l's
// `applyLiveQueryJSONDiffPatch`, which rebuilds each result from jsondiffpatch deltas.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { isDeepStrictEqual } from 'node:util';
import { applyLiveQueryJSONDiffPatch } from '@n1ru4l/graphql-live-query-patch-jsondiffpatch';
import { WS, check, fixture, gql, postPayment } from './lib.mjs';

const f = await fixture();
const PLAIN = `query($id: ID!) {
  patient(id: $id) { firstName balanceCents }
  payments(patientId: $id) { edges { node { amountCents method } } }
}`;
const LIVE = PLAIN.replace('query($id: ID!)', 'query($id: ID!) @live');
const variables = { id: f.patient };

const client = createClient({ url: WS, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${f.key}` } });

/** The raw messages of an operation, recorded as they pass. */
function recorded(source, raw) {
  return (async function* () {
    for await (const value of source) {
      raw.push(value);
      yield value;
    }
  })();
}

async function nextOf(iterator, what) {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10000));
  const { value, done } = await Promise.race([iterator.next(), timeout]);
  if (done) throw new Error(`the live query ended before ${what}`);
  if (value.errors) throw new Error(JSON.stringify(value.errors));
  return value;
}

// Whole results.
const whole = client.iterate({ query: LIVE, variables })[Symbol.asyncIterator]();
const first = await nextOf(whole, 'the first result');
check(first.data.patient.firstName === 'Maria' && first.data.payments.edges.length === 0, 'the whole result at once');
check(Number.isInteger(first.extensions?.revision), 'it carries extensions.revision');

// Deltas, rebuilt by n1ru4l's client.
const raw = [];
const patched = applyLiveQueryJSONDiffPatch(
  recorded(client.iterate({ query: LIVE, variables, extensions: { livePatch: 'jsondiffpatch' } }), raw),
)[Symbol.asyncIterator]();
const base = await nextOf(patched, 'the first patched result');
check(isDeepStrictEqual(base.data, first.data), 'the first jsondiffpatch result is the whole data');
let last;
for (const cents of [1200, 300, 4500]) {
  await postPayment(f.key, f.patient, cents);
  const current = await gql(f.key, PLAIN, variables);
  const fromPatch = await nextOf(patched, `the result after a ${cents} payment`);
  const fromWhole = await nextOf(whole, `the whole result after a ${cents} payment`);
  check(isDeepStrictEqual(fromPatch.data, current), `applying the delta gives the current result (${cents})`);
  check(isDeepStrictEqual(fromWhole.data, current), `the whole result is the current one (${cents})`);
  check(fromWhole.extensions.revision > first.extensions.revision, 'revisions grow');
  last = fromWhole;
}
check(raw[0].revision === 1 && raw[0].data, 'jsondiffpatch: {data, revision: 1} first');
check(raw.slice(1).every((m, i) => m.patch && !m.data && m.revision === i + 2), 'then {patch, revision: n}');
check(JSON.stringify(raw[3].patch).length < JSON.stringify(last.data).length, 'a delta is smaller than the result');
await client.dispose();
