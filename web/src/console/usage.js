// Usage: deliveries per hour by transport over the last 7 days (the `usage` query's
// hourly buckets), and the totals of the range.
import { el, gql } from './api.js';
import { stackedBars } from './chart.js';

const $ = (selector) => document.querySelector(selector);
const TRANSPORTS = ['WEBSOCKET', 'SSE', 'MULTIPART', 'WEBHOOK', 'BRIDGE'];
const QUERY = `query Usage($p: ID!, $from: DateTime!, $to: DateTime!) {
  usage(practiceId: $p, from: $from, to: $to) {
    operations queries mutations subscriptions deliveries peakConnections peakSubscriptions
    deliveriesByTransport { transport count }
    buckets { hour deliveries deliveriesByTransport { transport count } }
  }
}`;
const HOUR = 3_600_000;

export async function loadUsage(practiceId) {
  const to = new Date(Math.ceil(Date.now() / HOUR) * HOUR);
  const from = new Date(to.getTime() - 7 * 24 * HOUR);
  const { usage } = await gql(QUERY, { p: practiceId, from: from.toISOString(), to: to.toISOString() });
  const hours = Array.from({ length: 7 * 24 }, (_, i) => new Date(from.getTime() + i * HOUR));
  const series = Object.fromEntries(TRANSPORTS.map((t) => [t, new Map()]));
  for (const bucket of usage.buckets) {
    const hour = new Date(bucket.hour).getTime();
    for (const { transport, count } of bucket.deliveriesByTransport) series[transport]?.set(hour, count);
  }
  $('#usage-chart').replaceChildren(stackedBars(hours, series));
  const byTransport = Object.fromEntries(usage.deliveriesByTransport.map((t) => [t.transport, t.count]));
  const totals = [
    ['operations', usage.operations], ['queries', usage.queries], ['mutations', usage.mutations],
    ['subscriptions started', usage.subscriptions], ['deliveries', usage.deliveries],
    ...TRANSPORTS.map((t) => [`· ${t.toLowerCase()}`, byTransport[t] ?? 0]),
    ['peak connections', usage.peakConnections], ['peak subscriptions', usage.peakSubscriptions],
  ];
  $('#usage-totals').replaceChildren(...totals.flatMap(([name, value]) => [el('dt', {}, name), el('dd', { dataset: { total: name } }, value)]));
  document.body.dataset.usage = String(usage.deliveries);
}
