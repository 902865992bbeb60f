/** Event fields, identity, persistence and its bound, sharing between tabs, opt-out, Do Not Track. */
import { test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Window } from 'happy-dom';
import { createPX } from '../../src/api';
import { setup, mockFetch, settle, ids, names, base, closeWindows } from './helpers';

const tick = async (ms: number) => {
  mock.timers.tick(ms);
  await settle();
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const stored = (win: Window) => {
  const out: any[] = [];
  for (let i = 0; i < win.localStorage.length; i++) {
    const k = win.localStorage.key(i)!;
    if (k.startsWith('px_q:')) out.push(...JSON.parse(win.localStorage.getItem(k)!).e);
  }
  return out;
};

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(async () => {
  await closeWindows();
  mock.timers.reset();
});

test('every event carries id, anonymous id, timestamp and the page context', async () => {
  const win = setup();
  win.document.title = 'Product 1';
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base });
  px.track('view_item', { sku: 'A1' });
  await px.flush();
  const e = reqs[0].body.events[0];
  assert.match(e.event_id, UUID);
  assert.match(e.anonymous_id, UUID);
  assert.equal(e.user_id, undefined);
  assert.ok(Math.abs(Date.parse(e.timestamp) - Date.now()) < 60000);
  assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const c = e.context;
  assert.equal(c.page.url, 'https://shop.example/products/1?utm_source=news&utm_campaign=spring&gclid=abc&email=x%40y.z');
  assert.equal(c.page.path, '/products/1');
  assert.equal(c.page.title, 'Product 1');
  assert.equal(typeof c.page.referrer, 'string');
  assert.deepEqual(c.viewport, { width: 1280, height: 720 });
  assert.equal(typeof c.screen.width, 'number');
  assert.equal(c.locale, 'en-US');
  assert.ok(c.timezone);
  assert.equal(c.library.name, '@px-platform/sdk');
  assert.deepEqual(c.campaign, { source: 'news', name: 'spring' });
  assert.deepEqual(c.click_ids, { gclid: 'abc' });
});

test('stripQuery removes the query (or listed parameters) but campaign data is still read', async () => {
  setup();
  let reqs = mockFetch();
  let px = createPX();
  px.init({ ...base, stripQuery: true });
  px.track('a');
  await px.flush();
  assert.equal(reqs[0].body.events[0].context.page.url, 'https://shop.example/products/1');
  assert.deepEqual(reqs[0].body.events[0].context.campaign, { source: 'news', name: 'spring' });
  setup();
  reqs = mockFetch();
  px = createPX();
  px.init({ ...base, stripQuery: ['email', 'gclid'] });
  px.track('a');
  await px.flush();
  assert.equal(reqs[0].body.events[0].context.page.url, 'https://shop.example/products/1?utm_source=news&utm_campaign=spring');
});

test('anonymous_id persists across page loads; identify adds user_id; reset starts a new visitor', async () => {
  const win = setup();
  const reqs = mockFetch();
  let px = createPX();
  px.init({ ...base });
  px.track('a');
  await px.flush();
  const aid = reqs[0].body.events[0].anonymous_id;
  px = createPX(); // next page, same storage
  px.init({ ...base });
  px.identify('user-42', { plan: 'pro' });
  px.track('b');
  await px.flush();
  const [idf, b] = reqs[1].body.events;
  assert.equal(idf.event, 'identify');
  assert.deepEqual(idf.properties, { plan: 'pro' });
  assert.equal(b.anonymous_id, aid);
  assert.equal(b.user_id, 'user-42');
  px.reset();
  px.track('c');
  await px.flush();
  const c = reqs[2].body.events[0];
  assert.equal(c.user_id, undefined);
  assert.notEqual(c.anonymous_id, aid);
  assert.equal(win.localStorage.getItem('px_aid'), c.anonymous_id);
});

test('anonymous_id falls back to a cookie where localStorage throws', async () => {
  const win = setup();
  Object.defineProperty(win, 'localStorage', { get() { throw new Error('SecurityError'); } });
  const reqs = mockFetch();
  createPX().init({ ...base });
  const px = createPX();
  px.init({ ...base });
  px.track('a');
  await px.flush();
  const aid = reqs[0].body.events[0].anonymous_id;
  assert.match(aid, UUID);
  assert.match(win.document.cookie, new RegExp('px_aid=' + aid));
});

test('unsent events are in localStorage; the next page sends them (reload while offline)', async () => {
  const win = setup();
  let reqs = mockFetch(['network-error', 'network-error', 'network-error']);
  (win.navigator as any).sendBeacon = () => false; // offline: the beacon is refused too
  const px = createPX();
  px.init({ ...base, flushAt: 3 });
  px.track('a');
  px.track('b');
  px.track('c');
  await tick(0);
  await tick(100);
  assert.equal(reqs.length, 1);
  assert.deepEqual(stored(win).map((e) => e.event), ['a', 'b', 'c']);
  const sent = ids(reqs);
  win.dispatchEvent(new win.Event('pagehide')); // the page goes away with its events unsent

  reqs = mockFetch();
  const next = createPX();
  next.init({ ...base });
  await settle();
  await next.flush();
  assert.deepEqual(names(reqs), ['a', 'b', 'c']);
  assert.deepEqual(ids(reqs), sent, 'same event_ids: the server can dedupe');
  await tick(100);
  assert.equal(stored(win).length, 0);
});

test('the stored queue is bounded: oldest dropped first, and counted', async () => {
  const win = setup();
  mockFetch(Array(50).fill('network-error'));
  const px = createPX();
  px.init({ ...base, maxQueue: 5, flushAt: 1000 });
  for (let i = 0; i < 8; i++) px.track('e' + i);
  await tick(0);
  assert.equal(stored(win).length, 0, 'writes are batched');
  await tick(100);
  assert.deepEqual(stored(win).map((e) => e.event), ['e3', 'e4', 'e5', 'e6', 'e7']);
  assert.equal(px.stats().dropped, 3);
  assert.equal(px.stats().queued, 5);
});

test('tabs: a live tab keeps its stored events; a crashed tab (lease expired) is adopted once', async () => {
  const win = setup();
  mockFetch(Array(50).fill('network-error'));
  const a = createPX();
  a.init({ ...base, flushAt: 1000 });
  a.track('from-a');
  await tick(0);
  await tick(100);
  assert.equal(stored(win).length, 1);

  let reqs = mockFetch();
  const b = createPX(); // a second tab on the same storage
  b.init({ ...base });
  await settle();
  await b.flush();
  assert.equal(reqs.length, 0, 'B does not send what live tab A owns');

  // A crashes: its lease stops being refreshed. Age it past the lease.
  for (let i = 0; i < win.localStorage.length; i++) {
    const k = win.localStorage.key(i)!;
    if (k.startsWith('px_l:')) win.localStorage.setItem(k, String(Date.now() - 181000));
  }
  const c = createPX();
  c.init({ ...base });
  await settle();
  await c.flush();
  assert.deepEqual(names(reqs), ['from-a']);
  await b.flush();
  await tick(15000); // heartbeats: nobody else finds it again
  await b.flush();
  assert.equal(reqs.length, 1);
});

test('opt-out: nothing tracked or sent, queue cleared, persisted; opt-in resumes', async () => {
  const win = setup();
  const reqs = mockFetch(['network-error']);
  let px = createPX();
  px.init({ ...base, flushAt: 1 });
  px.track('before');
  await tick(0);
  await tick(100);
  px.optOut();
  assert.equal(stored(win).length, 0);
  px.track('during');
  await tick(60000);
  await px.flush();
  assert.equal(reqs.length, 1, 'only the failed attempt from before');
  px = createPX(); // next page
  px.init({ ...base, flushAt: 1 });
  px.track('next-page');
  await px.flush();
  assert.equal(reqs.length, 1);
  px.optIn();
  px.track('after');
  await px.flush();
  assert.deepEqual(names(reqs.slice(1)), ['after']);
});

test('Do Not Track is honoured only when asked', async () => {
  const win = setup();
  Object.defineProperty(win.navigator, 'doNotTrack', { value: '1', configurable: true });
  const reqs = mockFetch();
  let px = createPX();
  px.init({ ...base, respectDnt: true });
  px.track('a');
  await px.flush();
  assert.equal(reqs.length, 0);
  px = createPX();
  px.init({ ...base });
  px.track('b');
  await px.flush();
  assert.deepEqual(names(reqs), ['b']);
});

test('calls made before init are kept and replayed by init', async () => {
  setup();
  const reqs = mockFetch();
  const px = createPX();
  px.track('early', { n: 1 });
  px.identify('u1');
  px.init({ ...base });
  await px.flush();
  assert.deepEqual(names(reqs), ['early', 'identify']);
  assert.equal(reqs[0].body.events[1].user_id, 'u1');
});

test('URL privacy: secret query values masked, secret fragment parameters removed, routes kept, list extensible', async () => {
  const { strip } = await import('../../src/context');
  const o: any = {};
  assert.equal(strip('https://a.example/cb?token=t1&password=p&api_key=k&access_token=x&session=s&q=shoes&author=me&keyword=k', o),
    'https://a.example/cb?token=***&password=***&api_key=***&access_token=***&session=***&q=shoes&author=me&keyword=k');
  assert.equal(strip('https://a.example/cb#access_token=t&id_token=i&token_type=bearer&code=c&state=s&expires_in=3600', o), 'https://a.example/cb#expires_in=3600');
  assert.equal(strip('https://a.example/cb#access_token=t&state=s', o), 'https://a.example/cb');
  assert.equal(strip('https://a.example/app#/orders/12', o), 'https://a.example/app#/orders/12');
  assert.equal(strip('https://a.example/app#/cb?code=c&tab=2', o), 'https://a.example/app#/cb?tab=2');
  assert.equal(strip('https://a.example/p?state=CA#top', o), 'https://a.example/p?state=CA#top', 'state is only a fragment credential');
  assert.equal(strip('https://a.example/p?ticket=1&x=2', { maskParams: ['Ticket'] } as any), 'https://a.example/p?ticket=***&x=2');
  assert.equal(strip('https://a.example/p?token=1&x=2', { stripQuery: ['x'] } as any), 'https://a.example/p?token=***');
});

test('URL privacy applies to page URL, hash and referrer of every event', async () => {
  setup('https://shop.example/cb?code=SECRET1&plan=pro#access_token=SECRET2&state=SECRET3');
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base });
  px.track('a');
  await px.flush();
  const page = reqs[0].body.events[0].context.page;
  assert.equal(page.url, 'https://shop.example/cb?code=***&plan=pro');
  assert.equal(page.hash, undefined);
  assert.ok(!JSON.stringify(reqs[0].body).includes('SECRET'));
});

const lsKeys = (win: Window) => Object.keys(win.localStorage).sort();

test('storage: bounded by bytes across tabs, oldest dropped and counted', async () => {
  const win = setup();
  mockFetch(Array(100).fill('network-error'));
  const a = createPX();
  a.init({ ...base, flushAt: 1000, maxBytes: 20000 });
  for (let i = 0; i < 10; i++) a.track('a' + i, { s: 'x'.repeat(1000) });
  await tick(0);
  await tick(100);
  const b = createPX(); // a second live tab
  b.init({ ...base, flushAt: 1000, maxBytes: 20000 });
  for (let i = 0; i < 15; i++) b.track('b' + i, { s: 'x'.repeat(1000) });
  await tick(0);
  await tick(100);
  const total = Object.keys(win.localStorage).filter((k) => k.startsWith('px_q:')).reduce((n, k) => n + win.localStorage.getItem(k)!.length, 0);
  assert.ok(total <= 20000, total + ' chars stored by both tabs');
  assert.ok(b.stats().dropped >= 5, 'b dropped its oldest: ' + b.stats().dropped);
  assert.equal(stored(win).filter((e) => e.event == 'b14').length, 1, 'the newest kept');
  assert.equal(stored(win).filter((e) => e.event.startsWith('a')).length, 10, 'the other tab keeps its own');
});

test('storage: events expire after maxAge, in memory and when adopted', async () => {
  const win = setup();
  mockFetch(Array(100).fill('network-error'));
  const old = { event: 'old', event_id: '11111111-1111-4111-8111-111111111111', timestamp: new Date(Date.now() - 8 * 864e5).toISOString(), anonymous_id: 'x', properties: {}, context: {} };
  const fresh = { ...old, event: 'fresh', event_id: '22222222-2222-4222-8222-222222222222', timestamp: new Date().toISOString() };
  win.localStorage.setItem('px_q:proj1:dead:1', JSON.stringify({ e: [old, fresh] }));
  win.localStorage.setItem('px_l:proj1:dead', '0');
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base });
  await settle();
  await px.flush();
  assert.deepEqual(names(reqs), ['fresh'], 'the 8-day-old event is not sent (default maxAge 7 days)');
  assert.equal(px.stats().dropped, 1);
});

test('storage: a flush does not rewrite the whole stored queue', async () => {
  const win = setup();
  const px = createPX();
  px.init({ ...base, flushAt: 1000, flushBytes: 1e9, flushInterval: 1e9, maxBatch: 100, retryBase: 1e9 });
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < 100; i++) px.track('e', { s, i, pad: 'p'.repeat(100) });
    await tick(0);
    await tick(100);
  }
  assert.equal(stored(win).length, 300);
  const ls = win.localStorage, orig = ls.setItem.bind(ls);
  let written = 0;
  Object.defineProperty(ls, 'setItem', { configurable: true, writable: true, value: (k: string, v: string) => { written += String(v).length; orig(k, v); } });
  {
    const reqs = mockFetch([{ status: 202 }, 'network-error']);
    await px.flush();
    await tick(100);
    assert.equal(reqs.length, 2);
    assert.equal(stored(win).length, 200, 'the sent batch is gone from storage');
    assert.ok(written < 1000, written + ' chars written to remove 100 sent events of 300');
  }
});

test('storage: nothing written (not even the anonymous id) under Do Not Track / GPC or opt-out', async () => {
  let win = setup();
  Object.defineProperty(win.navigator, 'globalPrivacyControl', { value: true, configurable: true });
  mockFetch();
  let px = createPX();
  px.init({ ...base, respectDnt: true });
  px.track('a');
  px.identify('u1');
  await tick(0);
  await tick(20000);
  assert.deepEqual(lsKeys(win), []);
  assert.equal(win.document.cookie, '');

  win = setup();
  px = createPX();
  px.init({ ...base });
  px.track('a');
  await tick(0);
  px.optOut();
  assert.deepEqual(lsKeys(win), ['px_optout'], 'the opt-out flag only');
  px = createPX(); // next page
  px.init({ ...base });
  px.track('b');
  await tick(0);
  await tick(20000);
  assert.deepEqual(lsKeys(win), ['px_optout']);
});

test('storage: optOut() clears the stored queues of every tab', async () => {
  const win = setup();
  mockFetch(Array(100).fill('network-error'));
  const a = createPX();
  a.init({ ...base, flushAt: 1000 });
  a.track('a');
  const other = createPX(); // another project, another tab
  other.init({ ...base, projectId: 'proj2', flushAt: 1000 });
  other.track('o');
  await tick(0);
  await tick(100);
  assert.equal(stored(win).length, 2);
  const b = createPX();
  b.init({ ...base, flushAt: 1000 });
  b.optOut();
  assert.equal(stored(win).length, 0);
  assert.deepEqual(lsKeys(win), ['px_optout']);
});

test('storage: timed saves wait for the Web Lock an adopting tab holds', async () => {
  const win = setup();
  mockFetch(Array(100).fill('network-error'));
  const held: (() => void)[] = [];
  let locked = false;
  Object.defineProperty(win.navigator, 'locks', { configurable: true, value: {
    request(_: string, f: () => void) {
      return new Promise<void>((res) => {
        const run = () => { locked = true; f(); locked = false; res(); held.shift()?.(); };
        locked || held.length ? held.push(run) : run();
      });
    },
  } });
  const px = createPX();
  px.init({ ...base, flushAt: 1000 });
  await settle();
  locked = true; // another tab is adopting
  px.track('a');
  await tick(0);
  await tick(100);
  assert.equal(stored(win).length, 0, 'no save while the lock is held');
  locked = false;
  held.shift()!();
  await settle();
  assert.equal(stored(win).length, 1, 'saved once the lock is free');
});

test('consent pending: events wait in memory, nothing stored or sent until optIn(); optOut() drops them', async () => {
  let win = setup();
  let reqs = mockFetch();
  let px = createPX();
  px.init({ ...base, consent: 'pending', flushAt: 1 });
  px.track('a');
  px.identify('u1');
  await tick(0);
  await tick(20000);
  await px.flush();
  win.dispatchEvent(new win.Event('pagehide'));
  assert.equal(reqs.length, 0);
  assert.deepEqual(lsKeys(win), []);
  assert.equal(px.stats().queued, 2);
  px.optIn();
  await px.flush();
  assert.deepEqual(names(reqs), ['a', 'identify']);
  assert.ok(win.localStorage.getItem('px_aid'), 'the id is stored once consent is given');

  win = setup();
  reqs = mockFetch();
  px = createPX();
  px.init({ ...base, consent: 'pending' });
  px.track('b');
  px.optOut();
  px.optIn();
  await px.flush();
  assert.equal(reqs.length, 0, 'dropped on optOut');
});

test('persistence memory: no localStorage or cookie, a new anonymous id per page load', async () => {
  const win = setup();
  const reqs = mockFetch(['network-error']);
  let px = createPX();
  px.init({ ...base, persistence: 'memory', flushAt: 1 });
  px.track('a');
  px.identify('u1');
  await tick(0);
  await tick(20000);
  await px.flush();
  win.dispatchEvent(new win.Event('pagehide'));
  px = createPX(); // next page load
  px.init({ ...base, persistence: 'memory' });
  px.track('b');
  await px.flush();
  assert.deepEqual(lsKeys(win), []);
  assert.equal(win.document.cookie, '');
  const aids = new Set(reqs.map((r) => r.body.events[0].anonymous_id));
  assert.equal(aids.size, 2, 'one anonymous id per page load');
  assert.ok(!names(reqs.slice(-1)).includes('a'), 'nothing carried over by storage');
});
