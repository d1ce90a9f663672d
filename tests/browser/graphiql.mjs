// GraphiQL at GET /graphql: loads with every request on the server's own origin, runs a
// query with the Authorization header from its Headers tab, and shows a subscription's
// event caused by a mutation this script sends.
import { ADMIN_KEY, BASE, check, launch, onlyOwnOrigin, pay, practice, screenshot, subscriptions, watch } from './lib.mjs';

const p = await practice();
const { browser, context } = await launch();
try {
  const page = await context.newPage();
  const seen = watch(page);
  await page.goto(`${BASE}/graphql`);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror');

  // Editors are CodeMirror 5 instances: the query editor, and under it the Headers tab
  // (open by default).
  const setEditor = (which, text) =>
    page.evaluate(([which, text]) => {
      const selector = which === 'query'
        ? '.graphiql-query-editor .CodeMirror'
        : '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
      document.querySelector(selector).CodeMirror.setValue(text);
    }, [which, text]).then(() => page.waitForTimeout(700)); // GraphiQL debounces edits (500 ms)
  const result = () => page.evaluate(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '');
  const waitForResult = (needle) =>
    page.waitForFunction(
      (needle) => (document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '').includes(needle),
      needle,
      { timeout: 10_000 },
    );

  await setEditor('headers', JSON.stringify({ Authorization: `Bearer ${p.subscriber}` }, null, 2));
  await setEditor('query', `query { practice(id: "${p.id}") { name timezone } }`);
  await page.click('.graphiql-execute-button');
  await waitForResult('Maple Street Dental');
  check((await result()).includes(p.timezone), 'the query answered with the practice');
  await screenshot(page, 'graphiql-query');

  await setEditor('query', `subscription { events(practiceId: "${p.id}") { seq type ... on PaymentEvent { payment { amountCents method } } } }`);
  await page.click('.graphiql-execute-button');
  await subscriptions('websocket', 1);
  await pay(p, p.patients[0], 4242);
  await waitForResult('4242');
  const shown = await result();
  check(shown.includes('PAYMENT_POSTED'), `the subscription shows the event: ${shown}`);
  await screenshot(page, 'graphiql-subscription');

  onlyOwnOrigin(seen.requests, BASE);
  const blocking = seen.errors.filter((e) => /Content Security Policy|Uncaught/i.test(e));
  check(blocking.length === 0, `no CSP violations or uncaught errors: ${blocking.join(' | ')}`);
  console.log(`graphiql ok: ${seen.requests.length} requests, all to ${BASE}`);
  void ADMIN_KEY;
} finally {
  await browser.close();
}
