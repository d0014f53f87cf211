// Caller-side cost of one tracking call: naano vs posthog-node (capture) and
// @segment/analytics-node (track), on 127.0.0.1 only.
//
//   (cd sdk-node && npm run build) && (cd bench/node && npm install) && node bench/node/bench_sdk.mjs
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { Naano } from 'naano'
import { PostHog } from 'posthog-node'
import { Analytics } from '@segment/analytics-node'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const CALLS = Number(process.env.CALLS || 100000)

function stats(ns) {
  ns.sort((a, b) => a - b)
  const at = (p) => Number(ns[Math.round((p / 100) * (ns.length - 1))]) / 1000
  return { median: at(50), p99: at(99) }
}

function measure(n, call) {
  const costs = new Array(n)
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint()
    call(i)
    costs[i] = Number(process.hrtime.bigint() - t)
  }
  return stats(costs)
}

async function startNaano() {
  const dir = mkdtempSync(join(tmpdir(), 'naano-bench-'))
  const child = spawn(join(ROOT, 'target/release/naano-server'), ['--listen', '127.0.0.1:0', '--database-url', join(dir, 'b.db')], {
    env: { ...process.env, NAANO_ADMIN_TOKEN: 'bench', RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const base = await new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (l) => l.startsWith('naano-server listening on ') && resolve(l.split(' ').pop()))
  })
  return { child, base }
}

async function admin(base, method, path, body) {
  const res = await fetch(base + path, { method, headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: body && JSON.stringify(body) })
  return res.json()
}

async function sessions(base, n) {
  const creator = await admin(base, 'POST', '/api/admin/creators', { name: 'Bench' })
  await admin(base, 'POST', '/api/admin/links', { creator_id: creator.id, destination_url: 'https://x.example/', slug: 'node' })
  const out = []
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/c/node`, { redirect: 'manual' })
    out.push(new URL(res.headers.get('location')).searchParams.get('naano_session'))
  }
  await new Promise((r) => setTimeout(r, 1000))
  return out
}

async function leadsStartingWith(base, prefix) {
  let total = 0
  let cursor = null
  do {
    const page = await admin(base, 'GET', `/api/admin/leads?limit=500${cursor ? `&cursor=${cursor}` : ''}`)
    total += page.data.filter((l) => l.email.startsWith(prefix)).length
    cursor = page.next_cursor
  } while (cursor)
  return total
}

function downUrl() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(`http://127.0.0.1:${port}`))
    })
  })
}

async function exitDelay(lib, url) {
  const child = spawn(process.execPath, [join(HERE, 'exit-child.mjs'), lib, url], { cwd: HERE, stdio: ['ignore', 'pipe', 'ignore'] })
  let last = 0
  createInterface({ input: child.stdout }).on('line', (l) => (last = Number(l)))
  await new Promise((resolve) => child.on('exit', resolve))
  return (performance.timeOrigin + performance.now() - last) / 1000
}

const sink = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
})
await new Promise((r) => sink.listen(0, '127.0.0.1', r))
const sinkUrl = `http://127.0.0.1:${sink.address().port}`
const { child: server, base } = await startNaano()
const pool = await sessions(base, 200)
const rows = []

const up = new Naano({ baseUrl: base, maxQueueSize: CALLS + 1 })
rows.push(['naano, server up', CALLS, measure(CALLS, (i) => up.trackSignup({ sessionId: pool[i % 200], email: `u${i}@b.example`, company: 'Bench' }))])
await up.flush(300000)

const down = new Naano({ baseUrl: await downUrl() })
const rssBefore = process.memoryUsage().rss
rows.push(['naano, server down', CALLS, measure(CALLS, (i) => down.trackSignup({ sessionId: pool[i % 200], email: `d${i}@b.example`, company: 'Bench' })), `${down.stats().dropped} dropped, RSS +${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MiB`])

const ph = new PostHog('phc_bench', { host: sinkUrl, flushAt: 100 })
rows.push(['posthog-node capture, sink up', CALLS, measure(CALLS, (i) => ph.capture({ distinctId: `u${i}`, event: 'signup', properties: { email: `u${i}@b.example` } }))])
await ph.shutdown()

const seg = new Analytics({ writeKey: 'bench', host: sinkUrl })
rows.push(['Segment track, sink up', CALLS, measure(CALLS, (i) => seg.track({ userId: `u${i}`, event: 'Signup', properties: { email: `u${i}@b.example` } }))])
await seg.closeAndFlush({ timeout: 30000 })

console.log('| library | calls | median | p99 | notes |')
console.log('| --- | ---: | ---: | ---: | --- |')
for (const [name, n, s, note = ''] of rows) console.log(`| ${name} | ${n} | ${s.median.toFixed(2)} µs | ${s.p99.toFixed(2)} µs | ${note} |`)

const burst = new Naano({ baseUrl: base })
for (let i = 0; i < 10000; i++) burst.trackSignup({ sessionId: pool[i % 200], email: `burst${i}@b.example`, company: 'Bench' })
const flushed = await burst.flush(300000)
console.log(`\nBurst: 10 000 calls -> flushed=${flushed}, sent=${burst.stats().sent}, distinct burst leads on the server=${await leadsStartingWith(base, 'burst')}.`)

const url = await downUrl()
const exits = []
for (const lib of ['naano', 'posthog', 'segment']) exits.push(`${lib} ${(await exitDelay(lib, url)).toFixed(1)} s`)
console.log(`Server down, 1 000 calls then the script ends: exits after its last call in ${exits.join(', ')}.`)

server.kill('SIGTERM')
sink.close()
process.exit(0)
