// A real naano-server on a temporary SQLite file, for the tests.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ADMIN_TOKEN = 'node-test-admin-token'
export const ACME_IP = '203.0.113.10'
export const GLOBEX_IP = '198.51.100.5'
export const UNKNOWN_IP = '192.0.2.1'

export async function startServer(extra = []) {
  const bin = process.env.NAANO_SERVER_BIN || join(ROOT, 'target', 'debug', 'naano-server')
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build -p naano-server`)
  const dir = mkdtempSync(join(tmpdir(), 'naano-node-'))
  const table = join(dir, 'ip.csv')
  writeFileSync(table, 'cidr,company,domain,confidence\n203.0.113.0/24,Acme Corporation,acme.com,0.9\n198.51.100.0/24,Globex Inc,globex.com,0.8\n')
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--trust-proxy', '--database-url', join(dir, 'naano.db'), '--ip-companies', table, ...extra], {
    env: { ...process.env, NAANO_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })
  const base = await new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      const m = line.match(/^naano-server listening on (.*)$/)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`naano-server exited with ${code}`)))
  })
  return new TestServer(child, base)
}

export class TestServer {
  constructor(child, base) {
    this.child = child
    this.base = base
  }

  async stop() {
    const exited = new Promise((resolve) => this.child.on('exit', resolve))
    this.child.kill('SIGTERM')
    await exited
  }

  async admin(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: res.status, body: await res.json() }
  }

  async linkTo(destination) {
    const creator = await this.admin('POST', '/api/admin/creators', { name: 'Node Creator' })
    const link = await this.admin('POST', '/api/admin/links', { creator_id: creator.body.id, destination_url: destination })
    return link.body.slug
  }

  async clickLocation(slug, ip) {
    const res = await fetch(`${this.base}/c/${slug}`, { redirect: 'manual', headers: { 'x-forwarded-for': ip } })
    return res.headers.get('location')
  }

  async pendingSession(slug, ip) {
    return new URL(await this.clickLocation(slug, ip)).searchParams.get('naano_session')
  }

  async session(slug, ip) {
    const session = await this.pendingSession(slug, ip)
    await this.waitStatus(session, ['inferred', 'no_company'])
    return session
  }

  async inference(session) {
    return (await this.admin('GET', `/api/admin/inferences?session_id=${session}`)).body.data[0]
  }

  async waitStatus(session, wanted) {
    for (let i = 0; i < 1000; i++) {
      const inf = await this.inference(session)
      if (wanted.includes(inf.status)) return inf
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`${session} never reached ${wanted}`)
  }

  async leads(email) {
    return (await this.admin('GET', `/api/admin/leads?email=${encodeURIComponent(email)}`)).body.data
  }

  async countLeads() {
    let total = 0
    let cursor = null
    do {
      const page = (await this.admin('GET', `/api/admin/leads?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).body
      total += page.data.length
      cursor = page.next_cursor
    } while (cursor)
    return total
  }
}
