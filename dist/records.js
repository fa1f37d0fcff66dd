"use strict";
/**
 * What the core returns, turned into values of the caller's realm: record attributes with
 * `Date`s, budget statuses with `Date`s. (The records' class is `PsPrivateAccessStore`.)
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.epoch = void 0;
exports.attributes = attributes;
exports.budgetStatus = budgetStatus;
/** Epoch milliseconds (or nothing) as a `Date` of this realm (or `null`). */
const epoch = (ms) => (ms == null ? null : new Date(ms));
exports.epoch = epoch;
/** A record's attributes from the core's JSON (timestamps as epoch milliseconds). */
function attributes(raw) {
    const values = raw;
    values.created_at = (0, exports.epoch)(raw.created_at);
    values.updated_at = (0, exports.epoch)(raw.updated_at);
    values.last_used_at = (0, exports.epoch)(raw.last_used_at);
    return values;
}
/** A budget status from the core's JSON, period starts as `Date`s. */
function budgetStatus(text) {
    if (text === null)
        return null;
    const status = JSON.parse(text);
    for (const p of [status.daily, status.monthly, status.total]) {
        p.periodStart = (0, exports.epoch)(p.periodStart);
    }
    return status;
}
