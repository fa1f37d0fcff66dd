// `rotate`: rewrap every key's data key from the previous private key(s) to the current key
// pair; exit 1 if some cannot be opened (they are left unchanged).

import { cannotOpenError } from '../errors.mjs'
import { NAME, method } from '../library.mjs'
import { configure, readKeyFile, withOptions } from '../options.mjs'
import { num, output, plural, withProgress } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('rotate')
    .description(
      "rewrap every key's data key from the previous private key(s) to the current key pair; " +
        'exit 1 if some cannot be opened (they are left unchanged)',
    )
    .option(
      '--new-public-key <file>',
      'PEM file of the new public key: checked to be the public half of the configured private key',
    )
  withOptions(cmd, ['database', 'private-keys', 'progress', 'json']).action((opts) => rotate(opts))
}

async function rotate(opts) {
  configure(opts)
  const rotateKeys = method('rotateKeys')
  const newPublicKey = opts.newPublicKey === undefined ? undefined : readKeyFile('--new-public-key', opts.newPublicKey)
  const r = await withProgress('rotate', opts, (onProgress) =>
    rotateKeys({ newPublicKey, batchSize: opts.batchSize, onProgress }),
  )
  const report = {
    total: r.total,
    rotated: r.rotated,
    alreadyCurrent: r.alreadyCurrent,
    cannotOpen: r.cannotOpen,
    changedMeanwhile: r.changedMeanwhile ?? 0,
    seconds: r.seconds,
  }
  output(opts, report, () => {
    let text =
      `rotated ${r.rotated} of ${plural(r.total, 'key')} (${r.alreadyCurrent} already current, ` +
      `${r.cannotOpen.length} cannot open) in ${num(Math.round(r.seconds * 100) / 100)} s\n`
    if (r.cannotOpen.length) text += `cannot open (left unchanged): ${r.cannotOpen.join(', ')}\n`
    if (report.changedMeanwhile) {
      text += `${plural(report.changedMeanwhile, 'key')} changed while being rewrapped: run \`${NAME} rotate\` again\n`
    }
    return text
  })
  if (r.cannotOpen.length) throw cannotOpenError(r.cannotOpen, r.total, ' (left unchanged)')
}
