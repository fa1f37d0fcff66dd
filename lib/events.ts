/**
 * Budget events in this realm: the `onBudgetEvent` listeners and their delivery. A listener
 * that throws is reported with `process.emitWarning` and affects nothing else.
 */

import { func } from './args'
import { epoch } from './records'
import type { PsBudgetEvent } from './types'

const listeners = new Set<(event: PsBudgetEvent) => void>()

/** Subscribe; returns the function that unsubscribes. Each subscription is its own entry. */
export function subscribe(listener: unknown): () => void {
  const f = func<(event: PsBudgetEvent) => void>(listener, 'listener')
  const entry = (event: PsBudgetEvent): void => f(event)
  listeners.add(entry)
  return () => {
    listeners.delete(entry)
  }
}

/** Deliver the events of one call (the core's JSON) to every listener. */
export function emit(eventsJson: string): void {
  const events = JSON.parse(eventsJson) as Array<PsBudgetEvent & { periodStart: number | null }>
  for (const raw of events) {
    const event: PsBudgetEvent = { ...raw, periodStart: epoch(raw.periodStart) }
    for (const listener of listeners) {
      try {
        listener(event)
      } catch (e) {
        process.emitWarning(`A budget event listener threw: ${e instanceof Error ? e.message : String(e)}`, {
          code: 'PSPAS_LISTENER_ERROR',
          detail: `event kind ${event.kind}, key ${event.keyId}`,
        })
      }
    }
  }
}
