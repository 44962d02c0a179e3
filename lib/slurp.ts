/**
 * `slurp()`: fetch a remote file or folder from every host into a folder per host.
 *
 * @module
 */

import { decode } from "./bytes.ts";
import { type HostsInput, parseHosts } from "./hosts.ts";
import type { SlurpOptions } from "./options.ts";
import { safeNames } from "./output_names.ts";
import type { ParallaxError } from "./parallax_error.ts";
import { dirnamePath, isAbsolutePath, joinPath, normalizePath } from "./path.ts";
import { missingWritePermission } from "./permissions.ts";
import { runOnHosts } from "./run_hosts.ts";
import { checkScpHosts, scpDownloadArgv } from "./scp_argv.ts";
import { resolveSettings } from "./settings.ts";
import { checkPathArgument, resolveTransferSettings } from "./transfer_settings.ts";

/** A host whose file arrived. */
export interface SlurpResult {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** The local path written: `<localdir>/<host folder>/<dst>`. */
  readonly path: string;
  /** Milliseconds from the start of scp to its exit. */
  readonly durationMs: number;
  /** What scp printed on stderr (usually nothing). */
  readonly stderr: string;
}

/**
 * Copies the remote `src` from every host to `<localdir>/<host folder>/<dst>` with scp. Each
 * host gets its own folder, named from its key so that no host can write outside `localdir` and
 * no two hosts share one: the same file from 100 hosts lands as 100 files.
 *
 * @param hosts As for {@linkcode call}.
 * @param src The remote file or folder, taken literally (no remote shell, no globbing).
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
export async function slurp(
  hosts: HostsInput,
  src: string,
  dst: string,
  options: SlurpOptions = {},
): Promise<Map<string, SlurpResult | ParallaxError>> {
  checkPathArgument(src, "remote source");
  checkPathArgument(dst, "local destination");
  if (isAbsolutePath(dst)) {
    throw new TypeError(`Cannot slurp to '${dst}': the destination must be relative to localdir`);
  }
  const inside = normalizePath(dst);
  if (inside === ".." || inside.startsWith("../")) {
    throw new TypeError(`Cannot slurp to '${dst}': the destination must stay inside its folder`);
  }
  const parsed = parseHosts(hosts);
  checkScpHosts(parsed);
  const settings = resolveSettings(options);
  const transfer = resolveTransferSettings(options);
  const localdir = checkPathArgument(options.localdir ?? ".", "localdir");
  const folders = safeNames(parsed.map((host) => host.key));
  const targets = folders.map((folder) => joinPath(localdir, folder, inside));
  return await runOnHosts(parsed, settings, {
    program: transfer.scpPath,
    meaning: "transfer",
    async prepare() {
      const missing = missingWritePermission(localdir);
      if (missing !== null) throw new Error(`cannot write local folder '${localdir}': ${missing}`);
      for (const [i, folder] of folders.entries()) {
        await makeRealFolders(localdir, [folder, ...dirnamePath(inside).split("/")]);
        await removeSymlink(targets[i]);
      }
    },
    argv: (host, index, effective) =>
      scpDownloadArgv(host, src, targets[index], effective, transfer),
    onResult: options.onResult,
    stdin: null,
    keepOutput: true,
    printOut: false,
    result: (host, { durationMs, stderr }, _files, index) => ({
      host: host.key,
      path: targets[index],
      durationMs,
      stderr: decode(stderr),
    }),
  });
}

/**
 * Creates `base/parts[0]/parts[1]/…` folder by folder; a symlink planted where a folder belongs is
 * removed first, so that no host's files can be steered outside its folder.
 */
async function makeRealFolders(base: string, parts: readonly string[]): Promise<void> {
  await Deno.mkdir(base, { recursive: true });
  let path = base;
  for (const part of parts) {
    if (part === "." || part === "") continue;
    path = joinPath(path, part);
    await removeSymlink(path);
    try {
      await Deno.mkdir(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      if (!(await Deno.lstat(path)).isDirectory) {
        throw new Error(`cannot use '${path}' as a folder: something else is there`);
      }
    }
  }
}

/** Removes `path` if it is a symlink. */
async function removeSymlink(path: string): Promise<void> {
  try {
    if ((await Deno.lstat(path)).isSymlink) await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
