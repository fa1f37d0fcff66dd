// `verify`: open every key's data key with the configured private key (and previous ones);
// counts by outcome, the ids that cannot be opened and the rows that share one sealed key
// (copies), never a secret; exit 1 if any cannot be opened or any is a copy.

import { cannotOpenError, duplicatesError } from '../errors.mjs'
import { NAME, method } from '../library.mjs'
import { configure, withOptions } from '../options.mjs'
import { output, plural, withProgress } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('verify')
    .description(
      "open every key's data key with the configured private key (and previous ones); prints counts " +
        'by outcome, the ids that cannot be opened and rows that share one sealed key, never a secret; ' +
        'exit 1 if any cannot be opened or is a copy',
    )
  withOptions(cmd, ['database', 'private-keys', 'progress', 'json']).action((opts) => verify(opts))
}

async function verify(opts) {
  configure(opts)
  const verifyKeys = method('verifyKeys')
  const r = await withProgress('verify', opts, (onProgress) => verifyKeys({ batchSize: opts.batchSize, onProgress }))
  const report = {
    total: r.total,
    ok: r.ok,
    previousKey: r.previousKey,
    cannotOpen: r.cannotOpen,
    unbound: r.unbound,
    duplicates: r.duplicates,
  }
  output(opts, report, () => {
    let text =
      `verified ${plural(r.total, 'key')}: ${r.ok} ok, ${r.previousKey} only with a previous private key, ` +
      `${r.cannotOpen.length} cannot open\n`
    if (r.cannotOpen.length) text += `cannot open: ${r.cannotOpen.join(', ')}\n`
    if (r.previousKey) text += `run \`${NAME} rotate\` to rewrap the ${plural(r.previousKey, 'key')} under the current key pair\n`
    // Only a table part bound says so (where nothing is bound, binding is simply not in use).
    if (r.unbound && r.unbound < r.ok + r.previousKey) {
      text += `${plural(r.unbound, 'key')} not bound to their group: run \`${NAME} bind\`\n`
    }
    for (const ids of r.duplicates) text += `stored more than once (one sealed key, several rows): ${ids.join(', ')}\n`
    return text
  })
  if (r.cannotOpen.length) throw cannotOpenError(r.cannotOpen, r.total, '')
  if (r.duplicates.length) throw duplicatesError(r.duplicates)
}
