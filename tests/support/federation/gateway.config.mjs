// Hive Gateway in front of the supergraph (the file supergraph.mjs composed). Subscriptions
// reach clinicstream over its websocket (graphql-transport-ws), with the client's
// authorization — its header on HTTP and SSE, its connection_init payload on a websocket
// (the gateway merges connectionParams into context.headers) — in clinicstream's
// connection_init payload.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  supergraph: process.env.SUPERGRAPH,
  pollingInterval: 0,
  transportEntries: {
    clinicstream: {
      options: {
        subscriptions: {
          kind: 'ws',
          location: '/graphql',
          options: { connectionParams: { authorization: '{context.headers.authorization}' } },
        },
      },
    },
  },
});
