// Chromium calls the API from pages on two other origins: one listed in
// CORS_ALLOWED_ORIGINS (its fetches, SSE stream and websocket work), one not (the browser
// blocks its fetch and websocket, and its mutation changes nothing on the server).
import http from 'node:http';
import { ADMIN_KEY, BASE, check, gql, launch, screenshot } from './lib.mjs';

const ALLOWED_PORT = Number(process.env.ALLOWED_PORT);
const REFUSED_PORT = Number(process.env.REFUSED_PORT);
if (!ALLOWED_PORT || !REFUSED_PORT) throw new Error('ALLOWED_PORT and REFUSED_PORT are required');

// A page of each origin (their own servers, so their origins really differ from the API's).
const page = '<!doctype html><title>another origin</title><h1>a page on another origin</h1>';
const servers = [ALLOWED_PORT, REFUSED_PORT].map((port) => {
  const server = http.createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
});
const [allowedServer, refusedServer] = await Promise.all(servers);

// Runs in the page: a mutation by fetch, an SSE query by fetch, a websocket handshake.
async function callApi({ base, key, name }) {
  const out = {};
  try {
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `mutation { createPractice(input: {name: "${name}", timezone: "UTC", currency: "USD"}) { id } }` }),
    });
    out.fetch = { status: response.status, body: await response.json() };
  } catch (error) {
    out.fetch = { blocked: String(error) };
  }
  try {
    const response = await fetch(`${base}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    out.sse = { status: response.status, text: await response.text() };
  } catch (error) {
    out.sse = { blocked: String(error) };
  }
  out.websocket = await new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const timer = setTimeout(() => resolve('timeout'), 5000);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
    ws.onmessage = (m) => { clearTimeout(timer); resolve(JSON.parse(m.data).type); ws.close(); };
    ws.onerror = () => { clearTimeout(timer); resolve('error'); };
  });
  return out;
}

const { browser, context } = await launch();
try {
  const allowed = await context.newPage();
  await allowed.goto(`http://localhost:${ALLOWED_PORT}/`);
  const yes = await allowed.evaluate(callApi, { base: BASE, key: ADMIN_KEY, name: 'From the allowed origin' });
  check(yes.fetch.status === 200 && yes.fetch.body.data?.createPractice?.id, `the allowed origin's mutation ran: ${JSON.stringify(yes.fetch)}`);
  check(yes.sse.status === 200 && yes.sse.text.includes('"__typename":"Query"'), `the allowed origin reads the SSE stream: ${JSON.stringify(yes.sse)}`);
  check(yes.websocket === 'connection_ack', `the allowed origin's websocket is acknowledged: ${yes.websocket}`);
  await screenshot(allowed, 'cors-allowed-origin');

  const refused = await context.newPage();
  await refused.goto(`http://localhost:${REFUSED_PORT}/`);
  const no = await refused.evaluate(callApi, { base: BASE, key: ADMIN_KEY, name: 'From the refused origin' });
  check(no.fetch.blocked, `the browser blocks the refused origin's fetch: ${JSON.stringify(no.fetch)}`);
  check(no.sse.blocked, `and its SSE request: ${JSON.stringify(no.sse)}`);
  check(no.websocket === 'error', `and its websocket never opens: ${no.websocket}`);

  const names = (await gql(ADMIN_KEY, '{ practices { edges { node { name } } } }')).practices.edges.map((e) => e.node.name);
  check(names.includes('From the allowed origin'), 'the allowed mutation is on the server');
  check(!names.includes('From the refused origin'), 'the refused mutation changed nothing');
} finally {
  await browser.close();
  allowedServer.close();
  refusedServer.close();
}
console.log('cors: all checks passed');
