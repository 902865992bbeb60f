// The script-tag build in real headless Chromium against a local endpoint that records every request.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, until, settled } from './harness.mjs';

let srv, browser;
const PAGE = '/sdk/test/e2e/pages/index.html';
const url = (q = '') => srv.origin + PAGE + '?flushInterval=500&retryBase=300' + q;
const names = () => srv.api.events().map((e) => e.event);
const onceEach = () => [...srv.api.accepted.values()].every((n) => n === 1);

before(async () => {
  srv = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.close();
});
beforeEach(() => {
  srv.api.requests.length = 0;
  srv.api.accepted.clear();
  srv.api.answers.length = 0;
  srv.api.fail = null;
});

test('autocapture: page views (load, pushState, popstate, hash), clicks, scroll depth; no input values', async () => {
  const page = await browser.context.newPage();
  await page.goto(url());
  await page.fill('#email', 'secret-typed@example.com');
  await page.click('#to-pricing'); // SPA navigation
  await page.click('#buy span');
  await page.click('#cta');
  await page.click('#subscribe');
  await page.goBack(); // popstate
  await page.click('#to-docs'); // hashchange
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForTimeout(300);
  await page.evaluate(() => PX.flush());
  await until(() => names().filter((n) => n === 'scroll').length === 4, 5000, 'scroll events');
  const ev = srv.api.events();
  const pv = ev.filter((e) => e.event === 'page_view').map((e) => e.context.page.path + (e.context.page.hash || ''));
  assert.deepEqual(pv, [PAGE, '/sdk/test/e2e/pages/pricing', PAGE, PAGE + '#docs']);
  const clicks = ev.filter((e) => e.event === 'click' || e.event === 'signup_cta');
  assert.deepEqual(clicks.map((e) => e.properties.id || e.properties.text), ['to-pricing', 'buy', 'cta', 'subscribe', 'to-docs']);
  assert.equal(clicks[2].properties.plan, 'pro');
  assert.deepEqual(ev.filter((e) => e.event === 'scroll').map((e) => e.properties.depth), [25, 50, 75, 100]);
  assert.ok(names().includes('snippet_queued'), 'a call made before the script loaded was replayed');
  assert.ok(!JSON.stringify(srv.api.requests).includes('secret-typed'), 'no input value sent');
  const e0 = ev[0];
  assert.match(e0.event_id, /^[0-9a-f-]{36}$/);
  assert.equal(e0.context.library.name, '@px-platform/sdk');
  assert.ok(e0.context.viewport.width > 0 && e0.context.timezone && e0.context.locale);
  const normal = srv.api.requests.find((r) => r.status === 202);
  assert.ok(normal.gzip && normal.encoding === 'gzip', 'gzip via CompressionStream');
  assert.match(normal.type, /^text\/plain/);
  assert.ok(onceEach());
  await page.close();
});

test('events tracked just before the page goes away arrive (navigation and tab close)', async () => {
  const page = await browser.context.newPage();
  await page.goto(url('&flushInterval=60000&flushAt=1000'));
  await page.evaluate(() => { for (let i = 0; i < 5; i++) PX.track('bye_nav', { i }); });
  await page.goto('about:blank');
  await until(() => names().filter((n) => n === 'bye_nav').length >= 5, 5000, 'events from the left page');

  const p2 = await browser.context.newPage();
  await p2.goto(url('&flushInterval=60000&flushAt=1000&flushBytes=1000000'));
  await p2.evaluate(() => { for (let i = 0; i < 5; i++) PX.track('bye_close', { big: 'y'.repeat(9000), i }); }); // ~50 KB: several beacons
  await p2.close({ runBeforeUnload: true });
  await until(() => new Set(srv.api.events().filter((e) => e.event === 'bye_close').map((e) => e.event_id)).size === 5, 5000, 'events from the closed tab');
  // Page-close sends (plain bodies: gzip is async) stay under the 64 KB keepalive/beacon limit.
  const closing = srv.api.requests.filter((r) => !r.gzip && r.events.some((e) => e.event === 'bye_close'));
  assert.ok(closing.length >= 2, 'split into several beacons');
  for (const r of closing) assert.ok(Buffer.byteLength(JSON.stringify({ events: r.events, sent_at: r.sent_at })) <= 30000);
});

test('more than the browsers let out at close (64 KB): the rest is sent by the next page', async () => {
  const page = await browser.context.newPage();
  await page.goto(url('&flushInterval=60000&flushAt=1000&flushBytes=1000000'));
  await page.evaluate(() => { for (let i = 0; i < 12; i++) PX.track('overflow', { big: 'z'.repeat(9000), i }); }); // ~120 KB
  const before = srv.api.requests.length;
  await page.close({ runBeforeUnload: true });
  await settled(() => srv.api.requests.length, 600, 5000, 'the close beacons');
  // Oldest first: the close may spend its 64 KB on events adopted from earlier pages of this test run.
  const atClose = srv.api.requests.slice(before).filter((r) => r.status === 202);
  assert.ok(atClose.length >= 1 && atClose.length <= 3, atClose.length + ' requests at close');
  assert.ok(new Set(srv.api.events().filter((e) => e.event === 'overflow').map((e) => e.event_id)).size < 12);
  const next = await browser.context.newPage();
  await next.goto(url());
  await until(() => new Set(srv.api.events().filter((e) => e.event === 'overflow').map((e) => e.event_id)).size === 12, 10000, 'the rest from the next page');
  await next.close();
});

test('offline then online: everything arrives, each event once', async () => {
  const page = await browser.context.newPage();
  await page.goto(url('&flushAt=5'));
  await page.evaluate(() => PX.flush());
  await until(() => names().includes('page_view'), 5000, 'page view');
  await browser.context.setOffline(true);
  await page.evaluate(() => { for (let i = 0; i < 12; i++) PX.track('offline_event', { i }); });
  await page.waitForTimeout(1500); // sends fail and are retried meanwhile
  assert.equal(names().filter((n) => n === 'offline_event').length, 0);
  const queued = await page.evaluate(() => PX.stats());
  assert.ok(queued.queued >= 12 && queued.retries >= 1, JSON.stringify(queued));
  await browser.context.setOffline(false);
  await until(() => names().filter((n) => n === 'offline_event').length === 12, 10000, 'events after reconnect');
  // the retries still in flight have landed: none of them added a copy
  assert.equal(await settled(() => names().filter((n) => n === 'offline_event').length, 1000), 12);
  assert.ok(onceEach(), 'no event accepted twice');
  await page.close();
});

test('503 then 202: retried after Retry-After, each event accepted once', async () => {
  const page = await browser.context.newPage();
  await page.goto(url('&flushAt=1000'));
  srv.api.answers.push({ status: 503, headers: { 'Retry-After': '1' } }, { status: 503, headers: { 'Retry-After': '1' } });
  const t0 = Date.now();
  await page.evaluate(() => { for (let i = 0; i < 8; i++) PX.track('flaky', { i }); return PX.flush(); });
  await until(() => names().filter((n) => n === 'flaky').length === 8, 10000, 'events after 503s');
  assert.ok(Date.now() - t0 >= 2000, 'two Retry-After: 1 waits');
  const statuses = srv.api.requests.map((r) => r.status);
  assert.deepEqual(statuses.slice(0, 3), [503, 503, 202]);
  const ids = (r) => r.events.map((e) => e.event_id).join();
  assert.equal(ids(srv.api.requests[0]), ids(srv.api.requests[2]), 'the retry carries the same event_ids');
  assert.ok(onceEach());
  await page.close();
});

test('reload with unsent events: the next page sends them', async () => {
  const page = await browser.context.newPage();
  await page.goto(url('&flushAt=1000&flushInterval=300'));
  srv.api.fail = { status: 503, headers: { 'Retry-After': '1' } }; // the server cannot take anything
  const tracked = await page.evaluate(() => {
    for (let i = 0; i < 6; i++) PX.track('unsent', { i });
    return PX.flush().then(() => new Promise((r) => setTimeout(r, 200))).then(() => Object.keys(localStorage).filter((k) => k.startsWith('px_q:')).flatMap((k) => JSON.parse(localStorage.getItem(k)).e.filter((e) => e.event === 'unsent').map((e) => e.event_id)));
  });
  assert.equal(tracked.length, 6, 'stored in localStorage');
  await page.reload(); // its pagehide beacon gets a 503 too
  await page.waitForLoadState('load');
  const t = Date.now();
  srv.api.fail = null;
  await until(() => srv.api.events().filter((e) => e.event === 'unsent').length >= 6, 10000, 'events sent by the next page');
  const ok = srv.api.requests.filter((r) => r.status === 202 && r.events.some((e) => e.event === 'unsent'));
  assert.ok(ok.every((r) => r.at >= t), 'delivered after the reload, by the new page');
  assert.deepEqual(srv.api.events().filter((e) => e.event === 'unsent').map((e) => e.event_id).sort(), [...tracked].sort());
  assert.ok(onceEach());
  await page.close();
});

test('two tabs share storage without sending the same stored event twice', async () => {
  srv.api.fail = { status: 503, headers: { 'Retry-After': '1' } };
  const a = await browser.context.newPage();
  const b = await browser.context.newPage();
  await a.goto(url('&flushAt=1000&flushInterval=200'));
  await b.goto(url('&flushAt=1000&flushInterval=200'));
  await a.evaluate(() => { for (let i = 0; i < 5; i++) PX.track('tab_a', { i }); });
  await b.evaluate(() => { for (let i = 0; i < 5; i++) PX.track('tab_b', { i }); });
  await a.waitForTimeout(500);
  srv.api.fail = null;
  await until(() => srv.api.events().filter((e) => e.event.startsWith('tab_')).length >= 10, 10000, 'both tabs');
  // both tabs' timers have run again meanwhile: still 10, none sent twice
  assert.equal(await settled(() => srv.api.events().filter((e) => e.event.startsWith('tab_')).length, 1500), 10);
  assert.ok(onceEach());
  await a.close();
  await b.close();
});
