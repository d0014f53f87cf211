// Persist ?naano_session= as a first-party cookie on landing requests. Runs on the
// Node.js runtime (Next.js >= 15.5): the helper calls into the native addon.
import { NextResponse } from 'next/server'
import { withNaanoSession } from 'naano'

export const config = { runtime: 'nodejs', matcher: ['/((?!_next/|api/).*)'] }

export function middleware(request) {
  return withNaanoSession(request, NextResponse.next())
}
