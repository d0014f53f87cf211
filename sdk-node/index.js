'use strict'
// naano for Node.js: a thin layer over the Rust engine (naano.node, built by napi-rs).
// Queueing, retries, validation and delivery happen in Rust, off the event loop; this file
// adds the typed errors, request helpers, framework glue and process-lifetime handling.

const native = require('./naano.node')

const SESSION_COOKIE = 'naano_session'
/** How long the beforeExit flush may hold a finishing process (ms). */
const EXIT_FLUSH_MS = 1500
/** How often failures of fire-and-forget events are drained to onError (ms). */
const DRAIN_EVERY_MS = 500

class NaanoError extends Error {
  constructor(message, { kind = 'other', code = null, status = null } = {}) {
    super(message)
    this.name = this.constructor.name
    this.kind = kind
    this.code = code
    this.status = status
  }
}
class NaanoValidationError extends NaanoError {}
class SessionNotFoundError extends NaanoError {}
class InferencePendingError extends NaanoError {}
class QueueFullError extends NaanoError {}
class ShutDownError extends NaanoError {}

const CLASSES = {
  validation_failed: NaanoValidationError,
  session_not_found: SessionNotFoundError,
  inference_pending: InferencePendingError,
  queue_full: QueueFullError,
  shut_down: ShutDownError,
}

/** Turns a native error (its message is JSON) into the typed error class. */
function fromNative(err) {
  let info
  try {
    info = JSON.parse(err && err.message)
  } catch {
    return err instanceof Error ? err : new NaanoError(String(err))
  }
  const Class = CLASSES[info.kind] || NaanoError
  return new Class(info.message, info)
}

function toInput(fields) {
  if (fields === null || typeof fields !== 'object') {
    throw new NaanoValidationError('signup: expected an object with sessionId, email and company', {
      kind: 'validation_failed',
      code: 'validation_failed',
    })
  }
  const input = {}
  for (const key of ['sessionId', 'email', 'company', 'name', 'jobTitle', 'linkedinUrl']) {
    const value = fields[key]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string') {
      throw new NaanoValidationError(`${key}: must be a string`, { kind: 'validation_failed', code: 'validation_failed' })
    }
    input[key] = value
  }
  for (const key of ['sessionId', 'email', 'company']) {
    if (input[key] === undefined) input[key] = ''
  }
  return input
}

const liveClients = new Set()
let exitHookInstalled = false

function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // A finished process must not lose what it queued, nor hang on it: one bounded flush,
  // once per client, when the event loop would otherwise end.
  process.on('beforeExit', () => {
    for (const client of liveClients) {
      if (client._exitFlushed || client.stats().queued === 0) continue
      client._exitFlushed = true
      client.flush(EXIT_FLUSH_MS).catch(() => {})
    }
  })
}

class Naano {
  /**
   * @param {import('./index').NaanoOptions} [options]
   */
  constructor(options = {}) {
    const { onError, retry, ...rest } = options
    const nativeOptions = { ...rest, baseUrl: rest.baseUrl || process.env.NAANO_BASE_URL || undefined }
    if (retry) nativeOptions.retry = retry
    this._native = new native.NativeClient(nativeOptions)
    this._onError = typeof onError === 'function' ? onError : null
    this._timer = null
    this._exitFlushed = false
    liveClients.add(this)
    installExitHook()
  }

  get baseUrl() {
    return this._native.baseUrl
  }

  /** Queues a signup; returns nothing. Throws NaanoValidationError synchronously for bad
   * input; never throws or rejects for network trouble, a full queue or a shut-down client. */
  trackSignup(fields) {
    const input = toInput(fields)
    let eventId
    try {
      eventId = this._native.trackSignup(input)
    } catch (e) {
      throw fromNative(e) // only invalid input throws
    }
    if (eventId === null) {
      // Not queued (full queue or shut down): counted in stats().dropped; reported cheaply.
      if (this._onError) this._report({ eventId: '', sessionId: input.sessionId, kind: 'not_queued', message: 'signup not queued (queue full or client shut down)', status: null, code: null, at: Date.now() })
      return
    }
    this._exitFlushed = false
    this._ensureDrain()
  }

  /** Delivers with retries; resolves with the outcome, rejects with a typed NaanoError. */
  async trackSignupAndWait(fields) {
    const input = toInput(fields)
    let result
    try {
      result = await this._native.trackSignupAndWait(input)
    } catch (e) {
      throw fromNative(e)
    }
    return toOutcome(result)
  }

  /** trackSignup with the session read from a request; does nothing without one. */
  trackSignupFromRequest(req, fields) {
    const sessionId = sessionIdFromRequest(req)
    if (!sessionId) return
    this.trackSignup({ ...fields, sessionId })
  }

  /** Resolves true once everything queued so far is delivered or given up. Never rejects. */
  async flush(timeoutMs = 5000) {
    const done = await this._native.flush(timeoutMs).catch(() => false)
    this._drain()
    return done
  }

  /** Flushes for at most timeoutMs, then stops; later trackSignup calls are no-ops. */
  async shutdown(timeoutMs = 5000) {
    const done = await this._native.shutdown(timeoutMs).catch(() => false)
    this._drain()
    if (this._timer) clearInterval(this._timer)
    liveClients.delete(this)
    return done
  }

  /** Counters: queued, sent, retried, failed, dropped. */
  stats() {
    return this._native.stats()
  }

  _ensureDrain() {
    if (this._timer) return
    // unref: draining failures must never keep a finished process alive.
    this._timer = setInterval(() => this._drain(), DRAIN_EVERY_MS)
    this._timer.unref()
  }

  _drain() {
    for (const failure of this._native.takeFailures()) this._report(failure)
  }

  _report(failure) {
    if (!this._onError) return
    try {
      this._onError(failure)
    } catch {
      // The host's callback must never break delivery or the event loop.
    }
  }
}

function toOutcome(r) {
  if (r.action === 'mismatch_handled') {
    return { action: r.action, oldCompany: r.oldCompany, newCompany: r.newCompany, company: r.company, leadId: r.leadId, companyInferenceId: r.companyInferenceId }
  }
  return { action: r.action, company: r.company, leadId: r.leadId, companyInferenceId: r.companyInferenceId }
}

function queryParam(url, name) {
  if (!url) return null
  try {
    return new URL(url, 'http://localhost').searchParams.get(name)
  } catch {
    return null
  }
}

/**
 * The Naano session of a request: a Node IncomingMessage / Express request (with or without
 * cookie-parser), a Fetch API Request / NextRequest, a Next.js cookies() store, or a raw
 * Cookie header string. The cookie wins; `?naano_session=` on the same request is the fallback.
 */
function sessionIdFromRequest(req) {
  if (req === null || req === undefined) return null
  if (typeof req === 'string') return native.sessionIdFromCookieHeader(req)
  const headers = req.headers
  if (headers && typeof headers.get === 'function') {
    // Fetch API Request, NextRequest.
    const fromCookie = native.sessionIdFromCookieHeader(headers.get('cookie') || '')
    if (fromCookie) return fromCookie
    const q = queryParam(req.url, SESSION_COOKIE)
    return q && native.isValidSessionId(q) ? q : null
  }
  if (headers && typeof headers === 'object') {
    // Node IncomingMessage / Express.
    const raw = Array.isArray(headers.cookie) ? headers.cookie.join('; ') : headers.cookie
    const fromCookie = raw ? native.sessionIdFromCookieHeader(raw) : null
    if (fromCookie) return fromCookie
    const parsed = req.cookies && req.cookies[SESSION_COOKIE]
    if (typeof parsed === 'string' && native.isValidSessionId(parsed)) return parsed
    const q = (req.query && req.query[SESSION_COOKIE]) || queryParam(req.url, SESSION_COOKIE)
    return typeof q === 'string' && native.isValidSessionId(q) ? q : null
  }
  if (typeof req.get === 'function') {
    // Next.js cookies() store (ReadonlyRequestCookies).
    const entry = req.get(SESSION_COOKIE)
    const value = entry && typeof entry === 'object' ? entry.value : entry
    return typeof value === 'string' && native.isValidSessionId(value) ? value : null
  }
  return null
}

function isHttps(req) {
  if (req.secure || (req.socket && req.socket.encrypted)) return true
  const get = (name) => (req.headers && typeof req.headers.get === 'function' ? req.headers.get(name) : req.headers && req.headers[name])
  const proto = get('x-forwarded-proto')
  if (proto && String(proto).split(',')[0].trim().toLowerCase() === 'https') return true
  try {
    return new URL(req.url).protocol === 'https:'
  } catch {
    return false
  }
}

/** The Set-Cookie value for a landing request carrying ?naano_session=, or null. */
function landingCookie(req) {
  const incoming = sessionFromQuery(req)
  if (!incoming || !native.isValidSessionId(incoming)) return null
  const cookieHeader = req.headers && typeof req.headers.get === 'function' ? req.headers.get('cookie') : req.headers && req.headers.cookie
  const stored = cookieHeader ? native.sessionIdFromCookieHeader(String(cookieHeader)) : null
  if (!native.shouldReplaceSession(stored, incoming)) return null
  return native.sessionSetCookie(incoming, isHttps(req))
}

function sessionFromQuery(req) {
  if (req.query && typeof req.query[SESSION_COOKIE] === 'string') return req.query[SESSION_COOKIE]
  if (typeof req.nextUrl === 'object' && req.nextUrl) return req.nextUrl.searchParams.get(SESSION_COOKIE)
  return queryParam(req.originalUrl || req.url, SESSION_COOKIE)
}

/**
 * Express/Connect middleware: a landing request with ?naano_session= gets the first-party,
 * server-set cookie (90 days, HttpOnly, SameSite=Lax, Secure under https). An older session
 * in a bookmarked URL never replaces a newer cookie.
 */
function naanoSession() {
  return function naanoSessionMiddleware(req, res, next) {
    const cookie = landingCookie(req)
    if (cookie) {
      const previous = res.getHeader('Set-Cookie')
      const list = previous === undefined ? [] : Array.isArray(previous) ? previous : [String(previous)]
      res.setHeader('Set-Cookie', [...list, cookie])
    }
    next()
  }
}

/**
 * Next.js middleware helper (Node.js runtime): sets the cookie on `response` (for example
 * `NextResponse.next()`) when `request` lands with ?naano_session=. Returns the response.
 */
function withNaanoSession(request, response) {
  const cookie = landingCookie(request)
  if (cookie) response.headers.append('Set-Cookie', cookie)
  return response
}

module.exports = {
  Naano,
  NaanoError,
  NaanoValidationError,
  SessionNotFoundError,
  InferencePendingError,
  QueueFullError,
  ShutDownError,
  SESSION_COOKIE,
  sessionIdFromRequest,
  sessionIdFromCookieHeader: native.sessionIdFromCookieHeader,
  isValidSessionId: native.isValidSessionId,
  naanoSession,
  withNaanoSession,
}
