/** Test fixtures: a happy-dom window installed as the global one, and a scripted fetch that records requests. */
import { Window } from 'happy-dom';
import { gunzipSync } from 'node:zlib';

export interface Req {
  url: string;
  body: any; // parsed JSON
  raw: Buffer;
  headers: Record<string, string>;
  keepalive?: boolean;
}

export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'network-error';

/** Every window setup() gave out, until closeWindows(). */
const windows = new Set<Window>();

/** Installs a fresh window (own localStorage) unless one is passed to share storage, like a second tab or a reload. */
export function setup(url = 'https://shop.example/products/1?utm_source=news&utm_campaign=spring&gclid=abc&email=x%40y.z', win?: Window) {
  win = win || new Window({ url, width: 1280, height: 720 });
  windows.add(win);
  if (url !== win.location.href) win.location.href = url;
  const g = globalThis as any;
  g.window = win;
  g.document = win.document;
  return win;
}

/**
 * Ends every window setup() gave out, for afterEach: a window's own pending tasks (happy-dom dispatches a hash
 * change's event on a real timer, frames run on real immediates) would otherwise reach the SDK of a finished
 * test while the next one runs, under load, and act on that test's mocked timers (a scroll test once lost its
 * page view that way).
 */
export async function closeWindows() {
  for (const w of windows) await w.happyDOM.abort();
  for (const w of windows) await w.happyDOM.close();
  windows.clear();
}

/** Replaces global fetch; `answers` are used in order, then 202. */
export function mockFetch(answers: Answer[] = []) {
  const reqs: Req[] = [];
  const fn = async (url: string, init: any) => {
    let raw: Buffer;
    const b = init.body;
    raw = typeof b == 'string' ? Buffer.from(b) : Buffer.from(b as ArrayBuffer);
    const headers: Record<string, string> = {};
    for (const k in init.headers || {}) headers[k.toLowerCase()] = init.headers[k];
    const text = raw[0] == 0x1f && raw[1] == 0x8b ? gunzipSync(raw).toString() : raw.toString();
    reqs.push({ url, body: JSON.parse(text), raw, headers, keepalive: init.keepalive });
    const a = answers.shift() || { status: 202 };
    if (a === 'network-error') throw new TypeError('Failed to fetch');
    const n = JSON.parse(text).events.length;
    return new Response(JSON.stringify(a.body ?? { accepted: n, rejected: [] }), { status: a.status, headers: a.headers });
  };
  (globalThis as any).fetch = fn;
  return reqs;
}

/** Lets pending promises and zero-delay real timers run. */
export const settle = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

export const ids = (reqs: Req[]) => reqs.flatMap((r) => r.body.events.map((e: any) => e.event_id));
export const names = (reqs: Req[]) => reqs.flatMap((r) => r.body.events.map((e: any) => e.event));

export const base = { apiKey: 'px_test_key', projectId: 'proj1', compress: false, autocapture: false as const };
