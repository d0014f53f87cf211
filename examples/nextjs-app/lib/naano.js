// One client per server process (Node.js runtime only: the Edge runtime cannot load a
// native addon).
import { Naano } from 'naano'

export const naano = globalThis.__naano ?? (globalThis.__naano = new Naano())
