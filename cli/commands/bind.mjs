// `bind`: bind every key to its group (its data key rewrapped with the group in the RSA-OAEP
// label), resumable; exit 1 if some cannot be opened (they are left unchanged).

import { cannotOpenError } from '../errors.mjs'
import { NAME, method } from '../library.mjs'
import { configure, withOptions } from '../options.mjs'
import { num, output, plural, withProgress } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('bind')
    .description(
      'bind every key to its group (its data key rewrapped under the current key pair with the group ' +
        'in the RSA-OAEP label), so a copy stored in another group never opens; resumable, agents keep ' +
        'working; exit 1 if some cannot be opened (they are left unchanged)',
    )
  withOptions(cmd, ['database', 'private-keys', 'progress', 'json']).action((opts) => bind(opts))
}

async function bind(opts) {
  configure(opts)
  const bindKeys = method('bindKeys')
  const r = await withProgress('bind', opts, (onProgress) => bindKeys({ batchSize: opts.batchSize, onProgress }))
  const report = {
    total: r.total,
    bound: r.bound,
    alreadyBound: r.alreadyBound,
    cannotOpen: r.cannotOpen,
    changedMeanwhile: r.changedMeanwhile,
    seconds: r.seconds,
  }
  output(opts, report, () => {
    let text =
      `bound ${r.bound} of ${plural(r.total, 'key')} to their group (${r.alreadyBound} already bound, ` +
      `${r.cannotOpen.length} cannot open) in ${num(Math.round(r.seconds * 100) / 100)} s\n`
    if (r.cannotOpen.length) text += `cannot open (left unchanged): ${r.cannotOpen.join(', ')}\n`
    if (r.changedMeanwhile) {
      text += `${plural(r.changedMeanwhile, 'key')} changed while being bound: run \`${NAME} bind\` again\n`
    }
    return text
  })
  if (r.cannotOpen.length) throw cannotOpenError(r.cannotOpen, r.total, ' (left unchanged)')
}
