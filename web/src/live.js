// The live feed: one `events` subscription over graphql-ws, resumed after every drop from
// the last cursor the board applied (so nothing is missed and nothing doubled). Each
// (re)connection is a fresh client whose subscribe carries the *current* cursor: a
// retrying client would replay its first subscribe, with a stale `after`. A signed-in
// person's fresh token goes over the open socket (`refreshCredentials`), so a refresh
// drops no subscription; a reconnection sends the current one.
import { createClient } from 'graphql-ws';

export const EVENT_FIELDS = `
  seq cursor type occurredAt
  ... on AppointmentEvent {
    appointment {
      id startsAt endsAt durationMinutes status reason cancellationReason version
      provider { id } patient { firstName lastName }
    }
  }
  ... on PaymentEvent { payment { id amountCents method postedAt } patient { firstName lastName } }`;

const EVENTS = `subscription Live($p: ID!, $a: String) { events(practiceId: $p, after: $a) { ${EVENT_FIELDS} } }`;
const REFRESH = 'mutation Refresh($k: String!) { refreshCredentials(key: $k) }';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs until `stop()`: calls `onEvent` for each event and `onStatus` with
 * 'connecting' | 'live' | 'reconnecting' | 'failed'. `cursor()` gives the resume point.
 * `query` (variables `$p`, `$a` and, with `types`, `$t`) replaces the dashboard's fields.
 * `authorization()` gives the credential for each connection (`Bearer <key or token>`);
 * `onConnected()` hears each one made. `refresh(authorization)` hands the open socket new
 * credentials and resolves whether the server took them.
 */
export function follow({
  url, authorization, practiceId, cursor, onEvent, onStatus, onFatal, onConnected = () => {}, query = EVENTS, types = null,
}) {
  let stopped = false;
  let client = null;
  let connected = false;
  (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      onStatus(attempt ? 'reconnecting' : 'connecting');
      client = createClient({
        url,
        lazy: true,
        retryAttempts: 0,
        keepAlive: 5000,
        connectionParams: () => ({ authorization: authorization() }),
        on: {
          connected: () => { attempt = 0; connected = true; onStatus('live'); onConnected(); },
          closed: () => { connected = false; },
        },
      });
      const outcome = await new Promise((resolve) => {
        client.subscribe(
          { query, variables: types ? { p: practiceId, a: cursor(), t: types } : { p: practiceId, a: cursor() } },
          {
            next: (result) => {
              if (result.errors?.length) resolve({ errors: result.errors });
              else onEvent(result.data.events);
            },
            error: (error) => resolve({ error }),
            complete: () => resolve({}),
          },
        );
      });
      client.dispose();
      if (stopped) break;
      if (outcome.errors) {
        // In-band refusals (CURSOR_EXPIRED, NOT_FOUND, FORBIDDEN) will not heal by retrying.
        onStatus('failed');
        onFatal(outcome.errors[0].message, outcome.errors[0].extensions?.code);
        return;
      }
      if (outcome.error?.code === 4403) {
        onStatus('failed');
        onFatal(`the credentials were refused (${outcome.error.reason || 'revoked or expired'})`, 'UNAUTHENTICATED', 4403);
        return;
      }
      await sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
    }
  })();
  return {
    stop() {
      stopped = true;
      client?.dispose();
    },
    /** Sends `refreshCredentials` over the open socket; false when none is open or it was refused. */
    refresh(fresh) {
      if (!connected || !client) return Promise.resolve(false);
      const key = fresh.replace(/^Bearer /, '');
      return new Promise((resolve) => {
        client.subscribe({ query: REFRESH, variables: { k: key } }, {
          next: (result) => resolve(Boolean(result.data?.refreshCredentials) && !result.errors?.length),
          error: () => resolve(false),
          complete: () => resolve(false),
        });
      });
    },
  };
}
