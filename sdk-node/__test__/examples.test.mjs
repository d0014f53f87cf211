// The Express example over real HTTP and the Next.js example's route handler with real
// Request objects, both against the real naano-server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Naano } from '../index.mjs'
import { startServer, ACME_IP } from './server.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const EXAMPLES = join(HERE, '..', '..', 'examples')
const require = createRequire(import.meta.url)

function parseSetCookie(header) {
  const [pair, ...attrs] = header.split(';').map((s) => s.trim())
  const [name, value] = pair.split('=')
  return { name, value, attrs: attrs.map((a) => a.toLowerCase()) }
}

test('Express: tracking link -> landing sets the cookie -> signup -> lead confirmed', async () => {
  const server = await startServer()
  const naano = new Naano({ baseUrl: server.base })
  const { createApp } = require(join(EXAMPLES, 'express-app', 'app.js'))
  const app = createApp(naano)
  const web = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const appUrl = `http://127.0.0.1:${web.address().port}`
  try {
    const slug = await server.linkTo(`${appUrl}/?plan=pro`)
    const landing = await server.clickLocation(slug, ACME_IP)
    const session = new URL(landing).searchParams.get('naano_session')
    await server.waitStatus(session, ['inferred'])

    const landed = await fetch(landing)
    assert.equal(landed.status, 200)
    const cookie = parseSetCookie(landed.headers.get('set-cookie'))
    assert.deepEqual([cookie.name, cookie.value], ['naano_session', session])
    for (const attr of ['httponly', 'samesite=lax', 'path=/', 'max-age=7776000']) assert.ok(cookie.attrs.includes(attr), attr)
    assert.ok(!cookie.attrs.includes('secure'))
    // Behind an https proxy the cookie is Secure.
    const proxied = await fetch(landing, { headers: { 'x-forwarded-proto': 'https' } })
    assert.ok(parseSetCookie(proxied.headers.get('set-cookie')).attrs.includes('secure'))

    const signup = await fetch(`${appUrl}/signup`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: `naano_session=${session}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: 'ex@acme.com', company: 'ACME Corp', name: 'Ex' }),
    })
    assert.equal(signup.status, 303)
    assert.equal(await naano.flush(10000), true)
    const inference = await server.inference(session)
    assert.deepEqual([inference.status, inference.confirmed_company, inference.mismatch], ['confirmed', 'ACME Corp', false])
    assert.equal((await server.leads('ex@acme.com'))[0].name, 'Ex')
  } finally {
    web.close()
    await server.stop()
  }
})

test('Next.js: the signup route handler with real Request objects, flushed in after()', async () => {
  // The example imports 'naano' as an app would; link it as `npm install` would.
  const linked = join(EXAMPLES, 'nextjs-app', 'node_modules', 'naano')
  if (!existsSync(linked)) {
    mkdirSync(dirname(linked), { recursive: true })
    symlinkSync(join(HERE, '..'), linked, 'dir')
  }
  const { makeSignupHandler } = await import(join(EXAMPLES, 'nextjs-app', 'lib', 'signup-handler.js'))
  const server = await startServer()
  try {
    const naano = new Naano({ baseUrl: server.base })
    const pendingAfter = []
    // Next's after(): run once the response is sent; the platform waits for it.
    const POST = makeSignupHandler({ naano, after: (fn) => pendingAfter.push(fn) })
    const slug = await server.linkTo('https://saas.example/')
    const session = await server.session(slug, ACME_IP)

    const response = await POST(new Request('https://saas.example/api/signup', {
      method: 'POST',
      headers: { cookie: `naano_session=${session}` },
      body: new URLSearchParams({ email: 'nx@acme.com', company: 'Acme' }),
    }))
    assert.equal(response.status, 201)
    assert.equal(pendingAfter.length, 1)
    assert.equal(await pendingAfter[0](), true, 'the after() flush delivered the signup')
    assert.equal((await server.inference(session)).status, 'confirmed')

    // Without a session the handler answers the same and tracks nothing.
    const anonymous = await POST(new Request('https://saas.example/api/signup', {
      method: 'POST',
      body: new URLSearchParams({ email: 'anon@acme.com', company: 'Acme' }),
    }))
    assert.equal(anonymous.status, 201)
    assert.equal(naano.stats().sent, 1)
  } finally {
    await server.stop()
  }
})

test('Next.js middleware helper sets the cookie on the response', async () => {
  const { withNaanoSession } = await import('../index.mjs')
  const id = 'naano_session_1a23d071d89w9c25sfzSuZFv40ZJzbkw'
  const res = withNaanoSession(new Request(`https://saas.example/?naano_session=${id}`), new Response(null))
  const cookie = parseSetCookie(res.headers.get('set-cookie'))
  assert.equal(cookie.value, id)
  assert.ok(cookie.attrs.includes('secure'), 'https request')
  const none = withNaanoSession(new Request('https://saas.example/'), new Response(null))
  assert.equal(none.headers.get('set-cookie'), null)
})

test('Express: the signup handler answers normally with Naano down or stalled', async () => {
  const { createServer } = await import('node:net')
  const held = []
  const stalled = createServer((socket) => held.push(socket))
  await new Promise((resolve) => stalled.listen(0, '127.0.0.1', resolve))
  const downPort = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
  const unhandled = []
  const onUnhandled = (err) => unhandled.push(err)
  process.on('unhandledRejection', onUnhandled)
  const { createApp } = require(join(EXAMPLES, 'express-app', 'app.js'))
  try {
    for (const baseUrl of [`http://127.0.0.1:${downPort}`, `http://127.0.0.1:${stalled.address().port}`]) {
      const naano = new Naano({ baseUrl, timeoutMs: 200 })
      const web = await new Promise((resolve) => {
        const s = createApp(naano).listen(0, '127.0.0.1', () => resolve(s))
      })
      try {
        for (let i = 0; i < 20; i++) {
          const res = await fetch(`http://127.0.0.1:${web.address().port}/signup`, {
            method: 'POST',
            redirect: 'manual',
            headers: { cookie: 'naano_session=naano_session_whatever', 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ email: `d${i}@acme.com`, company: 'Acme' }),
          })
          assert.equal(res.status, 303)
        }
        const stats = naano.stats()
        assert.equal(stats.queued + stats.failed, 20)
        assert.equal(await naano.flush(100), false, 'still retrying; flush keeps to its bound')
        await naano.shutdown(0)
      } finally {
        web.close()
      }
    }
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
    held.forEach((s) => s.destroy())
    stalled.close()
  }
})
