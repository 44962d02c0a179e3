/**
 * `isOk()`: tells a host that succeeded from one that did not, as a type guard.
 *
 * @module
 */

import type { ParallaxError } from "../parallax_error.ts";
import type { CallResult } from "./call.ts";
import type { CopyResult } from "./copy.ts";
import type { SlurpResult } from "./slurp.ts";

/**
 * Whether a host's entry is a success: a {@linkcode CallResult} with exit code 0, or any
 * {@linkcode CopyResult} or {@linkcode SlurpResult}; false for a {@linkcode ParallaxError} and a
 * nonzero exit (and for anything that is not a result, such as `undefined`). It narrows, so `[...results.values()].filter(isOk)` is a list of results.
 *
 * @param value A value of a result map.
 * @returns True for a success.
 *
 * @example Splitting a call's hosts into succeeded and failed
 * ```ts
 * import { call, isOk } from "@parallax/parallax";
 *
 * const results = await call(["web1", "web2"], "systemctl is-active app", { timeout: 10 });
 * const good = [...results.values()].filter(isOk); // CallResult[]
 * const bad = [...results.keys()].filter((host) => !isOk(results.get(host)!));
 * console.log(`${good.length} up, down: ${bad.join(" ")}`);
 * ```
 */
export function isOk<T extends CallResult | CopyResult | SlurpResult>(
  value: T | ParallaxError,
): value is T {
  if (typeof value !== "object" || value === null || value instanceof Error) return false;
  return !("exitCode" in value) || value.exitCode === 0;
}
