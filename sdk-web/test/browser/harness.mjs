// Browser-test harness: a local HTTP server that serves sdk-web under /sdk/ and plays the PX ingestion
// endpoint (records every POST, answers as scripted, can go "offline"), and a headless Chromium launcher.
import { createServer } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, normalize, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.map': 'application/json', '.json': 'application/json' };

/**
 * Starts the server on a free 127.0.0.1 port. `api.answers` is a list of scripted answers used in order
 * ({status, headers}), after which every request gets 202 unless `api.fail` is set (an answer used for
 * all). `api.requests` records each POST; `api.accepted` counts 202 acceptances per event_id.
 */
export async function startServer() {
  const api = { requests: [], accepted: new Map(), answers: [], fail: null };
  const server = createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/api/v1/events/batch') {
      if (req.method !== 'POST') return end(res, 405, { error: 'method' });
      const chunks = [];
      for await (const c of req) chunks.push(c);
      let raw = Buffer.concat(chunks), body;
      const gz = raw[0] === 0x1f && raw[1] === 0x8b;
      try {
        body = JSON.parse((gz ? gunzipSync(raw) : raw).toString());
      } catch {
        return end(res, 400, { error: 'malformed' });
      }
      // like the module: the key in the body's envelope; a key in the URL would end up in logs
      if (u.searchParams.has('api_key')) return end(res, 403, { error: 'key_not_allowed_in_query' });
      if (body.api_key !== 'px_test_1234567890abcdef' || !u.searchParams.get('project_id')) return end(res, 401, { error: 'key' });
      const a = api.answers.shift() || api.fail || { status: 202 };
      api.requests.push({ at: Date.now(), status: a.status, gzip: gz, encoding: req.headers['content-encoding'], type: req.headers['content-type'], events: body.events, sent_at: body.sent_at });
      if (a.status === 202) for (const e of body.events) api.accepted.set(e.event_id, (api.accepted.get(e.event_id) || 0) + 1);
      return end(res, a.status, a.status === 202 ? { accepted: body.events.length, rejected: [] } : { error: 'unavailable' }, a.headers);
    }
    if (u.pathname.startsWith('/sdk/')) {
      const p = normalize(join(ROOT, u.pathname.slice(5)));
      if (p.startsWith(ROOT) && !p.includes('node_modules')) {
        let file = p;
        if (!extname(file)) file = join(ROOT, 'test/e2e/pages/index.html'); // SPA routes serve the app
        try {
          const data = await readFile(file);
          res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
          return res.end(data);
        } catch {}
      }
    }
    end(res, 404, { error: 'not_found' });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = 'http://127.0.0.1:' + server.address().port;
  /** All events received with a 202, in arrival order. */
  api.events = () => api.requests.filter((r) => r.status === 202).flatMap((r) => r.events);
  return { api, origin, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

function end(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Debian's Chromium, headless, with a fresh profile. Returns {context, close}. */
export async function launch() {
  const dir = await mkdtemp(join(tmpdir(), 'px-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return { context, close: async () => { await context.close(); await rm(dir, { recursive: true, force: true }); } };
}

/**
 * Polls `fn` until its value (compared as JSON) has not changed for `quietMs`: the sends, retries and
 * stores in flight have settled. Returns that value; fails after `ms`.
 */
export async function settled(fn, quietMs = 600, ms = 15000, what = 'a settled value') {
  const t = Date.now();
  let last, since = Date.now();
  for (;;) {
    const v = JSON.stringify(await fn());
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return JSON.parse(v);
    }
    if (Date.now() - t > ms) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function until(fn, ms = 10000, what = 'condition') {
  const t = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t > ms) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}
