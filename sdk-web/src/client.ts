/** The tracker: builds events, buffers them, sends batches and retries until the server has them. */
import type { Context, Options, Properties, PXEvent, Stats } from './types';
import { context } from './context';
import { Store, item, Item } from './store';
import { autocapture } from './autocapture';
import { BEACON_BUDGET, backoff, body, gzip, retryAfter, split, utf8len } from './transport';
import { S, del, get, isObj, keys, log, now, persisted, set, setDebug, uuid, warn, zero } from './util';

const MAX_REQUEST = 500000; // bytes of JSON in one normal request
const OPT_OUT = 'px_optout', AID = 'px_aid', UID = 'px_uid';

export class Client {
  _flushAt: number;
  _flushInterval: number;
  _flushBytes: number;
  _retryBase: number;
  _retryMax: number;
  /** Most events per request; 413 answers halve it. */
  _mb: number;
  _o: Options;
  _s: Store;
  _url: string;
  /** The key, JSON-encoded for the envelope (see body()). */
  _k: string;
  _same: boolean;
  /** gzip state: 0 unknown, 1 works, 2 the server refused a gzip body without Content-Encoding. */
  _gz = 0;
  /** events tracked since the last tick, already serialized */
  _p: Item[] = [];
  _c!: Context;
  /** the URL the cached context was built for */
  _ch = '';
  /** 1 once the URL changed (history, popstate, hashchange) since the context was built */
  _cs = 0;
  /** super properties (register) */
  _r: Properties = {};
  _aid: string;
  _uid: string | null;
  /** opted out, or Do Not Track / GPC with respectDnt: nothing tracked */
  _off!: boolean;
  _dnt: boolean;
  /** consent pending: events wait in memory, nothing stored or sent */
  _pend: number;
  _last = '';
  _pv = false;
  _gone = 0;
  _pt: any = 0;
  _depth = 0;
  _tq = 0;
  _ft: any = 0;
  _rt: any = 0;
  /** 1 while the retry timer is a wait the server asked for (flush() and online do not skip it). */
  _rs = 0;
  _att = 0;
  /** storage key of the server-asked wait: `deadline,attempts`, shared by tabs and page loads */
  _bk: string;
  _dp: Promise<void> | null = null;
  _st = zero();

  constructor(o: Options) {
    if (!isObj(o) || !o.apiKey || typeof o.apiKey != 'string' || !o.projectId || typeof o.projectId != 'string')
      throw 'apiKey?';
    if (o.debug) setDebug(true);
    this._o = o;
    const num = (v: number | undefined, d: number) => (v! >= 0 ? v! : d);
    this._flushAt = num(o.flushAt, 20);
    this._flushInterval = num(o.flushInterval, 5000);
    this._flushBytes = num(o.flushBytes, 32768);
    this._retryBase = num(o.retryBase, 1000);
    this._retryMax = num(o.retryMax, 300000);
    this._bk = 'px_b:' + o.projectId;
    this._mb = num(o.maxBatch, 100) || 100;
    const w = window, l = w.location, n = w.navigator as any;
    const base = new URL((o.endpoint || l.origin).replace(/\/+$/, '') + '/api/v1/events/batch', l.href);
    this._same = base.origin == l.origin;
    // The key goes in the body (see body()): a URL ends up in access and error logs.
    this._url = base.href + '?project_id=' + encodeURIComponent(o.projectId);
    this._k = JSON.stringify(o.apiKey);
    this._s = new Store(o.projectId, o.maxQueue! > 0 ? o.maxQueue! : 1000, num(o.maxBytes, 262144), num(o.maxAge, 6048e5));
    S.m = o.persistence == 'memory' ? {} : null;
    this._pend = +(o.consent == 'pending');
    this._dnt = !!o.respectDnt && (n.doNotTrack == '1' || (w as any).doNotTrack == '1' || !!n.globalPrivacyControl);
    this._stop(this._dnt || persisted(OPT_OUT) == '1');
    this._aid = persisted(AID) || persisted(AID, uuid())!;
    this._uid = persisted(UID);
    this._ctx();
    log('init', this._url, this._aid, this._off);

    const on = (t: any, e: string, f: (ev: any) => void) => t.addEventListener(e, f);
    on(w, 'pagehide', () => this._hide(1));
    on(w.document, 'visibilitychange', () => w.document.visibilityState == 'hidden' && this._hide(0));
    on(w, 'pageshow', (e) => e.persisted && this._restore());
    on(w, 'online', () => this.flush());
    // Opt-out in another tab applies here too.
    on(w, 'storage', (e) => e.key == OPT_OUT && this._stop(this._dnt || e.newValue == '1'));
    setInterval(() => S.h || this._s._adopt(() => this._s._save()), this._s._lease / 12);

    const ac = o.autocapture, pick = (k: string) => ac !== false && !(isObj(ac) && (ac as any)[k] === false);
    this._pv = pick('pageViews');
    if (this._pv) this.page();
    autocapture(this, this._pv, pick('clicks'), pick('scroll'), pick('hashChanges'));
    S.h || this._s._adopt(() => this._kick());
  }

  /** Refreshes the cached page context; `ref` is the referrer for SPA navigations. */
  _ctx(ref?: string) {
    this._c = context(this._o, ref);
    this._ch = window.location.href;
    this._cs = 0;
  }

  track(name: string, props?: Properties) {
    if (this._off) return;
    if (typeof name != 'string' || !name || name.length > 200) return warn('bad event name', name);
    if (props != null && !isObj(props)) return warn('bad properties', props);
    // The URL changed without a page view (pushState, autocapture off): the context follows it.
    if (this._cs) this._ctx(this._ch);
    // Serialized now, alone: an event that cannot be (circular, BigInt, a throwing toJSON or getter) is dropped by itself.
    try {
      let e: PXEvent | null = {
        event: name,
        event_id: uuid(),
        anonymous_id: this._aid,
        timestamp: new Date().toISOString(),
        properties: { ...this._r, ...props },
        context: this._c,
      };
      if (this._uid) e.user_id = this._uid;
      const f = this._o.beforeSend;
      if (f && !(e = f(e))) return;
      this._p.push({ i: e.event_id, j: JSON.stringify(e), t: now() } as Item); // its size is measured later, off the page's time
    } catch (x) {
      this._s._dropped++;
      return warn('dropped', name, x);
    }
    if (!this._tq) {
      this._tq = 1;
      setTimeout(() => this._tick(), 0);
    }
  }

  page(props?: Properties) {
    // After an SPA navigation the referrer is the previous page; a repeated page() keeps it.
    const href = window.location.href, l = this._last;
    this._ctx(l ? (href != l ? l : this._c.page.referrer) : undefined);
    this._last = href;
    this._depth = 0;
    this.track('page_view', props);
  }

  /** Super properties: added to every later event of this page (an event's own properties win). */
  register(props: Properties) {
    isObj(props) && Object.assign(this._r, props);
  }

  identify(userId: string, traits?: Properties) {
    if (typeof userId != 'string' || !userId) return warn('bad user id', userId);
    this._uid = userId;
    persisted(UID, userId);
    this.track('identify', traits);
  }

  reset() {
    this._uid = null;
    persisted(UID, null);
    this._aid = persisted(AID, uuid())!;
  }

  /** Sends everything buffered now, skipping any backoff wait; resolves when done or failed. */
  flush(): Promise<void> {
    this._tick();
    if (!this._rs) {
      clearTimeout(this._rt);
      this._rt = 0;
    }
    return this._drain();
  }

  /** Stops (and forgets everything unsent) or resumes; nothing may be written while stopped or consent is pending. */
  _stop(off: boolean) {
    this._off = off;
    S.h = +(off || this._pend);
    if (off) this._p = this._s._q = [];
  }

  /** Drops everything unsent, of every tab, and the ids; remembers the opt-out (other tabs stop too). */
  optOut() {
    this._pend = 0;
    this._stop(true);
    persisted(AID, null);
    persisted(UID, null);
    keys().forEach((k) => k.indexOf('px_') || del(k));
    persisted(OPT_OUT, '1', 1);
  }

  optIn() {
    persisted(OPT_OUT, null);
    this._pend = 0;
    this._stop(this._dnt);
    if (!S.h) {
      persisted(AID, this._aid);
      persisted(UID, this._uid);
      this._tick();
      this._s._adopt(() => this._kick());
    }
  }

  stats(): Stats {
    const s = this._st;
    s.queued = this._s._q.length + this._p.length;
    s.dropped = this._s._dropped;
    return { ...s };
  }

  /** Serializes new events into the queue, persists it, and sends when a threshold is reached. */
  _tick() {
    this._tq = 0;
    if (this._off) return;
    const s = this._s;
    if (this._p.length) {
      s._add(this._p.map((x) => ((x.n = utf8len(x.j)), x)));
      this._p = [];
      this._persist();
    }
    this._kick();
  }

  /** Sends now if the buffer passed a threshold, else makes sure the interval timer runs. */
  _kick() {
    let n = 0, b = 0;
    this._s._q.forEach((x) => { if (!x.u) { n++; b += x.n; } });
    if (!n) return;
    if (n >= this._flushAt || b >= this._flushBytes) this._drain();
    else if (!this._ft) this._ft = setTimeout(() => { this._ft = 0; this._drain(); }, this._flushInterval);
  }

  /** Sends batches one request at a time until the queue is empty or a send fails (then a retry is scheduled). */
  _drain(): Promise<void> {
    if (this._rt || S.h) return Promise.resolve();
    const w = this._wait();
    if (w > 0) {
      this._sched(w, 1);
      return Promise.resolve();
    }
    // _dp is cleared in a then(), never inside the loop: a loop with nothing to send ends before `||=`
    // assigns its promise, which then stayed in _dp and made every later drain return it unsent. What
    // was queued between the loop's end and the then() is kicked there.
    return (this._dp ||= (async () => {
      try {
        for (;;) {
          this._s._own();
          const batch: Item[] = [];
          let b = 0;
          for (const x of this._s._q) {
            if (batch.length >= this._mb || (b + x.n > MAX_REQUEST && batch.length)) break;
            if (!x.u) { batch.push(x); b += x.n; }
          }
          if (!batch.length || S.h || !(await this._send(batch))) break;
        }
      } catch (e) {
        warn(e);
      }
    })().then(() => {
      this._dp = null;
      this._kick();
    }));
  }

  /**
   * POSTs one batch. `keep` is a page-close send: plain body, fetch keepalive.
   * Returns true when the batch is settled (accepted, or dropped for good), false when it will be retried.
   */
  async _send(items: Item[], keep?: boolean): Promise<boolean> {
    const json = body(items.map((x) => x.j), this._k), h: Record<string, string> = { 'Content-Type': 'text/plain;charset=UTF-8' };
    let data: BodyInit = json, z = 0, r: Response;
    try {
      if (!keep && this._o.compress !== false && this._gz < 2) {
        const g = await gzip(json);
        if (g) {
          data = g;
          z = 1;
          // Same origin: say so. Cross origin the header would cost a CORS preflight; the server knows gzip by its magic bytes.
          if (this._same) h['Content-Encoding'] = 'gzip';
        }
      }
      log('send', items.length, z, keep);
      r = await fetch(this._url, { method: 'POST', body: data, headers: h, keepalive: keep, credentials: 'omit' });
    } catch (e) {
      return this._fail(items, undefined, '' + e);
    }
    const st = r.status, ids = items.map((x) => x.i);
    if (st < 300) {
      let rej: any[] = [];
      try {
        const j = await r.json();
        if (j && Array.isArray(j.rejected)) rej = j.rejected;
      } catch {}
      if (rej.length) warn('rejected', rej);
      this._st.sent += items.length - rej.length;
      this._st.rejected += rej.length;
      this._att = 0;
      del(this._bk);
      if (z) this._gz = 1;
      return this._done(ids);
    }
    if (st == 429 || st >= 500) return this._fail(items, retryAfter(r.headers.get('Retry-After')), 'HTTP ' + st);
    if (z && !this._same && !this._gz && (st == 400 || st == 415)) {
      warn(st);
      this._gz = 2;
      return this._unmark(items);
    }
    if (st == 413 && items.length > 1) {
      this._mb = Math.max(1, items.length >> 1);
      warn(413, this._mb);
      return this._unmark(items);
    }
    warn('HTTP', st, 'dropped', items.length);
    this._st.rejected += items.length;
    return this._done(ids);
  }

  /** Writes the queue to localStorage at most every 100 ms (page-close writes are immediate). */
  _persist() {
    this._pt ||= setTimeout(() => {
      this._pt = 0;
      S.h || this._s._lock(() => this._s._save(!!this._gone));
    }, 100);
  }

  _unmark(items: Item[]) {
    items.forEach((x) => delete x.u);
    return true;
  }

  _done(ids: string[]) {
    this._s._remove(ids);
    this._persist();
    return true;
  }

  /** ms left of a wait the server asked for, as stored (by this page, an earlier one or another tab); adopts its attempt count. */
  _wait(): number {
    const b = (get(this._bk) || '').split(',');
    this._att = Math.max(this._att, +b[1] || 0);
    return Math.min(+b[0] - now(), 36e5) || 0;
  }

  _sched(d: number, server: number) {
    clearTimeout(this._rt);
    this._rs = server;
    this._rt = setTimeout(() => { this._rt = this._rs = 0; this._drain(); }, d);
  }

  /** `ra`: the Retry-After in ms, null for an HTTP answer without one, undefined for a network error (not stored: `online` may end it). */
  _fail(items: Item[], ra: number | null | undefined, why: string): boolean {
    this._unmark(items);
    this._wait();
    const d = backoff(this._att++, this._retryBase, this._retryMax, ra), server = ra !== undefined ? 1 : 0;
    this._st.retries++;
    warn(why, d | 0);
    if (server) set(this._bk, now() + d + ',' + this._att);
    this._sched(d, server);
    return false;
  }

  /** Page hidden (0) or going away (1): send what is unsent with keepalive / sendBeacon, within the browsers' 64 KB limit. */
  _hide(gone: number) {
    if (S.h) return;
    // Once the page is going away (pagehide), a later visibilitychange must not take the lease back.
    if (gone) this._gone = 1;
    this._tick();
    const n = window.navigator;
    // During a wait the server asked for, nothing is sent: the events stay stored for later.
    let left = this._rs || this._wait() > 0 ? 0 : BEACON_BUDGET;
    // the envelope: 64 bytes and the key (keys are ASCII)
    const ov = 64 + this._k.length;
    split(this._s._q.filter((x) => !x.u), undefined, ov).forEach((g) => {
      left -= ov;
      g.forEach((x) => (left -= x.n + 1));
      if (left < 64) return;
      g.forEach((x) => (x.u = 1));
      if (gone && n.sendBeacon) {
        // the browser took it: no longer stored (no answer will ever confirm it)
        if (n.sendBeacon(this._url, new Blob([body(g.map((x) => x.j), this._k)], { type: 'text/plain' }))) this._s._remove(g.map((x) => x.i));
        else this._unmark(g);
      } else this._send(g, true);
    });
    this._s._save(!!this._gone);
  }

  /** Back from the back-forward cache: take the lease again, count a page view, resend what the beacons may not have delivered. */
  _restore() {
    this._gone = 0;
    this._unmark(this._s._q);
    this._s._save();
    if (this._pv) {
      this._last = '';
      this.page();
    }
    this._kick();
  }

  /** Scroll depth milestones for the current page view. */
  _scrolled() {
    const w = window, de = w.document.documentElement, h = Math.max(de.scrollHeight, w.document.body ? w.document.body.scrollHeight : 0);
    const seen = w.scrollY + w.innerHeight;
    [25, 50, 75, 100].forEach((m) => {
      if (m > this._depth && seen >= (h * m) / 100 - 2) {
        this._depth = m;
        this.track('scroll', { depth: m });
      }
    });
  }
}
