// GraphiQL, bundled so the server can serve it without a CDN. Queries and mutations go
// over HTTP with the headers from GraphiQL's Headers tab; subscriptions go over the
// websocket (graphql-transport-ws), whose connection_init payload carries the same
// Authorization header: browsers cannot set headers on a websocket upgrade.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createClient } from 'graphql-ws';
import { getOperationAST } from 'graphql';
import 'graphiql/graphiql.css';

const httpUrl = new URL('/graphql', window.location.href).toString();
const wsUrl = httpUrl.replace(/^http/, 'ws');

// One websocket per distinct Authorization value: changing the header opens a new socket
// that authenticates with the new key.
const sockets = new Map();
function socketFor(authorization) {
  const key = authorization ?? '';
  if (!sockets.has(key)) {
    sockets.set(
      key,
      createClient({
        url: wsUrl,
        lazy: true,
        connectionParams: authorization ? { authorization } : {},
      }),
    );
  }
  return sockets.get(key);
}

function authorizationOf(headers) {
  if (!headers) return undefined;
  const name = Object.keys(headers).find((k) => k.toLowerCase() === 'authorization');
  return name ? String(headers[name]) : undefined;
}

function isSubscription(params, documentAST) {
  if (!documentAST) return false;
  try {
    const operation = getOperationAST(documentAST, params.operationName || undefined);
    return operation?.operation === 'subscription';
  } catch {
    return false;
  }
}

async function* subscribe(params, authorization) {
  yield* socketFor(authorization).iterate({
    query: params.query,
    variables: params.variables ?? undefined,
    operationName: params.operationName ?? undefined,
  });
}

async function fetcher(params, options = {}) {
  const headers = options.headers ?? {};
  if (isSubscription(params, options.documentAST)) {
    return subscribe(params, authorizationOf(headers));
  }
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify(params),
  });
  return response.json();
}

const DEFAULT_QUERY = `# Welcome to clinicstream. Put your key in the Headers tab below:
#   {"Authorization": "Bearer <your key>"}
# Queries and mutations go over HTTP; subscriptions over the websocket.

query Practices {
  practices {
    edges { node { id name timezone lastCursor } }
  }
}

# subscription Events($p: ID!) {
#   events(practiceId: $p) { seq type cursor occurredAt }
# }
`;

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: '{\n  "Authorization": "Bearer change-me"\n}',
    shouldPersistHeaders: true,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: 'headers',
  }),
);
