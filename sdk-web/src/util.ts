/** Small helpers: ids, storage that never throws, cookies, debug log. */

declare const __VERSION__: string;
export const LIB = { name: '@px-platform/sdk', version: typeof __VERSION__ == 'string' ? __VERSION__ : '0.0.0' };

let dbg = false;
export const setDebug = (on: boolean) => { dbg = on; };
/** Console output in debug mode only. */
export const log = (...a: unknown[]) => { if (dbg) console.log('[PX]', ...a); };
export const warn = log;

export const now = () => Date.now();

/** RFC 4122 version 4 UUID; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function uuid(): string {
  const c = crypto;
  return c.randomUUID
    ? c.randomUUID()
    : '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (d: any) => (d ^ (c.getRandomValues(new Uint8Array(1))[0] & (15 >> (d / 4)))).toString(16));
}

/**
 * Where state goes: `m` an in-memory map instead of localStorage (`persistence: 'memory'`); `h` 1 while
 * nothing may be written at all (opted out, Do Not Track / GPC, consent pending).
 */
export const S: { m: Record<string, string> | null; h: number } = { m: null, h: 0 };

export function get(k: string): string | null {
  try {
    return S.m ? (k in S.m ? S.m[k] : null) : window.localStorage.getItem(k);
  } catch {
    return null;
  }
}

/** Returns false when the write failed (quota, disabled storage) or is not allowed now (`force` writes anyway). */
export function set(k: string, v: string, force?: number): boolean {
  if (S.h && !force) return false;
  try {
    S.m ? (S.m[k] = v) : window.localStorage.setItem(k, v);
    return true;
  } catch {
    return false;
  }
}

export function del(k: string) {
  try {
    S.m ? delete S.m[k] : window.localStorage.removeItem(k);
  } catch {}
}

export function keys(): string[] {
  try {
    return Object.keys(S.m || window.localStorage);
  } catch {
    return [];
  }
}

export function cookie(k: string, v?: string | null): string | null {
  try {
    const d = window.document;
    if (v !== undefined) {
      d.cookie = k + '=' + (v ? encodeURIComponent(v) : '') + ';path=/;SameSite=Lax;max-age=' + (v ? 31536000 : 0);
      return v;
    }
    const m = d.cookie.match(new RegExp('(?:^|; )' + k + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  } catch {
    return null;
  }
}

/** A value kept in localStorage, or in a first-party cookie where localStorage is unavailable (never in memory mode). */
export function persisted(k: string, v?: string | null, force?: number): string | null {
  if (v === undefined) return get(k) || (S.m ? null : cookie(k));
  if (!v) del(k);
  if (!v || (!set(k, v, force) && (force || !S.h) && !S.m)) cookie(k, v);
  return v;
}

import type { Stats } from './types';
export const zero = (): Stats => ({ queued: 0, sent: 0, rejected: 0, dropped: 0, retries: 0 });

export const isObj = (o: unknown): o is Record<string, unknown> =>
  !!o && typeof o == 'object' && !Array.isArray(o);
