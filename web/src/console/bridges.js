// Bridges: each broker bridge's state on the answering replica and its lag behind the log.
import { el, gql } from './api.js';

const $ = (selector) => document.querySelector(selector);

export async function loadBridges() {
  const note = $('#bridges-note');
  try {
    const { bridges } = await gql('{ bridges { kind destination state lag practicesBehind published lastError lastErrorAt } }');
    note.hidden = bridges.length > 0;
    note.textContent = 'No bridges are configured (BRIDGE_*).';
    $('#bridges').replaceChildren(...bridges.map((b) =>
      el('tr', { class: `bridge ${b.state.toLowerCase()}` }, el('td', {}, b.kind), el('td', {}, b.destination),
        el('td', {}, b.state), el('td', { class: 'lag' }, b.lag), el('td', {}, b.practicesBehind), el('td', {}, b.published),
        el('td', {}, b.lastError ?? '—'))));
  } catch (error) {
    $('#bridges').replaceChildren();
    note.hidden = false;
    note.textContent = error.code === 'FORBIDDEN' ? 'Bridges are shown to global ADMIN keys.' : error.message;
  }
  document.body.dataset.bridges = 'loaded';
}
