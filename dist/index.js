"use strict";
/**
 * `@policysynth/private-access-store`: the package's public entry (re-exports only).
 *
 * A thin layer over the generated native loader (`native.js`), loaded in the caller's realm:
 * under jest every test file evaluates it again in its own context, so it reads that file's
 * `process.env`, throws that file's `Error`s, warns on its `console`, builds its `Date`s and
 * records and keeps its budget-event listeners. The native addon (loaded once per process)
 * does the work: crypto, storage, budgets. What crosses is typed values only; argument types
 * are checked here (`args.ts`), values in the Rust core.
 *
 * @packageDocumentation
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.PsPrivateAccessStore = exports.PsPrivateAccessStoreError = void 0;
var errors_1 = require("./errors");
Object.defineProperty(exports, "PsPrivateAccessStoreError", { enumerable: true, get: function () { return errors_1.PsPrivateAccessStoreError; } });
var store_1 = require("./store");
Object.defineProperty(exports, "PsPrivateAccessStore", { enumerable: true, get: function () { return store_1.PsPrivateAccessStore; } });
