/**
 * Budget events in this realm: the `onBudgetEvent` listeners and their delivery. A listener
 * that throws is reported with `process.emitWarning` and affects nothing else.
 */
/** Subscribe; returns the function that unsubscribes. Each subscription is its own entry. */
export declare function subscribe(listener: unknown): () => void;
/** Deliver the events of one call (the core's JSON) to every listener. */
export declare function emit(eventsJson: string): void;
