/**
 * Values that differ from host to host: a command, a destination, a source path.
 *
 * @module
 */

import type { Host } from "./parse.ts";
import { CallerTypeError } from "../caller_error.ts";

/**
 * A value that may differ per host: the value itself, or a function of the host and its index in
 * the host list, called once for each host before that host starts. A function that throws (or
 * returns something unusable) fails that host alone, with kind `local`.
 *
 * @example A destination per host
 * ```ts
 * import type { Host, PerHost } from "@parallax/parallax";
 *
 * const dst: PerHost<string> = (host: Host, index: number) => `/srv/app/shard-${index}.conf`;
 * ```
 */
export type PerHost<T> = T | ((host: Host, index: number) => T);

/**
 * The string for one host: `value` itself, or what its function returns, checked by `check`.
 *
 * @throws {TypeError} When the function returns something other than a string; whatever the
 * function or `check` throws.
 */
export function stringFor(
  value: PerHost<string>,
  host: Host,
  index: number,
  check: (value: string) => string,
): string {
  if (typeof value !== "function") return value;
  let found: unknown;
  try {
    found = value(host, index);
  } catch (error) {
    const said = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new Error(`your per-host function threw for this host: ${said}`, { cause: error });
  }
  if (typeof found !== "string") {
    throw new CallerTypeError(`the per-host function returned ${typeof found}, expected a string`);
  }
  return check(found);
}
