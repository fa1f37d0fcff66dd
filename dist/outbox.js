"use strict";
/**
 * The durable budget event outbox, consumed from any process: claim, ack, list, retry, and a
 * notifier that polls it. Events are written by the transaction that decides them (see
 * docs/events.md); this module only reads and leases them.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.claimBudgetEvents = claimBudgetEvents;
exports.ackBudgetEvents = ackBudgetEvents;
exports.listBudgetEvents = listBudgetEvents;
exports.retryBudgetEvent = retryBudgetEvent;
exports.startBudgetNotifier = startBudgetNotifier;
const args_1 = require("./args");
const errors_1 = require("./errors");
const records_1 = require("./records");
const settings_1 = require("./settings");
function claimed(raw) {
    return {
        eventId: raw.eventId,
        keyId: raw.keyId,
        groupId: raw.groupId,
        aiModelId: raw.aiModelId,
        externalApiId: raw.externalApiId,
        kind: raw.kind,
        used: raw.used,
        limit: raw.limit,
        periodStart: (0, records_1.epoch)(raw.periodStart),
        attempts: raw.attempts,
        createdAt: new Date(raw.createdAt),
    };
}
function record(raw) {
    return {
        ...claimed(raw),
        state: raw.state,
        consumer: raw.consumer,
        leasedUntil: (0, records_1.epoch)(raw.leasedUntil),
        ackedAt: (0, records_1.epoch)(raw.ackedAt),
    };
}
const optionalNumber = (v, name) => v === undefined ? undefined : (0, args_1.number)(v, name);
async function claimBudgetEvents(options) {
    const o = (0, args_1.optionsObject)(options);
    const consumer = (0, args_1.string)(o.consumer, 'consumer');
    const limit = optionalNumber(o.limit, 'limit') ?? 100;
    const leaseMs = optionalNumber(o.leaseMs, 'leaseMs') ?? 30000;
    const maxAttempts = optionalNumber(o.maxAttempts, 'maxAttempts');
    const text = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().claimEvents(consumer, limit, leaseMs, maxAttempts));
    return JSON.parse(text).map(claimed);
}
async function ackBudgetEvents(eventIds) {
    if (!Array.isArray(eventIds))
        throw (0, errors_1.invalid)('eventIds must be an array of strings');
    for (const id of eventIds)
        (0, args_1.string)(id, 'eventIds[]');
    return (0, errors_1.settle)(() => (0, settings_1.currentStore)().ackEvents(eventIds));
}
async function listBudgetEvents(options) {
    const o = (0, args_1.optionsObject)(options);
    const state = o.state === undefined ? undefined : (0, args_1.string)(o.state, 'state');
    const limit = optionalNumber(o.limit, 'limit') ?? 100;
    const text = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().listEvents(state, limit));
    return JSON.parse(text).map(record);
}
async function retryBudgetEvent(eventId) {
    (0, args_1.string)(eventId, 'eventId');
    return (0, errors_1.settle)(() => (0, settings_1.currentStore)().retryEvent(eventId));
}
/** The longest pause between polls after failures, in ms. */
const MAX_BACKOFF_MS = 30000;
function startBudgetNotifier(options) {
    const o = (0, args_1.optionsObject)(options);
    const handler = (0, args_1.func)(o.handler, 'handler');
    const consumer = o.consumer === undefined ? `notifier-${process.pid}` : (0, args_1.string)(o.consumer, 'consumer');
    const pollMs = optionalNumber(o.pollMs, 'pollMs') ?? 1000;
    const leaseMs = optionalNumber(o.leaseMs, 'leaseMs') ?? 30000;
    const maxAttempts = optionalNumber(o.maxAttempts, 'maxAttempts');
    if (!(Number.isInteger(pollMs) && pollMs >= 1 && pollMs <= 3600000)) {
        throw (0, errors_1.invalid)('pollMs must be a whole number of milliseconds from 1 to 3600000');
    }
    const onError = o.onError === undefined
        ? (error, event) => {
            const message = error instanceof Error ? error.message : String(error);
            process.emitWarning(`The budget notifier ${consumer} failed: ${message}`, {
                code: 'PSPAS_NOTIFIER_ERROR',
                detail: event ? `event ${event.eventId} (${event.kind}, key ${event.keyId}, attempt ${event.attempts})` : 'claiming events',
            });
        }
        : (0, args_1.func)(o.onError, 'onError');
    let stopping = false;
    let wake = null;
    let failures = 0;
    const pause = (ms) => new Promise((resolve) => {
        const timer = setTimeout(() => {
            wake = null;
            resolve();
        }, ms);
        wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve();
        };
    });
    const report = (error, event) => {
        try {
            onError(error, event);
        }
        catch {
            // An onError that throws must not stop the notifier.
        }
    };
    const backoff = () => Math.min(pollMs * 2 ** Math.min(failures, 16), Math.max(MAX_BACKOFF_MS, pollMs));
    // One event at a time: its lease covers only the handler in hand, so no other event waits
    // leased behind a slow one.
    const loop = async () => {
        while (!stopping) {
            let events;
            try {
                events = await claimBudgetEvents({ consumer, limit: 1, leaseMs, maxAttempts });
            }
            catch (e) {
                failures++;
                report((0, errors_1.convertError)(e), null);
                await pause(backoff());
                continue;
            }
            const event = events[0];
            if (event === undefined) {
                failures = 0;
                await pause(pollMs);
                continue;
            }
            try {
                await handler(event);
            }
            catch (e) {
                // Not acked: claimable again once its lease runs out, parked after maxAttempts.
                failures++;
                report(e, event);
                await pause(backoff());
                continue;
            }
            try {
                await ackBudgetEvents([event.eventId]);
                failures = 0;
            }
            catch (e) {
                // Handled but not acked: it will be handled again after its lease (at least once).
                failures++;
                report((0, errors_1.convertError)(e), event);
                await pause(backoff());
            }
        }
    };
    const running = loop();
    return {
        stop() {
            stopping = true;
            if (wake)
                wake();
            return running;
        },
    };
}
