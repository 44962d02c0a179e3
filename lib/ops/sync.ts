/**
 * `sync()`: rsync local files and folders to every host, over the ssh command parallax uses.
 *
 * @module
 */

import { drive } from "../driver/_drive.ts";
import { type HostObserver, withOnResult } from "../driver/_plan.ts";
import type { HostsInput } from "../hosts/parse.ts";
import { type PerHost, stringFor } from "../hosts/per_host.ts";
import type { ErrorKind, ParallaxError } from "../parallax_error.ts";
import { type ResultRecord, toRecord } from "../record.ts";
import { concatBytes, decode } from "../runtime/_bytes.ts";
import type { CommonOptions } from "../settings/options.ts";
import { checkOptionNames, COMMON_OPTIONS, type Unlisted } from "../settings/_option_names.ts";
import {
  readRsyncOutput,
  rsyncArgv,
  type RsyncRequest,
  withRsyncLifeline,
} from "../ssh/_rsync_argv.ts";
import { CallerRangeError, CallerTypeError } from "../caller_error.ts";
import { checkPathArgument, prepareTransfer } from "./_transfer.ts";
import { missingReadPermission } from "../runtime/_permissions.ts";

/**
 * Options of {@linkcode sync}.
 *
 * @example A dry run that would delete
 * ```ts
 * import { sync, type SyncOptions } from "@parallax/parallax";
 *
 * const site = await Deno.makeTempDir();
 * const options: SyncOptions = { delete: true, dryRun: true, exclude: ["*.log"] };
 * await sync(["web1"], `${site}/`, "/var/www/site", options);
 * await Deno.remove(site);
 * ```
 */
export interface SyncOptions extends CommonOptions {
  /** Delete files on the host that the sources do not have (rsync's `--delete`). */
  delete?: boolean;
  /** Compare files by checksum rather than by size and time (rsync's `--checksum`). */
  checksum?: boolean;
  /** rsync patterns of files to leave out (rsync's `--exclude`, each). */
  exclude?: readonly string[];
  /**
   * Change nothing: each host's result lists what would change (`changes`), and counts what
   * would be sent.
   */
  dryRun?: boolean;
  /** Compress on the wire (rsync's `--compress`; slower on fast links). */
  compress?: boolean;
  /** Bandwidth limit per host, Kbit/s. */
  bandwidthLimit?: number;
  /** The local rsync program. @default {"rsync"} */
  rsyncPath?: string;
  /** Called with each host's result or error as soon as that host finishes. */
  onResult?: (result: SyncResult | ParallaxError) => void;
}

/**
 * A host that rsync brought up to date (or, with `dryRun`, found what would change).
 *
 * @example What each host was sent
 * ```ts
 * import { isOk, sync } from "@parallax/parallax";
 *
 * const site = await Deno.makeTempDir();
 * for (const result of (await sync(["web1"], `${site}/`, "/var/www/site")).values()) {
 *   if (isOk(result)) console.log(result.host, result.files, result.bytes, result.changes);
 * }
 * await Deno.remove(site);
 * ```
 */
export interface SyncResult {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** The remote destination, as given. */
  readonly path: string;
  /** What changed on the host, one line each in rsync's itemized form (`>f+++++++++ a.txt`). */
  readonly changes: readonly string[];
  /** How many regular files were sent (would be, with `dryRun`). */
  readonly files: number;
  /** How many bytes rsync sent over the connection. */
  readonly bytes: number;
  /** Milliseconds from the start of rsync to its exit. */
  readonly durationMs: number;
  /** How many times rsync was started for this host. */
  readonly attempts: number;
  /** What rsync printed on stderr (usually nothing). */
  readonly stderr: string;
  /** The result as a JSON record (its stdout: the changes, one per line). */
  toJSON(): ResultRecord<ErrorKind>;
}

/**
 * Brings `dst` on every host up to date with local files and folders, with rsync over the same
 * ssh command parallax uses (its options, its connection reuse), at most `limit` hosts at once.
 * Archive mode: folders recursively, links kept as links, modes and times kept. As with rsync, a
 * source folder with a trailing `/` sends what is inside it. Remote paths are never read by a
 * remote shell. rsync must be installed here and on the hosts; a host without it fails with
 * kind `transfer` saying so. Needs `--allow-run=rsync` (and `ssh`, which rsync starts).
 * Hosts behind gateways are refused (kind `local`): a sync through a gateway would send the
 * data once per host over the gateway's link.
 *
 * @param hosts As for {@linkcode call}.
 * @param src A local file or folder, or an array of them.
 * @param dst The remote destination, or a function that gives each host its own.
 * @param options See {@linkcode SyncOptions}.
 * @returns A map from each host's key to its {@linkcode SyncResult} or {@linkcode ParallaxError}.
 * @throws {Deno.errors.NotFound} For a missing local source, before any host is contacted.
 * @throws {TypeError} For malformed hosts, paths or options.
 *
 * @example Publishing a site, deleting what it no longer has
 * ```ts
 * import { ParallaxError, sync } from "@parallax/parallax";
 *
 * const site = await Deno.makeTempDir();
 * const results = await sync(["web1", "web2"], `${site}/`, "/var/www/site", { delete: true });
 * for (const [host, result] of results) {
 *   if (result instanceof ParallaxError) console.error(result.message);
 *   else console.log(`${host}: ${result.files} files, ${result.bytes} bytes`);
 * }
 * await Deno.remove(site);
 * ```
 */
export function sync(
  hosts: HostsInput,
  src: string | readonly string[],
  dst: PerHost<string>,
  options?: SyncOptions,
): Promise<Map<string, SyncResult | ParallaxError>> {
  return syncWith(hosts, src, dst, options ?? {});
}

/** {@linkcode sync} with an observer (the CLI's). */
export async function syncWith(
  hosts: HostsInput,
  src: string | readonly string[],
  dst: PerHost<string>,
  options: SyncOptions,
  observer: HostObserver<SyncResult> = {},
): Promise<Map<string, SyncResult | ParallaxError>> {
  checkOptionNames(options, SYNC_OPTIONS, "sync");
  const sources = (typeof src === "string" ? [src] : [...src]).map((s) =>
    checkPathArgument(s, "local source")
  );
  if (sources.length === 0) throw new CallerTypeError("Cannot sync: no local source given");
  const checkDst = (path: string) => checkPathArgument(path, "remote destination");
  if (typeof dst !== "function") checkDst(dst);
  const request = syncRequest(options);
  const { hosts: parsed, settings } = prepareTransfer(hosts, options);
  for (const source of sources) {
    // Queried, never prompted for; a missing source is refused before any host is contacted.
    const missing = missingReadPermission(source);
    if (missing !== null) {
      throw new Deno.errors.NotCapable(`Cannot check local source '${source}': ${missing}`);
    }
    try {
      await Deno.lstat(source);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`Cannot sync '${source}': no such file or folder`);
      }
      throw error;
    }
  }
  const dsts: string[] = [];
  return await drive(parsed, settings, {
    program: request.rsyncPath,
    meaning: "transfer",
    input: null,
    lifeline: false,
    keepOutput: true,
    printOut: false,
    prepare(host, index) {
      dsts[index] = stringFor(dst, host, index, checkDst);
      return Promise.resolve();
    },
    argv: (host, index, connection) =>
      rsyncArgv({ host, settings, connection }, request, sources, dsts[index]),
    transferLifeline: (argv, script) => withRsyncLifeline(argv, script, settings.sshPath),
    gatewayRefusal: "sync cannot run through a gateway yet (the data would cross the " +
      "gateway's link once per host): sync the gateway, then run parallax there",
    result: (host, { stdout, stderr, durationMs, attempts }, _files, index) => {
      const out = concatBytes(stdout);
      const report = readRsyncOutput(decode(out));
      const changes = new TextEncoder().encode(report.changes.map((l) => `${l}\n`).join(""));
      const fields = {
        host: host.key,
        path: dsts[index],
        durationMs,
        attempts,
        files: report.files,
        bytes: report.bytes,
      };
      return {
        ...fields,
        changes: report.changes,
        stderr: decode(stderr),
        toJSON: () =>
          toRecord<ErrorKind>({
            ...fields,
            ok: true,
            kind: null,
            message: null,
            exitCode: 0,
            stdout: changes,
            stderr: concatBytes(stderr),
          }),
      };
    },
  }, withOnResult(observer, options.onResult));
}

function syncRequest(options: SyncOptions): RsyncRequest {
  const {
    delete: remove = false,
    checksum = false,
    exclude = [],
    dryRun = false,
    compress = false,
    bandwidthLimit,
    rsyncPath = "rsync",
  } = options;
  if (!Array.isArray(exclude) || exclude.some((p) => typeof p !== "string" || p === "")) {
    throw new CallerTypeError("Cannot use exclude: expected an array of rsync patterns");
  }
  if (
    bandwidthLimit !== undefined && (!Number.isInteger(bandwidthLimit) || bandwidthLimit < 1)
  ) {
    throw new CallerRangeError(
      `Cannot use bandwidthLimit ${bandwidthLimit}: expected Kbit/s as an integer >= 1`,
    );
  }
  if (typeof rsyncPath !== "string" || rsyncPath === "") {
    throw new CallerTypeError(`Cannot use rsyncPath '${rsyncPath}': expected a program`);
  }
  return {
    rsyncPath,
    delete: Boolean(remove),
    checksum: Boolean(checksum),
    exclude,
    dryRun: Boolean(dryRun),
    compress: Boolean(compress),
    ...(bandwidthLimit === undefined ? {} : { bandwidthLimit }),
  };
}

/** The names of `sync()`'s options (checked against {@linkcode SyncOptions} both ways). */
const SYNC_OPTIONS = [
  ...COMMON_OPTIONS,
  "delete",
  "checksum",
  "exclude",
  "dryRun",
  "compress",
  "bandwidthLimit",
  "rsyncPath",
  "onResult",
] as const satisfies readonly (keyof SyncOptions)[];
const _allSync: [Unlisted<SyncOptions, typeof SYNC_OPTIONS>] extends [never] ? true : never = true;
void _allSync;
