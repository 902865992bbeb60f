/** The `context` object each event carries: page, screen, locale, campaign. */
import type { Context } from './types';
import { LIB } from './util';

const some = (o: Record<string, string>) => (Object.keys(o).length ? o : undefined);
const UTM = ['source', 'medium', 'campaign', 'term', 'content'];
const CLICK_IDS = ['gclid', 'gbraid', 'wbraid', 'dclid', 'fbclid', 'msclkid', 'ttclid', 'twclid', 'li_fat_id'];

/** Removes the whole query (`true`) or the listed parameters from a URL. */
export function strip(url: string, how?: boolean | string[]): string {
  if (!how || !url) return url;
  try {
    const u = new URL(url);
    if (how === true) u.search = '';
    else how.forEach((p) => u.searchParams.delete(p));
    return u.href;
  } catch {
    return url;
  }
}

/** Builds the context for the current page; `referrer` overrides document.referrer (SPA navigations). */
export function context(how?: boolean | string[], referrer?: string): Context {
  const w = window, l = w.location, n = w.navigator, s = w.screen, q = new URLSearchParams(l.search);
  const c: Context = {
    page: {
      url: strip(l.href, how),
      path: l.pathname,
      referrer: strip(referrer ?? w.document.referrer, how),
      title: w.document.title,
    },
    screen: { width: s.width, height: s.height, density: w.devicePixelRatio || 1 },
    viewport: { width: w.innerWidth, height: w.innerHeight },
    locale: n.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    library: LIB,
  };
  if (l.hash) c.page.hash = l.hash;
  const camp: Record<string, string> = {}, ids: Record<string, string> = {};
  UTM.forEach((k) => {
    const v = q.get('utm_' + k);
    if (v) camp[k == 'campaign' ? 'name' : k] = v;
  });
  CLICK_IDS.forEach((k) => {
    const v = q.get(k);
    if (v) ids[k] = v;
  });
  // Empty objects become undefined, which JSON leaves out.
  c.campaign = some(camp);
  c.click_ids = some(ids);
  return c;
}
