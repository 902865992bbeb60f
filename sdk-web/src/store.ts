/**
 * Unsent events: an in-memory queue mirrored to localStorage, bounded, and shared between tabs.
 *
 * Each page (tab) writes its queue under its own key `px_q:<project>:<tab>` and holds a lease
 * `px_l:<project>:<tab>` (a timestamp refreshed by a heartbeat, "0" once the page is hidden for
 * good). A page adopts the queues whose lease is released or expired: it merges their events
 * and deletes their keys, inside a Web Lock where the browser has them, so two live pages never
 * send the same stored event. A page whose queue was adopted (it was frozen past its lease)
 * notices its lease key is gone and forgets the events it had stored. Should anything still
 * be sent twice, the event_id lets the server drop the copy.
 */
import { del, get, set, uuid, now, log, warn } from './util';
import { utf8len } from './transport';

/** One serialized event: id, JSON text, its UTF-8 size, and whether a page-close send holds it. */
export interface Item { i: string; j: string; n: number; u?: number }

export const item = (j: string, i: string): Item => ({ i, j, n: utf8len(j) });

export class Store {
  _q: Item[] = [];
  _dropped = 0;
  _tab = uuid().slice(0, 8);
  _saved: string[] | null = null;
  _k: string;
  _l: string;

  constructor(pid: string, public _max: number, public _lease = 180000) {
    this._k = 'px_q:' + pid + ':';
    this._l = 'px_l:' + pid + ':';
  }

  /** Appends items not already queued; drops the oldest over the bound. */
  _add(items: Item[], front?: boolean) {
    const seen: Record<string, 1> = {};
    this._q.forEach((x) => (seen[x.i] = 1));
    items = items.filter((x) => !seen[x.i] && (seen[x.i] = 1));
    this._q = front ? items.concat(this._q) : this._q.concat(items);
    const over = this._q.length - this._max;
    if (over > 0) {
      this._q.splice(0, over);
      this._dropped += over;
      warn('queue full, dropped', over);
    }
  }

  _remove(ids: string[]) {
    const r: Record<string, 1> = {};
    ids.forEach((i) => (r[i] = 1));
    this._q = this._q.filter((x) => !r[x.i]);
  }

  /** If another page adopted what we had stored (our lease key is gone), forget those events: it sends them. */
  _own() {
    if (this._saved && get(this._l + this._tab) == null) {
      this._remove(this._saved);
      this._saved = null;
      log('queue adopted');
    }
  }

  /** Writes the queue; `release` gives up the lease so the next page takes the events at once. */
  _save(release?: boolean) {
    const k = this._k + this._tab, l = this._l + this._tab;
    this._own();
    this._saved = null;
    if (!this._q.length) {
      del(k);
      del(l);
      return;
    }
    // the lease before the queue: another tab that saw our queue without its lease would take it
    // for a closed page's and adopt it while we send it too
    set(l, release ? '0' : '' + now());
    let q = this._q;
    while (q.length && !set(k, '{"d":' + this._dropped + ',"e":[' + q.map((x) => x.j).join(',') + ']}')) {
      q = q.slice(q.length >> 1 || 1); // storage full: keep the newest half
      warn('storage full');
    }
    if (!q.length) return;
    this._saved = q.map((x) => x.i);
  }

  /** Merges the queues of released or expired pages into ours; calls `done` after. */
  _adopt(done: () => void) {
    const run = () => {
      let n = 0;
      try {
        const s = window.localStorage, t = now(), keys: string[] = [];
        for (let i = 0; i < s.length; i++) {
          const k = s.key(i);
          if (k && k.indexOf(this._k) == 0 && k != this._k + this._tab) keys.push(k);
        }
        keys.forEach((k) => {
          const l = this._l + k.slice(this._k.length), v = get(l);
          if (v != null && v != '0' && t - +v < this._lease) return; // a live page owns it
          try {
            const r = JSON.parse(get(k) || '{}');
            this._dropped += r.d || 0;
            const items = (r.e || []).filter((e: any) => e && e.event_id).map((e: any) => item(JSON.stringify(e), e.event_id));
            n += items.length;
            this._add(items, true);
          } catch {}
          del(k);
          del(l);
        });
      } catch {}
      if (n) {
        log('adopted', n);
        this._save();
      }
      done();
    };
    const L = (window.navigator as any).locks;
    if (L && L.request) L.request(this._k, run).catch(run);
    else run();
  }
}
