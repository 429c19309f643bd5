// Runs one scenario against the gateway through the npm clients of its two subscription
// transports, graphql-ws (WebSocket, graphql-transport-ws) and graphql-sse (distinct
// connections mode), and prints one JSON object for the pytest side to assert on.
//
//   node tests/audit/live-clients.mjs SCENARIO http://127.0.0.1:PORT/graphql sk_test_… [ARGS…]
//
// Scenarios, each with its ARGS:
//   follow ws|sse AFTER REPLAYED  subscribe to customerEvents after the event id AFTER;
//                                 once REPLAYED events arrived, create, rename and delete
//                                 a customer over HTTP and wait for their three events
//   refused                       graphql-ws with a bad key, then with none
//   operations                    a query, a mutation and the query again over graphql-ws
//   sse-query                     a query over graphql-sse
//   sse-unknown-after AFTER       subscribe over graphql-sse after an event id not in the log
//
// Failures land in the report's `failure` (with what had arrived), never in the exit code.
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocketPackage from 'ws';

const SECONDS = 30;
const FOLLOW = `subscription Follow($after: ID) {
  customerEvents(after: $after) {
    id object type live createdAt customer { id name } previousAttributes
  }
}`;
const CUSTOMERS = '{ customers(first: 50) { totalCount nodes { id name email } } }';
const CREATE = `mutation Create($name: String!) {
  createCustomer(input: { name: $name }) { customer { id name email } userErrors { code } }
}`;
const RENAME = `mutation Rename($id: ID!, $name: String!) {
  updateCustomer(input: { id: $id, name: $name }) { customer { id } userErrors { code } }
}`;
const DELETE = `mutation Delete($id: ID!) {
  deleteCustomer(input: { id: $id }) { deletedCustomerId userErrors { code } }
}`;
// Node 22 has a global WebSocket; Node 20 (the oldest this repository supports) does not.
const WebSocketImpl = globalThis.WebSocket ?? WebSocketPackage;

const [scenario, httpUrl, key, ...rest] = process.argv.slice(2);
if (!scenario || !httpUrl || !key) {
  console.error('usage: node live-clients.mjs SCENARIO URL API_KEY [ARGS…]');
  process.exit(2);
}
const wsUrl = httpUrl.replace(/^http/, 'ws');
const report = {};

function wsClient(connectionParams) {
  // No retries: a dropped or refused socket must show, not be papered over.
  return createWsClient({
    url: wsUrl,
    webSocketImpl: WebSocketImpl,
    connectionParams,
    retryAttempts: 0,
  });
}

function sseClient() {
  return createSseClient({
    url: httpUrl,
    headers: { Authorization: `Bearer ${key}` },
    singleConnection: false,
    retryAttempts: 0,
  });
}

function describe(error) {
  if (error && typeof error.code === 'number') return `closed ${error.code} ${error.reason}`;
  if (Array.isArray(error)) return JSON.stringify(error); // graphql-ws: an error message
  return String(error && error.stack ? error.stack : error);
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    const fail = () => reject(new Error(`timed out after ${SECONDS}s: ${what}`));
    timer = setTimeout(fail, SECONDS * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Every result of one operation, until the server completes it.
function results(client, payload) {
  const received = [];
  const done = new Promise((resolve, reject) => {
    client.subscribe(payload, {
      next: (result) => received.push(result),
      error: (error) => reject(new Error(`${describe(error)} after ${JSON.stringify(received)}`)),
      complete: () => resolve(received),
    });
  });
  return withTimeout(done, `results of ${payload.query}`);
}

async function overHttp(query, variables) {
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) {
    throw new Error(`${query} over HTTP: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.data;
}

async function changeOneCustomer() {
  const created = await overHttp(CREATE, { name: 'Live Lovelace' });
  const { id } = created.createCustomer.customer;
  await overHttp(RENAME, { id, name: 'Live Lovelace II' });
  await overHttp(DELETE, { id });
  return id;
}

async function follow(client, after, replayed) {
  report.events = [];
  let changing = null;
  const followed = new Promise((resolve, reject) => {
    let finished = false;
    const unsubscribe = client.subscribe(
      { query: FOLLOW, variables: { after } },
      {
        next(result) {
          if (finished) return;
          if (result.errors) {
            finished = true;
            reject(new Error(`errors: ${JSON.stringify(result.errors)}`));
            return;
          }
          report.events.push(result.data.customerEvents);
          // The replay arrived, so the subscription is running: now change things live.
          if (report.events.length === replayed) changing = changeOneCustomer();
          if (report.events.length === replayed + 3) {
            finished = true;
            unsubscribe();
            resolve();
          }
        },
        error(error) {
          if (!finished) reject(new Error(describe(error)));
          finished = true;
        },
        complete() {
          if (!finished) reject(new Error('the server completed the subscription'));
          finished = true;
        },
      },
    );
  });
  await withTimeout(followed, `${replayed} replayed and 3 live events`);
  report.customerId = await changing;
}

// How the socket ended, as graphql-ws reports it to an operation and to its `closed` listener.
async function refusedWith(connectionParams) {
  const client = wsClient(connectionParams);
  const closes = [];
  let acknowledged = false;
  client.on('closed', (event) => closes.push({ code: event.code, reason: event.reason }));
  client.on('connected', () => {
    acknowledged = true;
  });
  const outcome = await results(client, { query: '{ __typename }' }).then(
    (received) => ({ received }),
    (error) => ({ error: error.message }),
  );
  await client.dispose();
  return { ...outcome, closes, acknowledged };
}

async function run() {
  switch (scenario) {
    case 'follow': {
      const [transport, after, replayed] = rest;
      const client =
        transport === 'ws' ? wsClient({ Authorization: `Bearer ${key}` }) : sseClient();
      try {
        await follow(client, after, Number(replayed));
      } finally {
        await client.dispose();
      }
      break;
    }
    case 'refused':
      report.badKey = await refusedWith({ Authorization: 'Bearer sk_test_not_a_key_of_anyone' });
      report.noKey = await refusedWith(undefined);
      break;
    case 'operations': {
      const client = wsClient({ Authorization: `Bearer ${key}` });
      try {
        report.before = await results(client, { query: CUSTOMERS });
        const create = { query: CREATE, variables: { name: 'Socket Sally' } };
        report.created = await results(client, create);
        report.after = await results(client, { query: CUSTOMERS });
      } finally {
        await client.dispose();
      }
      break;
    }
    case 'sse-query': {
      const client = sseClient();
      report.results = await results(client, { query: CUSTOMERS });
      client.dispose();
      break;
    }
    case 'sse-unknown-after': {
      const client = sseClient();
      report.results = await results(client, { query: FOLLOW, variables: { after: rest[0] } });
      client.dispose();
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

try {
  await run();
} catch (error) {
  report.failure = describe(error);
}
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exit(0); // a client that failed may still hold a socket or a stream open
