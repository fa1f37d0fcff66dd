/**
 * Set-up: `configure()` options and the caller's `process.env`, read through the settings
 * table (`settings.generated.ts`, generated from `src/settings/table.rs`). Keeps this realm's state:
 * the configured options, the native handle per database set-up, the private-key handle.
 */
import { type Native } from './native';
import { type PsPrivateAccessStoreOptions } from './settings.generated';
/**
 * Check and apply `configure()` options: unknown names and wrong types throw `PSPAS_CONFIG`
 * naming the option (never its value); values are checked by the core.
 */
export declare function configure(options: PsPrivateAccessStoreOptions | null | undefined): void;
/** The native handle for the set-up the caller's environment names now. */
export declare function currentStore(): Native.NativeStore;
/** The public key as of now: configured, else the caller's environment. */
export declare function publicKey(): {
    pem: string | null;
    configured: boolean;
};
/**
 * The private key as of now (configured, else the caller's environment) with the previous
 * keys of a rotation, as a native handle made once per distinct set of PEMs.
 */
export declare function privateKey(): Native.NativePrivateKey | null;
/**
 * The private keys for binding a key being added to its group, or `null` when they are unset
 * or do not parse: adding never fails for want of them (the key is then stored as given, or
 * refused under `groupBinding: 'required'`).
 */
export declare function bindingKey(): Native.NativePrivateKey | null;
/** Close every pool this realm opened; the next call reconnects. */
export declare function closeAll(): Promise<void>;
