/**
 * Checks the local sources of `copy()` before any host is contacted.
 *
 * @module
 */

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
  }
}
