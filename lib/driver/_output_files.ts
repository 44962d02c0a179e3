/**
 * The files and folders named after hosts: `outdir`/`errdir` files and slurp's host folders.
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import { joinPath, resolvePath } from "../runtime/_path.ts";
import { missingWritePermission } from "../runtime/_permissions.ts";

/** Longest name kept from a host key, in UTF-8 bytes (well under NAME_MAX, 255, with suffixes). */
const MAX_NAME_BYTES = 200;

const encoder = new TextEncoder();

/**
 * One name per key, in order: `/`, `\`, NUL and other control characters become `_`, a leading
 * `.` gets a `_` before it (so neither `.`, `..` nor a hidden file can result), and long keys are
 * cut to 200 bytes of UTF-8 at a character boundary. Two keys that map to one name (ignoring
 * case, for case-insensitive file systems) get `name`, `name.1`, `name.2`, … so no two share a
 * file.
 *
 * @example
 * ```ts ignore
 * safeNames(["web1", "../x", "a/b", "a_b"]); // ["web1", "_.._x", "a_b", "a_b.1"]
 * ```
 */
export function safeNames(keys: readonly string[]): string[] {
  const used = new Set<string>();
  return keys.map((key) => {
    // deno-lint-ignore no-control-regex
    let name = cutToBytes(key.replace(/[/\\\u0000-\u001f\u007f]/g, "_"), MAX_NAME_BYTES);
    if (name === "" || name.startsWith(".")) name = `_${name}`;
    let candidate = name;
    for (let n = 1; used.has(candidate.toLowerCase()); n++) candidate = `${name}.${n}`;
    used.add(candidate.toLowerCase());
    return candidate;
  });
}

function cutToBytes(text: string, max: number): string {
  if (encoder.encode(text).byteLength <= max) return text;
  let cut = "";
  let bytes = 0;
  for (const char of text) {
    const size = encoder.encode(char).byteLength;
    if (bytes + size > max) break;
    cut += char;
    bytes += size;
  }
  return cut;
}

/** Where a host's output files are. */
export interface OutputFiles {
  readonly outFile?: string;
  readonly errFile?: string;
}

/**
 * Creates `outdir` and `errdir` and names each host's files in them.
 *
 * @throws {Error} When a folder cannot be written or created (every host's problem).
 */
export async function prepareOutputFiles(
  hosts: readonly Host[],
  outdir: string | undefined,
  errdir: string | undefined,
): Promise<OutputFiles[]> {
  const names = safeNames(hosts.map((host) => host.key));
  const sameDir = outdir !== undefined && errdir !== undefined &&
    resolvePath(outdir) === resolvePath(errdir);
  for (const dir of [outdir, errdir]) {
    if (dir === undefined) continue;
    const missing = missingWritePermission(dir);
    if (missing !== null) throw new Error(`cannot write output folder '${dir}': ${missing}`);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      throw new Error(`cannot create output folder '${dir}': ${(error as Error).message}`);
    }
  }
  return names.map((name) => ({
    ...(outdir !== undefined ? { outFile: joinPath(outdir, sameDir ? `${name}.out` : name) } : {}),
    ...(errdir !== undefined ? { errFile: joinPath(errdir, sameDir ? `${name}.err` : name) } : {}),
  }));
}

/** Removes `path` (a file, or a folder with everything in it); a path already gone is fine. */
export async function removeIfPresent(path: string, recursive = false): Promise<void> {
  try {
    await Deno.remove(path, { recursive });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
