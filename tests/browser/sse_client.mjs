// The graphql-sse npm client (distinct connections mode) receives events from
// /graphql/stream, with the exact selection it asked for.
import { createClient } from 'graphql-sse';
import { BASE, check, gql, pay, practice } from './lib.mjs';

const p = await practice();
const { practice: { lastCursor } } = await gql(p.subscriber, 'query($p: ID!) { practice(id: $p) { lastCursor } }', { p: p.id });
const client = createClient({ url: `${BASE}/graphql/stream`, headers: { Authorization: `Bearer ${p.subscriber}` }, retryAttempts: 0 });
const results = [];
const twoEvents = new Promise((resolve, reject) => {
  client.subscribe(
    {
      query: 'subscription($p: ID!, $a: String) { paymentPosted(practiceId: $p, after: $a) { seq type payment { amountCents } } }',
      variables: { p: p.id, a: lastCursor },
    },
    {
      next: (result) => {
        results.push(result);
        if (results.length === 2) resolve();
      },
      error: reject,
      complete: () => {},
    },
  );
  setTimeout(() => reject(new Error(`only ${results.length} events within 10 s`)), 10_000);
});
await pay(p, p.patients[0], 700);
await pay(p, p.patients[1], 900);
await twoEvents;
client.dispose();
const events = results.map((r) => r.data.paymentPosted);
check(JSON.stringify(events.map((e) => e.payment.amountCents)) === '[700,900]', JSON.stringify(results));
check(events[1].seq === events[0].seq + 1, 'in seq order');
check(events.every((e) => Object.keys(e).join() === 'seq,type,payment'), `exactly the selection: ${JSON.stringify(events)}`);
console.log(`graphql-sse ok: ${JSON.stringify(events)}`);
