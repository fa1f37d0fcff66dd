// The package's public entry (../dist/index.js), loaded on first use so that `--help` and
// `keygen` work without the native addon; the CLI is just another caller of it. Also the
// package's name/version and the CLI's constant names.

import { createRequire } from 'node:module'
import { CliError } from './errors.mjs'

const require = createRequire(import.meta.url)

export const pkg = require('../package.json')
export const NAME = 'ps-access-store'
export const TABLE = 'ps_private_access_store'

let library = null

/** PsPrivateAccessStore of the package, loading the package on first use. */
export function store() {
  if (library === null) library = require('../dist/index.js')
  return library.PsPrivateAccessStore
}

/** The library method `name`, or a clear error when this build of the package lacks it. */
export function method(name) {
  const S = store()
  if (typeof S[name] !== 'function') {
    throw new CliError(
      'PSPAS_INTERNAL',
      `this build of ${pkg.name} has no PsPrivateAccessStore.${name}(); update or rebuild the package`,
    )
  }
  return S[name].bind(S)
}

/** Close the store if a command loaded the package (best effort: the outcome is already reported). */
export async function closeStore() {
  if (library === null) return
  try {
    await library.PsPrivateAccessStore.close()
  } catch {
    // closing is best effort: the outcome is already reported
  }
}
