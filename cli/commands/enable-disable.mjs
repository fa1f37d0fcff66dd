// `enable <id>` and `disable <id>`: switch a key on or off (the library's setKeyStatus).

import { notFound } from '../errors.mjs'
import { store } from '../library.mjs'
import { configure, integer, withOptions } from '../options.mjs'
import { output } from '../output.mjs'

export function register(program) {
  for (const [name, active] of [['enable', true], ['disable', false]]) {
    const cmd = program
      .command(name)
      .description(`${name} a key (setKeyStatus)`)
      .argument('<id>', 'key id', integer('id'))
    withOptions(cmd, ['database', 'json']).action((id, opts) => setActive(id, active, opts))
  }
}

async function setActive(id, active, opts) {
  configure(opts)
  const updated = await store().setKeyStatus(id, active)
  if (!updated) throw notFound(id)
  output(opts, { id, active }, `key ${id} ${active ? 'enabled' : 'disabled'}\n`)
}
