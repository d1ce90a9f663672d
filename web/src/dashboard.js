// The front-desk dashboard: sign in with an API key, pick a practice and a day, and watch
// the day's appointments per provider and the payments feed change live.
import './dashboard.css';
import { Board } from './board.js';
import { follow } from './live.js';
import { dayRange, today } from './time.js';

const $ = (selector) => document.querySelector(selector);
const wsUrl = new URL('/graphql', window.location.href).toString().replace(/^http/, 'ws');
const APPOINTMENT_FIELDS =
  'id startsAt endsAt durationMinutes status reason cancellationReason version provider { id } patient { firstName lastName }';

let session = null;

async function gql(key, query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors[0].message);
  return body.data;
}

function showError(message) {
  const error = $('#error');
  error.hidden = !message;
  error.textContent = message ?? '';
}

function setStatus(status) {
  const badge = $('#status');
  badge.className = `status ${status}`;
  badge.textContent = status;
  document.body.dataset.status = status;
}

async function signIn(event) {
  event?.preventDefault();
  const key = $('#key').value.trim();
  sessionStorage.setItem('clinicstream.key', key);
  try {
    const data = await gql(key, '{ practices(first: 200) { edges { node { id name } } } }');
    const select = $('#practice');
    const remembered = sessionStorage.getItem('clinicstream.practice');
    select.replaceChildren(
      ...data.practices.edges.map(({ node }) => new Option(node.name, node.id, false, node.id === remembered)),
    );
    select.disabled = false;
    showError(null);
    await open();
  } catch (error) {
    setStatus('failed');
    showError(`Sign-in failed: ${error.message}`);
  }
}

async function loadAppointments(key, practiceId, range) {
  const all = [];
  for (let after = null; ;) {
    const data = await gql(
      key,
      `query($p: ID!, $from: DateTime!, $to: DateTime!, $after: String) {
        appointments(practiceId: $p, from: $from, to: $to, first: 200, after: $after) {
          edges { node { ${APPOINTMENT_FIELDS} } } pageInfo { hasNextPage endCursor }
        }
      }`,
      { p: practiceId, from: range.from.toISOString(), to: range.to.toISOString(), after },
    );
    all.push(...data.appointments.edges.map((e) => e.node));
    if (!data.appointments.pageInfo.hasNextPage) return all;
    after = data.appointments.pageInfo.endCursor;
  }
}

/** Loads the chosen day and follows the practice's events from the moment of loading. */
async function open() {
  session?.live.stop();
  session = null;
  const key = $('#key').value.trim();
  const practiceId = $('#practice').value;
  if (!practiceId) return;
  sessionStorage.setItem('clinicstream.practice', practiceId);
  try {
    // `lastCursor` first, the snapshot second: events committed in between are replayed
    // by the subscription and applied idempotently.
    const { practice, providers } = await gql(
      key,
      'query($p: ID!) { practice(id: $p) { id name timezone currency lastCursor } providers(practiceId: $p) { id name kind } }',
      { p: practiceId },
    );
    const day = $('#day').value || today(practice.timezone);
    $('#day').value = day;
    const range = dayRange(day, practice.timezone);
    const board = new Board({ practice, providers, range });
    board.load(await loadAppointments(key, practiceId, range));
    const render = () => {
      board.render($('#board'), $('#payments'));
      document.body.dataset.lastSeq = String(board.lastSeq);
    };
    render();
    const current = {
      board,
      live: follow({
        url: wsUrl,
        authorization: `Bearer ${key}`,
        practiceId,
        cursor: () => board.lastCursor,
        onEvent: (event) => board.apply(event) && render(),
        onStatus: setStatus,
        onFatal: (message) => showError(message),
      }),
    };
    session = current;
    window.__board = board; // for people (and tests) poking at it from devtools
    showError(null);
  } catch (error) {
    setStatus('failed');
    showError(error.message);
  }
}

$('#signin').addEventListener('submit', signIn);
$('#practice').addEventListener('change', () => open());
$('#day').addEventListener('change', () => open());
const savedKey = sessionStorage.getItem('clinicstream.key');
if (savedKey) {
  $('#key').value = savedKey;
  signIn();
}
