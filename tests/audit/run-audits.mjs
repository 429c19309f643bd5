// Runs graphql-http's GraphQL-over-HTTP server audits against a running gateway and
// prints one JSON array of {id, name, status, reason?} on stdout.
//
//   node tests/audit/run-audits.mjs http://127.0.0.1:8000/graphql sk_test_…
//
// Every request the audits make carries `Authorization: Bearer <key>`, so what is
// audited is the GraphQL-over-HTTP behaviour, not the authentication in front of it.
import { serverAudits } from 'graphql-http';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node run-audits.mjs URL API_KEY');
  process.exit(2);
}

function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = [];
// One audit at a time: the gateway shares a small machine with other work.
for (const audit of serverAudits({ url, fetchFn: fetchWithKey })) {
  const result = await audit.fn();
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') entry.reason = result.reason;
  results.push(entry);
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
