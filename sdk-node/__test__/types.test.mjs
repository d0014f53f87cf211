// The TypeScript types accept typed use and reject misuse.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const TSC = join(HERE, '..', 'node_modules', 'typescript', 'bin', 'tsc')

test('tsc --noEmit accepts the typed usage file', () => {
  const run = spawnSync(process.execPath, [TSC, '-p', join(HERE, 'tsconfig.json')], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stdout + run.stderr)
})

test('tsc rejects misuse', () => {
  const bad = join(HERE, 'bad-usage.ts')
  writeFileSync(bad, "import { Naano } from '../index.js'\nnew Naano().trackSignup({ sessionId: 1, email: 'a@b.io', company: 'A' })\n")
  try {
    const run = spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', bad], { encoding: 'utf8' })
    assert.notEqual(run.status, 0)
    assert.match(run.stdout, /Type 'number' is not assignable to type 'string'/)
  } finally {
    rmSync(bad)
  }
})
