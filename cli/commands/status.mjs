// `status <id>`: where a key stands against its budgets (the library's getBudgetStatus).

import { notFound } from '../errors.mjs'
import { store } from '../library.mjs'
import { configure, integer, withOptions } from '../options.mjs'
import { num, output, table, when } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('status')
    .description('where a key stands against its budgets (getBudgetStatus)')
    .argument('<id>', 'key id', integer('id'))
  withOptions(cmd, ['database', 'json']).action((id, opts) => status(id, opts))
}

async function status(id, opts) {
  configure(opts)
  const s = await store().getBudgetStatus(id)
  if (s === null) throw notFound(id)
  output(opts, s, () => {
    const period = (name, p) => [name, num(p.used), num(p.reserved), num(p.limit), num(p.remaining), p.periodStart ? when(p.periodStart) : '-']
    return (
      `key ${s.id}: ${s.isActive ? 'active' : 'inactive'}, budgets ${s.enforced ? 'enforced' : 'counted only (not enforced)'}\n` +
      table(
        ['PERIOD', 'USED', 'RESERVED', 'LIMIT', 'REMAINING', 'PERIOD START'],
        [period('daily', s.daily), period('monthly', s.monthly), period('total', s.total)],
      )
    )
  })
}
