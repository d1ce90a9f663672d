// The practice's quota: each limit with what is used of it now; a global ADMIN can set them.
import { el, gql, guarded } from './api.js';

const $ = (selector) => document.querySelector(selector);
const LIMITS = [
  ['maxConnections', 'connections', 'Connections'],
  ['maxSubscriptions', 'subscriptions', 'Subscriptions'],
  ['maxMutationsPerMinute', 'mutationsLastMinute', 'Mutations in the last minute'],
  ['maxDeliveriesPerDay', 'deliveriesToday', 'Deliveries today (UTC)'],
  ['maxWebhookEndpoints', 'webhookEndpoints', 'Webhook endpoints'],
];
const QUOTA_FIELDS = `${LIMITS.map(([max]) => max).join(' ')} use { ${LIMITS.map(([, used]) => used).join(' ')} }`;
let practice = null;

function meter(label, used, max) {
  const share = max ? Math.min(1, used / Math.max(1, max)) : 0;
  const level = !max ? 'unlimited' : share >= 1 ? 'full' : share >= 0.8 ? 'high' : 'ok';
  return el('div', { class: `meter ${level}` },
    el('span', { class: 'label' }, label),
    el('span', { class: 'bar' }, el('span', { class: 'fill', style: `width: ${(share * 100).toFixed(1)}%` })),
    el('span', { class: 'value' }, max === null ? `${used} · unlimited` : `${used} / ${max}`));
}

function show(quota) {
  $('#quota-meters').replaceChildren(...LIMITS.map(([max, used, label]) => meter(label, quota.use[used], quota[max])));
  for (const input of document.querySelectorAll('#quota-form input')) {
    const value = quota[input.dataset.quota];
    input.value = value === null ? '' : String(value);
  }
  document.body.dataset.quota = 'loaded';
}

export async function loadQuota(practiceId) {
  practice = practiceId;
  const { practice: p } = await gql(`query($p: ID!) { practice(id: $p) { quota { ${QUOTA_FIELDS} } } }`, { p: practiceId });
  show(p.quota);
}

export function setupQuota() {
  $('#quota-form').addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(async () => {
      const input = { practiceId: practice };
      for (const field of document.querySelectorAll('#quota-form input')) {
        input[field.dataset.quota] = field.value === '' ? null : Number(field.value);
      }
      const { setPracticeQuota } = await gql(`mutation($i: SetPracticeQuotaInput!) { setPracticeQuota(input: $i) { ${QUOTA_FIELDS} } }`, { i: input });
      show(setPracticeQuota);
    });
  });
}
