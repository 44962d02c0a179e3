/**
 * `copy()`: send local files and folders to every host.
 *
 * @module
 */

import { drive } from "../driver/_drive.ts";
import { type HostObserver, withOnResult } from "../driver/_plan.ts";
import type { HostsInput } from "../hosts/parse.ts";
import { type PerHost, stringFor } from "../hosts/per_host.ts";
import type { ParallaxError } from "../parallax_error.ts";
import type { TransferOptions } from "../settings/options.ts";
import { scpUploadArgv } from "../ssh/_scp_argv.ts";
import { checkLocalSources, type LinkPolicy, withoutLinks } from "./_local_sources.ts";
import { type StagedSources, stageSources } from "./_staged_sources.ts";
import {
  checkPathArgument,
  leafTransferOptions,
  prepareTransfer,
  transferPlan,
  type TransferResult,
  transferResult,
} from "./_transfer.ts";
import { CallerTypeError } from "../caller_error.ts";
import { checkOptionNames, TRANSFER_OPTIONS, type Unlisted } from "../settings/_option_names.ts";

/**
 * Options of {@linkcode copy}.
 *
 * @example Copying a tree, leaving links out
 * ```ts
 * import { copy, type CopyOptions } from "@parallax/parallax";
 *
 * const site = await Deno.makeTempDir();
 * const options: CopyOptions = { recursive: true, preserve: true, links: "skip", timeout: 600 };
 * await copy(["web1"], site, "/var/www", options);
 * await Deno.remove(site);
 * ```
 */
export interface CopyOptions extends TransferOptions {
  /**
   * Symbolic links among the sources: `"follow"` sends a link to a file as the file it leads to
   * (scp's SFTP mode; with `preserve`, that file's mode and times), and refuses, before any host
   * is contacted, a link that leads nowhere or to a folder inside a folder being copied (scp
   * would stop there, half-way); `"skip"` leaves every link out (the rest of the tree is sent
   * from a private copy made without them). scp cannot recreate a link as a link: use `sync()`
   * for that.
   *
   * @default {"follow"}
   */
  links?: LinkPolicy;
  /** Called with each host's result or error as soon as that host finishes. */
  onResult?: (result: CopyResult | ParallaxError) => void;
}

/**
 * A host that received the files.
 *
 * @example Where each host received the files
 * ```ts
 * import { copy, isOk } from "@parallax/parallax";
 *
 * const file = await Deno.makeTempFile();
 * const results = await copy(["web1"], file, "/etc/app/app.conf");
 * for (const result of results.values()) if (isOk(result)) console.log(result.host, result.path);
 * await Deno.remove(file);
 * ```
 */
export interface CopyResult extends TransferResult {
  /** The remote destination, as given. */
  readonly path: string;
}

/**
 * Copies local files or folders to `dst` on every host with scp, at most `limit` hosts at a time.
 * Paths are passed literally: scp runs in SFTP mode, so no remote shell reads them.
 *
 * @param hosts As for {@linkcode call}.
 * @param src A local file or folder, or an array of them.
 * @param dst The remote destination (relative to the remote user's home unless absolute); with
 * several sources, a folder. Or a function that gives each host its own (see
 * {@linkcode PerHost}).
 * @param options See {@linkcode CopyOptions}.
 * @returns A map from each host's key to its {@linkcode CopyResult} or {@linkcode ParallaxError}.
 * @throws {Deno.errors.NotFound} For a missing local source, before any host is contacted.
 * @throws {TypeError} For malformed hosts, paths or options, or a folder without `recursive`.
 * @throws {RangeError} For an option value out of range.
 *
 * @example Sending a config file to every web server
 * ```ts
 * import { copy, ParallaxError } from "@parallax/parallax";
 *
 * const file = await Deno.makeTempFile();
 * const results = await copy(["web1", "web2"], file, "/etc/app/app.conf", { timeout: 600 });
 * for (const [host, result] of results) {
 *   console.log(host, result instanceof ParallaxError ? result.kind : `copied to ${result.path}`);
 * }
 * await Deno.remove(file);
 * ```
 */
export function copy(
  hosts: HostsInput,
  src: string | readonly string[],
  dst: PerHost<string>,
  options?: CopyOptions,
): Promise<Map<string, CopyResult | ParallaxError>> {
  return copyWith(hosts, src, dst, options ?? {});
}

/**
 * `copy()` with an observer that is told when each host starts and how it ends (a gateway tells
 * its controller).
 *
 * @throws {TypeError} As {@linkcode copy} does.
 */
export async function copyWith(
  hosts: HostsInput,
  src: string | readonly string[],
  dst: PerHost<string>,
  options: CopyOptions,
  observer: HostObserver<CopyResult> = {},
): Promise<Map<string, CopyResult | ParallaxError>> {
  checkOptionNames(options, COPY_OPTIONS, "copy");
  const given = (typeof src === "string" ? [src] : [...src]).map((s) =>
    checkPathArgument(s, "local source")
  );
  if (given.length === 0) throw new CallerTypeError("Cannot copy: no local source given");
  const checkDst = (path: string) => checkPathArgument(path, "remote destination");
  if (typeof dst !== "function") checkDst(dst);
  const { links = "follow" } = options;
  if (links !== "follow" && links !== "skip") {
    throw new CallerTypeError(
      `Cannot use links ${JSON.stringify(links)}: expected "follow" or "skip"`,
    );
  }
  const { hosts: parsed, settings, transfer } = prepareTransfer(hosts, options);
  await checkLocalSources(given, transfer.recursive, links);
  await using linkless = links === "skip" ? await withoutLinks(given) : null;
  const sources = linkless?.sources ?? given;
  const dsts: string[] = [];
  // Read once for every gateway (a relayed copy sends each file once per gateway).
  const staged: StagedSources | null = settings.gateways === null
    ? null
    : await stageSources(sources);
  return await drive(
    parsed,
    settings,
    transferPlan(
      transfer,
      (host, index, connection) =>
        scpUploadArgv({ host, settings, transfer, connection }, sources, dsts[index]),
      (index) => dsts[index],
      {
        prepare(host, index) {
          dsts[index] = stringFor(dst, host, index, checkDst);
          return Promise.resolve();
        },
        gateway: {
          ask: (indices) => ({
            op: "copy",
            dsts: typeof dst === "function" ? indices.map((i) => dsts[i]) : [dst],
            files: staged!.files,
            options: leafTransferOptions(transfer),
            payload: staged!.payload,
          }),
          result: (host, index, { durationMs, attempts, stderr }, via) =>
            transferResult({
              host: host.key,
              path: dsts[index],
              durationMs,
              attempts,
              stderr,
              via,
            }),
        },
      },
    ),
    withOnResult(observer, options.onResult),
  );
}

/** The names of `copy()`'s options (checked against {@linkcode CopyOptions} both ways). */
const COPY_OPTIONS = [
  ...TRANSFER_OPTIONS,
  "links",
  "onResult",
] as const satisfies readonly (keyof CopyOptions)[];
const _allCopy: [Unlisted<CopyOptions, typeof COPY_OPTIONS>] extends [never] ? true : never = true;
void _allCopy;
