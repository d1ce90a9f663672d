// API keys of the practice: create one (its plaintext shown once), revoke one.
import { el, gql, guarded, when } from './api.js';

const $ = (selector) => document.querySelector(selector);
let practice = null;

function state(key) {
  if (key.revokedAt) return `revoked ${when(key.revokedAt)}`;
  if (key.expiresAt && new Date(key.expiresAt) < new Date()) return `expired ${when(key.expiresAt)}`;
  return key.expiresAt ? `active until ${when(key.expiresAt)}` : 'active';
}

export async function loadKeys(practiceId) {
  practice = practiceId;
  const { apiKeys } = await gql('query($p: ID!) { apiKeys(practiceId: $p) { id name role prefix createdAt expiresAt revokedAt } }', { p: practiceId });
  $('#keys').replaceChildren(...apiKeys.map((key) =>
    el('tr', { class: `apikey${key.revokedAt ? ' revoked' : ''}`, dataset: { id: key.id } },
      el('td', {}, key.name), el('td', {}, key.role), el('td', {}, el('code', {}, key.prefix)),
      el('td', {}, when(key.createdAt)), el('td', {}, state(key)),
      el('td', {}, key.revokedAt ? '' : el('button', { type: 'button', class: 'revoke', onclick: () => guarded(async () => {
        if (!window.confirm(`Revoke "${key.name}"? Its open connections close at once.`)) return;
        await gql('mutation($id: ID!) { revokeApiKey(input: {id: $id}) { id } }', { id: key.id });
        await loadKeys(practice);
      }) }, 'Revoke')))));
}

export function setupKeys() {
  $('#key-create').addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(async () => {
      const { createApiKey } = await gql(
        'mutation($p: ID!, $r: Role!, $n: String!) { createApiKey(input: {practiceId: $p, role: $r, name: $n}) { key apiKey { id } } }',
        { p: practice, r: $('#key-role').value, n: $('#key-name').value.trim() },
      );
      const secret = $('#key-secret');
      secret.hidden = false;
      secret.replaceChildren('New key (shown once): ', el('code', { id: 'new-key' }, createApiKey.key));
      $('#key-name').value = '';
      await loadKeys(practice);
    });
  });
}
