// `budget <id>`: replace a key's budget configuration (the library's setConfiguration). The
// flags give the whole configuration, as with `add`: a limit or threshold not given is none.

import { notFound } from '../errors.mjs'
import { store } from '../library.mjs'
import { configurationFrom, configure, integer, withOptions } from '../options.mjs'
import { output } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('budget')
    .description(
      "replace a key's budget configuration (setConfiguration); the flags give the whole " +
        'configuration, as with add: a limit or threshold not given is none',
    )
    .argument('<id>', 'key id', integer('id'))
  withOptions(cmd, ['budget', 'database', 'json']).action((id, opts) => budget(id, opts))
}

async function budget(id, opts) {
  configure(opts)
  const configuration = configurationFrom(opts)
  if (!(await store().setConfiguration(id, configuration))) throw notFound(id)
  output(opts, { id, configuration }, `key ${id}: budget set\n`)
}
