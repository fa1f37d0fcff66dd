"use strict";
/**
 * The documented types of the public API (PolicySynth's, plus what this package adds). The
 * options of `configure()` are generated from the settings table (`settings.generated.ts`).
 */
Object.defineProperty(exports, "__esModule", { value: true });
