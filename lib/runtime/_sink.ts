/**
 * Where received bytes land on this machine: files created new (what is there is removed
 * first, never written through), folders made one by one below a base with no link followed,
 * and modes that never grant more than the caller's umask allows (no setuid, setgid or sticky
 * bit, none from a far side unless asked to preserve them).
 *
 * @module
 */

import { joinPath } from "./_path.ts";

/**
 * The mode to create a received file or folder with: with `preserve`, its own permission bits
 * (the umask still applies; setuid, setgid, sticky and group/other write never pass); else the
 * default (0666 for a file, 0777 for a folder, less the umask).
 */
export function receivedMode(mode: number, isFolder: boolean, preserve: boolean): number {
  if (!preserve) return isFolder ? 0o777 : 0o666;
  return mode & 0o777 & ~UNSAFE_MODE_BITS;
}

/**
 * Makes `base/parts…` folder by folder: a link or a file where a folder belongs is removed and
 * a folder made in its place, so that nothing below `base` is ever reached through a link.
 * Returns the deepest folder's path.
 *
 * @param mode The mode of each folder made (the umask applies).
 */
export function realFoldersSync(base: string, parts: readonly string[], mode = 0o777): string {
  let path = base;
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new Error(`cannot make '${part}' below ${base}`);
    path = joinPath(path, part);
    const info = lstatOrNull(path);
    if (info !== null && info.isDirectory && !info.isSymlink) continue;
    if (info !== null) Deno.removeSync(path);
    Deno.mkdirSync(path, { mode });
  }
  return path;
}

/**
 * Creates `path` new for writing: whatever is there (a file, a link) is removed first, so that
 * no planted link is ever written through; a folder there is an error.
 *
 * @throws {Error} When it cannot be created.
 */
export function createNewSync(path: string, mode = 0o666): Deno.FsFile {
  const info = lstatOrNull(path);
  if (info !== null && info.isDirectory && !info.isSymlink) {
    throw new Error(`cannot write '${path}': a folder is there`);
  }
  if (info !== null) Deno.removeSync(path);
  return Deno.openSync(path, { write: true, createNew: true, mode });
}

/** Writes `bytes` to a new file at `path` (see {@linkcode createNewSync}). */
export function writeNewFileSync(path: string, bytes: Uint8Array, mode = 0o666): void {
  const file = createNewSync(path, mode);
  try {
    for (let at = 0; at < bytes.byteLength;) at += file.writeSync(bytes.subarray(at));
  } finally {
    file.close();
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The mode bits a received file or folder never keeps: setuid, setgid, sticky, and write for others. */
const UNSAFE_MODE_BITS = 0o7022;

/**
 * Puts what was received at `from` (in a private folder of ours) in its place at `to`: a file
 * replaces what is at `to` (a file, or a link itself, never its target); a folder is merged
 * into a folder already at `to`, entry by entry, the same way; nothing is written through a
 * link. Modes: with `preserve`, their own less setuid, setgid, sticky and group/other write;
 * without, those of a file or folder made here (0666 or 0777, less the umask).
 *
 * @throws {Error} When something cannot be put in place (a folder where a file goes).
 */
export function moveIntoPlace(from: string, to: string, preserve = true): void {
  const info = Deno.lstatSync(from);
  const there = lstatOrNull(to);
  const folderThere = there !== null && there.isDirectory && !there.isSymlink;
  if (info.isDirectory && folderThere) {
    for (const entry of Deno.readDirSync(from)) {
      moveIntoPlace(joinPath(from, entry.name), joinPath(to, entry.name), preserve);
    }
    return;
  }
  if (folderThere) throw new Error(`cannot put a file at '${to}': a folder is there`);
  if (there !== null && info.isDirectory) Deno.removeSync(to);
  disarmTree(from, info, preserve ? null : umask());
  Deno.renameSync(from, to);
}

/**
 * Sets the modes of `path` and everything below it (links are left alone): with `umask`
 * (without preserve), a new file's or folder's, as if made here; else their own, less the unsafe
 * bits.
 */
function disarmTree(path: string, info: Deno.FileInfo, umask: number | null): void {
  if (info.isSymlink) return;
  const mode = info.mode === null ? null : info.mode & 0o7777;
  const wanted = umask !== null
    ? (info.isDirectory ? 0o777 : 0o666) & ~umask
    : mode === null
    ? null
    : mode & 0o777 & ~UNSAFE_MODE_BITS;
  if (wanted !== null && wanted !== mode) Deno.chmodSync(path, wanted);
  if (!info.isDirectory) return;
  for (const entry of Deno.readDirSync(path)) {
    const inner = joinPath(path, entry.name);
    disarmTree(inner, Deno.lstatSync(inner), umask);
  }
}

/** This process's umask (022 where it cannot be read). */
function umask(): number {
  try {
    return Deno.umask();
  } catch {
    return 0o022;
  }
}
