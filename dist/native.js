"use strict";
/**
 * The generated native loader (`native.js`, made by `napi build`), loaded once per realm, or
 * one clear error naming the platform, the package and the remedies.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.native = void 0;
const errors_1 = require("./errors");
/** The platform triple napi-rs names its packages by (`linux-x64-gnu`, `darwin-arm64`, …). */
function platformTriple() {
    const { platform, arch } = process;
    if (platform === 'linux') {
        const report = process.report?.getReport();
        return `linux-${arch}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
    }
    if (platform === 'win32')
        return `win32-${arch}-msvc`;
    return `${platform}-${arch}`;
}
function loadNative() {
    try {
        return require('../native.js');
    }
    catch (cause) {
        const triple = platformTriple();
        throw new errors_1.PsPrivateAccessStoreError('PSPAS_NATIVE_BINDING_MISSING', `@policysynth/private-access-store has no native binary for this platform (${triple}): ` +
            `expected the optional dependency @policysynth/private-access-store-${triple} ` +
            `(or private-access-store.${triple}.node beside the package). ` +
            'Install again with optional dependencies included (npm install, without --omit=optional ' +
            'or --no-optional, on the machine that runs the code), or build it from source in the ' +
            'package folder with `npm run build` (needs Rust >= 1.94).', { cause });
    }
}
/** The addon. */
exports.native = loadNative();
