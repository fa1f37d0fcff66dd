"use strict";
/**
 * Budget events in this realm: the `onBudgetEvent` listeners and their delivery. A listener
 * that throws is reported with `process.emitWarning` and affects nothing else.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.subscribe = subscribe;
exports.emit = emit;
const args_1 = require("./args");
const records_1 = require("./records");
const listeners = new Set();
/** Subscribe; returns the function that unsubscribes. Each subscription is its own entry. */
function subscribe(listener) {
    const f = (0, args_1.func)(listener, 'listener');
    const entry = (event) => f(event);
    listeners.add(entry);
    return () => {
        listeners.delete(entry);
    };
}
/** Deliver the events of one call (the core's JSON) to every listener. */
function emit(eventsJson) {
    const events = JSON.parse(eventsJson);
    for (const raw of events) {
        const event = { ...raw, periodStart: (0, records_1.epoch)(raw.periodStart) };
        for (const listener of listeners) {
            try {
                listener(event);
            }
            catch (e) {
                process.emitWarning(`A budget event listener threw: ${e instanceof Error ? e.message : String(e)}`, {
                    code: 'PSPAS_LISTENER_ERROR',
                    detail: `event kind ${event.kind}, key ${event.keyId}`,
                });
            }
        }
    }
}
