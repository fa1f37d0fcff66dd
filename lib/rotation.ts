/**
 * Key rotation and verification over the whole table: batches in id order until no rows are
 * left, progress after each, results summed. The work per batch is the core's.
 */

import { batchOptions, optionsObject, string } from './args'
import { settle } from './errors'
import type { Native } from './native'
import { currentStore, privateKey } from './settings'
import type {
  PsKeyBatchOptions,
  PsKeyBindingResult,
  PsKeyRotationOptions,
  PsKeyRotationResult,
  PsKeyVerificationResult,
} from './types'

type Batch = { lastId?: number | null }

/**
 * Run `batch` over the table in id order until no rows are left, reporting progress; the
 * seconds it took.
 */
async function eachBatch<B extends Batch>(
  options: PsKeyBatchOptions | undefined,
  batch: (store: Native.NativeStore, after: number, size: number) => Promise<B>,
  count: (b: B) => number,
): Promise<number> {
  const started = process.hrtime.bigint()
  const o = batchOptions(options)
  const store = currentStore()
  const total = await settle(() => store.countKeys())
  let after = 0
  let done = 0
  for (;;) {
    const b = await settle(() => batch(store, after, o.batchSize))
    if (b.lastId === null || b.lastId === undefined) return Number(process.hrtime.bigint() - started) / 1e9
    after = b.lastId
    done += count(b)
    if (o.onProgress !== null) o.onProgress({ done, total: Math.max(total, done) })
  }
}

export async function rotateKeys(options?: PsKeyRotationOptions): Promise<PsKeyRotationResult> {
  batchOptions(options)
  const given = optionsObject(options).newPublicKey
  const newPublicKey = given === undefined ? null : string(given, 'newPublicKey')
  const out: PsKeyRotationResult = {
    total: 0,
    rotated: 0,
    alreadyCurrent: 0,
    cannotOpen: [],
    changedMeanwhile: 0,
    seconds: 0,
  }
  out.seconds = await eachBatch(
    options,
    async (store, after, size) => store.rotateBatch(after, size, privateKey(), newPublicKey),
    (b) => {
      out.rotated += b.rotated
      out.alreadyCurrent += b.alreadyCurrent
      out.changedMeanwhile += b.changedMeanwhile
      out.cannotOpen.push(...b.cannotOpen)
      const rows = b.rotated + b.alreadyCurrent + b.cannotOpen.length + b.changedMeanwhile
      out.total += rows
      return rows
    },
  )
  return out
}

export async function bindKeys(options?: PsKeyBatchOptions): Promise<PsKeyBindingResult> {
  const out: PsKeyBindingResult = { total: 0, bound: 0, alreadyBound: 0, cannotOpen: [], changedMeanwhile: 0, seconds: 0 }
  out.seconds = await eachBatch(
    options,
    async (store, after, size) => store.bindBatch(after, size, privateKey()),
    (b) => {
      out.bound += b.bound
      out.alreadyBound += b.alreadyBound
      out.changedMeanwhile += b.changedMeanwhile
      out.cannotOpen.push(...b.cannotOpen)
      const rows = b.bound + b.alreadyBound + b.cannotOpen.length + b.changedMeanwhile
      out.total += rows
      return rows
    },
  )
  return out
}

export async function verifyKeys(options?: PsKeyBatchOptions): Promise<PsKeyVerificationResult> {
  const out: PsKeyVerificationResult = { total: 0, ok: 0, previousKey: 0, cannotOpen: [], unbound: 0, duplicates: [] }
  await eachBatch(
    options,
    async (store, after, size) => store.verifyBatch(after, size, privateKey()),
    (b) => {
      out.ok += b.ok
      out.previousKey += b.previousKey
      out.unbound += b.unbound
      out.cannotOpen.push(...b.cannotOpen)
      const rows = b.ok + b.previousKey + b.cannotOpen.length
      out.total += rows
      return rows
    },
  )
  out.duplicates = JSON.parse(await settle(() => currentStore().duplicateKeys())) as number[][]
  return out
}
