// EventSource (the `eventsource` package: the browser's API, plus a `fetch` option that can
// send the Authorization header) on /graphql/stream: a subscription by GET, each `next`
// carrying its event's cursor as the SSE id.
import { EventSource } from 'eventsource';
import { BASE, check, fixture, postPayment, subscriptions } from './lib.mjs';

const f = await fixture();
const url = new URL(`${BASE}/graphql/stream`);
url.searchParams.set('query', 'subscription($p: ID!) { paymentPosted(practiceId: $p) { seq payment { amountCents } } }');
url.searchParams.set('variables', JSON.stringify({ p: f.practice }));
const source = new EventSource(url, {
  fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${f.key}` } }),
});
const received = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no event within 10 s')), 10_000);
  source.addEventListener('next', (message) => {
    clearTimeout(timer);
    resolve(message);
  });
  source.onerror = (error) => reject(new Error(`EventSource error: ${error.message ?? error.type}`));
});
await subscriptions('sse', 1);
await postPayment(f.key, f.patient, 2500);
const message = await received;
source.close();
const { data } = JSON.parse(message.data);
check(data.paymentPosted.payment.amountCents === 2500, 'EventSource receives the event by GET');
check(message.lastEventId.length > 0, `its SSE id is the event's cursor (${message.lastEventId})`);
console.log('eventsource: all checks passed');
