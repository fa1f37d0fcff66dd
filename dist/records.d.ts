/**
 * What the core returns, turned into values of the caller's realm: record attributes with
 * `Date`s, budget statuses with `Date`s. (The records' class is `PsPrivateAccessStore`.)
 */
import type { PsBudgetStatus, PsPrivateAccessStoreAttributes } from './types';
/** Epoch milliseconds (or nothing) as a `Date` of this realm (or `null`). */
export declare const epoch: (ms: number | null | undefined) => Date | null;
/** A record's attributes from the core's JSON (timestamps as epoch milliseconds). */
export declare function attributes(raw: Record<string, unknown>): PsPrivateAccessStoreAttributes;
/** A budget status from the core's JSON, period starts as `Date`s. */
export declare function budgetStatus(text: string | null): PsBudgetStatus | null;
