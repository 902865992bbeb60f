/**
 * Unsent events: an in-memory queue mirrored to localStorage, bounded (count, bytes across tabs, age),
 * and shared between tabs.
 *
 * Each page (tab) writes its events in segments `px_q:<project>:<tab>:<n>`: a save writes the events
 * new since the last one as one new segment and rewrites only the segments that lost events (sent,
 * dropped), so a flush does not rewrite the whole queue. Each page holds a lease `px_l:<project>:<tab>`
 * (a timestamp refreshed by a heartbeat, "0" once the page is hidden for good). A page adopts the
 * segments whose lease is released or expired: it merges their events and deletes their keys. Adopting
 * and the timed saves run inside one Web Lock where the browser has them, so a save never races an
 * adoption, and two live pages never send the same stored event. A page whose segments were adopted
 * (it was frozen past its lease) notices its lease key is gone and forgets those events. Should
 * anything still be sent twice, the event_id lets the server drop the copy.
 */
import { del, get, keys, set, uuid, now, log } from './util';
import { utf8len } from './transport';

/** One serialized event: id, JSON text, its UTF-8 size, its time, the segment it is stored in, whether a page-close send holds it. */
export interface Item { i: string; j: string; n: number; t: number; s?: number; u?: number }

export const item = (j: string, i: string, t = now()): Item => ({ i, j, n: utf8len(j), t });

export class Store {
  _q: Item[] = [];
  _dropped = 0;
  _tab = uuid().slice(0, 8);
  _seq = 0;
  /** segments that lost events since they were written */
  _dirty: Record<string, 1> = {};
  _k: string;
  _l: string;

  constructor(pid: string, public _max: number, public _bytes: number, public _age: number, public _lease = 180000) {
    this._k = 'px_q:' + pid + ':';
    this._l = 'px_l:' + pid + ':';
  }

  /** Keeps the newest events within the count, `bytes` and age bounds; the rest is dropped and counted. */
  _fit(bytes = this._bytes) {
    const old = now() - this._age;
    let n = 0, b = 0;
    const keep: Item[] = [];
    for (let i = this._q.length; i--; ) {
      const x = this._q[i];
      if (x.t > old && ++n <= this._max && (b += x.n) <= bytes) keep.unshift(x);
      else this._drop(x);
    }
    this._dropped += this._q.length - keep.length;
    this._q = keep;
  }

  _drop(x: Item) {
    if (x.s) this._dirty[x.s] = 1;
  }

  /** Appends items not already queued, then applies the bounds. */
  _add(items: Item[], front?: boolean) {
    const seen: Record<string, 1> = {};
    this._q.forEach((x) => (seen[x.i] = 1));
    items = items.filter((x) => !seen[x.i] && (seen[x.i] = 1));
    this._q = front ? items.concat(this._q) : this._q.concat(items);
    this._fit();
  }

  _remove(ids: string[]) {
    const r: Record<string, 1> = {};
    ids.forEach((i) => (r[i] = 1));
    this._q = this._q.filter((x) => !r[x.i] || this._drop(x));
  }

  /** If another page adopted what we had stored (our lease key is gone), forget those events: it sends them. */
  _own() {
    if (get(this._l + this._tab) == null && this._q.some((x) => x.s)) {
      this._q = this._q.filter((x) => !x.s);
      this._dirty = {};
      log('adopted');
    }
  }

  /** Writes what changed; `release` gives up the lease so the next page takes the events at once. */
  _save(release?: boolean) {
    const me = this._k + this._tab + ':', l = this._l + this._tab;
    this._own();
    // the byte bound is for all tabs together: what the others store counts
    let others = 0;
    keys().forEach((k) => { if (!k.indexOf(this._k) && k.indexOf(me)) others += (get(k) || '').length; });
    this._fit(this._bytes - others);
    const enc = (q: Item[]) => '{"e":[' + q.map((x) => x.j).join(',') + ']}';
    // the lease before any segment: a tab that saw our segment without its lease would take it for a
    // closed page's and adopt it while we send it too
    if (this._q.length) set(l, release ? '0' : '' + now());
    for (const s in this._dirty) {
      const q = this._q.filter((x) => x.s == +s);
      q.length ? set(me + s, enc(q)) : del(me + s);
    }
    this._dirty = {};
    const fresh = this._q.filter((x) => !x.s), s = ++this._seq;
    // storage full: they stay in memory, unsaved, and are tried again next time
    if (fresh.length && set(me + s, enc(fresh))) fresh.forEach((x) => (x.s = s));
    if (!this._q.some((x) => x.s)) del(l);
  }

  /** Runs `f` inside the project's Web Lock where the browser has them. */
  _lock(f: () => void) {
    const L = (window.navigator as any).locks;
    if (L && L.request) L.request(this._k, f).catch(f);
    else f();
  }

  /** Merges the segments of released or expired pages into ours (inside the lock); calls `done` after. */
  _adopt(done: () => void) {
    this._lock(() => {
      let n = 0;
      const t = now(), me = this._k + this._tab + ':', gone: Record<string, 1> = {};
      keys().forEach((k) => {
        if (k.indexOf(this._k) || !k.indexOf(me)) return;
        const l = this._l + k.slice(this._k.length).split(':')[0], v = get(l);
        if (v != null && v != '0' && t - +v < this._lease) return; // a live page owns it
        try {
          const items = JSON.parse(get(k) || '{}').e.filter((e: any) => e && e.event_id).map((e: any) => item(JSON.stringify(e), e.event_id, Date.parse(e.timestamp) || t));
          n += items.length;
          this._add(items, true);
        } catch {}
        del(k);
        gone[l] = 1;
      });
      for (const l in gone) del(l);
      if (n) {
        log('adopted', n);
        this._save();
      }
      done();
    });
  }
}
