// `events`: the durable budget event outbox (the library's listBudgetEvents), newest first;
// `events retry <eventId>`: un-park a parked event (retryBudgetEvent). Reads and writes only
// the outbox; an event carries no secret.

import { Option } from 'commander'
import { CliError } from '../errors.mjs'
import { store } from '../library.mjs'
import { configure, positive, withOptions } from '../options.mjs'
import { num, output, table, when } from '../output.mjs'

export function register(program) {
  const events = program
    .command('events')
    .description('list budget events from the durable outbox, newest first (listBudgetEvents); `events retry <eventId>` un-parks one')
    .addOption(new Option('--state <state>', 'only events in this state').choices(['pending', 'parked', 'acked', 'all']).default('all'))
    .option('--limit <n>', 'the most events to list (1-1000, default 50)', positive('--limit'), 50)
  withOptions(events, ['database', 'json']).action((opts) => list(opts))

  const retry = events
    .command('retry')
    .description('un-park a parked event: pending again, its attempts reset (retryBudgetEvent)')
    .argument('<eventId>', 'the event id (the EVENT column)')
  withOptions(retry, ['database', 'json']).action((eventId, opts) => retryOne(eventId, opts))
}

/** The JSON view of an event: times as ISO strings. */
const view = (e) => ({
  eventId: e.eventId,
  state: e.state,
  kind: e.kind,
  keyId: e.keyId,
  groupId: e.groupId,
  aiModelId: e.aiModelId,
  externalApiId: e.externalApiId,
  used: e.used,
  limit: e.limit,
  periodStart: e.periodStart ? e.periodStart.toISOString() : null,
  attempts: e.attempts,
  consumer: e.consumer,
  leasedUntil: e.leasedUntil ? e.leasedUntil.toISOString() : null,
  createdAt: e.createdAt.toISOString(),
  ackedAt: e.ackedAt ? e.ackedAt.toISOString() : null,
})

async function list(opts) {
  configure(opts)
  const events = await store().listBudgetEvents({ state: opts.state === 'all' ? undefined : opts.state, limit: opts.limit })
  output(opts, { events: events.map(view) }, () =>
    events.length === 0
      ? `no ${opts.state === 'all' ? '' : opts.state + ' '}budget events\n`
      : table(
          ['EVENT', 'STATE', 'KIND', 'KEY', 'GROUP', 'USED', 'LIMIT', 'ATTEMPTS', 'CONSUMER', 'CREATED'],
          events.map((e) => [e.eventId, e.state, e.kind, e.keyId, e.groupId, num(e.used), num(e.limit), e.attempts, e.consumer ?? '-', when(e.createdAt)]),
        ),
  )
}

async function retryOne(eventId, opts) {
  configure(opts)
  const retried = await store().retryBudgetEvent(eventId)
  if (!retried) throw new CliError('PSPAS_NOT_FOUND', `no parked event with id ${eventId}`)
  output(opts, { eventId, retried: true }, `event ${eventId} is pending again\n`)
}
