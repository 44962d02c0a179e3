/**
 * Checks the local sources of `copy()` before any host is contacted.
 *
 * @module
 */

import { joinPath } from "../runtime/_path.ts";
import { missingReadPermission } from "../runtime/_permissions.ts";
import { CallerTypeError } from "../caller_error.ts";

/**
 * Checks that every source exists, and that folders are only copied recursively.
 *
 * @throws {Deno.errors.NotFound} For a missing source, naming it.
 * @throws {TypeError} For a folder when `recursive` is false.
 * @throws {Deno.errors.NotCapable} When read access to a source is not granted, naming the flag.
 */
export async function checkLocalSources(
  sources: readonly string[],
  recursive: boolean,
): Promise<void> {
  for (const source of sources) {
    const missing = missingReadPermission(source);
    if (missing !== null) {
      throw new Deno.errors.NotCapable(`Cannot check local source '${source}': ${missing}`);
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(source);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`Cannot copy '${source}': no such file or folder`);
      }
      throw error;
    }
    if (info.isDirectory && !recursive) {
      throw new CallerTypeError(`Cannot copy '${source}': it is a folder and recursive is false`);
    }
    if (info.isDirectory) await checkLinksBelow(source);
  }
}

/**
 * scp (SFTP mode) copies a link to a file as the file it leads to, but stops half-way through a
 * folder at a link that leads nowhere or to a folder: such a link is refused here, before any
 * host is contacted, naming it.
 *
 * @throws {TypeError} For the first such link.
 */
async function checkLinksBelow(folder: string): Promise<void> {
  for await (const entry of Deno.readDir(folder)) {
    const path = joinPath(folder, entry.name);
    if (entry.isDirectory) {
      await checkLinksBelow(path);
      continue;
    }
    if (!entry.isSymlink) continue;
    let target: Deno.FileInfo;
    try {
      target = await Deno.stat(path);
    } catch {
      throw new CallerTypeError(
        `Cannot copy '${folder}': the link '${path}' leads nowhere (scp would stop there, half-way)`,
      );
    }
    if (target.isDirectory) {
      throw new CallerTypeError(
        `Cannot copy '${folder}': '${path}' is a link to a folder, which scp cannot copy ` +
          "(copy the folder it leads to instead)",
      );
    }
  }
}
