// SDK benchmark in headless Chromium (the script-tag build, served by the sdk-web test server which
// answers 202 on 127.0.0.1):
//   0. size of dist/px.min.js: raw, gzip -9 and brotli -11;
//   1. cost of one PX.track() call (synchronous part, what the host page pays), goal <= 5 µs;
//   2. events per second the buffer takes end to end: track → serialize → localStorage → gzip → POST → 202.
// Usage: (cd sdk-web && npm run build) && node bench/sdk-bench.mjs [--calls N] [--events N]
import { startServer, launch, ROOT } from '../sdk-web/test/browser/harness.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? +process.argv[i + 1] : d; };
const CALLS = arg('--calls', 200000), EVENTS = arg('--events', 20000);

// 0. size of the script-tag build, as a page downloads it
const min = readFileSync(join(ROOT, 'dist/px.min.js'));
const gz = gzipSync(min, { level: 9 }).length, br = brotliCompressSync(min, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
console.log(`size: px.min.js ${min.length} B, gzip -9 ${gz} B (budget 6144), brotli -11 ${br} B`);

// The bench queues far more than the stored-bytes bound (256 KB) allows by default.
const BIG = '&opts=' + encodeURIComponent(JSON.stringify({ maxBytes: 1e12 }));
const srv = await startServer();
const browser = await launch();
try {
  const page = await browser.context.newPage();
  // Autocapture stays on (as in production); a long flush interval keeps sends out of the timed loop.
  await page.goto(srv.origin + '/sdk/test/e2e/pages/index.html?flushAt=1000000&flushInterval=600000&flushBytes=1e12&maxQueue=1000000' + BIG);
  await page.waitForFunction(() => window.PX && !window.PX.q);
  const perCall = await page.evaluate((n) => {
    const props = { plan: 'pro', price: 42, tags: ['a', 'b'] };
    for (let i = 0; i < 20000; i++) PX.track('warmup', props);
    const runs = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      for (let i = 0; i < n / 5; i++) PX.track('bench_event', props);
      runs.push(((performance.now() - t) * 1000) / (n / 5));
    }
    return runs.sort((a, b) => a - b);
  }, CALLS);
  console.log(`track(): median ${perCall[2].toFixed(2)} µs/call, best ${perCall[0].toFixed(2)} µs (5 runs of ${CALLS / 5} calls; goal <= 5 µs)`);

  const p2 = await browser.context.newPage();
  await p2.goto(srv.origin + '/sdk/test/e2e/pages/index.html?flushAt=100&maxBatch=500&maxQueue=1000000' + BIG);
  await p2.waitForFunction(() => window.PX && !window.PX.q);
  await p2.evaluate(() => PX.flush());
  srv.api.requests.length = 0;
  const r = await p2.evaluate(async (n) => {
    const base = PX.stats().sent, t = performance.now();
    // Events arrive as a busy page would produce them: 500 per task.
    for (let i = 0; i < n; i += 500) {
      for (let j = 0; j < 500; j++) PX.track('load_event', { i: i + j });
      await new Promise((res) => setTimeout(res, 0));
    }
    while (PX.stats().sent - base < n) await new Promise((res) => setTimeout(res, 5));
    return { ms: performance.now() - t, stats: PX.stats() };
  }, EVENTS);
  const got = srv.api.events().filter((e) => e.event === 'load_event').length;
  console.log(`buffer: ${EVENTS} events tracked, serialized, persisted, gzipped and accepted in ${r.ms.toFixed(0)} ms = ${Math.round(EVENTS / (r.ms / 1000))} events/s (seed goal 10,000/s); ${srv.api.requests.length} requests, server got ${got}`);
  if (got !== EVENTS) throw new Error('server received ' + got + ' of ' + EVENTS);
} finally {
  await browser.close();
  await srv.close();
}
