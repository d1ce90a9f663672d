// graphql-ws (the graphql-transport-ws reference client) against clinicstream: the key in
// connection_init, a subscription that resumes with `after`, and a refused key.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { WS, check, fixture, postPayment, subscriptions } from './lib.mjs';

const f = await fixture();
const EVENTS = 'subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq type cursor } }';

function collect(client, variables, count) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} events`)), 10000);
    const stop = client.subscribe({ query: EVENTS, variables }, {
      next: ({ data, errors }) => {
        if (errors) return reject(new Error(JSON.stringify(errors)));
        seen.push(data.events);
        if (seen.length === count) { clearTimeout(timer); stop(); resolve(seen); }
      },
      error: reject,
      complete: () => {},
    });
  });
}

const client = createClient({ url: WS, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${f.key}` } });
const live = collect(client, { p: f.practice }, 2);
await subscriptions('websocket', 1);
await postPayment(f.key, f.patient, 100);
await postPayment(f.key, f.patient, 200);
const [one, two] = await live;
check(two.seq === one.seq + 1, 'graphql-ws receives events in seq order');
const resumed = await collect(client, { p: f.practice, a: one.cursor }, 1);
check(resumed[0].seq === two.seq, 'subscribing again with `after` replays exactly what came next');
await client.dispose();

const refused = createClient({
  url: WS, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: 'Bearer cs_wrong' },
});
const closed = await new Promise((resolve) => {
  refused.subscribe({ query: EVENTS, variables: { p: f.practice } }, { next: () => {}, error: resolve, complete: () => resolve(null) });
});
check(closed && closed.code === 4403, `a wrong key is closed 4403 (got ${closed?.code})`);
console.log('graphql-ws: all checks passed');
