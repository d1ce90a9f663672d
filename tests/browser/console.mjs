// The operator console at /console, clicked through panel by panel with a practice ADMIN
// key (and the global ADMIN for the quota form): the event tail shows a new event and
// copies its cursor; usage draws deliveries per hour; a webhook endpoint shows its
// deliveries and attempts and replays; bridges answer; a key is created and revoked; the
// quota is set and shown in use; the audit search by patient finds who read her record.
// Nothing is fetched from anywhere but the server. Screenshots go to test-artifacts/.
import http from 'node:http';
import { BASE, ADMIN_KEY, check, gql, launch, onlyOwnOrigin, pay, practice, schedule, screenshot, watch } from './lib.mjs';

const p = await practice();
const [ada] = p.providers;
const [maria, tom] = p.patients;
const admin = (await gql(ADMIN_KEY, 'mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: ADMIN, name: "console test"}) { key } }', { p: p.id })).createApiKey.key;

// A webhook receiver: answers 200 and counts what it got.
let received = 0;
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { received++; res.writeHead(200).end('ok'); });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const hook = `http://127.0.0.1:${receiver.address().port}/hooks`;
await gql(admin, 'mutation($p: ID!, $u: String!) { createWebhookEndpoint(input: {practiceId: $p, url: $u, description: "console test"}) { secret } }', { p: p.id, u: hook });

const settle = async (what, condition, timeout = 15_000) => {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

const { browser, context } = await launch();
try {
  const page = await context.newPage();
  page.on('dialog', (dialog) => dialog.accept());
  const seen = watch(page);
  await page.goto(`${BASE}/console`);
  await page.fill('#key', admin);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('body[data-signed-in=yes]');
  await page.waitForSelector('body[data-tail=live]', { timeout: 10_000 });

  // Event tail: a new appointment shows; its cursor is copied.
  const a = await schedule(p, { patient: maria, provider: ada, minutesFromNow: 120, reason: 'Cleaning' });
  await page.waitForSelector('#tail-rows tr.event[data-type=APPOINTMENT_SCHEDULED]', { timeout: 5_000 });
  await pay(p, tom, 2500);
  await page.waitForSelector('#tail-rows tr.event[data-type=PAYMENT_POSTED]', { timeout: 5_000 });
  await page.click('#tail-rows tr.event[data-type=PAYMENT_POSTED] button.copy');
  // The copy awaits the clipboard before it marks the page.
  await page.waitForSelector('body[data-copied]', { timeout: 5_000 });
  const copied = await page.$eval('body', (b) => b.dataset.copied);
  const shown = await page.$eval('#tail-rows tr.event[data-type=PAYMENT_POSTED] .cursor', (td) => td.textContent);
  check(copied === shown && copied.length > 0, `the copied cursor is the row's (${copied})`);
  await page.selectOption('#tail-types', ['PAYMENT_POSTED']);
  await page.click('#tail-clear');
  await schedule(p, { patient: tom, provider: ada, minutesFromNow: 180 });
  await pay(p, maria, 1000);
  await page.waitForSelector('#tail-rows tr.event[data-type=PAYMENT_POSTED]', { timeout: 5_000 });
  await page.waitForTimeout(300);
  const types = await page.$$eval('#tail-rows tr.event', (rows) => rows.map((r) => r.dataset.type));
  check(types.length === 1 && types[0] === 'PAYMENT_POSTED', `the type filter keeps payments only (${types})`);
  await screenshot(page, 'console-events');

  // Webhooks: the endpoint is healthy, its deliveries list attempts, replay queues again.
  await settle('webhook deliveries', async () => received >= 4);
  await page.click('#tabs button[data-panel=webhooks]');
  await page.waitForSelector('body[data-loaded=webhooks]');
  await page.waitForSelector('#endpoints tr.endpoint .pill.good');
  // WebSub subscriptions sit beside the endpoints (this practice has none).
  await page.waitForSelector('body[data-websub="0"] #websub td.empty:has-text("No WebSub subscriptions.")');
  await page.click('#endpoints tr.endpoint a.open');
  await page.waitForSelector('#deliveries tr.delivery.succeeded .attempts li');
  const before = received;
  await page.click('#endpoints tr.endpoint button.replay');
  await page.waitForFunction(() => Number(document.body.dataset.replayed) >= 4);
  await settle('the replayed deliveries', async () => received >= before + 4);
  await page.click('#deliveries tr.delivery button.redeliver');
  await settle('the redelivery', async () => received >= before + 5);
  await screenshot(page, 'console-webhooks');

  // Bridges: none configured here; the panel says so (or why it cannot show them).
  await page.click('#tabs button[data-panel=bridges]');
  await page.waitForSelector('body[data-bridges=loaded]');
  await page.waitForSelector('#bridges-note:not([hidden])');
  await screenshot(page, 'console-bridges');

  // API keys: create one (shown once), then revoke it.
  await page.click('#tabs button[data-panel=keys]');
  await page.waitForSelector('body[data-loaded=keys]');
  await page.fill('#key-name', 'partner app');
  await page.selectOption('#key-role', 'SUBSCRIBER');
  await page.click('#key-create button[type=submit]');
  await page.waitForSelector('#new-key');
  const created = await page.$eval('#new-key', (c) => c.textContent);
  check(created.startsWith('cs_'), `the new key is shown once (${created.slice(0, 6)}…)`);
  await gql(created, '{ practices(first: 1) { edges { node { id } } } }');
  const row = page.locator('#keys tr.apikey', { hasText: 'partner app' });
  await row.locator('button.revoke').click();
  await page.waitForSelector('#keys tr.apikey.revoked');
  const refused = await fetch(`${BASE}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${created}` }, body: '{"query":"{ practices(first: 1) { edges { node { id } } } }"}' });
  check(refused.status === 401 || (await refused.json()).errors?.length, 'the revoked key is refused');
  await screenshot(page, 'console-keys');

  // Usage: deliveries counted by transport, drawn per hour (flushed every few seconds).
  await settle('usage flushed', async () => {
    const { usage } = await gql(admin, 'query($p: ID!, $f: DateTime!, $t: DateTime!) { usage(practiceId: $p, from: $f, to: $t) { deliveries } }',
      { p: p.id, f: new Date(Date.now() - 86_400_000).toISOString(), t: new Date(Date.now() + 3_600_000).toISOString() });
    return usage.deliveries >= 6;
  }, 30_000);
  await page.click('#tabs button[data-panel=usage]');
  await page.waitForSelector('body[data-loaded=usage]');
  await page.waitForSelector('#usage-chart svg rect.bar[data-transport=WEBSOCKET]');
  await page.waitForSelector('#usage-chart svg rect.bar[data-transport=WEBHOOK]');
  const deliveries = await page.$eval('body', (b) => Number(b.dataset.usage));
  check(deliveries >= 6, `usage shows the deliveries (${deliveries})`);
  await screenshot(page, 'console-usage');

  // Audit: who read Maria's record — this query, by the BACKOFFICE key, is found.
  await gql(p.backoffice, 'query ReadMaria($id: ID!) { patient(id: $id) { id firstName } }', { id: maria });
  await settle('audit flushed', async () => {
    const { auditLog } = await gql(admin, 'query($p: ID!, $pt: ID) { auditLog(practiceId: $p, patientId: $pt, first: 50) { nodes { operationName } } }', { p: p.id, pt: maria });
    return auditLog.nodes.some((n) => n.operationName === 'ReadMaria');
  }, 30_000);
  await page.click('#tabs button[data-panel=audit]');
  await page.waitForSelector('body[data-loaded=audit]');
  await page.fill('#audit-patient', 'Maria');
  await page.click('#audit-search button[type=submit]');
  await page.waitForSelector(`body[data-audit-patient="${maria}"]`);
  await page.waitForSelector('#audit-rows tr.audit:has-text("ReadMaria")');
  const patients = await page.$$eval('#audit-rows tr.audit td:nth-child(7)', (cells) => cells.map((c) => c.textContent));
  check(patients.length > 0 && patients.every((c) => c.includes(maria)), 'every row found is about Maria');
  await screenshot(page, 'console-audit');

  // Quota: a practice ADMIN is refused setting it; the global ADMIN sets it; use is shown.
  await page.click('#tabs button[data-panel=quota]');
  await page.waitForSelector('body[data-quota=loaded]');
  await page.fill('#quota-form input[data-quota=maxWebhookEndpoints]', '3');
  await page.click('#quota-form button[type=submit]');
  await page.waitForSelector('#error:not([hidden])');
  await page.evaluate((key) => sessionStorage.setItem('clinicstream.console.key', key), ADMIN_KEY);
  await page.evaluate((id) => sessionStorage.setItem('clinicstream.console.practice', id), p.id);
  await page.reload();
  await page.waitForSelector('body[data-signed-in=yes]');
  await page.click('#tabs button[data-panel=quota]');
  await page.waitForSelector('body[data-quota=loaded]');
  await page.fill('#quota-form input[data-quota=maxWebhookEndpoints]', '3');
  await page.fill('#quota-form input[data-quota=maxConnections]', '50');
  await page.click('#quota-form button[type=submit]');
  await page.waitForSelector('.meter:has-text("Webhook endpoints") .value:has-text("1 / 3")');
  const { practice: q } = await gql(ADMIN_KEY, 'query($p: ID!) { practice(id: $p) { quota { maxWebhookEndpoints maxConnections maxSubscriptions } } }', { p: p.id });
  check(q.quota.maxWebhookEndpoints === 3 && q.quota.maxConnections === 50 && q.quota.maxSubscriptions === null, `the quota was saved (${JSON.stringify(q.quota)})`);
  await screenshot(page, 'console-quota');

  check(seen.errors.length === 0, `no console errors: ${seen.errors.join('; ')}`);
  onlyOwnOrigin(seen.requests, BASE);
  console.log(`console: ${received} webhook deliveries received, appointment ${a}`);
} finally {
  await browser.close();
  receiver.close();
}
