// Sends 1 000 events to a server that is down, prints when the last call returned, ends.
const [lib, url] = process.argv.slice(2)
let client
if (lib === 'naano') {
  const { Naano } = await import('naano')
  client = new Naano({ baseUrl: url })
  for (let i = 0; i < 1000; i++) client.trackSignup({ sessionId: `naano_session_${i}`, email: `u${i}@b.example`, company: 'Bench' })
} else if (lib === 'posthog') {
  const { PostHog } = await import('posthog-node')
  client = new PostHog('phc_bench', { host: url })
  for (let i = 0; i < 1000; i++) client.capture({ distinctId: `u${i}`, event: 'signup' })
} else {
  const { Analytics } = await import('@segment/analytics-node')
  client = new Analytics({ writeKey: 'bench', host: url })
  for (let i = 0; i < 1000; i++) client.track({ userId: `u${i}`, event: 'Signup' })
}
console.log(performance.timeOrigin + performance.now())
