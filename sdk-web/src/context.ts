/** The `context` object each event carries: page, screen, locale, campaign. */
import type { Context, Options } from './types';
import { LIB } from './util';

const some = (o: Record<string, string>) => (Object.keys(o).length ? o : undefined);
const UTM = ['source', 'medium', 'campaign', 'term', 'content'];
const CLICK_IDS = ['gclid', 'gbraid', 'wbraid', 'dclid', 'fbclid', 'msclkid', 'ttclid', 'twclid', 'li_fat_id'];

/** A parameter part (names are split at `_`, `-`, `.`) that marks a secret: `access_token`, `api_key`, `session_id`… */
const SECRET = /^(token|jwt|password|passwd|pwd|pass|secret|key|apikey|auth|code|session|sessionid|sid|sig|signature|otp|credentials?)$/i;
const bad = (k: string, o: Options, frag?: number) =>
  (o.maskParams || []).some((x) => x.toLowerCase() == k.toLowerCase()) || (frag && /^state$/i.test(k)) || k.split(/[_.-]/).some((p) => SECRET.test(p));

/**
 * A URL as it may be sent: the values of secret query parameters masked (`token=***`), secret fragment
 * parameters removed (`#access_token=…&state=…`; routes like `#/orders/12` stay), then `stripQuery` applied.
 */
export function strip(url: string, o: Options): string {
  if (!url) return url;
  const h = url.indexOf('#') + 1 || url.length + 1;
  let u = url.slice(0, h - 1).replace(/([?&])([^&=]+)=[^&]*/g, (m, s, k) => (bad(k, o) ? s + k + '=***' : m));
  u += url.slice(h - 1).replace(/([^#?&=/]+)=[^&]*&?/g, (m, k) => (bad(k, o, 1) ? '' : m)).replace(/[?&#]+$/, '');
  const how = o.stripQuery;
  if (how)
    try {
      const x = new URL(u);
      if (how === true) x.search = '';
      else how.forEach((p) => x.searchParams.delete(p));
      u = x.href;
    } catch {}
  return u;
}

/** Builds the context for the current page; `referrer` overrides document.referrer (SPA navigations). */
export function context(o: Options, referrer?: string): Context {
  const w = window, l = w.location, n = w.navigator, s = w.screen, q = new URLSearchParams(l.search);
  const c: Context = {
    page: {
      url: strip(l.href, o),
      path: l.pathname,
      referrer: strip(referrer ?? w.document.referrer, o),
      title: w.document.title,
    },
    screen: { width: s.width, height: s.height, density: w.devicePixelRatio || 1 },
    viewport: { width: w.innerWidth, height: w.innerHeight },
    locale: n.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    library: LIB,
  };
  const h = c.page.url.indexOf('#');
  if (h > 0) c.page.hash = c.page.url.slice(h);
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
