/**
 * The generated native loader (`native.js`, made by `napi build`), loaded once per realm, or
 * one clear error naming the platform, the package and the remedies.
 */

import type * as Native from '../native'
import { PsPrivateAccessStoreError } from './errors'

export type { Native }

/** The platform triple napi-rs names its packages by (`linux-x64-gnu`, `darwin-arm64`, …). */
function platformTriple(): string {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    return `linux-${arch}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function loadNative(): typeof Native {
  try {
    return require('../native.js')
  } catch (cause) {
    const triple = platformTriple()
    throw new PsPrivateAccessStoreError(
      'PSPAS_NATIVE_BINDING_MISSING',
      `@policysynth/private-access-store has no native binary for this platform (${triple}): ` +
        `expected the optional dependency @policysynth/private-access-store-${triple} ` +
        `(or private-access-store.${triple}.node beside the package). ` +
        'Install again with optional dependencies included (npm install, without --omit=optional ' +
        'or --no-optional, on the machine that runs the code), or build it from source in the ' +
        'package folder with `npm run build` (needs Rust >= 1.94).',
      { cause },
    )
  }
}

/** The addon. */
export const native: typeof Native = loadNative()
