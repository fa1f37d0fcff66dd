"use strict";
/**
 * Argument checks, in one place: the JS types of what callers pass (values are checked by the
 * core). Each failure is `PSPAS_INVALID_ARGUMENT` (or `PSPAS_INVALID_CONFIGURATION`) naming
 * the argument, never echoing its value.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.number = number;
exports.string = string;
exports.boolean = boolean;
exports.func = func;
exports.optionalId = optionalId;
exports.optionsObject = optionsObject;
exports.filterOf = filterOf;
exports.batchOptions = batchOptions;
exports.configurationJson = configurationJson;
const errors_1 = require("./errors");
function number(v, name) {
    if (typeof v !== 'number')
        throw (0, errors_1.invalid)(`${name} must be a number`);
    return v;
}
function string(v, name) {
    if (typeof v !== 'string')
        throw (0, errors_1.invalid)(`${name} must be a string`);
    return v;
}
function boolean(v, name) {
    if (typeof v !== 'boolean')
        throw (0, errors_1.invalid)(`${name} must be a boolean`);
    return v;
}
function func(v, name) {
    if (typeof v !== 'function')
        throw (0, errors_1.invalid)(`${name} must be a function`);
    return v;
}
/** `undefined` (no filter), `null` (SQL NULL) or a number. */
function optionalId(v, name) {
    if (v === undefined || v === null)
        return v;
    return number(v, name);
}
function optionsObject(v) {
    if (v === undefined || v === null)
        return {};
    if (typeof v !== 'object')
        throw (0, errors_1.invalid)('options must be an object');
    return v;
}
/** The key filters of `getApiKeys` / `incrementUsageAndGetApiKey`. */
function filterOf(o) {
    const isActive = o.isActive;
    if (isActive !== undefined && isActive !== null)
        boolean(isActive, 'isActive');
    return {
        aiModelId: optionalId(o.aiModelId, 'aiModelId'),
        externalApiId: optionalId(o.externalApiId, 'externalApiId'),
        isActive: isActive,
    };
}
/** `rotateKeys()` / `verifyKeys()` options. */
function batchOptions(options) {
    const o = optionsObject(options);
    const batchSize = o.batchSize === undefined ? 100 : number(o.batchSize, 'batchSize');
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000) {
        throw (0, errors_1.invalid)('batchSize must be an integer from 1 to 10000');
    }
    const onProgress = o.onProgress === undefined ? null : func(o.onProgress, 'onProgress');
    return { batchSize, onProgress };
}
function invalidConfiguration(why) {
    return new errors_1.PsPrivateAccessStoreError('PSPAS_INVALID_CONFIGURATION', `Invalid configuration: ${why}`);
}
/**
 * A key's configuration as JSON text for the core to check: `JSON.stringify`, keeping a
 * non-finite budget number visible to the core's check (JSON would turn it into `null`).
 */
function configurationJson(configuration) {
    if (typeof configuration !== 'object' || configuration === null) {
        throw invalidConfiguration('configuration must be an object');
    }
    const c = configuration;
    const budgets = new Set([c.maxBudget, c.emailNotificationBudgetThresholds]);
    try {
        return JSON.stringify(configuration, function (_key, value) {
            return typeof value === 'number' && !Number.isFinite(value) && budgets.has(this) ? String(value) : value;
        });
    }
    catch {
        throw invalidConfiguration('configuration must be serializable as JSON');
    }
}
