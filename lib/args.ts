/**
 * Argument checks, in one place: the JS types of what callers pass (values are checked by the
 * core). Each failure is `PSPAS_INVALID_ARGUMENT` (or `PSPAS_INVALID_CONFIGURATION`) naming
 * the argument, never echoing its value.
 */

import { invalid, PsPrivateAccessStoreError } from './errors'
import type { Native } from './native'
import type { PsKeyBatchOptions, PsKeyBatchProgress, PsPrivateAccessStoreConfiguration } from './types'

export function number(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalid(`${name} must be a number`)
  return v
}

export function string(v: unknown, name: string): string {
  if (typeof v !== 'string') throw invalid(`${name} must be a string`)
  return v
}

export function boolean(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw invalid(`${name} must be a boolean`)
  return v
}

export function func<T>(v: unknown, name: string): T {
  if (typeof v !== 'function') throw invalid(`${name} must be a function`)
  return v as T
}

/** `undefined` (no filter), `null` (SQL NULL) or a number. */
export function optionalId(v: unknown, name: string): number | null | undefined {
  if (v === undefined || v === null) return v
  return number(v, name)
}

export function optionsObject(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object') throw invalid('options must be an object')
  return v as Record<string, unknown>
}

/** The key filters of `getApiKeys` / `incrementUsageAndGetApiKey`. */
export function filterOf(o: Record<string, unknown>): Native.NativeFilter {
  const isActive = o.isActive
  if (isActive !== undefined && isActive !== null) boolean(isActive, 'isActive')
  return {
    aiModelId: optionalId(o.aiModelId, 'aiModelId'),
    externalApiId: optionalId(o.externalApiId, 'externalApiId'),
    isActive: isActive as boolean | null | undefined,
  }
}

/** `rotateKeys()` / `verifyKeys()` options. */
export function batchOptions(options: PsKeyBatchOptions | undefined): {
  batchSize: number
  onProgress: ((p: PsKeyBatchProgress) => void) | null
} {
  const o = optionsObject(options) as PsKeyBatchOptions & Record<string, unknown>
  const batchSize = o.batchSize === undefined ? 100 : number(o.batchSize, 'batchSize')
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000) {
    throw invalid('batchSize must be an integer from 1 to 10000')
  }
  const onProgress = o.onProgress === undefined ? null : func<(p: PsKeyBatchProgress) => void>(o.onProgress, 'onProgress')
  return { batchSize, onProgress }
}

function invalidConfiguration(why: string): PsPrivateAccessStoreError {
  return new PsPrivateAccessStoreError('PSPAS_INVALID_CONFIGURATION', `Invalid configuration: ${why}`)
}

/**
 * A key's configuration as JSON text for the core to check: `JSON.stringify`, keeping a
 * non-finite budget number visible to the core's check (JSON would turn it into `null`).
 */
export function configurationJson(configuration: PsPrivateAccessStoreConfiguration): string {
  if (typeof configuration !== 'object' || configuration === null) {
    throw invalidConfiguration('configuration must be an object')
  }
  const c = configuration as unknown as Record<string, unknown>
  const budgets = new Set<unknown>([c.maxBudget, c.emailNotificationBudgetThresholds])
  try {
    return JSON.stringify(configuration, function (this: unknown, _key, value: unknown) {
      return typeof value === 'number' && !Number.isFinite(value) && budgets.has(this) ? String(value) : value
    })
  } catch {
    throw invalidConfiguration('configuration must be serializable as JSON')
  }
}
