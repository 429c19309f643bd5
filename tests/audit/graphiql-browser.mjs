// Drives Debian's Chromium through the gateway's GraphiQL page, offline, and prints one
// JSON object describing what happened (the pytest side asserts on it).
//
//   node tests/audit/graphiql-browser.mjs http://127.0.0.1:PORT/graphql sk_test_… \
//     "text to expect" EVENT_ID "text the replay shows" "name to create"
//
// Every request to another origin is aborted and recorded in `offOrigin`; the page must
// need none. The run: load the page, run the default query with the placeholder key
// (expect UNAUTHENTICATED), put the real key in the Headers editor, re-fetch the schema,
// run the default query again and read the result pane. Then subscribe to customerEvents
// after EVENT_ID; once the pane shows the replayed event, create a customer over HTTP and
// read its event in the pane. Last, the same subscription with the placeholder key.
import { chromium } from 'playwright-core';

const [pageUrl, key, expected, after, replayed, created] = process.argv.slice(2);
if (!pageUrl || !key || !expected || !after || !replayed || !created) {
  console.error('usage: node graphiql-browser.mjs URL API_KEY EXPECTED AFTER REPLAYED CREATED');
  process.exit(2);
}
const origin = new URL(pageUrl).origin;
const PLACEHOLDER_HEADERS = JSON.stringify({ Authorization: 'Bearer sk_test_your_key_here' });
const SUBSCRIPTION = `subscription {
  customerEvents(after: "${after}") { id type customer { name } }
}`;
const report = { offOrigin: [], pageErrors: [], consoleErrors: [], steps: [], sockets: [] };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', // CI runs as root, where Chromium's sandbox cannot start
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-extensions',
    // Nothing but loopback resolves, in case a request slipped past the route below.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});

async function resultText(page) {
  return page.evaluate(() => {
    const pane = document.querySelector('.graphiql-response .CodeMirror');
    return pane ? pane.CodeMirror.getValue() : '';
  });
}

// Polls with evaluate: waitForFunction compiles its predicate with eval, which the page's
// Content-Security-Policy forbids (as it should).
async function paneShowing(page, text) {
  for (let attempt = 0; attempt < 150; attempt += 1) {
    const value = await resultText(page);
    if (value.includes(text)) return value;
    await page.waitForTimeout(100);
  }
  throw new Error(`the result pane never showed ${text}: ${await resultText(page)}`);
}

// CodeMirror closes brackets and quotes as they are typed; insertText does not.
async function replaceText(page, editor, text) {
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  return editor.evaluate((node) => node.CodeMirror.getValue());
}

const CREATE =
  'mutation($name: String) { createCustomer(input: { name: $name }) { clientMutationId } }';

// GraphiQL parses the query editor 100 ms after an edit (debounced); a run before that
// would send the previous document's operationName.
async function parsedAs(page, editor, kind) {
  for (let attempt = 0; attempt < 150; attempt += 1) {
    const parsed = await editor.evaluate((node) =>
      (node.CodeMirror.operations || []).map((operation) => operation.operation),
    );
    if (parsed.length === 1 && parsed[0] === kind) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`the query editor never held one ${kind}`);
}

async function createCustomer(name) {
  const response = await fetch(pageUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: CREATE, variables: { name } }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) throw new Error(JSON.stringify(body));
}

// Each WebSocket the page opens, with the messages it sent and received.
function recordSocket(socket) {
  const record = { url: socket.url(), sent: [], received: [] };
  report.sockets.push(record);
  socket.on('framesent', (frame) => record.sent.push(JSON.parse(frame.payload)));
  socket.on('framereceived', (frame) => record.received.push(JSON.parse(frame.payload)));
  socket.on('close', () => {
    record.closed = true;
  });
}

async function runAndWaitFor(page, text) {
  // The pane may already show the schema fetch's error: wait for this run's own answer.
  const answered = page.waitForResponse(
    (response) =>
      response.url() === pageUrl &&
      response.request().method() === 'POST' &&
      !(response.request().postData() || '').includes('IntrospectionQuery'),
    { timeout: 15000 },
  );
  await page.click('.graphiql-execute-button');
  const response = await answered;
  report.steps.push(`answered ${response.status()}`);
  return paneShowing(page, text);
}

let pageForScreenshot = null;
try {
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    report.offOrigin.push(url);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  pageForScreenshot = page;
  page.on('pageerror', (error) => report.pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') report.consoleErrors.push(message.text());
  });
  page.on('websocket', recordSocket);

  const response = await page.goto(pageUrl, { waitUntil: 'load' });
  report.pageStatus = response.status();
  report.contentType = response.headers()['content-type'];
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', {
    timeout: 15000,
  });
  report.hint = await page.textContent('#key-hint');
  report.steps.push('loaded');

  // The default headers hold a placeholder key: the gateway must refuse it.
  report.placeholderResult = await runAndWaitFor(page, 'UNAUTHENTICATED');
  report.steps.push('placeholder refused');

  // The Headers tab is open by default; type the key into its editor.
  await page.getByRole('button', { name: 'Headers' }).click();
  const headers = page.locator('.graphiql-editor-tool .CodeMirror:visible').first();
  const keyHeaders = JSON.stringify({ Authorization: `Bearer ${key}` });
  report.headersEditor = await replaceText(page, headers, keyHeaders);
  report.steps.push('key entered');

  // With the key, re-fetching the schema (as the page tells the user) must work. GraphiQL
  // picks up edited headers for introspection on its next render: retry a few times.
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const introspected = page.waitForResponse(
      (response) =>
        response.url() === pageUrl &&
        (response.request().postData() || '').includes('IntrospectionQuery'),
      { timeout: 15000 },
    );
    await page.getByRole('button', { name: 'Re-fetch GraphQL schema' }).click();
    const response = await introspected;
    report.introspectionStatus = response.status();
    if (response.status() === 200) {
      const schema = await response.json();
      report.queryType = schema.data && schema.data.__schema.queryType.name;
      break;
    }
    await page.waitForTimeout(300);
  }
  report.steps.push('schema loaded');

  // The page's default query lists customers with their names.
  report.result = await runAndWaitFor(page, expected);
  report.steps.push('result shown');

  // A subscription: the replayed event first (so it is running), then one made now.
  const query = page.locator('.graphiql-query-editor .CodeMirror').first();
  report.subscription = await replaceText(page, query, SUBSCRIPTION);
  await parsedAs(page, query, 'subscription');
  await page.click('.graphiql-execute-button');
  report.replayedResult = await paneShowing(page, replayed);
  report.steps.push('replay shown');
  await createCustomer(created);
  report.liveResult = await paneShowing(page, created);
  report.steps.push('live event shown');
  await page.click('.graphiql-execute-button'); // stops the subscription
  report.steps.push('stopped');

  // With the placeholder key the socket is refused, and GraphiQL says so at once (and
  // leaves the error unhandled in the page as well: its toolkit's iterator.throw()).
  report.pageErrorsBeforeRefusal = [...report.pageErrors];
  await replaceText(page, headers, PLACEHOLDER_HEADERS);
  await page.click('.graphiql-execute-button');
  report.refusedResult = await paneShowing(page, '4403');
  report.steps.push('subscription refused');
  await context.close();
} catch (error) {
  report.failure = String(error && error.stack ? error.stack : error);
  if (pageForScreenshot && process.env.GRAPHIQL_SCREENSHOT) {
    await pageForScreenshot.screenshot({ path: process.env.GRAPHIQL_SCREENSHOT });
    report.screenshot = process.env.GRAPHIQL_SCREENSHOT;
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
