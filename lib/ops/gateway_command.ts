/**
 * `gatewayCommandFor()`: the `gatewayCommand` that starts parallax on a gateway from a copy
 * there (a checkout's `cli.ts`, or a compiled binary) rather than from JSR.
 *
 * @module
 */

import { CallerTypeError } from "../caller_error.ts";
import { DEFAULT_GATEWAY_COMMAND } from "../settings/_gateway_settings.ts";

/**
 * The `gatewayCommand` for parallax as it lies on the gateways, at `path` (a path there): a
 * checkout's `cli.ts` (or any `.ts`/`.js` entry) runs under `deno` with the same permissions as
 * the default command from JSR; anything else is taken for a binary built with
 * `deno task compile`, which carries its permissions.
 *
 * @param path Where parallax is on the gateways.
 * @param deno The `deno` to run a checkout with, on the gateways (default: `deno` on their PATH).
 * @returns The argv for the `gatewayCommand` option.
 * @throws {TypeError} For an empty path, or one that is not absolute.
 *
 * @example From a checkout in /opt/parallax on each gateway
 * ```ts
 * import { call, gatewayCommandFor } from "@parallax/parallax";
 *
 * const results = await call(["web1", "web2"], "uptime", {
 *   gateways: { gw1: ["web1", "web2"] },
 *   gatewayCommand: gatewayCommandFor("/opt/parallax/cli.ts"),
 * });
 * console.log(results.size);
 * ```
 */
export function gatewayCommandFor(path: string, deno?: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new CallerTypeError(
      `Cannot start parallax on a gateway from ${JSON.stringify(path)}: expected an absolute path`,
    );
  }
  if (!/\.[cm]?[jt]sx?$/.test(path)) return [path];
  return [deno ?? "deno", ...DEFAULT_GATEWAY_COMMAND.slice(1, -1), path];
}
