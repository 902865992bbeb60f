/** HTTP side: body encoding, the retry schedule, page-close sends. */

/**
 * Page-close sends: browsers allow 64 KiB of keepalive / beacon bodies in flight per page in all, so one
 * body is at most BEACON_MAX and all of them together at most BEACON_BUDGET; the rest stays stored for
 * the next page.
 */
export const BEACON_MAX = 30000;
export const BEACON_BUDGET = 60000;

/**
 * Delay before retry number `attempt` (0-based): exponential from `base` with full jitter (a random share of
 * `min(max, base·2^attempt)`), never less than `base`, and never less than the server's Retry-After (ms):
 * the server's wait is a floor, our backoff still grows on top of it. Retry-After 0 (or a past date) is not "now".
 */
export const backoff = (attempt: number, base: number, max: number, retryAfterMs?: number | null, rnd = Math.random()): number =>
  Math.max(Math.min(retryAfterMs || 0, 36e5), base, rnd * Math.min(max, base * 2 ** attempt));

/** Parses a Retry-After header (delta seconds or HTTP date) into ms, or null. */
export function retryAfter(h: string | null | undefined, now = Date.now()): number | null {
  if (!h) return null;
  if (+h >= 0) return +h * 1000;
  const t = Date.parse(h);
  return isNaN(t) ? null : Math.max(0, t - now);
}

/** Gzips a string with CompressionStream; null where the browser lacks it. */
export async function gzip(s: string): Promise<ArrayBuffer | null> {
  if (typeof CompressionStream == 'undefined') return null;
  return new Response(new Blob([s]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
}

/**
 * `{"api_key":…,"events":[…],"sent_at":…}` from already-serialized events and the JSON-encoded key. The key
 * travels in the body, never in the URL, which servers log and browsers keep; it comes first so that the
 * server reads it before the events.
 */
export const body = (events: string[], key: string) =>
  '{"api_key":' + key + ',"events":[' + events.join(',') + '],"sent_at":"' + new Date().toISOString() + '"}';

/**
 * Groups items (each `n` UTF-8 bytes of JSON) so each request body stays under `max` bytes, `over` of them
 * for the envelope; skips items that alone exceed it.
 */
export function split<T extends { n: number }>(items: T[], max = BEACON_MAX, over = 64): T[][] {
  const out: T[][] = [];
  let cur: T[] = [], n = over;
  for (const e of items) {
    const b = e.n + 1;
    if (b + over > max) continue;
    if (n + b > max && cur.length) { out.push(cur); cur = []; n = over; }
    cur.push(e);
    n += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** UTF-8 byte length of a string. */
export const utf8len = (s: string): number => unescape(encodeURIComponent(s)).length;
