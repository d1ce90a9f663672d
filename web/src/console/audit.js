// Audit search: who read or changed a patient's data, newest first, by patient. "Who" is
// the person (their name and subject) when a person's token acted, else the API key.
import { el, gql, guarded, when } from './api.js';

const $ = (selector) => document.querySelector(selector);
const QUERY = `query($p: ID!, $pt: ID, $after: String) { auditLog(practiceId: $p, patientId: $pt, first: 50, after: $after) {
  edges { cursor node { id at apiKeyId subject actorName role operationName transport action patientIds filter deliveries } }
  pageInfo { hasNextPage endCursor } } }`;
let practice = null;
let next = null;

function who(entry) {
  if (entry.subject) return entry.actorName ? `${entry.actorName} (${entry.subject})` : entry.subject;
  return entry.apiKeyId ?? '—';
}

function row(entry) {
  const detail = entry.filter ?? (entry.deliveries !== null && entry.deliveries !== undefined ? `${entry.deliveries} delivered` : '');
  return el('tr', { class: `audit ${entry.action.toLowerCase()}`, dataset: { id: entry.id } },
    el('td', {}, when(entry.at)), el('td', {}, entry.action), el('td', {}, entry.operationName ?? '—'),
    el('td', {}, entry.transport), el('td', { class: 'who' }, who(entry)), el('td', {}, entry.role),
    el('td', { class: 'ids' }, entry.patientIds.join(', ')), el('td', { class: 'detail' }, detail));
}

async function page(append) {
  const patientId = $('#audit-patients').value || null;
  const { auditLog } = await gql(QUERY, { p: practice, pt: patientId, after: append ? next : null });
  const rows = auditLog.edges.map(({ node }) => row(node));
  if (append) $('#audit-rows').append(...rows);
  else $('#audit-rows').replaceChildren(...rows);
  next = auditLog.pageInfo.endCursor;
  $('#audit-more').hidden = !auditLog.pageInfo.hasNextPage;
  document.body.dataset.audit = String($('#audit-rows').children.length);
  document.body.dataset.auditPatient = patientId ?? '';
}

async function findPatients() {
  const search = $('#audit-patient').value.trim();
  const { patients } = await gql('query($p: ID!, $s: String) { patients(practiceId: $p, search: $s, first: 50) { edges { node { id firstName lastName } } } }', { p: practice, s: search || null });
  const select = $('#audit-patients');
  select.replaceChildren(new Option('every patient', ''), ...patients.edges.map(({ node }) => new Option(`${node.firstName} ${node.lastName}`, node.id)));
  if (search && patients.edges.length) select.value = patients.edges[0].node.id;
}

export async function loadAudit(practiceId) {
  practice = practiceId;
  await page(false);
}

export function setupAudit() {
  $('#audit-search').addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(async () => {
      await findPatients();
      await page(false);
    });
  });
  $('#audit-patients').addEventListener('change', () => guarded(() => page(false)));
  $('#audit-more').addEventListener('click', () => guarded(() => page(true)));
}
