/**
 * Key rotation and verification over the whole table: batches in id order until no rows are
 * left, progress after each, results summed. The work per batch is the core's.
 */
import type { PsKeyBatchOptions, PsKeyBindingResult, PsKeyRotationOptions, PsKeyRotationResult, PsKeyVerificationResult } from './types';
export declare function rotateKeys(options?: PsKeyRotationOptions): Promise<PsKeyRotationResult>;
export declare function bindKeys(options?: PsKeyBatchOptions): Promise<PsKeyBindingResult>;
export declare function verifyKeys(options?: PsKeyBatchOptions): Promise<PsKeyVerificationResult>;
