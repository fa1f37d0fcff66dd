/**
 * Argument checks, in one place: the JS types of what callers pass (values are checked by the
 * core). Each failure is `PSPAS_INVALID_ARGUMENT` (or `PSPAS_INVALID_CONFIGURATION`) naming
 * the argument, never echoing its value.
 */
import type { Native } from './native';
import type { PsKeyBatchOptions, PsKeyBatchProgress, PsPrivateAccessStoreConfiguration } from './types';
export declare function number(v: unknown, name: string): number;
export declare function string(v: unknown, name: string): string;
export declare function boolean(v: unknown, name: string): boolean;
export declare function func<T>(v: unknown, name: string): T;
/** `undefined` (no filter), `null` (SQL NULL) or a number. */
export declare function optionalId(v: unknown, name: string): number | null | undefined;
export declare function optionsObject(v: unknown): Record<string, unknown>;
/** The key filters of `getApiKeys` / `incrementUsageAndGetApiKey`. */
export declare function filterOf(o: Record<string, unknown>): Native.NativeFilter;
/** `rotateKeys()` / `verifyKeys()` options. */
export declare function batchOptions(options: PsKeyBatchOptions | undefined): {
    batchSize: number;
    onProgress: ((p: PsKeyBatchProgress) => void) | null;
};
/**
 * A key's configuration as JSON text for the core to check: `JSON.stringify`, keeping a
 * non-finite budget number visible to the core's check (JSON would turn it into `null`).
 */
export declare function configurationJson(configuration: PsPrivateAccessStoreConfiguration): string;
