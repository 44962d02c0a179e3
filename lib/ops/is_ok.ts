/**
 * `isOk()`: tells a host that succeeded from one that did not, as a type guard.
 *
 * @module
 */

import type { ParallaxError } from "../parallax_error.ts";
import type { CallResult } from "./call.ts";
import type { CopyResult } from "./copy.ts";
import type { SlurpResult } from "./slurp.ts";
import type { SyncResult } from "./sync.ts";

/**
 * A host's entry that succeeded: a {@linkcode CallResult} whose exit code is 0, or a transfer's
 * result as it is. (So that after `isOk(value)` is false, a `CallResult` with another exit code
 * is still possible, beside a {@linkcode ParallaxError}.)
 *
 * @example The results that succeeded
 * ```ts
 * import { call, isOk, type Success, type CallResult } from "@parallax/parallax";
 *
 * const results = await call(["web1", "web2"], "true");
 * const ok: Success<CallResult>[] = [...results.values()].filter(isOk);
 * console.log(ok.every((r) => r.exitCode === 0));
 * ```
 */
export type Success<T> = T extends CallResult ? T & { readonly exitCode: 0 } : T;

/**
 * Whether a host's entry is a success: a {@linkcode CallResult} with exit code 0, or any
 * {@linkcode CopyResult}, {@linkcode SlurpResult} or {@linkcode SyncResult}; false for a {@linkcode ParallaxError} and a
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
 * const good = [...results.values()].filter(isOk); // CallResult[] (exit code 0)
 * const bad = [...results.keys()].filter((host) => !isOk(results.get(host)!));
 * console.log(`${good.length} up, down: ${bad.join(" ")}`);
 * ```
 *
 * @example What is left when it is false: an error, or a nonzero exit
 * ```ts
 * import { call, isOk, ParallaxError } from "@parallax/parallax";
 *
 * for (const [host, result] of await call(["web1"], "test -f /etc/app.conf")) {
 *   if (isOk(result)) console.log(`${host}: present`);
 *   else if (result instanceof ParallaxError) console.log(`${host}: ${result.kind}`);
 *   else console.log(`${host}: absent (exit ${result.exitCode})`);
 * }
 * ```
 */
export function isOk<T extends CallResult | CopyResult | SlurpResult | SyncResult>(
  value: T | ParallaxError,
): value is Success<T> {
  if (typeof value !== "object" || value === null || value instanceof Error) return false;
  return !("exitCode" in value) || value.exitCode === 0;
}
