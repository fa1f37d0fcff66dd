// `list`: a group's keys (optionally one model's or one API's) as a table, or as JSON views;
// used vs limit per day / month / total and when each was last used. Never a secret.

import { store } from '../library.mjs'
import { configure, integer, withOptions } from '../options.mjs'
import { keyView, num, output, table, when } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('list')
    .description("list a group's keys: id, model/api, active, used vs limit per day / month / total, last used")
    .requiredOption('--group <id>', 'group id', integer('--group'))
    .option('--model <id>', 'only keys of this AI model', integer('--model'))
    .option('--api <id>', 'only keys of this external API', integer('--api'))
  withOptions(cmd, ['database', 'json']).action((opts) => list(opts))
}

/** The MODEL/API column: what a key is for. */
function target(key) {
  const parts = []
  if (key.aiModelId != null) parts.push(`model ${key.aiModelId}`)
  if (key.externalApiId != null) parts.push(`api ${key.externalApiId}`)
  return parts.length ? parts.join(', ') : '-'
}

async function list(opts) {
  configure(opts)
  const filter = {}
  if (opts.model !== undefined) filter.aiModelId = opts.model
  if (opts.api !== undefined) filter.externalApiId = opts.api
  const rows = await store().getApiKeys(opts.group, filter)
  const keys = rows.map((r) => keyView(r, { usage: true }))
  output(opts, { groupId: opts.group, keys }, () => {
    if (keys.length === 0) return `no keys in group ${opts.group}\n`
    return table(
      ['ID', 'MODEL/API', 'ACTIVE', 'DAILY', 'MONTHLY', 'TOTAL', 'LAST USED'],
      keys.map((k) => [
        k.id,
        target(k),
        k.active ? 'yes' : 'no',
        `${num(k.used.daily)}/${num(k.limits.daily)}`,
        `${num(k.used.monthly)}/${num(k.limits.monthly)}`,
        `${num(k.used.total)}/${num(k.limits.total)}`,
        when(k.lastUsedAt),
      ]),
    )
  })
}
