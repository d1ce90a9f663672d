// The operator console at /console: sign in (as a person at the identity provider, or with
// an ADMIN key), pick a practice, and look at it panel by panel — the live event tail,
// usage, webhooks, bridges, keys, quota and the audit trail. Every panel is a GraphQL
// query of the public API; nothing here has access the credential does not have.
import '../console.css';
import { gql, guarded, showError, signInAs } from './api.js';
import { loadAudit, setupAudit } from './audit.js';
import { loadBridges } from './bridges.js';
import { loadKeys, setupKeys } from './keys.js';
import { loadQuota, setupQuota } from './quota.js';
import { openTail, refreshTail, setupTail, stopTail } from './tail.js';
import { personControls } from '../signin.js';
import { loadUsage } from './usage.js';
import { loadWebhooks } from './webhooks.js';

const $ = (selector) => document.querySelector(selector);
const PANELS = {
  events: () => {},
  usage: loadUsage,
  webhooks: loadWebhooks,
  bridges: () => loadBridges(),
  keys: loadKeys,
  quota: loadQuota,
  audit: loadAudit,
};
let practice = null;

async function show(panel) {
  document.body.dataset.panel = panel;
  for (const section of document.querySelectorAll('.panel')) section.hidden = section.id !== `panel-${panel}`;
  for (const tab of document.querySelectorAll('#tabs button')) tab.classList.toggle('active', tab.dataset.panel === panel);
  if (!practice) return;
  document.body.dataset.loaded = '';
  await guarded(() => PANELS[panel](practice));
  document.body.dataset.loaded = panel;
}

async function choose(practiceId) {
  practice = practiceId;
  sessionStorage.setItem('clinicstream.console.practice', practiceId);
  const { practice: p } = await gql('query($p: ID!) { practice(id: $p) { id name lastCursor } }', { p: practiceId });
  openTail(p.id, p.lastCursor);
  await show(document.body.dataset.panel);
}

/** Lists the practices the credential sees and opens the chosen one. */
async function enter() {
  try {
    const data = await gql('{ practices(first: 200) { edges { node { id name } } } }');
    const remembered = sessionStorage.getItem('clinicstream.console.practice');
    const select = $('#practice');
    select.replaceChildren(...data.practices.edges.map(({ node }) => new Option(node.name, node.id, false, node.id === remembered)));
    select.disabled = false;
    $('#who').textContent = `signed in · ${data.practices.edges.length} practice(s)`;
    document.body.dataset.signedIn = 'yes';
    showError(null);
    if (select.value) await choose(select.value);
  } catch (error) {
    document.body.dataset.signedIn = 'no';
    showError(`Sign-in failed: ${error.message}`);
  }
}

async function signIn(event) {
  event?.preventDefault();
  people.leave();
  const key = $('#key').value.trim();
  signInAs(key);
  sessionStorage.setItem('clinicstream.console.key', key);
  await enter();
}

/** The signed-in person (none with a key); their tokens are in memory only. */
const people = personControls({
  adopted(signedIn) {
    signInAs(signedIn.token);
    sessionStorage.removeItem('clinicstream.console.key');
    return enter();
  },
  async token(token) {
    signInAs(token);
    if (await refreshTail(token)) {
      document.body.dataset.credentialRefreshes = String(Number(document.body.dataset.credentialRefreshes ?? 0) + 1);
    }
  },
  ended: signedOut,
  failed: showError,
});

function signedOut(reason) {
  signInAs(null);
  stopTail();
  practice = null;
  document.body.dataset.signedIn = 'no';
  $('#who').textContent = 'signed out';
  for (const rows of document.querySelectorAll('main tbody')) rows.replaceChildren();
  showError(`Signed out: ${reason}. Sign in again to continue.`);
}

setupTail((message) => {
  if (!people.person) return;
  people.leave();
  signedOut(message);
});
setupKeys();
setupQuota();
setupAudit();
$('#signin').addEventListener('submit', signIn);
$('#practice').addEventListener('change', (e) => guarded(() => choose(e.target.value)));
for (const tab of document.querySelectorAll('#tabs button')) tab.addEventListener('click', () => show(tab.dataset.panel));
(async () => {
  if (await people.offer()) return;
  const saved = sessionStorage.getItem('clinicstream.console.key');
  if (saved) {
    $('#key').value = saved;
    signIn();
  } else {
    show('events');
  }
})();
