/** page_view (SPA + back-forward cache), clicks (never input values), scroll milestones, snippet queue replay. */
import { test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPX } from '../../src/api';
import { setup, mockFetch, settle, names, base, Req, closeWindows } from './helpers';

const tick = async (ms: number) => {
  mock.timers.tick(ms);
  await settle();
};
const events = (reqs: Req[]) => reqs.flatMap((r) => r.body.events);

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(async () => {
  await closeWindows();
  mock.timers.reset();
});

test('page_view on load and on pushState / replaceState / popstate / hashchange, once per URL change', async () => {
  const win = setup('https://app.example/home');
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: { clicks: false, scroll: false } });
  win.history.pushState({}, '', '/settings');
  await tick(300); // the page view waits for the next frame (or 300 ms in a hidden tab)
  win.history.replaceState({}, '', '/settings'); // same URL: no new page view
  await tick(300); // the page view waits for the next frame (or 300 ms in a hidden tab)
  win.history.replaceState({}, '', '/settings?tab=2');
  await tick(300); // the page view waits for the next frame (or 300 ms in a hidden tab)
  win.happyDOM.setURL('https://app.example/home');
  win.dispatchEvent(new win.PopStateEvent('popstate'));
  await tick(300); // the page view waits for the next frame (or 300 ms in a hidden tab)
  win.happyDOM.setURL('https://app.example/home#faq');
  win.dispatchEvent(new win.HashChangeEvent('hashchange'));
  await tick(300); // the page view waits for the next frame (or 300 ms in a hidden tab)
  win.dispatchEvent(new win.HashChangeEvent('hashchange')); // no change: nothing
  await tick(300); // the page view waits for the next frame (or 300 ms in a hidden tab)
  await px.flush();
  const pv = events(reqs);
  assert.deepEqual(pv.map((e) => e.event), Array(5).fill('page_view'));
  assert.deepEqual(pv.map((e) => e.context.page.path), ['/home', '/settings', '/settings', '/home', '/home']);
  assert.equal(pv[1].context.page.referrer, 'https://app.example/home', 'SPA referrer is the previous page');
  assert.equal(pv[2].context.page.url, 'https://app.example/settings?tab=2');
  assert.equal(pv[4].context.page.hash, '#faq');
});

test('a page restored from the back-forward cache counts a page view', async () => {
  const win = setup('https://app.example/a');
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: true });
  const ev = new win.Event('pageshow') as any;
  ev.persisted = true;
  win.dispatchEvent(ev);
  const notRestored = new win.Event('pageshow') as any;
  notRestored.persisted = false;
  win.dispatchEvent(notRestored);
  await px.flush();
  assert.deepEqual(names(reqs), ['page_view', 'page_view']);
});

test('clicks on links, buttons and data-px-* elements; never an input value', async () => {
  const win = setup('https://app.example/');
  win.document.body.innerHTML = `
    <nav id="top"><a class="nav primary x" href="/pricing?ref=nav">  Pricing
       plans </a></nav>
    <button id="buy" class="btn"><span>Buy now</span></button>
    <div data-px-event="signup_cta" data-px-plan="pro" class="card">Sign up</div>
    <div data-px-section="hero">Marked</div>
    <p id="plain">not tracked</p>
    <form><input id="email" type="text" value="secret@example.com"><input id="go" type="submit" value="Send secret"></form>`;
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: { pageViews: false, scroll: false } });
  const q = (s: string) => win.document.querySelector(s) as any;
  q('a').click();
  q('#buy span').click(); // inner element: the button is reported
  q('.card').click();
  q('[data-px-section]').click();
  q('#plain').click();
  q('#email').click();
  q('#go').click();
  await px.flush();
  const ev = events(reqs);
  assert.deepEqual(ev.map((e) => e.event), ['click', 'click', 'signup_cta', 'click', 'click']);
  assert.deepEqual(ev[0].properties, {
    tag: 'a', text: 'Pricing plans', classes: 'nav primary x', href: 'https://app.example/pricing?ref=nav', selector: 'nav#top>a.nav.primary',
  });
  assert.deepEqual(ev[1].properties, { tag: 'button', text: 'Buy now', id: 'buy', classes: 'btn', selector: 'button#buy' });
  assert.deepEqual(ev[2].properties, { tag: 'div', text: 'Sign up', classes: 'card', plan: 'pro', selector: 'html>body>div.card' });
  assert.equal(ev[3].properties.section, 'hero');
  assert.deepEqual(ev[4].properties, { tag: 'input', id: 'go', selector: 'input#go' });
  assert.ok(!JSON.stringify(reqs.map((r) => r.body)).includes('secret'), 'no input value anywhere');
});

test('scroll milestones 25/50/75/100 once per page view', async () => {
  const win = setup('https://app.example/long');
  Object.defineProperty(win.document.documentElement, 'scrollHeight', { value: 4000, configurable: true });
  let y = 0;
  Object.defineProperty(win, 'scrollY', { get: () => y, configurable: true });
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: { clicks: false } });
  const scrollTo = async (v: number) => {
    y = v;
    win.dispatchEvent(new win.Event('scroll'));
    win.dispatchEvent(new win.Event('scroll'));
    await tick(100);
  };
  await scrollTo(400); // 1120/4000 = 28%
  await scrollTo(300);
  await scrollTo(2400); // 78%
  await scrollTo(3280); // bottom
  await scrollTo(3280);
  win.history.pushState({}, '', '/next'); // new page view: milestones start again
  await tick(300);
  await scrollTo(1300); // 50.5%
  await px.flush();
  const ev = events(reqs).map((e) => e.event + (e.properties.depth ? ':' + e.properties.depth : ''));
  assert.deepEqual(ev, ['page_view', 'scroll:25', 'scroll:50', 'scroll:75', 'scroll:100', 'page_view', 'scroll:25', 'scroll:50']);
});

test('autocapture switches turn each capture off', async () => {
  const win = setup('https://app.example/');
  win.document.body.innerHTML = '<button>b</button>';
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: false });
  win.history.pushState({}, '', '/x');
  (win.document.querySelector('button') as any).click();
  await px.flush();
  assert.equal(reqs.length, 0);
});

test('script-tag build: window.PX replays the snippet queue, init first', async () => {
  const win = setup('https://app.example/');
  const reqs = mockFetch();
  // The snippet from the README, minus the script element.
  const w = win as any;
  w.PX = { q: [] };
  ['init', 'track', 'page', 'identify', 'reset', 'flush', 'optOut', 'optIn', 'debug', 'stats'].forEach((m) => {
    w.PX[m] = (...a: unknown[]) => w.PX.q.push([m, a]);
  });
  w.PX.track('queued_before_init', { a: 1 });
  w.PX.identify('u-7');
  w.PX.init({ ...base });
  const code = readFileSync(new URL('../../dist/px.min.js', import.meta.url), 'utf8');
  new Function('window', 'document', code)(win, win.document);
  assert.equal(typeof w.PX.track, 'function');
  assert.equal(w.PX.q, undefined, 'the stub was replaced');
  w.PX.track('after_load');
  await w.PX.flush();
  const ev = events(reqs);
  assert.deepEqual(ev.map((e) => e.event), ['queued_before_init', 'identify', 'after_load']);
  assert.equal(ev[2].user_id, 'u-7');
  // Loading the script twice keeps the first instance.
  const first = w.PX;
  new Function('window', 'document', code)(win, win.document);
  assert.equal(w.PX, first);
});

test('context is current: every event carries the URL after pushState with page views off', async () => {
  const win = setup('https://app.example/a');
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: false });
  px.track('one');
  win.history.pushState({}, '', '/b?token=t');
  px.track('two');
  await px.flush();
  const [one, two] = events(reqs).map((e) => e.context.page);
  assert.equal(one.url, 'https://app.example/a');
  assert.equal(two.url, 'https://app.example/b?token=***');
  assert.equal(two.path, '/b');
  assert.equal(two.referrer, 'https://app.example/a');
});

test('navigations within one frame are one page view, of the URL they end on (a router redirect)', async () => {
  const win = setup('https://app.example/home');
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: { clicks: false, scroll: false } });
  win.history.pushState({}, '', '/account');
  win.history.replaceState({}, '', '/login?next=account'); // the router redirects before the next frame
  await tick(300);
  await px.flush();
  const pv = events(reqs).map((e) => e.context.page);
  assert.deepEqual(pv.map((p) => p.path), ['/home', '/login']);
  assert.equal(pv[1].referrer, 'https://app.example/home');
});

test('the page view of an SPA navigation has the title the router set after pushState; hashChanges: false', async () => {
  const win = setup('https://app.example/a');
  win.document.title = 'A';
  const reqs = mockFetch();
  const px = createPX();
  px.init({ ...base, autocapture: { clicks: false, scroll: false, hashChanges: false } });
  win.history.pushState({}, '', '/orders');
  win.document.title = 'Orders'; // the framework renders, then sets the title
  await tick(300);
  win.happyDOM.setURL('https://app.example/orders#details');
  win.dispatchEvent(new win.HashChangeEvent('hashchange'));
  await tick(300);
  win.history.pushState({}, '', '/orders/12#x');
  await tick(300);
  await px.flush();
  const pv = events(reqs).filter((e) => e.event == 'page_view').map((e) => e.context.page);
  assert.deepEqual(pv.map((p) => p.title), ['A', 'Orders', 'Orders']);
  assert.deepEqual(pv.map((p) => p.path), ['/a', '/orders', '/orders/12'], 'no page view for the hash-only change');
});

test('register() adds super properties; beforeSend edits or drops events; neither can throw into the page', async () => {
  setup('https://app.example/a');
  const reqs = mockFetch();
  const px = createPX();
  px.init({
    ...base,
    beforeSend: (e) => {
      if (e.event == 'drop_me') return null;
      if (e.event == 'boom') throw new Error('x');
      e.properties.edited = true;
      return e;
    },
  });
  px.register({ plan: 'pro', app: 'web' });
  px.register(null as any);
  px.track('a', { plan: 'free' });
  px.track('drop_me');
  assert.doesNotThrow(() => px.track('boom'));
  px.track('b');
  await px.flush();
  assert.deepEqual(events(reqs).map((e) => [e.event, e.properties]), [
    ['a', { plan: 'free', app: 'web', edited: true }],
    ['b', { plan: 'pro', app: 'web', edited: true }],
  ]);
  assert.equal(px.stats().dropped, 1, 'the throwing beforeSend dropped its event, counted');
});
