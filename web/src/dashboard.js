// The front-desk dashboard: sign in (as a person at the identity provider, or with an API
// key), pick a practice and a day, and watch the day's appointments per provider and the
// payments feed change live.
import './dashboard.css';
import { Board } from './board.js';
import { follow } from './live.js';
import { personControls } from './signin.js';
import { dayRange, today } from './time.js';

const $ = (selector) => document.querySelector(selector);
const wsUrl = new URL('/graphql', window.location.href).toString().replace(/^http/, 'ws');
const APPOINTMENT_FIELDS =
  'id startsAt endsAt durationMinutes status reason cancellationReason version provider { id } patient { firstName lastName }';

let session = null;
/** What the page acts as: a pasted key, or the signed-in person's current access token. */
let credential = null;
/** Counters the tests read: sockets opened, and fresh tokens the open socket took. */
const counters = { connections: 0, credentialRefreshes: 0 };

async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors[0].message);
  return body.data;
}

function count(name) {
  counters[name] += 1;
  document.body.dataset[name] = String(counters[name]);
}

function showError(message) {
  const error = $('#error');
  error.hidden = !message;
  error.textContent = message ?? '';
}

function setStatus(status, text = status) {
  const badge = $('#status');
  badge.className = `status ${status}`;
  badge.textContent = text;
  document.body.dataset.status = status;
}

/** Signs in with the pasted key (a signed-in person is signed out of this page first). */
async function useKey(event) {
  event?.preventDefault();
  people.leave();
  credential = $('#key').value.trim();
  sessionStorage.setItem('clinicstream.key', credential);
  await enter();
}

/** Lists the practices the credential sees and opens the chosen one. */
async function enter() {
  try {
    const data = await gql('{ practices(first: 200) { edges { node { id name } } } }');
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

/** A signed-in person: act as their token, and hand each refreshed one to the open socket. */
const people = personControls({
  adopted(signedIn) {
    credential = signedIn.token;
    sessionStorage.removeItem('clinicstream.key');
    document.body.dataset.person = signedIn.subject ?? '';
    return enter();
  },
  async token(token) {
    credential = token;
    if (await session?.live.refresh(`Bearer ${token}`)) count('credentialRefreshes');
  },
  left: () => delete document.body.dataset.person,
  ended: signedOut,
  failed(message) {
    setStatus('failed');
    showError(message);
  },
});

/** The server refused the person's token on the open socket: they are signed out here. */
function refused(reason) {
  people.leave();
  signedOut(reason);
}

/** The person's access ended (logged out at the provider, or the session expired). */
function signedOut(reason) {
  credential = null;
  session?.live.stop();
  session = null;
  // What the person saw is theirs no longer to see.
  $('#board').replaceChildren();
  $('#payments').replaceChildren();
  setStatus('signed-out', 'signed out');
  showError(`Signed out: ${reason}. Sign in again to continue.`);
}

async function loadAppointments(practiceId, range) {
  const all = [];
  for (let after = null; ;) {
    const data = await gql(
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
  const practiceId = $('#practice').value;
  if (!practiceId) return;
  sessionStorage.setItem('clinicstream.practice', practiceId);
  try {
    // `lastCursor` first, the snapshot second: events committed in between are replayed
    // by the subscription and applied idempotently.
    const { practice, providers } = await gql(
      'query($p: ID!) { practice(id: $p) { id name timezone currency lastCursor } providers(practiceId: $p) { id name kind } }',
      { p: practiceId },
    );
    const day = $('#day').value || today(practice.timezone);
    $('#day').value = day;
    const range = dayRange(day, practice.timezone);
    const board = new Board({ practice, providers, range });
    board.load(await loadAppointments(practiceId, range));
    const render = () => {
      board.render($('#board'), $('#payments'));
      document.body.dataset.lastSeq = String(board.lastSeq);
    };
    render();
    const current = {
      board,
      live: follow({
        url: wsUrl,
        authorization: () => `Bearer ${credential}`,
        practiceId,
        cursor: () => board.lastCursor,
        onEvent: (event) => board.apply(event) && render(),
        onStatus: setStatus,
        onConnected: () => count('connections'),
        onFatal: (message, _code, close) => (close === 4403 && people.person ? refused(message) : showError(message)),
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

$('#signin').addEventListener('submit', useKey);
$('#practice').addEventListener('change', () => open());
$('#day').addEventListener('change', () => open());
(async () => {
  if (await people.offer()) return;
  const savedKey = sessionStorage.getItem('clinicstream.key');
  if (savedKey) {
    $('#key').value = savedKey;
    useKey();
  }
})();
