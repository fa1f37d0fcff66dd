/**
 * The durable budget event outbox, consumed from any process: claim, ack, list, retry, and a
 * notifier that polls it. Events are written by the transaction that decides them (see
 * docs/events.md); this module only reads and leases them.
 */
import type { BudgetNotifierOptions, ClaimBudgetEventsOptions, ListBudgetEventsOptions, PsBudgetEventRecord, PsBudgetNotifier, PsClaimedBudgetEvent } from './types';
export declare function claimBudgetEvents(options: ClaimBudgetEventsOptions): Promise<PsClaimedBudgetEvent[]>;
export declare function ackBudgetEvents(eventIds: string[]): Promise<number>;
export declare function listBudgetEvents(options?: ListBudgetEventsOptions): Promise<PsBudgetEventRecord[]>;
export declare function retryBudgetEvent(eventId: string): Promise<boolean>;
export declare function startBudgetNotifier(options: BudgetNotifierOptions): PsBudgetNotifier;
