/** Automatic page views (incl. SPA navigations), clicks and scroll depth. */
import type { Client } from './client';
import { strip } from './context';
import type { Options } from './types';

/** Up to three levels of `tag#id` / `tag.class.class`, stopping at the first id. */
export function selector(el: Element): string {
  let s = '';
  for (let e: Element | null = el, i = 0; e && i < 3; e = e.parentElement, i++) {
    const c = (e.getAttribute('class') || '').trim().split(/\s+/).slice(0, 2).join('.');
    s = e.tagName.toLowerCase() + (e.id ? '#' + e.id : c ? '.' + c : '') + (s && '>' + s);
    if (e.id) break;
  }
  return s;
}

/** Properties of a click on a link, a button or an element with data-px-* attributes; null for other elements. */
export function clickInfo(el: Element, o: Options): { name: string; props: Record<string, string> } | null {
  const tag = el.tagName.toLowerCase(), a = el.attributes, data: Record<string, string> = {};
  let marked = false, name = 'click';
  for (let i = 0; i < a.length; i++) {
    const n = a[i].name;
    if (n.indexOf('data-px-') == 0 && n != 'data-px-no-text') {
      marked = true;
      if (n == 'data-px-event') name = a[i].value || name;
      else data[n.slice(8)] = a[i].value;
    }
  }
  const input = tag == 'input' || tag == 'textarea' || tag == 'select';
  if (!marked && tag != 'a' && tag != 'button' && el.getAttribute('role') != 'button' && !(tag == 'input' && /^(submit|button|reset|image)$/i.test((el as HTMLInputElement).type)))
    return null;
  const p: Record<string, string> = { tag, selector: selector(el) }, href = (el as HTMLAnchorElement).href;
  // A mailto: / tel: / sms: link is an address: neither its target nor its text is captured.
  const contact = tag == 'a' && /^(mailto|tel|sms):/i.test(href);
  let hide: unknown = 1;
  try {
    hide = el.closest(['[data-px-no-text]'].concat(o.maskText || []).join());
  } catch {}
  // Never read what a user typed: no text or value for form fields; none where the page said so.
  if (!input && !contact && !hide) {
    const t = (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 100);
    if (t) p.text = t;
  }
  if (el.id) p.id = el.id;
  const cls = (el.getAttribute('class') || '').trim();
  if (cls) p.classes = cls;
  if (tag == 'a' && href && typeof href == 'string' && !contact) p.href = strip(href, o);
  for (const k in data) p[k] = data[k];
  return { name, props: p };
}

export function autocapture(c: Client, pageViews: boolean, clicks: boolean, scroll: boolean, hash: boolean) {
  const w = window, d = w.document, on = (t: any, e: string, f: any, o?: any) => t.addEventListener(e, f, o);
  const pv = () => {
    const h = w.location.href, l = c._last;
    if (h != l && (hash || h.split('#')[0] != l.split('#')[0])) c.page();
  };
  // Any navigation marks the cached context stale (the next event rebuilds it). The page view waits for the
  // frame after the navigation, when routers have set the title; a hidden tab has no frames, hence the timer
  // too (the second call finds nothing new).
  const nav = () => {
    c._cs = 1;
    if (pageViews) {
      w.requestAnimationFrame(() => setTimeout(pv));
      setTimeout(pv, 300);
    }
  };
  const h = w.history as any;
  ['pushState', 'replaceState'].forEach((m) => {
    const f = h[m];
    if (f)
      h[m] = function (this: History) {
        const r = f.apply(this, arguments);
        try {
          nav();
        } catch {}
        return r;
      };
  });
  on(w, 'popstate', nav);
  on(w, 'hashchange', nav);
  if (clicks)
    on(
      d,
      'click',
      (e: Event) => {
        try {
          for (let el = e.target as Element | null, i = 0; el && el.nodeType == 1 && i < 6; el = el.parentElement, i++) {
            const info = clickInfo(el, c._o);
            if (info) return c.track(info.name, info.props);
          }
        } catch {}
      },
      true
    );
  if (scroll) {
    let t: any = 0;
    on(w, 'scroll', () => {
      if (!t) t = setTimeout(() => { t = 0; c._scrolled(); }, 100);
    }, { passive: true });
  }
}
