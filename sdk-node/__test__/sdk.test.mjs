// The Node API end to end against the real server binary.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Naano, NaanoError, NaanoValidationError, SessionNotFoundError, InferencePendingError, sessionIdFromRequest } from '../index.mjs'
import cjs from '../index.js'
import { startServer, ACME_IP, GLOBEX_IP, UNKNOWN_IP } from './server.mjs'

const FAST = { pendingDelaysMs: Array(40).fill(100), transientInitialMs: 20, transientMaxMs: 200, transientMaxAttempts: 100, eventDeadlineMs: 30000 }

test('ESM and CommonJS load the same module', () => {
  assert.equal(cjs.Naano, Naano)
})

test('upgraded, mismatch and typed errors', async () => {
  const server = await startServer()
  try {
    const slug = await server.linkTo('https://saas.example/')
    const naano = new Naano({ baseUrl: server.base })
    const acme = await server.session(slug, ACME_IP)
    const up = await naano.trackSignupAndWait({ sessionId: acme, email: 'ann@acme.com', company: 'Acme Inc', name: 'Ann', jobTitle: 'CTO' })
    assert.equal(up.action, 'upgraded')
    assert.equal(up.company, 'Acme Inc')
    assert.equal((await server.leads('ann@acme.com'))[0].id, up.leadId)
    assert.equal((await server.inference(acme)).id, up.companyInferenceId)

    const globex = await server.session(slug, GLOBEX_IP)
    const mm = await naano.trackSignupAndWait({ sessionId: globex, email: 'bo@initech.io', company: 'Initech' })
    assert.deepEqual([mm.action, mm.oldCompany, mm.newCompany], ['mismatch_handled', 'Globex Inc', 'Initech'])

    await assert.rejects(
      naano.trackSignupAndWait({ sessionId: 'naano_session_missing', email: 'a@b.io', company: 'A' }),
      (err) => err instanceof SessionNotFoundError && err instanceof NaanoError && err.status === 404 && err.code === 'session_not_found',
    )
    const stats = naano.stats()
    assert.deepEqual([stats.sent, stats.failed, stats.queued], [2, 1, 0])
  } finally {
    await server.stop()
  }
})

test('validation errors throw synchronously and nothing is queued', () => {
  const naano = new Naano({ baseUrl: 'http://127.0.0.1:1' })
  const cases = [
    [{ sessionId: 'bad id', email: 'a@b.io', company: 'A' }, /session_id/],
    [{ sessionId: 's', email: 'nope', company: 'A' }, /email/],
    [{ sessionId: 's', email: 'a@b.io' }, /company: is required/],
    [{ sessionId: 's', email: 'a@b.io', company: 'A', linkedinUrl: 'https://evil.io/x' }, /linkedin_url/],
    [{ sessionId: 's', email: 'a@b.io', company: 42 }, /company: must be a string/],
    [null, /expected an object/],
  ]
  for (const [fields, pattern] of cases) {
    assert.throws(() => naano.trackSignup(fields), (err) => err instanceof NaanoValidationError && pattern.test(err.message))
  }
  assert.deepEqual(naano.stats(), { queued: 0, sent: 0, retried: 0, failed: 0, dropped: 0 })
})

test('pending then confirmed, and pending after the retries run out', async () => {
  const server = await startServer(['--external-inference'])
  try {
    const slug = await server.linkTo('https://saas.example/')
    const session = await server.pendingSession(slug, UNKNOWN_IP)
    const naano = new Naano({ baseUrl: server.base, retry: FAST })
    const waiting = naano.trackSignupAndWait({ sessionId: session, email: 'pat@acme.com', company: 'Acme' })
    while (!(await server.inference(session)).lead_id) await new Promise((r) => setTimeout(r, 10))
    assert.equal((await server.inference(session)).status, 'pending')
    await server.admin('PUT', `/api/admin/sessions/${session}/inference`, { company: 'Acme Corporation', confidence: 0.9 })
    assert.equal((await waiting).action, 'upgraded')
    assert.ok(naano.stats().retried >= 1)

    // Another network: the signup above taught the server that UNKNOWN_IP's is Acme's.
    const stuck = await server.pendingSession(slug, '198.18.0.1')
    const short = new Naano({ baseUrl: server.base, retry: { pendingDelaysMs: [20, 20] } })
    await assert.rejects(short.trackSignupAndWait({ sessionId: stuck, email: 'q@acme.com', company: 'Acme' }), InferencePendingError)
  } finally {
    await server.stop()
  }
})

test('fire-and-forget failures reach onError on the event loop', async () => {
  const server = await startServer()
  try {
    const failures = []
    const naano = new Naano({ baseUrl: server.base, onError: (f) => failures.push(f) })
    assert.equal(naano.trackSignup({ sessionId: 'naano_session_nobody', email: 'a@b.io', company: 'A' }), undefined)
    assert.equal(await naano.flush(10000), true)
    assert.equal(failures.length, 1)
    assert.equal(failures[0].kind, 'session_not_found')
    assert.equal(failures[0].sessionId, 'naano_session_nobody')
  } finally {
    await server.stop()
  }
})

test('request helpers read every request shape', () => {
  const id = 'naano_session_1a23d071d89w9c25sfzSuZFv40ZJzbkw'
  assert.equal(sessionIdFromRequest(`a=1; naano_session=${id}`), id)
  assert.equal(sessionIdFromRequest({ headers: { cookie: `naano_session=${id}` } }), id, 'IncomingMessage')
  assert.equal(sessionIdFromRequest({ headers: {}, cookies: { naano_session: id } }), id, 'cookie-parser')
  assert.equal(sessionIdFromRequest({ headers: {}, query: { naano_session: id } }), id, 'landing request')
  assert.equal(sessionIdFromRequest(new Request('https://x.example/', { headers: { cookie: `naano_session=${id}` } })), id, 'Fetch Request')
  assert.equal(sessionIdFromRequest(new Request(`https://x.example/?naano_session=${id}`)), id, 'Fetch query')
  assert.equal(sessionIdFromRequest({ get: (n) => (n === 'naano_session' ? { name: n, value: id } : undefined) }), id, 'cookies() store')
  assert.equal(sessionIdFromRequest({ headers: { cookie: 'naano_session=bad value' } }), null)
  assert.equal(sessionIdFromRequest(undefined), null)
})
