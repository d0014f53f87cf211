// The signup route's logic, independent of Next.js so that tests can drive it with real
// Request objects. `after(fn)` is Next's after() (or a platform's waitUntil): it runs fn
// once the response is sent and keeps a serverless function alive until fn settles.
import { sessionIdFromRequest } from 'naano'

export function makeSignupHandler({ naano, after }) {
  return async function POST(request) {
    const form = await request.formData()
    const email = String(form.get('email') ?? '')
    const company = String(form.get('company') ?? '')
    // ... create the account here ...
    if (sessionIdFromRequest(request)) {
      naano.trackSignupFromRequest(request, { email, company })
      // Serverless: the function may be frozen right after the response; let the
      // queued signup go out first (bounded).
      after(() => naano.flush(2000))
    }
    return Response.json({ ok: true }, { status: 201 })
  }
}
