// Webhook endpoints with their health, an endpoint's recent deliveries with every
// attempt, and the buttons that send them again: redeliver one, or replay the endpoint;
// beside them the WebSub subscriptions subscribers registered at POST /websub.
import { el, gql, guarded, when } from './api.js';

const $ = (selector) => document.querySelector(selector);
const ENDPOINTS = `query($p: ID!) { webhookEndpoints(practiceId: $p) {
  id url eventTypes description enabled disabledAt disabledReason failingSince } }`;
const WEBSUB = 'query($p: ID!) { websubSubscriptions(practiceId: $p) { id callback topic signed leaseExpiresAt } }';
const DELIVERIES = `query($e: ID!) { webhookDeliveries(endpointId: $e, first: 25) { edges { node {
  id seq eventType status attemptCount lastStatusCode lastLatencyMs lastError deliveredAt nextAttemptAt
  attempts { number attemptedAt statusCode latencyMs error } } } } }`;

function health(endpoint) {
  if (!endpoint.enabled) return el('span', { class: 'pill bad' }, `disabled ${endpoint.disabledReason ?? ''}`);
  if (endpoint.failingSince) return el('span', { class: 'pill warn' }, `failing since ${when(endpoint.failingSince)}`);
  return el('span', { class: 'pill good' }, 'healthy');
}

function attempts(delivery) {
  return el('ol', { class: 'attempts' }, delivery.attempts.map((a) =>
    el('li', {}, `#${a.number} ${when(a.attemptedAt)} → ${a.statusCode ?? 'no answer'} in ${a.latencyMs} ms${a.error ? ` (${a.error})` : ''}`)));
}

async function showDeliveries(endpoint) {
  const data = await gql(DELIVERIES, { e: endpoint.id });
  $('#deliveries-title').hidden = false;
  $('#deliveries-title').textContent = `Recent deliveries to ${endpoint.url}`;
  $('#deliveries-table').hidden = false;
  $('#deliveries').replaceChildren(...data.webhookDeliveries.edges.map(({ node: d }) =>
    el('tr', { class: `delivery ${d.status.toLowerCase()}`, dataset: { id: d.id } },
      el('td', {}, d.seq), el('td', {}, d.eventType), el('td', {}, d.status), el('td', {}, attempts(d)),
      el('td', {}, d.lastStatusCode ?? d.lastError ?? '—'),
      el('td', {}, el('button', { type: 'button', class: 'redeliver', onclick: () => guarded(async () => {
        await gql('mutation($d: ID!) { redeliverWebhook(input: {deliveryId: $d}) { id } }', { d: d.id });
        await showDeliveries(endpoint);
      }) }, 'Redeliver')))));
  document.body.dataset.deliveries = endpoint.id;
}

export async function loadWebhooks(practiceId) {
  const data = await gql(ENDPOINTS, { p: practiceId });
  $('#deliveries-table').hidden = true;
  $('#deliveries-title').hidden = true;
  $('#endpoints').replaceChildren(...data.webhookEndpoints.map((endpoint) =>
    el('tr', { class: 'endpoint', dataset: { id: endpoint.id } },
      el('td', {}, el('a', { href: '#', class: 'open', onclick: (e) => { e.preventDefault(); guarded(() => showDeliveries(endpoint)); } }, endpoint.url)),
      el('td', {}, endpoint.eventTypes.length ? endpoint.eventTypes.join(', ') : 'every type'),
      el('td', {}, health(endpoint)),
      el('td', {}, el('button', { type: 'button', class: 'replay', onclick: () => guarded(async () => {
        const { replayWebhooks } = await gql('mutation($e: ID!) { replayWebhooks(input: {endpointId: $e}) { queued } }', { e: endpoint.id });
        document.body.dataset.replayed = String(replayWebhooks.queued);
        await showDeliveries(endpoint);
      }) }, 'Replay all')))));
  if (!data.webhookEndpoints.length) $('#endpoints').append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No endpoints.')));
  const { websubSubscriptions: subscriptions } = await gql(WEBSUB, { p: practiceId });
  $('#websub').replaceChildren(...subscriptions.map((s) =>
    el('tr', { class: 'websub', dataset: { id: s.id } },
      el('td', {}, s.callback), el('td', {}, s.topic), el('td', {}, s.signed ? 'yes' : 'no'), el('td', {}, when(s.leaseExpiresAt)))));
  if (!subscriptions.length) $('#websub').append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No WebSub subscriptions.')));
  document.body.dataset.websub = String(subscriptions.length);
}
