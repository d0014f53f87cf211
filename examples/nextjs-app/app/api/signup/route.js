// POST /api/signup (App Router route handler, Node.js runtime).
import { after } from 'next/server'

import { naano } from '../../../lib/naano.js'
import { makeSignupHandler } from '../../../lib/signup-handler.js'

export const runtime = 'nodejs'
export const POST = makeSignupHandler({ naano, after })
