/**
 * `slurp()`: fetch a remote file or folder from every host into a folder per host.
 *
 * @module
 */

import { drive } from "../driver/_drive.ts";
import { type HostObserver, withOnResult } from "../driver/_plan.ts";
import { removeIfPresent, safeNames } from "../driver/_output_files.ts";
import type { HostsInput } from "../hosts/parse.ts";
import { type PerHost, stringFor } from "../hosts/per_host.ts";
import type { ParallaxError } from "../parallax_error.ts";
import { dirnamePath, isAbsolutePath, joinPath, normalizePath } from "../runtime/_path.ts";
import { makePrivateFolder } from "../runtime/_private_folder.ts";
import { moveIntoPlace } from "../runtime/_sink.ts";
import { gatewayOf } from "../settings/_gateway_settings.ts";
import { missingReadPermission, missingWritePermission } from "../runtime/_permissions.ts";
import type { TransferOptions } from "../settings/options.ts";
import { scpDownloadArgv } from "../ssh/_scp_argv.ts";
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
 * Options of {@linkcode slurp}.
 *
 * @example Fetching into a folder of your choice
 * ```ts
 * import { slurp, type SlurpOptions } from "@parallax/parallax";
 *
 * const options: SlurpOptions = { localdir: "collected", timeout: 120 };
 * await slurp(["web1", "web2"], "/var/log/syslog", "syslog", options);
 * ```
 */
export interface SlurpOptions extends TransferOptions {
  /** Called with each host's result or error as soon as that host finishes. */
  onResult?: (result: SlurpResult | ParallaxError) => void;
  /**
   * Local folder under which each host gets its own folder.
   *
   * @default {"."}
   */
  localdir?: string;
}

/**
 * A host whose file arrived.
 *
 * @example Where each host's file landed
 * ```ts
 * import { isOk, slurp } from "@parallax/parallax";
 *
 * const results = await slurp(["web1"], "/etc/hostname", "hostname", { localdir: "got" });
 * for (const result of results.values()) if (isOk(result)) console.log(result.path);
 * ```
 */
export interface SlurpResult extends TransferResult {
  /** The local path written: `<localdir>/<host folder>/<dst>`. */
  readonly path: string;
}

/**
 * Copies the remote `src` from every host to `<localdir>/<host folder>/<dst>` with scp. Each
 * host gets its own folder, named from its key so that no host can write outside `localdir` and
 * no two hosts share one: the same file from 100 hosts lands as 100 files.
 *
 * @param hosts As for {@linkcode call}.
 * @param src The remote file or folder, taken literally (no remote shell, no globbing); or a
 * function that gives each host its own (see {@linkcode PerHost}).
 * @param dst A relative path inside each host's folder.
 * @param options See {@linkcode SlurpOptions}.
 * @returns A map from each host's key to its {@linkcode SlurpResult} or {@linkcode ParallaxError}.
 * @throws {TypeError} For an absolute `dst` or one that climbs out with `..`, malformed hosts or
 * options, before any host is contacted.
 * @throws {RangeError} For an option value out of range.
 *
 * @example Collecting a log file from every host
 * ```ts
 * import { ParallaxError, slurp } from "@parallax/parallax";
 *
 * const localdir = await Deno.makeTempDir();
 * const results = await slurp(["web1", "web2"], "/var/log/syslog", "syslog", { localdir });
 * for (const [host, result] of results) {
 *   console.log(host, result instanceof ParallaxError ? result.kind : result.path);
 * }
 * await Deno.remove(localdir, { recursive: true });
 * ```
 */
export function slurp(
  hosts: HostsInput,
  src: PerHost<string>,
  dst: string,
  options?: SlurpOptions,
): Promise<Map<string, SlurpResult | ParallaxError>> {
  return slurpWith(hosts, src, dst, options ?? {});
}

/**
 * `slurp()` with an observer that is told when each host starts and how it ends (a gateway
 * tells its controller).
 *
 * @throws {TypeError} As {@linkcode slurp} does.
 */
export async function slurpWith(
  hosts: HostsInput,
  src: PerHost<string>,
  dst: string,
  options: SlurpOptions,
  observer: HostObserver<SlurpResult> = {},
): Promise<Map<string, SlurpResult | ParallaxError>> {
  checkOptionNames(options, SLURP_OPTIONS, "slurp");
  const checkSrc = (path: string) => checkPathArgument(path, "remote source");
  if (typeof src !== "function") checkSrc(src);
  checkPathArgument(dst, "local destination");
  if (isAbsolutePath(dst)) {
    throw new CallerTypeError(
      `Cannot slurp to '${dst}': the destination must be relative to localdir`,
    );
  }
  const inside = normalizePath(dst);
  if (inside === ".." || inside.startsWith("../")) {
    throw new CallerTypeError(
      `Cannot slurp to '${dst}': the destination must stay inside its folder`,
    );
  }
  const { hosts: parsed, settings, transfer } = prepareTransfer(hosts, options);
  const localdir = checkPathArgument(options.localdir ?? ".", "localdir");
  const folders = safeNames(parsed.map((host) => host.key));
  const targets = folders.map((folder) => joinPath(localdir, folder, inside));
  // Queried before any use (never prompted for): files are received and renamed into place
  // there, and Deno's rename needs read access as well as write.
  const missing = missingWritePermission(localdir) ?? missingReadPermission(localdir);
  /** Folders made for each host, deepest last: removed again if the host fails and they are empty. */
  const made: string[][] = parsed.map(() => []);
  const srcs: string[] = [];
  /**
   * Where each host's scp writes: a private folder of ours inside the host's folder. What came
   * is put in its place only once the host has succeeded, so that a failed, timed-out or
   * interrupted slurp leaves no partial file where the file belongs, and nothing is ever
   * written through a link that was there.
   */
  const receiving: (string | null)[] = parsed.map(() => null);
  const lastName = inside.split("/").filter((part) => part !== "" && part !== ".").at(-1);
  const received = (index: number) => joinPath(receiving[index]!, lastName ?? "received");
  const dropReceiving = (index: number) => {
    const folder = receiving[index];
    receiving[index] = null;
    if (folder !== null) Deno.removeSync(folder, { recursive: true });
  };
  return await drive(
    parsed,
    settings,
    transferPlan(
      transfer,
      (host, index, connection) =>
        scpDownloadArgv({ host, settings, transfer, connection }, srcs[index], received(index)),
      (index) => targets[index],
      {
        placed(index) {
          try {
            moveIntoPlace(received(index), targets[index], transfer.preserve);
            return null;
          } catch (error) {
            return `cannot put what it sent in place: ${(error as Error).message}`;
          } finally {
            try {
              dropReceiving(index);
            } catch {
              // Left for the user to see; the host's result says what happened.
            }
          }
        },
        async prepare(host, index) {
          srcs[index] = stringFor(src, host, index, checkSrc);
          if (missing !== null) {
            throw new Error(`cannot use local folder '${localdir}': ${missing}`);
          }
          await makeRealFolders(
            localdir,
            [folders[index], ...dirnamePath(inside).split("/")],
            made[index],
          );
          await removeSymlink(targets[index]);
          // Where each host's files are received: a private folder in the host's folder (it
          // also tells this user's uid, for the check that follows).
          const { dir, uid } = makePrivateFolder(
            joinPath(localdir, folders[index]),
            ".parallax-slurp-",
          );
          receiving[index] = dir;
          // No other user may rename or replace a folder on the way there: else it could swap
          // the receiving folder for a link while scp writes.
          const shared = sharedFolderProblem(localdir, [
            folders[index],
            ...dirnamePath(inside).split("/"),
          ], uid);
          // The hosts scp reaches from here keep it; a gateway's files come through the sink.
          if (shared !== null || gatewayOf(settings.gateways, host) !== undefined) {
            dropReceiving(index);
          }
          if (shared !== null) throw new Error(shared);
        },
        gateway: {
          ask: (indices) => ({
            op: "slurp",
            srcs: typeof src === "function" ? indices.map((i) => srcs[i]) : [src],
            dst: inside,
            options: leafTransferOptions(transfer),
            payload: [],
          }),
          result: (host, index, { durationMs, attempts, stderr }, via) =>
            transferResult({
              host: host.key,
              path: targets[index],
              durationMs,
              attempts,
              stderr,
              via,
            }),
          fetchInto: (index) => ({
            folder: joinPath(localdir, folders[index]),
            dst: inside,
            preserve: transfer.preserve,
          }),
        },
        async discard(index) {
          try {
            dropReceiving(index);
          } catch {
            // Gone already.
          }
          for (const folder of made[index].toReversed()) {
            try {
              await Deno.remove(folder);
            } catch {
              return; // Not empty (something arrived after all), or gone: leave it.
            }
          }
        },
      },
    ),
    withOnResult(observer, options.onResult),
  );
}

/** The names of `slurp()`'s options (checked against {@linkcode SlurpOptions} both ways). */
const SLURP_OPTIONS = [
  ...TRANSFER_OPTIONS,
  "onResult",
  "localdir",
] as const satisfies readonly (keyof SlurpOptions)[];
const _allSlurp: [Unlisted<SlurpOptions, typeof SLURP_OPTIONS>] extends [never] ? true : never =
  true;
void _allSlurp;

/**
 * Creates `base/parts[0]/parts[1]/…` folder by folder; a symlink planted where a folder belongs is
 * removed first, so that no host's files can be steered outside its folder.
 */
async function makeRealFolders(
  base: string,
  parts: readonly string[],
  made: string[],
): Promise<void> {
  await Deno.mkdir(base, { recursive: true });
  let path = base;
  for (const part of parts) {
    if (part === "." || part === "") continue;
    path = joinPath(path, part);
    await removeSymlink(path);
    try {
      // Never writable by all, whatever the umask (see `sharedFolderProblem`).
      await Deno.mkdir(path, { mode: 0o775 });
      made.push(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      if (!(await Deno.lstat(path)).isDirectory) {
        throw new Error(`cannot use '${path}' as a folder: something else is there`);
      }
    }
  }
}

/**
 * Why another user could rename or replace a folder on the way from `base` through `parts` (a
 * host's folder and the destination's folders): one not owned by this user (`uid`), or writable
 * by all without the sticky bit; `base` itself may be another user's if all may not write it, or
 * if it is sticky (`/tmp`). Null when no one else can. Without a uid (no read access to tell),
 * nothing is known and null is returned.
 */
function sharedFolderProblem(
  base: string,
  parts: readonly string[],
  uid: number | null,
): string | null {
  if (uid === null) return null;
  const writableByOthers = (info: Deno.FileInfo) =>
    info.mode !== null && (info.mode & 0o002) !== 0 && (info.mode & 0o1000) === 0;
  const baseInfo = Deno.lstatSync(base);
  if (baseInfo.uid !== null && baseInfo.uid !== uid && writableByOthers(baseInfo)) {
    return `cannot slurp into '${base}': it is another user's and others may write it`;
  }
  let path = base;
  for (const part of parts) {
    if (part === "." || part === "") continue;
    path = joinPath(path, part);
    const info = Deno.lstatSync(path);
    if (info.uid !== null && info.uid !== uid) {
      return `cannot slurp into '${path}': it belongs to another user (uid ${info.uid})`;
    }
    if (writableByOthers(info)) {
      return `cannot slurp into '${path}': others may write it (mode ${
        (info.mode! & 0o7777).toString(8)
      })`;
    }
  }
  return null;
}

/** Removes `path` if it is a symlink. */
async function removeSymlink(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (info.isSymlink) await removeIfPresent(path);
}
