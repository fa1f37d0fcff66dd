"use strict";
/**
 * Key rotation and verification over the whole table: batches in id order until no rows are
 * left, progress after each, results summed. The work per batch is the core's.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.rotateKeys = rotateKeys;
exports.bindKeys = bindKeys;
exports.verifyKeys = verifyKeys;
const args_1 = require("./args");
const errors_1 = require("./errors");
const settings_1 = require("./settings");
/**
 * Run `batch` over the table in id order until no rows are left, reporting progress; the
 * seconds it took.
 */
async function eachBatch(options, batch, count) {
    const started = process.hrtime.bigint();
    const o = (0, args_1.batchOptions)(options);
    const store = (0, settings_1.currentStore)();
    const total = await (0, errors_1.settle)(() => store.countKeys());
    let after = 0;
    let done = 0;
    for (;;) {
        const b = await (0, errors_1.settle)(() => batch(store, after, o.batchSize));
        if (b.lastId === null || b.lastId === undefined)
            return Number(process.hrtime.bigint() - started) / 1e9;
        after = b.lastId;
        done += count(b);
        if (o.onProgress !== null)
            o.onProgress({ done, total: Math.max(total, done) });
    }
}
async function rotateKeys(options) {
    (0, args_1.batchOptions)(options);
    const given = (0, args_1.optionsObject)(options).newPublicKey;
    const newPublicKey = given === undefined ? null : (0, args_1.string)(given, 'newPublicKey');
    const out = {
        total: 0,
        rotated: 0,
        alreadyCurrent: 0,
        cannotOpen: [],
        changedMeanwhile: 0,
        seconds: 0,
    };
    out.seconds = await eachBatch(options, async (store, after, size) => store.rotateBatch(after, size, (0, settings_1.privateKey)(), newPublicKey), (b) => {
        out.rotated += b.rotated;
        out.alreadyCurrent += b.alreadyCurrent;
        out.changedMeanwhile += b.changedMeanwhile;
        out.cannotOpen.push(...b.cannotOpen);
        const rows = b.rotated + b.alreadyCurrent + b.cannotOpen.length + b.changedMeanwhile;
        out.total += rows;
        return rows;
    });
    return out;
}
async function bindKeys(options) {
    const out = { total: 0, bound: 0, alreadyBound: 0, cannotOpen: [], changedMeanwhile: 0, seconds: 0 };
    out.seconds = await eachBatch(options, async (store, after, size) => store.bindBatch(after, size, (0, settings_1.privateKey)()), (b) => {
        out.bound += b.bound;
        out.alreadyBound += b.alreadyBound;
        out.changedMeanwhile += b.changedMeanwhile;
        out.cannotOpen.push(...b.cannotOpen);
        const rows = b.bound + b.alreadyBound + b.cannotOpen.length + b.changedMeanwhile;
        out.total += rows;
        return rows;
    });
    return out;
}
async function verifyKeys(options) {
    const out = { total: 0, ok: 0, previousKey: 0, cannotOpen: [], unbound: 0, duplicates: [] };
    await eachBatch(options, async (store, after, size) => store.verifyBatch(after, size, (0, settings_1.privateKey)()), (b) => {
        out.ok += b.ok;
        out.previousKey += b.previousKey;
        out.unbound += b.unbound;
        out.cannotOpen.push(...b.cannotOpen);
        const rows = b.ok + b.previousKey + b.cannotOpen.length;
        out.total += rows;
        return rows;
    });
    out.duplicates = JSON.parse(await (0, errors_1.settle)(() => (0, settings_1.currentStore)().duplicateKeys()));
    return out;
}
