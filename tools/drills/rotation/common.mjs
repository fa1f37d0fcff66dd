// The rotation drill's shared facts: where the package and its CLI are, and each group's
// plaintext API key and model (the seeder writes them, the workers check every key against them).
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
export const BIN = join(ROOT, 'bin', 'ps-access-store.mjs')
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The plaintext API key of a group: the workers check every key they get against it. */
export const plaintextOf = (seed, group) =>
  `sk-drill-${group}-${createHash('sha256').update(`${seed}:${group}`).digest('hex').slice(0, 40)}`
export const modelOf = (group) => 1 + (group % 3)
export const GROUP_BASE = 100000
