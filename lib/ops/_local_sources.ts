/**
 * Checks the local sources of `copy()` before any host is contacted.
 *
 * @module
 */

import { basenamePath, joinPath } from "../runtime/_path.ts";
import { missingReadPermission, missingWritePermission } from "../runtime/_permissions.ts";
import { makePrivateFolder, readableTmpdir } from "../runtime/_private_folder.ts";
import { CallerTypeError } from "../caller_error.ts";

/**
 * What copy does with symbolic links among its sources: `"follow"` sends a link to a file as the
 * file it leads to (scp's SFTP mode) and refuses, before any host is contacted, a link that leads
 * nowhere or to a folder inside a folder being copied; `"skip"` leaves every link out.
 *
 * @example Choosing what copy does with links
 * ```ts
 * import { copy, type LinkPolicy } from "@parallax/parallax";
 *
 * const tree = await Deno.makeTempDir();
 * const links: LinkPolicy = "skip";
 * await copy(["web1"], tree, "/srv/tree", { links });
 * await Deno.remove(tree);
 * ```
 */
export type LinkPolicy = "follow" | "skip";

/**
 * Checks that every source exists, and that folders are only copied recursively; with
 * `links: "follow"`, that no link in a folder is one scp would stop at.
 *
 * @throws {Deno.errors.NotFound} For a missing source, naming it.
 * @throws {TypeError} For a folder when `recursive` is false.
 * @throws {Deno.errors.NotCapable} When read access to a source is not granted, naming the flag.
 */
export async function checkLocalSources(
  sources: readonly string[],
  recursive: boolean,
  links: LinkPolicy = "follow",
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
    if (info.isDirectory && links === "follow") await checkLinksBelow(source);
  }
}

/** A copy's sources without their links: a private folder to send from, and its cleanup. */
export interface LinklessSources extends AsyncDisposable {
  /** The sources to send (the originals where they hold no link). */
  readonly sources: readonly string[];
}

/**
 * The sources with every symbolic link left out (`links: "skip"`): where a source holds links, a
 * copy of it without them in a private folder (files hard-linked where the file system allows,
 * else copied; modes and times kept), removed on dispose. A source that is itself a link is left
 * out.
 *
 * @throws {TypeError} When every source is a link (nothing to copy).
 */
export async function withoutLinks(sources: readonly string[]): Promise<LinklessSources> {
  let staging: string | null = null;
  const kept: string[] = [];
  for (const source of sources) {
    const info = await Deno.lstat(source);
    if (info.isSymlink) continue;
    if (!info.isDirectory || !(await holdsLink(source))) {
      kept.push(source);
      continue;
    }
    if (staging === null) {
      const base = readableTmpdir() ?? "/tmp";
      const missing = missingWritePermission(base);
      if (missing !== null) {
        throw new Deno.errors.NotCapable(
          `Cannot copy with links "skip": its private copy of the sources needs ${missing}`,
        );
      }
      staging = makePrivateFolder(base, "plx-copy-").dir;
    }
    const copy = joinPath(staging, String(kept.length), basenamePath(source));
    await Deno.mkdir(joinPath(staging, String(kept.length)));
    await copyWithoutLinks(source, copy);
    kept.push(copy);
  }
  if (kept.length === 0) {
    throw new CallerTypeError('Cannot copy: every source is a link, and links is "skip"');
  }
  const folder = staging;
  return {
    sources: kept,
    async [Symbol.asyncDispose]() {
      if (folder !== null) await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}

async function holdsLink(folder: string): Promise<boolean> {
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isSymlink) return true;
    if (entry.isDirectory && await holdsLink(joinPath(folder, entry.name))) return true;
  }
  return false;
}

async function copyWithoutLinks(from: string, to: string): Promise<void> {
  const info = await Deno.lstat(from);
  if (info.isSymlink) return;
  if (info.isDirectory) {
    await Deno.mkdir(to);
    for await (const entry of Deno.readDir(from)) {
      await copyWithoutLinks(joinPath(from, entry.name), joinPath(to, entry.name));
    }
  } else if (info.isFile) {
    try {
      await Deno.link(from, to);
      return;
    } catch {
      await Deno.copyFile(from, to);
    }
  } else {
    return;
  }
  if (info.mode !== null) await Deno.chmod(to, info.mode & 0o7777);
  if (info.mtime !== null) await Deno.utime(to, info.atime ?? info.mtime, info.mtime);
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
