/**
 * The generated native loader (`native.js`, made by `napi build`), loaded once per realm, or
 * one clear error naming the platform, the package and the remedies.
 */
import type * as Native from '../native';
export type { Native };
/** The addon. */
export declare const native: typeof Native;
