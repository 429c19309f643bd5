// Drives Debian's Chromium through the gateway's GraphiQL page, offline, and prints one
// JSON object describing what happened (the pytest side asserts on it).
//
//   node tests/audit/graphiql-browser.mjs http://127.0.0.1:PORT/graphql sk_test_… "text to expect"
//
// Every request to another origin is aborted and recorded in `offOrigin`; the page must
// need none. The run: load the page, run the default query with the placeholder key
// (expect UNAUTHENTICATED), put the real key in the Headers editor, re-fetch the schema,
// run the default query again and read the result pane.
import { chromium } from 'playwright-core';

const [pageUrl, key, expected] = process.argv.slice(2);
if (!pageUrl || !key || !expected) {
  console.error('usage: node graphiql-browser.mjs URL API_KEY EXPECTED_TEXT');
  process.exit(2);
}
const origin = new URL(pageUrl).origin;
const report = { offOrigin: [], pageErrors: [], consoleErrors: [], steps: [] };

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
  for (let attempt = 0; attempt < 150; attempt += 1) {
    const value = await resultText(page);
    if (value.includes(text)) return value;
    await page.waitForTimeout(100);
  }
  throw new Error(`the result pane never showed ${text}: ${await resultText(page)}`);
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
  await headers.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // CodeMirror closes brackets and quotes as they are typed; insertText does not.
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${key}` }));
  report.headersEditor = await headers.evaluate((node) => node.CodeMirror.getValue());
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
