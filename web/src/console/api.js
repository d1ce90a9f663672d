// The console's one door to the server: GraphQL over HTTP with the signed-in key, and a
// small element builder so panels never assemble HTML from strings (no injection).

let key = null;

export function signInAs(k) {
  key = k;
}

export function currentKey() {
  return key;
}

/** POSTs an operation; throws the first error's message (with its code) on failure. */
export async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) {
    const [first] = body.errors;
    const error = new Error(first.message);
    error.code = first.extensions?.code;
    throw error;
  }
  return body.data;
}

/** `el('td', { class: 'x', onclick }, 'text', child)`: an element with attributes and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

const $ = (selector) => document.querySelector(selector);

export function showError(message) {
  const error = $('#error');
  error.hidden = !message;
  error.textContent = message ?? '';
}

/** Runs an action, showing its failure in the error bar instead of throwing. */
export async function guarded(action) {
  try {
    const result = await action();
    showError(null);
    return result;
  } catch (error) {
    showError(error.code ? `${error.message} (${error.code})` : error.message);
    return undefined;
  }
}
