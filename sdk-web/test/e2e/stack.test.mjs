// End to end: the script-tag build served by the real nginx + PX module, events through Kafka and the
// worker into ClickHouse. Starts its own stack with tools/pxstack (skips, saying why, if it is missing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, until, settled, ROOT } from '../browser/harness.mjs';

const CLI = join(ROOT, '..', 'tools', 'pxstack', 'cli.py');
const have = existsSync(CLI);
let stack, dir, browser;

const ch = async (sql) => {
  const r = await fetch(stack.clickhouse + '/?query=' + encodeURIComponent(sql + ' FORMAT JSON'));
  if (!r.ok) throw new Error('ClickHouse: ' + (await r.text()));
  return (await r.json()).data;
};
/**
 * Rows stored for one visitor, as the table presents them after dedupe (FINAL: ReplacingMergeTree on
 * event_id). The SDK delivers at least once (a page-close beacon and the next page may both send an
 * event); the pipeline makes the stored result exactly once.
 */
const rows = (aid, final = 'FINAL') => ch(`SELECT event, event_id FROM px.events ${final} WHERE anonymous_id = '${aid.replace(/[^0-9a-f-]/g, '')}'`);
/**
 * What the pipeline promises, read from the raw rows (no FINAL, which would hide a duplicate): each
 * event_id of `event` is stored once; a second row is allowed only as the identical replay of the same
 * Kafka message (same session, seq and time), never as another copy. Returns the stored event_ids.
 */
const storedOnce = async (aid, event) => {
  const r = await ch(`SELECT event_id, count() AS n, uniqExact(session_id, session_seq, timestamp_ms) AS variants
    FROM px.events WHERE anonymous_id = '${aid.replace(/[^0-9a-f-]/g, '')}' AND event = '${event}' GROUP BY event_id`);
  for (const x of r) assert.equal(Number(x.variants), 1, `event ${x.event_id} stored as ${x.variants} different rows`);
  return r.map((x) => x.event_id).sort();
};
const pageUrl = (q = '') => stack.nginx + '/sdk/test/e2e/pages/index.html?flushInterval=500&retryBase=300&key=' + stack.api_key + '&project=' + stack.project_id + q;
const aidOf = (page) => page.evaluate(() => localStorage.getItem('px_aid'));

before(async () => {
  if (!have) return;
  dir = mkdtempSync(join(tmpdir(), 'px-e2e-'));
  stack = JSON.parse(execFileSync('python3', [CLI, 'up', '--dir', dir, '--free-ports', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300000 }));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (dir) {
    try {
      execFileSync('python3', [CLI, 'down', '--dir', dir], { stdio: 'inherit', timeout: 120000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('clicks, scrolls and SPA navigations reach ClickHouse', { skip: !have && 'tools/pxstack/cli.py not found' }, async () => {
  const page = await browser.context.newPage();
  await page.goto(pageUrl());
  const aid = await aidOf(page);
  await page.click('#to-pricing'); // pushState
  await page.click('#buy');
  await page.click('#cta');
  await page.goBack(); // popstate
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForTimeout(300);
  await page.evaluate(() => PX.flush());
  const want = ['page_view', 'page_view', 'page_view', 'click', 'signup_cta', 'click', 'scroll', 'scroll', 'scroll', 'scroll', 'snippet_queued'];
  const got = await until(async () => {
    const r = await rows(aid);
    return r.length >= want.length && r;
  }, 30000, 'events in ClickHouse');
  assert.deepEqual(got.map((r) => r.event).sort(), [...want].sort());
  assert.equal(new Set(got.map((r) => r.event_id)).size, got.length);
  assert.equal((await storedOnce(aid, 'click')).length, 2);
  await page.close();
});

test('events tracked just before the page closes are stored', { skip: !have && 'tools/pxstack/cli.py not found' }, async () => {
  const page = await browser.context.newPage();
  await page.goto(pageUrl('&flushInterval=60000&flushAt=1000'));
  const aid = await aidOf(page);
  await page.evaluate(() => { for (let i = 0; i < 5; i++) PX.track('e2e_close', { i }); });
  await page.close({ runBeforeUnload: true });
  const got = await until(async () => {
    const r = (await rows(aid)).filter((x) => x.event === 'e2e_close');
    return r.length >= 5 && r;
  }, 30000, 'events from the closed page');
  assert.equal(got.length, 5, 'each once');
  assert.equal((await settled(() => storedOnce(aid, 'e2e_close'), 1500)).length, 5);
});

test('offline then online: every event stored exactly once', { skip: !have && 'tools/pxstack/cli.py not found' }, async () => {
  const page = await browser.context.newPage();
  await page.goto(pageUrl('&flushAt=5'));
  const aid = await aidOf(page);
  await browser.context.setOffline(true);
  await page.evaluate(() => { for (let i = 0; i < 12; i++) PX.track('e2e_offline', { i }); });
  await page.waitForTimeout(1500);
  await browser.context.setOffline(false);
  await until(async () => (await rows(aid)).filter((x) => x.event === 'e2e_offline').length >= 12, 30000, 'offline events');
  // until the retries in flight have been stored or dropped as duplicates
  const ids = await settled(() => storedOnce(aid, 'e2e_offline'), 1500, 30000, 'the stored rows');
  assert.equal(ids.length, 12);
  const got = (await rows(aid)).filter((x) => x.event === 'e2e_offline');
  assert.deepEqual(got.map((x) => x.event_id).sort(), ids);
  await page.close();
});

test('a reload with unsent events: the next page sends them, stored once', { skip: !have && 'tools/pxstack/cli.py not found' }, async () => {
  const page = await browser.context.newPage();
  await page.goto(pageUrl('&flushAt=1000&flushInterval=300'));
  const aid = await aidOf(page);
  // The API is unreachable for this page (its page-close beacon included).
  const block = (route) => route.abort('connectionrefused');
  await browser.context.route('**/api/v1/events/batch**', block);
  await page.evaluate(() => { for (let i = 0; i < 6; i++) PX.track('e2e_reload', { i }); return PX.flush(); });
  await page.reload();
  await browser.context.unroute('**/api/v1/events/batch**', block);
  await until(async () => (await rows(aid)).filter((x) => x.event === 'e2e_reload').length >= 6, 30000, 'events after reload');
  const ids = await settled(() => storedOnce(aid, 'e2e_reload'), 1500, 30000, 'the stored rows');
  assert.equal(ids.length, 6);
  const got = (await rows(aid)).filter((x) => x.event === 'e2e_reload');
  assert.deepEqual(got.map((x) => x.event_id).sort(), ids);
  await page.close();
});
