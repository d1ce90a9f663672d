// The front-desk dashboard at /: a new appointment shows within 1 s of its mutation, a
// cancelled one is struck through, a "starting soon" badge appears, payments tick in; and
// after the network is cut and restored it shows what happened meanwhile exactly once.
import { BASE, cancel, check, gql, launch, onlyOwnOrigin, pay, practice, proxy, schedule, screenshot, watch } from './lib.mjs';

const p = await practice();
const [ada, sam] = p.providers;
const [maria, tom, lena] = p.patients;
const a = await schedule(p, { patient: maria, provider: ada, minutesFromNow: 60, reason: 'Cleaning' });
const b = await schedule(p, { patient: tom, provider: sam, minutesFromNow: 90, reason: 'Filling' });

const net = await proxy();
const { browser, context } = await launch();
try {
  const page = await context.newPage();
  const seen = watch(page);
  await page.goto(`${net.url}/`);
  await page.fill('#key', p.subscriber);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('body[data-status=live]', { timeout: 10_000 });
  const row = (id) => `li.appointment[data-id="${id}"]`;
  await page.waitForSelector(row(a));
  await page.waitForSelector(row(b));
  await screenshot(page, 'dashboard-loaded');

  // A new appointment appears within a second of the mutation.
  const started = Date.now();
  const c = await schedule(p, { patient: lena, provider: ada, minutesFromNow: 120, reason: 'Crown fitting' });
  await page.waitForSelector(row(c), { timeout: 5_000 });
  const took = Date.now() - started;
  check(took <= 1000, `the new appointment showed in ${took} ms (at most 1000)`);
  console.log(`new appointment shown ${took} ms after the mutation was sent`);

  await cancel(p, a);
  await page.waitForSelector(`${row(a)}.cancelled`);
  const strike = await page.$eval(`${row(a)} .patient`, (el) => getComputedStyle(el).textDecorationLine);
  check(strike.includes('line-through'), `a cancelled appointment is struck through (${strike})`);

  // Inside the reminder lead (30 min by default), APPOINTMENT_STARTING_SOON is sent at once.
  const d = await schedule(p, { patient: maria, provider: sam, minutesFromNow: 10, reason: 'Consultation' });
  await page.waitForSelector(`${row(d)} .badge.soon`, { timeout: 10_000 });
  await pay(p, maria, 4500);
  await page.waitForSelector('li.payment', { timeout: 5_000 });
  await screenshot(page, 'dashboard-live');

  // The network goes away; things happen; it comes back.
  net.cut();
  await page.waitForFunction(() => document.body.dataset.status !== 'live', null, { timeout: 10_000 });
  const e = await schedule(p, { patient: tom, provider: ada, minutesFromNow: 180, reason: 'Whitening' });
  const f = await schedule(p, { patient: lena, provider: sam, minutesFromNow: 240, reason: 'X-rays' });
  await cancel(p, b);
  await pay(p, tom, 1250);
  await screenshot(page, 'dashboard-offline');
  net.restore();
  await page.waitForSelector('body[data-status=live]', { timeout: 15_000 });
  await page.waitForSelector(row(e), { timeout: 5_000 });
  await page.waitForSelector(row(f), { timeout: 5_000 });
  await page.waitForSelector(`${row(b)}.cancelled`, { timeout: 5_000 });
  await page.waitForFunction(() => document.querySelectorAll('li.payment').length >= 2, null, { timeout: 5_000 });
  await page.waitForTimeout(500); // anything doubled would have arrived by now

  const shown = await page.evaluate(() => ({
    appointments: [...document.querySelectorAll('li.appointment')].map((li) => li.dataset.id),
    payments: [...document.querySelectorAll('li.payment')].map((li) => Number(li.dataset.seq)),
    lastSeq: Number(document.body.dataset.lastSeq),
  }));
  const expected = [a, b, c, d, e, f];
  for (const id of expected) {
    const times = shown.appointments.filter((x) => x === id).length;
    check(times === 1, `appointment ${id} is shown once (shown ${times} times)`);
  }
  check(shown.appointments.length === expected.length, `exactly the ${expected.length} appointments: ${shown.appointments}`);
  check(shown.payments.length === 2 && new Set(shown.payments).size === 2, `two payments, once each: ${shown.payments}`);
  const log = await gql(p.subscriber, 'query($p: ID!) { practice(id: $p) { lastCursor } events(practiceId: $p, first: 200) { edges { node { seq } } } }', { p: p.id });
  const head = Math.max(...log.events.edges.map((e) => e.node.seq));
  check(shown.lastSeq === head, `the dashboard applied the log up to its head (${shown.lastSeq} of ${head})`);
  await screenshot(page, 'dashboard-resumed');

  onlyOwnOrigin(seen.requests, net.url);
  console.log(`dashboard ok: ${shown.appointments.length} appointments, payments at seq ${shown.payments}, resumed to seq ${shown.lastSeq}`);
} finally {
  await browser.close();
  net.close();
}
