/**
 * Errors: the one conversion of a native failure into an `Error` of the caller's realm with a
 * stable `err.code`, and the helpers every call goes through.
 */

/** The stable codes carried by every error's `err.code`. */
export type PsPrivateAccessStoreErrorCode =
  | 'PSPAS_MISSING_PUBLIC_KEY'
  | 'PSPAS_MISSING_PRIVATE_KEY'
  | 'PSPAS_INVALID_RSA_KEY'
  | 'PSPAS_INVALID_FORMAT'
  | 'PSPAS_EMPTY_API_KEY'
  | 'PSPAS_DECRYPT_FAILED'
  | 'PSPAS_INVALID_ARGUMENT'
  | 'PSPAS_INVALID_AMOUNT'
  | 'PSPAS_TOO_LARGE'
  | 'PSPAS_DUPLICATE_KEY'
  | 'PSPAS_GROUP_BOUND'
  | 'PSPAS_UNBOUND_KEY'
  | 'PSPAS_INVALID_CONFIGURATION'
  | 'PSPAS_CONFIG'
  | 'PSPAS_DB_UNAVAILABLE'
  | 'PSPAS_DB_ERROR'
  | 'PSPAS_DB_OUTCOME_UNKNOWN'
  | 'PSPAS_IDEMPOTENCY_CONFLICT'
  | 'PSPAS_RESERVATION_NOT_FOUND'
  | 'PSPAS_UNREADABLE_USAGE'
  | 'PSPAS_NOT_ALLOWED'
  | 'PSPAS_NATIVE_BINDING_MISSING'
  | 'PSPAS_INTERNAL'

/**
 * Every error this package throws or rejects with: an `Error` of the caller's realm whose
 * `message` is the original's sentence where it had one, and whose `code` is stable.
 */
export class PsPrivateAccessStoreError extends Error {
  readonly code: PsPrivateAccessStoreErrorCode

  constructor(code: PsPrivateAccessStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

const CODED = /^(PSPAS_[A-Z_]+): ([\s\S]*)$/

/** The one conversion of a native failure (`"<PSPAS_CODE>: <message>"`) into an error of the caller's realm. */
export function convertError(e: unknown): PsPrivateAccessStoreError {
  if (e instanceof PsPrivateAccessStoreError) return e
  const text =
    typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string'
      ? (e as { message: string }).message
      : String(e)
  const m = CODED.exec(text)
  return m
    ? new PsPrivateAccessStoreError(m[1] as PsPrivateAccessStoreErrorCode, m[2])
    : new PsPrivateAccessStoreError('PSPAS_INTERNAL', text)
}

/** Run a synchronous native call, converting what it throws. */
export function sync<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw convertError(e)
  }
}

/** Run an async native call, converting what it throws or rejects with. */
export async function settle<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    throw convertError(e)
  }
}

/** A bad argument (`PSPAS_INVALID_ARGUMENT`). */
export function invalid(message: string): PsPrivateAccessStoreError {
  return new PsPrivateAccessStoreError('PSPAS_INVALID_ARGUMENT', message)
}

/** A bad set-up (`PSPAS_CONFIG`). */
export function configError(message: string): PsPrivateAccessStoreError {
  return new PsPrivateAccessStoreError('PSPAS_CONFIG', message)
}
