/**
 * The durable budget event outbox, consumed from any process: claim, ack, list, retry, and a
 * notifier that polls it. Events are written by the transaction that decides them (see
 * docs/events.md); this module only reads and leases them.
 */

import { func, number, optionsObject, string } from './args'
import { convertError, invalid, settle } from './errors'
import { epoch } from './records'
import { currentStore } from './settings'
import type {
  BudgetNotifierOptions,
  ClaimBudgetEventsOptions,
  ListBudgetEventsOptions,
  PsBudgetEventRecord,
  PsBudgetNotifier,
  PsClaimedBudgetEvent,
} from './types'

type RawEvent = Omit<PsBudgetEventRecord, 'periodStart' | 'createdAt' | 'leasedUntil' | 'ackedAt'> & {
  periodStart: number | null
  createdAt: number
  leasedUntil: number | null
  ackedAt: number | null
}

function claimed(raw: RawEvent): PsClaimedBudgetEvent {
  return {
    eventId: raw.eventId,
    keyId: raw.keyId,
    groupId: raw.groupId,
    aiModelId: raw.aiModelId,
    externalApiId: raw.externalApiId,
    kind: raw.kind,
    used: raw.used,
    limit: raw.limit,
    periodStart: epoch(raw.periodStart),
    attempts: raw.attempts,
    createdAt: new Date(raw.createdAt),
  }
}

function record(raw: RawEvent): PsBudgetEventRecord {
  return {
    ...claimed(raw),
    state: raw.state,
    consumer: raw.consumer,
    leasedUntil: epoch(raw.leasedUntil),
    ackedAt: epoch(raw.ackedAt),
  }
}

const optionalNumber = (v: unknown, name: string): number | undefined =>
  v === undefined ? undefined : number(v, name)

export async function claimBudgetEvents(options: ClaimBudgetEventsOptions): Promise<PsClaimedBudgetEvent[]> {
  const o = optionsObject(options)
  const consumer = string(o.consumer, 'consumer')
  const limit = optionalNumber(o.limit, 'limit') ?? 100
  const leaseMs = optionalNumber(o.leaseMs, 'leaseMs') ?? 30000
  const maxAttempts = optionalNumber(o.maxAttempts, 'maxAttempts')
  const text = await settle(() => currentStore().claimEvents(consumer, limit, leaseMs, maxAttempts))
  return (JSON.parse(text) as RawEvent[]).map(claimed)
}

export async function ackBudgetEvents(eventIds: string[]): Promise<number> {
  if (!Array.isArray(eventIds)) throw invalid('eventIds must be an array of strings')
  for (const id of eventIds) string(id, 'eventIds[]')
  return settle(() => currentStore().ackEvents(eventIds))
}

export async function listBudgetEvents(options?: ListBudgetEventsOptions): Promise<PsBudgetEventRecord[]> {
  const o = optionsObject(options)
  const state = o.state === undefined ? undefined : string(o.state, 'state')
  const limit = optionalNumber(o.limit, 'limit') ?? 100
  const text = await settle(() => currentStore().listEvents(state, limit))
  return (JSON.parse(text) as RawEvent[]).map(record)
}

export async function retryBudgetEvent(eventId: string): Promise<boolean> {
  string(eventId, 'eventId')
  return settle(() => currentStore().retryEvent(eventId))
}

/** The longest pause between polls after failures, in ms. */
const MAX_BACKOFF_MS = 30000

export function startBudgetNotifier(options: BudgetNotifierOptions): PsBudgetNotifier {
  const o = optionsObject(options)
  const handler = func<BudgetNotifierOptions['handler']>(o.handler, 'handler')
  const consumer = o.consumer === undefined ? `notifier-${process.pid}` : string(o.consumer, 'consumer')
  const pollMs = optionalNumber(o.pollMs, 'pollMs') ?? 1000
  const leaseMs = optionalNumber(o.leaseMs, 'leaseMs') ?? 30000
  const maxAttempts = optionalNumber(o.maxAttempts, 'maxAttempts')
  if (!(Number.isInteger(pollMs) && pollMs >= 1 && pollMs <= 3600000)) {
    throw invalid('pollMs must be a whole number of milliseconds from 1 to 3600000')
  }
  const onError =
    o.onError === undefined
      ? (error: unknown, event: PsClaimedBudgetEvent | null): void => {
          const message = error instanceof Error ? error.message : String(error)
          process.emitWarning(`The budget notifier ${consumer} failed: ${message}`, {
            code: 'PSPAS_NOTIFIER_ERROR',
            detail: event ? `event ${event.eventId} (${event.kind}, key ${event.keyId}, attempt ${event.attempts})` : 'claiming events',
          })
        }
      : func<NonNullable<BudgetNotifierOptions['onError']>>(o.onError, 'onError')

  let stopping = false
  let wake: (() => void) | null = null
  let failures = 0
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = null
        resolve()
      }, ms)
      wake = () => {
        clearTimeout(timer)
        wake = null
        resolve()
      }
    })
  const report = (error: unknown, event: PsClaimedBudgetEvent | null): void => {
    try {
      onError(error, event)
    } catch {
      // An onError that throws must not stop the notifier.
    }
  }
  const backoff = (): number => Math.min(pollMs * 2 ** Math.min(failures, 16), Math.max(MAX_BACKOFF_MS, pollMs))

  // One event at a time: its lease covers only the handler in hand, so no other event waits
  // leased behind a slow one.
  const loop = async (): Promise<void> => {
    while (!stopping) {
      let events: PsClaimedBudgetEvent[]
      try {
        events = await claimBudgetEvents({ consumer, limit: 1, leaseMs, maxAttempts })
      } catch (e) {
        failures++
        report(convertError(e), null)
        await pause(backoff())
        continue
      }
      const event = events[0]
      if (event === undefined) {
        failures = 0
        await pause(pollMs)
        continue
      }
      try {
        await handler(event)
      } catch (e) {
        // Not acked: claimable again once its lease runs out, parked after maxAttempts.
        failures++
        report(e, event)
        await pause(backoff())
        continue
      }
      try {
        await ackBudgetEvents([event.eventId])
        failures = 0
      } catch (e) {
        // Handled but not acked: it will be handled again after its lease (at least once).
        failures++
        report(convertError(e), event)
        await pause(backoff())
      }
    }
  }
  const running = loop()
  return {
    stop(): Promise<void> {
      stopping = true
      if (wake) (wake as () => void)()
      return running
    },
  }
}
