/**
 * `@policysynth/private-access-store`: the package's public entry (re-exports only).
 *
 * A thin layer over the generated native loader (`native.js`), loaded in the caller's realm:
 * under jest every test file evaluates it again in its own context, so it reads that file's
 * `process.env`, throws that file's `Error`s, warns on its `console`, builds its `Date`s and
 * records and keeps its budget-event listeners. The native addon (loaded once per process)
 * does the work: crypto, storage, budgets. What crosses is typed values only; argument types
 * are checked here (`args.ts`), values in the Rust core.
 *
 * @packageDocumentation
 */

export { PsPrivateAccessStoreError, type PsPrivateAccessStoreErrorCode } from './errors'
export type { PsPrivateAccessStoreOptions } from './settings.generated'
export { PsPrivateAccessStore } from './store'
export type * from './types'
