// Drives Segment's unmodified Node client (@segment/analytics-node) for
// tests/integration/test_segment_clients.py: one call of every type for
// one user, sent to the host given, then closeAndFlush. Prints one JSON
// line: the HTTP statuses the client saw, in order, and its delivery errors.
//   node send.js '{"host":"http://127.0.0.1:PORT","writeKey":"...","userId":"...","anonymousId":"..."}'
'use strict'
const { Analytics } = require('@segment/analytics-node')

async function main() {
  const cfg = JSON.parse(process.argv[2])
  const analytics = new Analytics({
    writeKey: cfg.writeKey,
    host: cfg.host,
    flushAt: 6,
    flushInterval: 200,
    maxRetries: 5,
  })
  const statuses = []
  const errors = []
  analytics.on('http_response', (r) => statuses.push(r.status))
  analytics.on('error', (e) => errors.push(String(e.reason || e.code || e)))

  const who = { userId: cfg.userId, anonymousId: cfg.anonymousId }
  const context = { userAgent: 'Mozilla/5.0 (iPhone; node test)', locale: 'de-DE' }
  analytics.track({ ...who, event: 'Order Completed', properties: { total: 42.5 }, context })
  analytics.page({ ...who, name: 'Pricing', category: 'Docs', properties: { url: 'https://shop.example/pricing' }, context })
  analytics.screen({ ...who, name: 'Settings', context })
  analytics.identify({ ...who, traits: { plan: 'pro' }, context })
  analytics.group({ ...who, groupId: 'grp_' + cfg.userId, traits: { seats: 3 }, context })
  analytics.alias({ userId: cfg.userId, previousId: cfg.anonymousId, context })

  await analytics.closeAndFlush({ timeout: 30000 })
  process.stdout.write(JSON.stringify({ statuses, errors }) + '\n')
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n')
  process.exit(1)
})
