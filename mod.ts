/**
 * parallax runs commands and copies files on many machines at once over SSH
 * ({@linkcode call}, {@linkcode copy}, {@linkcode slurp}): the system's OpenSSH client, driven
 * from a fixed pool of Web Workers, with one structured result or {@linkcode ParallaxError} per
 * host. It is the Deno counterpart of the Python library Parallax SSH (a fork of pssh).
 *
 * Run under explicit permissions: `--allow-run=ssh,scp` (and `/usr/bin/setsid`, optional: less CPU per
 * host); read access to parallax's own files
 * (its workers load them) and to the files `copy()` sends; `--allow-write` for `outdir`,
 * `errdir` and slurp's `localdir`; read and write access to `/tmp` for ssh's own log (exact
 * error kinds and `retries`), connection reuse and passwords; `--allow-env=PARALLAX_USER,…` to
 * let the `PARALLAX_*` variables supply defaults.
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

export { call, type CallOptions, type CallResult } from "./lib/ops/call.ts";
export {
  type CallEvent,
  type CallLineEvent,
  callStream,
  type CallStreamOptions,
  type ResultEvent,
} from "./lib/ops/call_stream.ts";
export { copy, type CopyOptions, type CopyResult } from "./lib/ops/copy.ts";
export type { LinkPolicy } from "./lib/ops/_local_sources.ts";
export { slurp, type SlurpOptions, type SlurpResult } from "./lib/ops/slurp.ts";
export { sync, type SyncOptions, type SyncResult } from "./lib/ops/sync.ts";
export type { TransferResult } from "./lib/ops/_transfer.ts";
export { gatewayCommandFor } from "./lib/ops/gateway_command.ts";
export { isOk, type Success } from "./lib/ops/is_ok.ts";
export { sh, type ShValue } from "./lib/ops/sh.ts";
export type { ResultRecord } from "./lib/record.ts";
export type { BatchStart, CommonOptions, TransferOptions } from "./lib/settings/options.ts";
export { type ErrorKind, ParallaxError, type ParallaxErrorInit } from "./lib/parallax_error.ts";
export { type Host, type HostEntry, type HostsInput, parseHosts } from "./lib/hosts/parse.ts";
export type { PerHost } from "./lib/hosts/per_host.ts";
export { readHostFile } from "./lib/hosts/file.ts";
export { compactHosts } from "./lib/hosts/range.ts";
export {
  allHosts,
  expandHosts,
  type Groups,
  parseGroups,
  readGroups,
  splitHosts,
} from "./lib/hosts/groups.ts";
export { Pool, type PoolOptions } from "./lib/engine/pool.ts";
