/**
 * A copy's local sources as one stream of entries and bytes, for a relayed copy: sent once to
 * each gateway, which writes them out and copies them on to its hosts.
 *
 * @module
 */

import type { StagedEntry } from "../driver/_gateway_protocol.ts";
import { basenamePath, joinPath } from "../runtime/_path.ts";
import { CallerTypeError } from "../caller_error.ts";

/** The entries of the sources (each folder before what it holds) and the files' bytes, in order. */
export interface StagedSources {
  readonly files: readonly StagedEntry[];
  readonly payload: readonly Uint8Array[];
}

/**
 * Reads the sources (folders whole, following symlinks as scp does).
 *
 * @throws {TypeError} When two sources have one name (they would land on one path).
 */
export async function stageSources(sources: readonly string[]): Promise<StagedSources> {
  const files: StagedEntry[] = [];
  const payload: Uint8Array[] = [];
  const names = new Set<string>();
  const add = async (local: string, path: string): Promise<void> => {
    const info = await Deno.stat(local);
    const entry = {
      path,
      mode: (info.mode ?? 0o644) & 0o7777,
      mtimeMs: info.mtime?.getTime() ?? null,
    };
    if (info.isDirectory) {
      files.push({ ...entry, type: "dir", size: 0 });
      const children = [];
      for await (const child of Deno.readDir(local)) children.push(child.name);
      for (const name of children.sort()) await add(joinPath(local, name), `${path}/${name}`);
      return;
    }
    if (!info.isFile) return;
    const bytes = await Deno.readFile(local);
    files.push({ ...entry, type: "file", size: bytes.byteLength });
    payload.push(bytes);
  };
  for (const source of sources) {
    const name = basenamePath(source);
    if (names.has(name)) {
      throw new CallerTypeError(`Cannot copy two sources named '${name}' through gateways`);
    }
    names.add(name);
    await add(source, name);
  }
  return { files, payload };
}
