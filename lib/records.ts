/**
 * What the core returns, turned into values of the caller's realm: record attributes with
 * `Date`s, budget statuses with `Date`s. (The records' class is `PsPrivateAccessStore`.)
 */

import type { PsBudgetStatus, PsPrivateAccessStoreAttributes } from './types'

/** Epoch milliseconds (or nothing) as a `Date` of this realm (or `null`). */
export const epoch = (ms: number | null | undefined): Date | null => (ms == null ? null : new Date(ms))

/** A record's attributes from the core's JSON (timestamps as epoch milliseconds). */
export function attributes(raw: Record<string, unknown>): PsPrivateAccessStoreAttributes {
  const values = raw as unknown as PsPrivateAccessStoreAttributes
  values.created_at = epoch(raw.created_at as number | null)
  values.updated_at = epoch(raw.updated_at as number | null)
  values.last_used_at = epoch(raw.last_used_at as number | null)
  return values
}

/** A budget status from the core's JSON, period starts as `Date`s. */
export function budgetStatus(text: string | null): PsBudgetStatus | null {
  if (text === null) return null
  const status = JSON.parse(text) as PsBudgetStatus
  for (const p of [status.daily, status.monthly, status.total]) {
    p.periodStart = epoch(p.periodStart as unknown as number | null)
  }
  return status
}
