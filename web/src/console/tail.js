// The event tail: the practice's `events` subscription over graphql-ws, newest first,
// filtered by type; each row's cursor can be copied (to resume a client from it). After a
// drop it resumes from the last cursor shown, so nothing is missed or doubled.
import { follow } from '../live.js';
import { currentKey, el, when } from './api.js';

const $ = (selector) => document.querySelector(selector);
const TYPES = [
  'PATIENT_CREATED', 'PATIENT_UPDATED', 'APPOINTMENT_SCHEDULED', 'APPOINTMENT_RESCHEDULED',
  'APPOINTMENT_CANCELLED', 'APPOINTMENT_COMPLETED', 'APPOINTMENT_STARTING_SOON', 'CHARGE_POSTED',
  'PAYMENT_POSTED',
];
const QUERY = 'subscription Tail($p: ID!, $t: [EventType!], $a: String) { events(practiceId: $p, types: $t, after: $a) { seq cursor type occurredAt } }';
const MAX_ROWS = 500;
const wsUrl = new URL('/graphql', window.location.href).toString().replace(/^http/, 'ws');

let follower = null;
let practice = null;
let last = null;
let paused = false;

function setStatus(status) {
  const badge = $('#tail-status');
  badge.className = `status ${status}`;
  badge.textContent = status;
  document.body.dataset.tail = status;
}

async function copy(cursor, button) {
  try {
    await navigator.clipboard.writeText(cursor);
  } catch {
    // No clipboard (plain http, permissions): leave the cursor selected instead.
    const range = document.createRange();
    range.selectNodeContents(button.closest('tr').querySelector('.cursor'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
  document.body.dataset.copied = cursor;
  button.textContent = 'copied';
}

function show(event) {
  last = event.cursor;
  if (paused) return;
  const rows = $('#tail-rows');
  const copyButton = el('button', { type: 'button', class: 'copy' }, 'copy cursor');
  copyButton.addEventListener('click', () => copy(event.cursor, copyButton));
  rows.prepend(el('tr', { class: 'event', dataset: { seq: event.seq, type: event.type } },
    el('td', {}, event.seq), el('td', {}, event.type), el('td', {}, when(event.occurredAt)),
    el('td', { class: 'cursor' }, event.cursor), el('td', {}, copyButton)));
  while (rows.children.length > MAX_ROWS) rows.lastChild.remove();
}

function types() {
  const chosen = [...$('#tail-types').selectedOptions].map((o) => o.value);
  return chosen.length ? chosen : null;
}

function start() {
  follower?.stop();
  if (!practice) return;
  follower = follow({
    url: wsUrl,
    authorization: () => `Bearer ${currentKey()}`,
    practiceId: practice,
    cursor: () => last,
    query: QUERY,
    types: types(),
    onEvent: show,
    onStatus: setStatus,
    onConnected: () => { document.body.dataset.tailConnections = String(Number(document.body.dataset.tailConnections ?? 0) + 1); },
    onFatal: (message, _code, close) => {
      document.querySelector('#tail-status').title = message;
      if (close === 4403) onRefused(message);
    },
  });
}

let onRefused = () => {};

/** Hands the open tail socket a signed-in person's fresh token; whether it took it. */
export function refreshTail(token) {
  return follower ? follower.refresh(`Bearer ${token}`) : Promise.resolve(false);
}

/** Stops the tail (signed out). */
export function stopTail() {
  follower?.stop();
  follower = null;
  setStatus('idle');
}

/** `refused(message)` hears a close 4403 (the credentials revoked, expired or logged out). */
export function setupTail(refused = () => {}) {
  onRefused = refused;
  $('#tail-types').replaceChildren(...TYPES.map((t) => new Option(t, t)));
  $('#tail-types').addEventListener('change', () => start());
  $('#tail-pause').addEventListener('click', (e) => {
    paused = !paused;
    e.target.textContent = paused ? 'Resume' : 'Pause';
  });
  $('#tail-clear').addEventListener('click', () => $('#tail-rows').replaceChildren());
}

/** Follows `practiceId` from its latest event on (`lastCursor`). */
export function openTail(practiceId, lastCursor) {
  practice = practiceId;
  last = lastCursor;
  $('#tail-rows').replaceChildren();
  start();
}
