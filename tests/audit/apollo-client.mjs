// Apollo Client against the gateway: its persisted-queries link (hash first, the text
// when the gateway does not know the hash, then the hash alone) and its BatchHttpLink.
// Prints what it saw as JSON: every request the links sent and every result.
// Usage: node apollo-client.mjs URL API_KEY
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { BatchHttpLink } from "@apollo/client/link/batch-http";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, key] = process.argv.slice(2);
const sent = [];

async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const body = init.body ? JSON.parse(init.body) : null;
  const query = new URL(String(input)).searchParams;
  sent.push({
    method: init.method ?? "GET",
    status: response.status,
    etag: response.headers.get("etag"),
    body,
    hasQueryText: body ? [body].flat().some((op) => "query" in op) : query.has("query"),
    hasHash: body
      ? [body].flat().some((op) => op.extensions?.persistedQuery)
      : query.has("extensions"),
  });
  return response;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const headers = { Authorization: `Bearer ${key}` };

function client(link) {
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

function persisted(options = {}) {
  return ApolloLink.from([
    new PersistedQueryLink({ sha256, ...options }),
    new HttpLink({ uri: url, headers, fetch: recordingFetch }),
  ]);
}

const PAGE = gql`
  query ApolloPage($first: Int!) {
    customers(first: $first) { nodes { id name } }
  }
`;
const COUNT = gql`
  query ApolloCount { customers { totalCount } }
`;

async function phase(name, run) {
  const before = sent.length;
  const results = await run();
  return { name, requests: sent.slice(before), results };
}

const phases = [];
phases.push(
  await phase("first use: hash, then the text", async () => [
    (await client(persisted()).query({ query: PAGE, variables: { first: 3 } })).data,
  ]),
);
phases.push(
  await phase("another client: the hash alone", async () => [
    (await client(persisted()).query({ query: PAGE, variables: { first: 3 } })).data,
  ]),
);
phases.push(
  await phase("GET for hashed queries", async () => {
    const getClient = client(persisted({ useGETForHashedQueries: true }));
    return [(await getClient.query({ query: PAGE, variables: { first: 3 } })).data];
  }),
);
phases.push(
  await phase("batched", async () => {
    const batching = client(
      new BatchHttpLink({ uri: url, headers, fetch: recordingFetch, batchInterval: 20 }),
    );
    const results = await Promise.all([
      batching.query({ query: COUNT }),
      batching.query({ query: PAGE, variables: { first: 1 } }),
    ]);
    return results.map((result) => result.data);
  }),
);
process.stdout.write(JSON.stringify(phases));
