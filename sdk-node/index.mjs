// ESM entry: the same module as index.js (one native addon instance per process).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const naano = require('./index.js')

export const {
  Naano,
  NaanoError,
  NaanoValidationError,
  SessionNotFoundError,
  InferencePendingError,
  QueueFullError,
  ShutDownError,
  SESSION_COOKIE,
  sessionIdFromRequest,
  sessionIdFromCookieHeader,
  isValidSessionId,
  naanoSession,
  withNaanoSession,
} = naano
export default naano
