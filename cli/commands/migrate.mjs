// `migrate`: create the store's table if it is missing (what the library does on first use),
// for deploys.

import { TABLE, method } from '../library.mjs'
import { configure, withOptions } from '../options.mjs'
import { output } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('migrate')
    .description(`create the ${TABLE} table if it is missing (what the library does on first use), for deploys`)
  withOptions(cmd, ['database', 'json']).action((opts) => migrate(opts))
}

async function migrate(opts) {
  configure(opts)
  await method('migrate')()
  output(opts, { table: TABLE, ready: true }, `table ${TABLE} is ready\n`)
}
