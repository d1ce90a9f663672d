// The second subgraph of the test supergraph: it extends clinicstream's Patient with a
// field of its own, `chartNote`, resolved from the reference's id alone (notes.graphql). It counts the
// references it resolved so the test can see the gateway joined through it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parse } from 'graphql';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createYoga } from 'graphql-yoga';

const typeDefs = parse(readFileSync(new URL('./notes.graphql', import.meta.url), 'utf8'));

let resolved = 0;
const resolvers = {
  Patient: {
    __resolveReference({ id }) {
      resolved += 1;
      return { id, chartNote: `chart of ${id}` };
    },
  },
  Query: {
    notesResolved: () => resolved,
    notedPatients: (_, { ids }) => ids.map((id) => ({ id, chartNote: `chart of ${id}` })),
  },
};

/** Starts the subgraph on a free port of 127.0.0.1; resolves to its /graphql URL. */
export function startNotes() {
  const yoga = createYoga({ schema: buildSubgraphSchema([{ typeDefs, resolvers }]), logging: false });
  const server = createServer(yoga);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/graphql`, server }));
  });
}
