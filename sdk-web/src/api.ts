/** The public API object: one tracker, calls before init buffered, nothing ever thrown into the page. */
import type { Options, PXApi, Stats } from './types';
import { Client } from './client';
import { setDebug, warn, zero } from './util';

export function createPX(): PXApi {
  let c: Client | null = null;
  const pre: [string, unknown[]][] = [];
  const call = (m: string, a: unknown[]): any => {
    try {
      if (!c) {
        if (pre.length < 100) pre.push([m, a]); // beyond that, dropped
        return;
      }
      return (c as any)[m](...a);
    } catch (e) {
      warn(m, e);
    }
  };
  const m = (name: string) => (...a: unknown[]) => call(name, a);
  return {
    init(o: Options) {
      if (c) return warn('init twice');
      try {
        c = new Client(o);
      } catch (e) {
        return warn('init', e);
      }
      pre.splice(0).forEach((x) => call(x[0], x[1]));
    },
    track: m('track'),
    page: m('page'),
    identify: m('identify'),
    register: m('register'),
    reset: m('reset'),
    optOut: m('optOut'),
    optIn: m('optIn'),
    flush: () => Promise.resolve(c && call('flush', [])).catch(() => {}),
    debug: (on?: boolean) => setDebug(on !== false),
    stats: (): Stats => (c && call('stats', [])) || zero(),
  };
}
