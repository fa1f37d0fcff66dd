"use strict";
/**
 * Errors: the one conversion of a native failure into an `Error` of the caller's realm with a
 * stable `err.code`, and the helpers every call goes through.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.PsPrivateAccessStoreError = void 0;
exports.convertError = convertError;
exports.sync = sync;
exports.settle = settle;
exports.invalid = invalid;
exports.configError = configError;
/**
 * Every error this package throws or rejects with: an `Error` of the caller's realm whose
 * `message` is the original's sentence where it had one, and whose `code` is stable.
 */
class PsPrivateAccessStoreError extends Error {
    code;
    constructor(code, message, options) {
        super(message, options);
        this.code = code;
    }
}
exports.PsPrivateAccessStoreError = PsPrivateAccessStoreError;
const CODED = /^(PSPAS_[A-Z_]+): ([\s\S]*)$/;
/** The one conversion of a native failure (`"<PSPAS_CODE>: <message>"`) into an error of the caller's realm. */
function convertError(e) {
    if (e instanceof PsPrivateAccessStoreError)
        return e;
    const text = typeof e === 'object' && e !== null && typeof e.message === 'string'
        ? e.message
        : String(e);
    const m = CODED.exec(text);
    return m
        ? new PsPrivateAccessStoreError(m[1], m[2])
        : new PsPrivateAccessStoreError('PSPAS_INTERNAL', text);
}
/** Run a synchronous native call, converting what it throws. */
function sync(f) {
    try {
        return f();
    }
    catch (e) {
        throw convertError(e);
    }
}
/** Run an async native call, converting what it throws or rejects with. */
async function settle(f) {
    try {
        return await f();
    }
    catch (e) {
        throw convertError(e);
    }
}
/** A bad argument (`PSPAS_INVALID_ARGUMENT`). */
function invalid(message) {
    return new PsPrivateAccessStoreError('PSPAS_INVALID_ARGUMENT', message);
}
/** A bad set-up (`PSPAS_CONFIG`). */
function configError(message) {
    return new PsPrivateAccessStoreError('PSPAS_CONFIG', message);
}
