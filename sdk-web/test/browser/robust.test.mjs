// Issue 10 in real headless Chromium: backoff that obeys the server across page loads, per-event
// serialization, URL privacy, bounded and honest storage, consent and cookieless modes, current context,
// register / beforeSend.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, until, settled } from './harness.mjs';

let srv, browser;
const PAGE = '/sdk/test/e2e/pages/index.html';
/** A test page of its own project (own storage keys), so no test sees another's queue or wait. */
const url = (project, q = '') => srv.origin + PAGE + '?project=' + project + '&flushInterval=300' + q;
const of = (project) => srv.api.requests.filter((r) => r.events.some((e) => e.context.page.url.includes('project=' + project)));
const events = (project) => srv.api.events().filter((e) => e.context.page.url.includes('project=' + project));
const storage = (page) => page.evaluate(() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])));

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

test('1. 503 + Retry-After: 1 for a minute, over page loads and a second tab: requests grow logarithmically, not linearly', async () => {
  const P = 'p_backoff';
  srv.api.fail = { status: 503, headers: { 'Retry-After': '1' } };
  const t0 = Date.now();
  const page = await browser.context.newPage();
  await page.goto(url(P)); // default retryBase (1 s)
  let tab2 = null, loads = 1;
  while (Date.now() - t0 < 60000) {
    const el = Date.now() - t0;
    if ((el > 20000 && loads == 1) || (el > 40000 && loads == 2)) {
      await page.reload(); // a page load starts again from the stored wait, not from zero
      loads++;
    }
    if (el > 30000 && !tab2) {
      tab2 = await browser.context.newPage();
      await tab2.goto(url(P));
    }
    for (const p of [page, tab2].filter(Boolean))
      await p.evaluate(() => { PX.track('during_outage'); dispatchEvent(new Event('online')); return PX.flush(); }); // neither skips the wait
    await new Promise((r) => setTimeout(r, 500));
  }
  const at = of(P).map((r) => r.at - t0);
  const first = at.filter((t) => t < 30000).length, second = at.length - first;
  // Before: every Retry-After: 1 meant one request a second, ~60 here. Now: max(1 s, jitter·2^n), kept across loads.
  assert.ok(at.length <= 14, at.length + ' requests in a minute: ' + at.join(' '));
  assert.ok(second < first, 'fewer requests in the second half-minute: ' + first + ' then ' + second);
  const [deadline, attempts] = (await storage(page))['px_b:' + P].split(',').map(Number);
  assert.ok(attempts >= at.length - 1 && deadline > 0, 'the wait and the attempt count are stored');
  srv.api.fail = null;
  await tab2.close();
  await page.close();
  const clean = await browser.context.newPage();
  await clean.goto(srv.origin + '/sdk/none.html');
  await clean.evaluate((P) => Object.keys(localStorage).filter((k) => k.includes(P)).forEach((k) => localStorage.removeItem(k)), P);
  await clean.close();
});

test('2. one bad property never stops tracking: circular, BigInt, throwing toJSON are dropped alone and counted', async () => {
  const P = 'p_serialize';
  const page = await browser.context.newPage();
  await page.goto(url(P, '&flushAt=1000'));
  const r = await page.evaluate(async () => {
    const errors = [];
    const o = { a: 1 };
    o.self = o;
    for (const [n, p] of [['circular', o], ['bigint', { n: 10n }], ['tojson', { d: { toJSON() { throw new Error('x'); } } }]]) {
      try {
        PX.track(n, p);
      } catch (e) {
        errors.push(String(e));
      }
    }
    try {
      await PX.flush();
    } catch (e) {
      errors.push(String(e));
    }
    PX.track('good_after', { ok: true });
    await PX.flush();
    return { errors, stats: PX.stats() };
  });
  assert.deepEqual(r.errors, [], 'nothing thrown into the page');
  assert.equal(r.stats.dropped, 3);
  await until(() => events(P).some((e) => e.event === 'good_after'), 5000, 'the next good event');
  assert.ok(!events(P).some((e) => ['circular', 'bigint', 'tojson'].includes(e.event)));
  await page.close();
});

test('3. URLs do not leak secrets: page URL, hash, referrer and link hrefs; no mailto:/tel: targets; text can be kept out', async () => {
  const P = 'p_urls';
  const page = await browser.context.newPage();
  const opts = encodeURIComponent(JSON.stringify({ maskParams: ['ticket'], maskText: ['.private'] }));
  await page.goto(url(P, '&flushAt=1000&opts=' + opts + '&token=SECRET_Q1&session_id=SECRET_Q2&ticket=SECRET_Q3&plan=pro#access_token=SECRET_F1&token_type=bearer&state=SECRET_F2&expires_in=3600'));
  await page.evaluate(() => {
    const add = (html) => {
      const d = document.createElement('div');
      d.innerHTML = html;
      d.addEventListener('click', (e) => e.preventDefault());
      document.body.prepend(d);
    };
    add('<a id="mail" href="mailto:alice@example.com">alice@example.com</a>');
    add('<a id="tel" href="tel:+15551234567">+1 555 123 4567</a>');
    add('<a id="reset" href="/reset?code=SECRET_L1&lang=en">Reset</a>');
    add('<div data-px-no-text><button id="acct">IBAN DE00 SECRET_T1</button></div>');
    add('<button id="priv" class="private">SECRET_T2</button>');
  });
  for (const id of ['mail', 'tel', 'reset', 'acct', 'priv']) await page.click('#' + id);
  await page.evaluate(() => history.pushState({}, '', location.pathname + location.search + '#/orders/12'));
  // its page view comes on the next frame: a second navigation before it would make the two one page view
  await until(() => events(P).filter((e) => e.event === 'page_view').length >= 2, 5000, 'the route page view');
  await page.evaluate(() => history.pushState({}, '', '/sdk/test/e2e/pages/next' + location.search + '#/cb?code=SECRET_F3&tab=2'));
  await page.evaluate(() => PX.flush());
  await until(() => events(P).filter((e) => e.event === 'page_view').length >= 3, 5000, 'page views');
  const ev = events(P);
  const all = JSON.stringify(ev);
  assert.ok(!/SECRET/.test(all), 'no secret sent: ' + (all.match(/.{40}SECRET.{20}/g) || []).join(' | '));
  const [pv0, pv1, pv2] = ev.filter((e) => e.event === 'page_view').map((e) => e.context.page);
  assert.match(pv0.url, /[?&]token=\*\*\*&session_id=\*\*\*&ticket=\*\*\*&plan=pro#expires_in=3600$/);
  assert.equal(pv0.hash, '#expires_in=3600');
  assert.equal(pv1.hash, '#/orders/12', 'route-like fragments stay');
  assert.equal(pv2.referrer, pv1.url, 'the SPA referrer is the cleaned previous URL');
  assert.match(pv2.url, /#\/cb\?tab=2$/);
  const click = (id) => ev.find((e) => e.event === 'click' && e.properties.id === id).properties;
  for (const id of ['mail', 'tel']) {
    assert.equal(click(id).href, undefined, id + ': no target');
    assert.equal(click(id).text, undefined, id + ': no text (it is the address)');
  }
  assert.match(click('reset').href, /\/reset\?code=\*\*\*&lang=en$/);
  assert.equal(click('acct').text, undefined, 'data-px-no-text');
  assert.equal(click('priv').text, undefined, 'maskText selector');
  assert.ok(!('no-text' in click('acct')));
  await page.close();
});

const opts = (o) => '&opts=' + encodeURIComponent(JSON.stringify(o));
const blank = async () => {
  const p = await browser.context.newPage();
  await p.goto(srv.origin + '/sdk/none.html'); // same origin, no SDK
  return p;
};
const storedChars = (page, P) => page.evaluate((P) => Object.keys(localStorage).filter((k) => k.startsWith('px_q:' + P + ':')).reduce((n, k) => n + localStorage.getItem(k).length, 0), P);

test('4. storage: bounded by bytes across tabs; beaconed events leave storage; optOut() clears every tab; nothing written under GPC', async () => {
  // bytes across two live tabs, the server down
  srv.api.fail = { status: 500 };
  const P = 'p_bytes', q = '&flushAt=1000&retryBase=60000' + opts({ maxBytes: 30000 });
  const a = await browser.context.newPage(), b = await browser.context.newPage();
  await a.goto(url(P, q));
  await b.goto(url(P, q));
  await a.evaluate(() => { for (let i = 0; i < 20; i++) PX.track('big_a', { s: 'a'.repeat(1000), i }); });
  await b.evaluate(() => { for (let i = 0; i < 20; i++) PX.track('big_b', { s: 'b'.repeat(1000), i }); });
  const total = await settled(() => storedChars(a, P), 600, 10000, 'stores');
  assert.ok(total > 15000 && total <= 30000, total + ' chars stored by both tabs (maxBytes 30000)');
  const dropped = (await a.evaluate(() => PX.stats().dropped)) + (await b.evaluate(() => PX.stats().dropped));
  assert.ok(dropped >= 10, dropped + ' dropped and counted');

  // optOut() in one tab clears the queues of every tab
  await a.evaluate(() => PX.optOut());
  await until(async () => (await b.evaluate(() => PX.stats().queued)) === 0 && (await storedChars(a, P)) === 0, 5000, 'every queue cleared');
  await b.evaluate(() => PX.track('after_optout'));
  assert.equal(await settled(() => storedChars(b, P), 600, 5000), 0);
  assert.deepEqual(await a.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('px_'))), ['px_optout']);
  await a.evaluate(() => PX.optIn());
  await a.close();
  await b.close();
  srv.api.fail = null;

  // events that left as beacons at page close are no longer stored
  const B = 'p_beacon', p = await browser.context.newPage();
  await p.goto(url(B, '&flushAt=1000&flushInterval=60000'));
  await p.evaluate(() => { for (let i = 0; i < 3; i++) PX.track('beaconed', { i }); });
  await until(() => storedChars(p, B), 5000, 'stored');
  await p.goto(srv.origin + '/sdk/none.html'); // pagehide: sendBeacon
  await until(() => events(B).filter((e) => e.event === 'beaconed').length === 3, 5000, 'beacons');
  assert.equal(await storedChars(p, B), 0, 'beaconed events are not kept for the next page');

  // Global Privacy Control with respectDnt: nothing written, not even the anonymous id
  await p.evaluate(() => localStorage.clear());
  const g = await browser.context.newPage();
  await g.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }));
  await g.goto(url('p_gpc', '&flushAt=1' + opts({ respectDnt: true })));
  await g.evaluate(() => { PX.track('x'); PX.identify('u1'); return PX.flush(); });
  await g.reload();
  assert.deepEqual(await settled(() => g.evaluate(() => Object.keys(localStorage).concat(document.cookie ? [document.cookie] : [])), 600, 5000), []);
  assert.equal(events('p_gpc').length, 0);
  await g.close();
  await p.close();
});

test('5. consent pending waits in memory until optIn(); persistence memory is cookieless with an id per page load', async () => {
  const c = await blank();
  await c.evaluate(() => localStorage.clear());
  const P = 'p_consent', page = await browser.context.newPage();
  await page.goto(url(P, '&flushAt=1' + opts({ consent: 'pending' })));
  await page.evaluate(() => { PX.track('before_consent'); return PX.flush(); });
  const snap = () => page.evaluate(() => [Object.keys(localStorage), document.cookie, PX.stats().queued]);
  const [ls, ck, queued] = await settled(snap, 600, 5000);
  assert.deepEqual([ls, ck], [[], ''], 'nothing stored');
  assert.ok(queued >= 2, 'page view and event wait in memory');
  assert.equal(events(P).length, 0, 'nothing sent');
  await page.evaluate(() => PX.optIn());
  await until(() => events(P).some((e) => e.event === 'before_consent'), 5000, 'events after optIn');
  assert.ok(await page.evaluate(() => localStorage.getItem('px_aid')));
  await page.close();

  await c.evaluate(() => localStorage.clear());
  const M = 'p_memory', m = await browser.context.newPage();
  await m.goto(url(M, opts({ persistence: 'memory' })));
  await m.evaluate(() => { PX.track('mem'); return PX.flush(); });
  await m.reload();
  await m.evaluate(() => { PX.track('mem'); return PX.flush(); });
  await until(() => events(M).filter((e) => e.event === 'mem').length === 2, 5000, 'both pages');
  assert.equal(new Set(events(M).filter((e) => e.event === 'mem').map((e) => e.anonymous_id)).size, 2, 'an anonymous id per page load');
  assert.deepEqual(await settled(() => m.evaluate(() => [Object.keys(localStorage), document.cookie]), 600, 5000), [[], '']);
  await m.close();
  await c.close();
});

test('6. context is current: URL after pushState with page views off; title set after the navigation; hashChanges: false', async () => {
  const P = 'p_context', page = await browser.context.newPage();
  await page.goto(url(P, opts({ autocapture: { pageViews: false } })));
  await page.evaluate(() => { history.pushState({}, '', '/sdk/test/e2e/pages/cart' + location.search); PX.track('in_cart'); return PX.flush(); });
  await until(() => events(P).some((e) => e.event === 'in_cart'), 5000, 'event');
  const c = events(P).find((e) => e.event === 'in_cart').context.page;
  assert.equal(c.path, '/sdk/test/e2e/pages/cart');
  assert.match(c.referrer, /index\.html/);
  await page.close();

  const H = 'p_title', p = await browser.context.newPage();
  await p.goto(url(H, opts({ autocapture: { hashChanges: false } })));
  await p.evaluate(() => {
    history.pushState({}, '', '/sdk/test/e2e/pages/orders' + location.search);
    requestAnimationFrame(() => (document.title = 'Orders')); // a router sets the title on the next frame
  });
  await until(() => events(H).some((e) => e.context.page.path.endsWith('/orders')), 5000, 'page view');
  await p.evaluate(() => { location.hash = '#details'; });
  await p.evaluate(() => history.pushState({}, '', '/sdk/test/e2e/pages/orders/12' + location.search));
  await p.evaluate(() => PX.flush());
  await until(() => events(H).some((e) => e.context.page.path.endsWith('/orders/12')), 10000, 'second page view');
  const pv = events(H).filter((e) => e.event === 'page_view').map((e) => e.context.page);
  assert.equal(pv.find((x) => x.path.endsWith('/orders')).title, 'Orders');
  assert.deepEqual(pv.map((x) => x.path.split('/').pop()), ['index.html', 'orders', '12'], 'no page view for the hash-only change');
  await p.close();
});

test('7. register() super properties and beforeSend (edit, drop), from the snippet queue too', async () => {
  const P = 'p_register', page = await browser.context.newPage();
  await page.addInitScript(() => {
    window.pxBeforeSend = (e) => (e.event === 'secret_event' ? null : ((e.properties.via = 'beforeSend'), e));
    window.PX = { q: [['register', [{ release: '1.2.3' }]]] }; // called before the script loaded
  });
  await page.goto(url(P));
  await page.evaluate(() => {
    PX.register({ plan: 'pro' });
    PX.track('secret_event');
    PX.track('bought', { plan: 'team' });
    return PX.flush();
  });
  await until(() => events(P).some((e) => e.event === 'bought'), 5000, 'event');
  const b = events(P).find((e) => e.event === 'bought');
  assert.deepEqual(b.properties, { release: '1.2.3', plan: 'team', via: 'beforeSend' });
  assert.ok(!events(P).some((e) => e.event === 'secret_event'));
  await page.close();
});
