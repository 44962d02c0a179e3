/**
 * Path helpers. The one module that uses `node:path`, so that moving to `@std/path` is a change
 * of this file alone.
 *
 * @module
 */

import * as nodePath from "node:path";

/** Joins path segments. */
export function joinPath(...segments: string[]): string {
  return nodePath.join(...segments);
}

/** Resolves a path against the current directory. */
export function resolvePath(...segments: string[]): string {
  return nodePath.resolve(...segments);
}
