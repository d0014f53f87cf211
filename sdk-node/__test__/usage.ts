// Typed usage of the public API; checked by `tsc --noEmit` in types.test.mjs.
import { Naano, NaanoError, SessionNotFoundError, sessionIdFromRequest, naanoSession, withNaanoSession } from '../index.js'
import type { Failure, SignupOutcome, Stats } from '../index.js'

const naano = new Naano({ baseUrl: 'http://127.0.0.1:8080', timeoutMs: 2000, onError: (f: Failure) => console.warn(f.kind, f.message) })
naano.trackSignup({ sessionId: 's', email: 'a@b.io', company: 'A', name: 'N' })

async function main(): Promise<void> {
  try {
    const outcome: SignupOutcome = await naano.trackSignupAndWait({ sessionId: 's', email: 'a@b.io', company: 'A' })
    if (outcome.action === 'mismatch_handled') {
      const old: string = outcome.oldCompany
      console.log(old)
    } else {
      console.log(outcome.company, outcome.leadId)
    }
  } catch (err) {
    if (err instanceof SessionNotFoundError) console.log('no click')
    else if (err instanceof NaanoError) console.log(err.code, err.status)
  }
  const stats: Stats = naano.stats()
  const done: boolean = await naano.flush(1000)
  const session: string | null = sessionIdFromRequest(new Request('https://x.example/'))
  console.log(stats.sent, done, session, naanoSession(), withNaanoSession(new Request('https://x.example/'), new Response(null)))
}
void main()
