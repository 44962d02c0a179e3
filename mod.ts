/**
 * parallax runs commands and copies files on many machines at once over SSH
 * ({@linkcode call}, {@linkcode copy}, {@linkcode slurp}): the system's OpenSSH client, driven
 * from a fixed pool of Web Workers, with one structured result or {@linkcode ParallaxError} per
 * host. It is the Deno counterpart of the Python library Parallax SSH (a fork of pssh).
 *
 * Run under explicit permissions: `--allow-run=ssh,scp`; read access to parallax's own files
 * (its workers load them) and to the files `copy()` sends; `--allow-write` for `outdir`,
 * `errdir` and slurp's `localdir`; `--allow-env=PARALLAX_USER,…` to let the `PARALLAX_*`
 * variables supply defaults.
 *
 * @example Uptime of three hosts
 * ```ts
 * import { call, ParallaxError } from "@parallax/parallax";
 *
 * const results = await call("web1 web2 admin@db1:2222", "uptime", { timeout: 20 });
 * for (const [host, result] of results) {
 *   if (result instanceof ParallaxError) console.error(`${host}: ${result.kind}`);
 *   else console.log(`${host}: ${result.stdout.trim()}`);
 * }
 * ```
 *
 * @module
 */

export { call, type CallResult } from "./lib/call.ts";
export { type CallEvent, callStream } from "./lib/call_stream.ts";
export { copy, type CopyResult } from "./lib/copy.ts";
export { slurp, type SlurpResult } from "./lib/slurp.ts";
export type {
  CallOptions,
  CommonOptions,
  CopyOptions,
  SlurpOptions,
  TransferOptions,
} from "./lib/options.ts";
export { type ErrorKind, ParallaxError, type ParallaxErrorInit } from "./lib/parallax_error.ts";
export { type Host, type HostEntry, type HostsInput, parseHosts } from "./lib/hosts.ts";
export { readHostFile } from "./lib/host_file.ts";
export { compactHosts, expandHosts } from "./lib/host_range.ts";
export { Pool, type PoolOptions } from "./lib/pool.ts";
