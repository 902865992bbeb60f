/** Buffer, flush triggers, batch format, retries, Retry-After, rejects, gzip, page-close sends. */
import { test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { createPX } from '../../src/api';
import { backoff, retryAfter, split } from '../../src/transport';
import { setup, mockFetch, settle, ids, names, base, closeWindows } from './helpers';

const tick = async (ms: number) => {
  mock.timers.tick(ms);
  await settle();
};

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.now() }));
afterEach(async () => {
  await closeWindows();
  mock.timers.reset();
});

test('buffer: nothing is sent below flushAt; the Nth event sends one batch in the documented envelope', async () => {
  setup();
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, flushAt: 5 });
  for (let i = 0; i < 4; i++) px.track('e' + i, { i });
  await tick(0);
  assert.equal(reqs.length, 0);
  assert.equal(px.stats().queued, 4);
  px.track('e4');
  await tick(0);
  assert.equal(reqs.length, 1);
  const r = reqs[0];
  // the key is in the body, never in the URL (servers log URLs)
  assert.equal(r.url, 'https://shop.example/api/v1/events/batch?project_id=proj1');
  assert.equal(r.headers['content-type'], 'text/plain;charset=UTF-8');
  assert.deepEqual(Object.keys(r.body), ['api_key', 'events', 'sent_at']);
  assert.equal(r.body.api_key, 'px_test_key');
  assert.ok(!isNaN(Date.parse(r.body.sent_at)));
  assert.deepEqual(r.body.events.map((e: any) => e.event), ['e0', 'e1', 'e2', 'e3', 'e4']);
  assert.deepEqual(r.body.events[1].properties, { i: 1 });
  await settle();
  assert.equal(px.stats().queued, 0);
  assert.equal(px.stats().sent, 5);
});

test('flush triggers: the interval timer sends a partial buffer; the byte budget sends before flushAt', async () => {
  setup();
  let reqs = mockFetch();
  let px = createPX();
  px.init({ ...base, flushAt: 100, flushInterval: 3000 });
  px.track('a');
  await tick(0);
  await tick(2999);
  assert.equal(reqs.length, 0);
  await tick(1);
  assert.equal(reqs.length, 1);

  setup();
  reqs = mockFetch();
  px = createPX();
  px.init({ ...base, flushAt: 100, flushInterval: 60000, flushBytes: 4000 });
  px.track('big', { s: 'x'.repeat(1500) });
  await tick(0);
  assert.equal(reqs.length, 0);
  px.track('big', { s: 'x'.repeat(1500) });
  px.track('big', { s: 'x'.repeat(1500) });
  await tick(0);
  assert.equal(reqs.length, 1, 'byte budget reached');
  assert.equal(reqs[0].body.events.length, 3);
});

test('flush() sends now and resolves after the server answered; maxBatch splits requests', async () => {
  setup();
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, maxBatch: 4 });
  for (let i = 0; i < 10; i++) px.track('e');
  await px.flush();
  assert.deepEqual(reqs.map((r) => r.body.events.length), [4, 4, 2]);
  assert.equal(new Set(ids(reqs)).size, 10);
});

test('a flush with nothing to send does not stop later sends (interval, flushAt, flush)', async () => {
  setup();
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, flushAt: 2, flushInterval: 1000 });
  // empty: a router calls flush() on navigation before its page view is tracked
  await px.flush();
  px.track('after_empty_flush');
  await tick(0);
  await tick(1000);
  assert.deepEqual(names(reqs), ['after_empty_flush'], 'the interval timer sends it');
  await px.flush();
  px.track('a');
  px.track('b');
  await tick(0);
  assert.deepEqual(names(reqs), ['after_empty_flush', 'a', 'b'], 'flushAt sends them');
  await px.flush();
  px.track('c');
  await px.flush();
  assert.deepEqual(names(reqs), ['after_empty_flush', 'a', 'b', 'c'], 'flush() sends it');
  assert.equal(px.stats().queued, 0);
});

test('retry schedule: max(Retry-After, full-jitter exponential backoff from base), capped; Retry-After 0 is not "now"', () => {
  for (let a = 0; a < 12; a++) {
    const cap = Math.min(300000, 1000 * 2 ** a);
    assert.equal(backoff(a, 1000, 300000, null, 0), 1000, 'never below base');
    assert.equal(backoff(a, 1000, 300000, null, 1), cap);
    assert.equal(backoff(a, 1000, 300000, null, 0.5), Math.max(1000, cap / 2));
  }
  assert.equal(backoff(20, 1000, 300000, null, 1), 300000, 'capped');
  // the server's wait is a floor, not a replacement: the backoff still grows above it
  assert.equal(backoff(0, 1000, 300000, 1000, 1), 1000);
  assert.equal(backoff(6, 1000, 300000, 1000, 1), 64000);
  assert.equal(backoff(3, 1000, 300000, 7000, 0), 7000);
  assert.equal(backoff(0, 1000, 300000, 0, 0), 1000, 'Retry-After: 0 waits the base delay');
  assert.equal(retryAfter('120'), 120000);
  assert.equal(retryAfter('0'), 0);
  assert.equal(retryAfter('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 30000);
  assert.equal(retryAfter('Wed, 21 Oct 2015 07:28:30 GMT'), 0, 'a date in the past');
  assert.equal(retryAfter('soon'), null);
  assert.equal(retryAfter(null), null);
});

test('network error then 5xx then 202: retried with growing delays, same event_ids every time', async () => {
  mock.method(Math, 'random', () => 0.999);
  try {
    setup();
    const reqs = mockFetch(['network-error', { status: 500 }, { status: 502 }]);
    const px = createPX();
    px.init({ ...base, flushAt: 2, retryBase: 1000 });
    px.track('a');
    px.track('b');
    await tick(0);
    assert.equal(reqs.length, 1);
    await tick(998);
    assert.equal(reqs.length, 1, 'first retry not before base');
    await tick(2);
    assert.equal(reqs.length, 2, 'first retry by base');
    await tick(1990);
    assert.equal(reqs.length, 2, 'second retry after ~2*base');
    await tick(10);
    assert.equal(reqs.length, 3);
    await tick(3990);
    assert.equal(reqs.length, 3, 'third retry after ~4*base');
    await tick(10);
    assert.equal(reqs.length, 4);
    const first = reqs[0].body.events.map((e: any) => e.event_id);
    for (const r of reqs) assert.deepEqual(r.body.events.map((e: any) => e.event_id), first);
    await settle();
    assert.deepEqual(px.stats(), { queued: 0, sent: 2, rejected: 0, dropped: 0, retries: 3 });
  } finally {
    mock.restoreAll();
  }
});

test('429 and 503 honour Retry-After', async () => {
  setup();
  const reqs = mockFetch([
    { status: 503, headers: { 'Retry-After': '7' } },
    { status: 429, headers: { 'Retry-After': '2' } },
  ]);
  const px = createPX();
  px.init({ ...base, flushAt: 1 });
  px.track('a');
  await tick(0);
  await tick(6999);
  assert.equal(reqs.length, 1, 'not before Retry-After');
  await tick(701);
  assert.equal(reqs.length, 2);
  await tick(1999);
  assert.equal(reqs.length, 2);
  await tick(201);
  assert.equal(reqs.length, 3);
  await settle();
  assert.equal(px.stats().queued, 0);
});

test('Retry-After: 0 and a date in the past do not mean "now": the base delay still applies', async () => {
  setup();
  const reqs = mockFetch([
    { status: 503, headers: { 'Retry-After': '0' } },
    { status: 503, headers: { 'Retry-After': new Date(Date.now() - 60000).toUTCString() } },
  ]);
  const px = createPX();
  px.init({ ...base, flushAt: 1, retryBase: 1000 });
  px.track('a');
  await tick(0);
  assert.equal(reqs.length, 1);
  await tick(999);
  assert.equal(reqs.length, 1, 'Retry-After: 0 waited at least retryBase');
  await tick(1);
  assert.equal(reqs.length, 2);
  await tick(999);
  assert.equal(reqs.length, 2, 'a past date waited at least retryBase');
  await tick(1001);
  assert.equal(reqs.length, 3);
});

test('a server-asked wait is stored: the next page load and a second tab keep it; flush() and online do not skip it', async () => {
  const win = setup();
  const reqs = mockFetch([{ status: 503, headers: { 'Retry-After': '30' } }]);
  const a = createPX();
  a.init({ ...base, flushAt: 1 });
  a.track('a');
  await tick(0);
  assert.equal(reqs.length, 1);
  const [deadline, attempts] = win.localStorage.getItem('px_b:proj1')!.split(',').map(Number);
  assert.ok(deadline >= Date.now() + 30000 && attempts == 1, 'deadline and attempt count stored');
  await a.flush();
  win.dispatchEvent(new win.Event('online'));
  await tick(10000);
  assert.equal(reqs.length, 1, 'flush() and online wait too');
  win.dispatchEvent(new win.Event('pagehide'));
  await settle();
  assert.equal(reqs.length, 1, 'no page-close send during the wait');

  const b = createPX(); // the next page load (or another tab) on the same storage
  b.init({ ...base, flushAt: 1 });
  b.track('b');
  await tick(0);
  await b.flush();
  await tick(19000);
  assert.equal(reqs.length, 1, 'the new page respects the stored wait');
  await tick(1100);
  assert.ok(reqs.length >= 1 && reqs.length <= 2, 'one tab sends when the wait is over: ' + reqs.length);
  await b.flush();
  await settle();
  assert.ok(names(reqs).includes('b'));
  assert.equal(win.localStorage.getItem('px_b:proj1'), null, 'a success clears the stored wait');
});

test('a network-error wait is not the server\'s: coming back online retries at once', async () => {
  const win = setup();
  const reqs = mockFetch(['network-error']);
  const px = createPX();
  px.init({ ...base, flushAt: 1, retryBase: 60000 });
  px.track('a');
  await tick(0);
  assert.equal(reqs.length, 1);
  win.dispatchEvent(new win.Event('online'));
  await settle();
  assert.equal(reqs.length, 2);
  assert.equal(win.localStorage.getItem('px_b:proj1'), null);
});

test('events the server lists as rejected in a 202 are not retried; other 4xx drop the batch', async () => {
  setup();
  const reqs = mockFetch([{ status: 202, body: { accepted: 1, rejected: [{ index: 1, event_id: 'x', error: 'bad' }] } }, { status: 400, body: { error: 'malformed' } }]);
  const px = createPX();
  px.init({ ...base, flushAt: 2 });
  px.track('ok');
  px.track('bad');
  await tick(0);
  await settle();
  assert.deepEqual(px.stats(), { queued: 0, sent: 1, rejected: 1, dropped: 0, retries: 0 });
  px.track('c');
  px.track('d');
  await tick(0);
  await settle();
  await tick(120000);
  assert.equal(reqs.length, 2, 'no retry after 400');
  assert.equal(px.stats().queued, 0);
  assert.equal(px.stats().rejected, 3);
});

test('413 halves the batch size instead of dropping', async () => {
  setup();
  const reqs = mockFetch([{ status: 413 }]);
  const px = createPX();
  px.init({ ...base, flushAt: 100 });
  for (let i = 0; i < 8; i++) px.track('e');
  await px.flush();
  assert.deepEqual(reqs.map((r) => r.body.events.length), [8, 4, 4]);
  assert.equal(px.stats().sent, 8);
});

test('gzip: same origin says Content-Encoding; cross origin relies on the magic bytes and falls back to plain on 415', async () => {
  setup();
  let reqs = mockFetch();
  let px = createPX();
  px.init({ ...base, compress: true });
  px.track('z', { s: 'hello' });
  await px.flush();
  assert.equal(reqs[0].headers['content-encoding'], 'gzip');
  assert.equal(reqs[0].raw[0], 0x1f);
  assert.equal(JSON.parse(gunzipSync(reqs[0].raw).toString()).events[0].properties.s, 'hello');

  setup();
  reqs = mockFetch([{ status: 415 }]);
  px = createPX();
  px.init({ ...base, compress: true, endpoint: 'https://px.example.net/' });
  px.track('z');
  await px.flush();
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0].url, 'https://px.example.net/api/v1/events/batch?project_id=proj1');
  assert.equal(reqs[0].body.api_key, 'px_test_key');
  assert.equal(reqs[0].headers['content-encoding'], undefined, 'no header that would need a preflight');
  assert.equal(reqs[0].raw[0], 0x1f);
  assert.equal(reqs[1].raw[0], '{'.charCodeAt(0), 'plain after the refusal');
  assert.equal(reqs[1].body.events[0].event_id, reqs[0].body.events[0].event_id);
});

test('page close: visibilitychange→hidden uses fetch keepalive; pagehide uses sendBeacon within the 64 KB limit', async () => {
  const win = setup();
  const reqs = mockFetch();
  const beacons: { url: string; size: number; type: string; body: any }[] = [];
  (win.navigator as any).sendBeacon = (url: string, b: Blob) => {
    beacons.push({ url, size: b.size, type: b.type, body: b });
    return true;
  };
  const px = createPX();
  px.init({ ...base, flushAt: 1000, flushInterval: 60000, maxBytes: 1e6 });
  px.track('a');
  Object.defineProperty(win.document, 'visibilityState', { value: 'hidden', configurable: true });
  win.document.dispatchEvent(new win.Event('visibilitychange'));
  assert.equal(reqs.length, 1, 'sent synchronously in the handler');
  assert.equal(reqs[0].keepalive, true);
  await settle();
  assert.equal(px.stats().queued, 0, 'page lived on: the answer settled the events');

  for (let i = 0; i < 300; i++) px.track('big', { s: 'é'.repeat(400), i }); // ~300 KB of JSON
  win.dispatchEvent(new win.Event('pagehide'));
  assert.ok(beacons.length >= 2, 'split: ' + beacons.length);
  let n = 0, total = 0;
  for (const b of beacons) {
    assert.ok(b.size <= 30000, 'beacon of ' + b.size + ' bytes');
    assert.equal(b.type, 'text/plain');
    assert.ok(!b.url.includes('api_key'), b.url);
    total += b.size;
    const j = JSON.parse(await b.body.text());
    assert.equal(j.api_key, 'px_test_key', 'the beacon carries the key in its body');
    n += j.events.length;
  }
  assert.ok(total <= 60000, 'all beacons together within the browsers\' 64 KiB keepalive quota: ' + total);
  assert.ok(n > 20 && n < 300, n + ' sent now');
  assert.equal(beacons[0].url, reqs[0].url);
  // What the browser took as beacons is no longer stored (no answer would ever settle it); the rest stays for the next page.
  const left = Object.keys(win.localStorage).filter((k) => k.startsWith('px_q:')).flatMap((k) => JSON.parse(win.localStorage.getItem(k)!).e);
  assert.equal(left.length, 300 - n);
  assert.equal(px.stats().queued, 300 - n);
});

test('split keeps each group under the limit and skips nothing that fits', () => {
  const items = Array.from({ length: 50 }, (_, i) => ({ n: 1000 + i * 100 }));
  const g = split(items, 20000);
  assert.equal(g.flat().length, 50);
  for (const x of g) assert.ok(x.reduce((a, b) => a + b.n + 1, 64) <= 20000);
  // a larger envelope (a long key) leaves less room for events
  const g2 = split(items, 20000, 2064);
  assert.equal(g2.flat().length, 50);
  for (const x of g2) assert.ok(x.reduce((a, b) => a + b.n + 1, 2064) <= 20000);
  assert.ok(g2.length >= g.length);
});

test('bad arguments never throw and send nothing', async () => {
  setup();
  const reqs = mockFetch();
  const px = createPX();
  assert.doesNotThrow(() => px.init({} as any));
  assert.doesNotThrow(() => px.init(null as any));
  px.init({ ...base });
  assert.doesNotThrow(() => {
    px.track(42 as any);
    px.track('');
    px.track('x', 'props' as any);
    px.track('x', [1] as any);
    px.identify(undefined as any);
    px.init({ ...base }); // twice
  });
  await px.flush();
  assert.equal(reqs.length, 0);
});

test('an event that cannot be serialized is dropped alone, counted, and never throws; the next good event arrives', async () => {
  setup();
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, flushAt: 100 });
  const circ: any = { a: 1 };
  circ.self = circ;
  const hostile = new Proxy({}, { ownKeys() { throw new Error('no keys'); } });
  const getter = Object.defineProperty({}, 'x', { enumerable: true, get() { throw new Error('getter'); } });
  assert.doesNotThrow(() => {
    px.track('good1');
    px.track('circular', circ);
    px.track('bigint', { n: BigInt(1) } as any);
    px.track('tojson', { d: { toJSON() { throw new Error('toJSON'); } } });
    px.track('getter', getter);
    px.track('proxy', hostile);
    px.track('good2', { ok: true });
  });
  await assert.doesNotReject(px.flush());
  assert.deepEqual(reqs.flatMap((r) => r.body.events.map((e: any) => e.event)), ['good1', 'good2']);
  assert.equal(px.stats().dropped, 5);
  px.track('good3');
  await px.flush();
  assert.deepEqual(reqs.at(-1)!.body.events.map((e: any) => e.event), ['good3']);
});

test('no public call throws, whatever the arguments or the environment', async () => {
  const win = setup();
  Object.defineProperty(win, 'localStorage', { get() { throw new Error('SecurityError'); } });
  (globalThis as any).fetch = () => { throw new Error('sync throw'); };
  const px = createPX();
  const bad: any[] = [undefined, null, 1, 'x', {}, [], Symbol('s'), () => 0, new Proxy({}, { get() { throw new Error('trap'); } })];
  for (const m of Object.keys(px) as (keyof typeof px)[])
    for (const a of bad)
      assert.doesNotThrow(() => {
        const r: any = (px as any)[m](a, a);
        if (r && r.then) r.then(null, () => assert.fail(m + ' rejected'));
      }, m);
  px.init({ ...base });
  for (const m of Object.keys(px) as (keyof typeof px)[]) for (const a of bad) assert.doesNotThrow(() => (px as any)[m](a, a), m);
  await assert.doesNotReject(px.flush());
  assert.equal(typeof px.stats().queued, 'number');
});
