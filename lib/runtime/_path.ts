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

/** Whether a path is absolute. */
export function isAbsolutePath(path: string): boolean {
  return nodePath.isAbsolute(path);
}

/** Normalizes a path: removes `.` segments, resolves `..` where it can, joins slashes. */
export function normalizePath(path: string): string {
  return nodePath.normalize(path);
}

/** The folder part of a path. */
export function dirnamePath(path: string): string {
  return nodePath.dirname(path);
}

/** The last part of a path, after resolving it (so `.` and `dir/` name the folder itself). */
export function basenamePath(path: string): string {
  return nodePath.basename(nodePath.resolve(path));
}
