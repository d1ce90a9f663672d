// Composes the supergraph (run by `mesh-compose` from supergraph.mjs): clinicstream's
// federated SDL read from its `_service { sdl }`, and the notes subgraph's (notes.graphql). Each operation the
// gateway sends clinicstream carries the client's Authorization header.
import { defineConfig, loadGraphQLHTTPSubgraph } from '@graphql-mesh/compose-cli';

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadGraphQLHTTPSubgraph('clinicstream', {
        endpoint: process.env.CLINICSTREAM_URL,
        federation: true,
        operationHeaders: { authorization: '{context.headers.authorization}' },
      }),
    },
    {
      // Its SDL from the file: compose-cli reads @apollo/subgraph's `_service { sdl }`
      // (`type Query` and `extend type Query`) as a Query of the federation fields alone.
      sourceHandler: loadGraphQLHTTPSubgraph('notes', { endpoint: process.env.NOTES_URL, source: './notes.graphql' }),
    },
  ],
});
