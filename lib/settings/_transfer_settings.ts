/**
 * Checked settings of `copy()` and `slurp()` on top of the common ones.
 *
 * @module
 */

import type { TransferOptions } from "./options.ts";
import { CallerRangeError, CallerTypeError } from "../caller_error.ts";

/** The transfer settings on top of the common ones. */
export interface TransferSettings {
  readonly recursive: boolean;
  readonly preserve: boolean;
  readonly compress: boolean;
  readonly bandwidthLimit?: number;
  readonly scpPath: string;
}

/**
 * Checks the transfer options and fills in their defaults.
 *
 * @throws {RangeError} For a bandwidth limit that is not a positive integer.
 * @throws {TypeError} For an empty `scpPath`.
 */
export function resolveTransferSettings(options: TransferOptions): TransferSettings {
  const {
    recursive = true,
    preserve = false,
    compress = false,
    bandwidthLimit,
    scpPath = "scp",
  } = options;
  if (
    bandwidthLimit !== undefined && (!Number.isInteger(bandwidthLimit) || bandwidthLimit < 1)
  ) {
    throw new CallerRangeError(
      `Cannot use bandwidthLimit ${bandwidthLimit}: expected Kbit/s as an integer >= 1`,
    );
  }
  if (typeof scpPath !== "string" || scpPath === "") {
    throw new CallerTypeError(`Cannot use scpPath '${scpPath}': expected a program name or path`);
  }
  return Object.freeze({
    recursive: Boolean(recursive),
    preserve: Boolean(preserve),
    compress: Boolean(compress),
    bandwidthLimit,
    scpPath,
  });
}
