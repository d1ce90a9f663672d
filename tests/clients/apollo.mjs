// Apollo Client 4 against clinicstream: HttpLink with automatic persisted queries (POST,
// then GET for hashed queries), BatchHttpLink, a subscription over HttpLink (Apollo's
// multipart protocol) and over GraphQLWsLink (graphql-ws).
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql as tag } from '@apollo/client';
import { BatchHttpLink } from '@apollo/client/link/batch-http';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { GRAPHQL, WS, check, first, fixture, postPayment, recordingFetch, sha256, subscriptions } from './lib.mjs';

const f = await fixture();
const headers = { authorization: `Bearer ${f.key}` };
const PATIENT = tag`query Patient($id: ID!) { patient(id: $id) { id firstName balanceCents } }`;
const EVENTS = tag`subscription Events($p: ID!) { events(practiceId: $p) { seq type cursor } }`;

const client = (link) => new ApolloClient({ link, cache: new InMemoryCache() });

// Automatic persisted queries over POST: the hash alone first, then hash + query, then the hash alone works.
{
  const recorded = recordingFetch();
  const link = ApolloLink.from([
    new PersistedQueryLink({ sha256 }),
    new HttpLink({ uri: GRAPHQL, headers, fetch: recorded.fetch }),
  ]);
  const result = await client(link).query({ query: PATIENT, variables: { id: f.patient } });
  check(result.data.patient.firstName === 'Maria', 'Apollo Client runs a query through the persisted-query link');
  check(recorded.sent.length === 2 && !recorded.sent[0].body.query && recorded.sent[1].body.query,
    'the first request carried only the hash, the retry the query too');
  const again = await client(link).query({ query: PATIENT, variables: { id: f.patient } });
  check(again.data.patient.id === f.patient && recorded.sent.length === 3 && !recorded.sent[2].body.query,
    'a second client sends the hash alone and gets the answer (the server stored the document)');
}

// Hashed queries by GET (cacheable).
{
  const recorded = recordingFetch();
  const link = ApolloLink.from([
    new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
    new HttpLink({ uri: GRAPHQL, headers, fetch: recorded.fetch }),
  ]);
  const result = await client(link).query({ query: PATIENT, variables: { id: f.patient } });
  check(result.data.patient.id === f.patient, 'a hashed query by GET runs');
  check(recorded.sent.every((r) => r.method === 'GET') && recorded.sent.at(-1).url.includes('extensions='),
    'it went by GET with the hash in `extensions`');
}

// BatchHttpLink: two queries, one POST with an array, two answers in order.
{
  const recorded = recordingFetch();
  const link = new BatchHttpLink({ uri: GRAPHQL, headers, fetch: recorded.fetch, batchMax: 10, batchInterval: 20 });
  const apollo = client(link);
  const PRACTICE = tag`query Practice($id: ID!) { practice(id: $id) { id name } }`;
  const [patient, practice] = await Promise.all([
    apollo.query({ query: PATIENT, variables: { id: f.patient } }),
    apollo.query({ query: PRACTICE, variables: { id: f.practice } }),
  ]);
  check(patient.data.patient.id === f.patient && practice.data.practice.id === f.practice,
    'BatchHttpLink gets both answers, each to its query');
  check(recorded.sent.length === 1 && Array.isArray(recorded.sent[0].body) && recorded.sent[0].body.length === 2,
    'they went as one batched POST');
}

// A subscription over HttpLink: Apollo's multipart HTTP protocol.
{
  const recorded = recordingFetch();
  const apollo = client(new HttpLink({ uri: GRAPHQL, headers, fetch: recorded.fetch }));
  const received = first((next, fail) => {
    const sub = apollo.subscribe({ query: EVENTS, variables: { p: f.practice } })
      .subscribe({ next: (r) => r.data && next(r.data.events), error: fail });
    return () => sub.unsubscribe();
  });
  await subscriptions('http', 1); // subscribed before the payment is posted
  await postPayment(f.key, f.patient, 4500);
  const event = await received;
  check(event.type === 'PAYMENT_POSTED' && event.cursor, 'HttpLink receives the event over multipart/mixed');
  check(String(recorded.sent[0].accept ?? JSON.stringify(recorded.sent)).includes('multipart/mixed'),
    'it asked for multipart/mixed');
}

// A subscription over GraphQLWsLink (graphql-ws), credentials in connection_init.
{
  const ws = createClient({ url: WS, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${f.key}` } });
  const apollo = client(new GraphQLWsLink(ws));
  const received = first((next, fail) => {
    const sub = apollo.subscribe({ query: EVENTS, variables: { p: f.practice } })
      .subscribe({ next: (r) => r.data && next(r.data.events), error: fail });
    return () => sub.unsubscribe();
  });
  await subscriptions('websocket', 1);
  await postPayment(f.key, f.patient, 1200);
  const event = await received;
  check(event.type === 'PAYMENT_POSTED', 'GraphQLWsLink receives the event over graphql-transport-ws');
  await ws.dispose();
}


console.log('apollo: all checks passed');
