// Process lifetime: queued events are delivered on a normal exit, a process never hangs on
// a down or stalled server, and delivery never blocks the event loop.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Naano } from '../index.mjs'
import { startServer, ACME_IP } from './server.mjs'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'track-and-end.mjs')

/** Runs the fixture; resolves with its exit code, or rejects if it does not exit by itself. */
function runFixture(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['ignore', 'inherit', 'inherit'] })
    const guard = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error('the process did not exit by itself'))
    }, 30000)
    child.on('exit', (code) => {
      clearTimeout(guard)
      resolve(code)
    })
  })
}

test('events queued by a finishing process are delivered on a normal exit', async () => {
  const server = await startServer()
  try {
    const slug = await server.linkTo('https://saas.example/')
    const sessions = []
    for (let i = 0; i < 20; i++) sessions.push(await server.session(slug, ACME_IP))
    assert.equal(await runFixture([server.base, ...sessions]), 0)
    assert.equal(await server.countLeads(), 20)
  } finally {
    await server.stop()
  }
})

test('a process with the server down exits by itself, with no unhandled rejection', async () => {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
  assert.equal(await runFixture([`http://127.0.0.1:${port}`, 'naano_session_a', 'naano_session_b']), 0)
})

test('a process with a stalled server exits by itself', async () => {
  const held = []
  const stalled = createServer((socket) => held.push(socket))
  await new Promise((resolve) => stalled.listen(0, '127.0.0.1', resolve))
  try {
    assert.equal(await runFixture([`http://127.0.0.1:${stalled.address().port}`, 'naano_session_a']), 0)
  } finally {
    held.forEach((s) => s.destroy())
    stalled.close()
  }
})

test('10 000 trackSignup calls do not stall a concurrent timer while they are delivered', async () => {
  const server = await startServer()
  try {
    const slug = await server.linkTo('https://saas.example/')
    const session = await server.session(slug, ACME_IP)
    const naano = new Naano({ baseUrl: server.base })
    for (let i = 0; i < 10000; i++) naano.trackSignup({ sessionId: session, email: `loop${i}@acme.com`, company: 'Acme' })
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const flushed = await naano.flush(60000)
    clearInterval(timer)
    assert.equal(flushed, true)
    assert.equal(naano.stats().sent, 10000)
    // Delivery ran on the engine's threads: the loop kept turning the whole time.
    assert.ok(ticks >= 20, `timer ticked ${ticks} times during delivery`)
    assert.equal(await server.countLeads(), 10000)
  } finally {
    await server.stop()
  }
})
