/**
 * Where what a gateway sends for its hosts is written on this machine: each host's output files
 * (`outdir`/`errdir`) and a slurp's files. Everything goes through the one sink
 * (`runtime/_sink.ts`): files created new, nothing written through a link, modes from
 * {@linkcode receivedMode}. A host's slurped tree is received in a private folder of its own
 * inside the host's folder and put in place (as a direct slurp's) only when the host succeeds,
 * so a failed or interrupted host changes nothing where its files belong.
 *
 * @module
 */

import { dirnamePath, joinPath } from "../runtime/_path.ts";
import { makePrivateFolder } from "../runtime/_private_folder.ts";
import { createNewSync, moveIntoPlace, receivedMode, writeNewFileSync } from "../runtime/_sink.ts";
import { ProtocolError, stagedPath } from "./_gateway_protocol.ts";
import type { OutputFiles } from "./_output_files.ts";

/** Where a host's slurped files go (see `GatewayPart.fetchInto`). */
export interface FetchInto {
  /** The host's own local folder. */
  readonly folder: string;
  /** The path the gateway's staged names start with. */
  readonly dst: string;
  readonly preserve: boolean;
}

/** A `file` event: one entry of a host's slurp, as the gateway announced it. */
export interface ReceivedEntry {
  readonly path: string;
  readonly type: "file" | "dir";
  readonly mode: number;
  readonly mtimeMs: number | null;
}

/** One gateway's files on this machine, host by host. */
export class ReceivedFiles {
  /** Per host: the private folder its tree is received in, and where the tree then goes. */
  readonly #staging = new Map<number, { dir: string; into: FetchInto }>();
  /** The file being written, the host it belongs to, and its modification time. */
  #file: { index: number; file: Deno.FsFile; mtime: Date | null } | null = null;

  /**
   * Starts an entry of the host at `index`, under `into`. A name outside the host's destination
   * is the gateway's fault ({@linkcode ProtocolError}); a problem of this machine throws as is.
   */
  open(index: number, into: FetchInto, entry: ReceivedEntry): void {
    this.closeCurrent();
    const inside = stagedPath(entry.path);
    if (inside !== into.dst && !inside.startsWith(`${into.dst}/`)) {
      throw new ProtocolError(`'file' ${JSON.stringify(inside)} outside ${into.dst}`);
    }
    let staging = this.#staging.get(index);
    if (staging === undefined) {
      staging = { dir: makePrivateFolder(into.folder, ".parallax-slurp-").dir, into };
      this.#staging.set(index, staging);
    }
    // In a private folder of ours: nothing there is another's, no link is there to follow.
    const path = joinPath(staging.dir, inside);
    const { preserve } = into;
    if (entry.type === "dir") {
      // Its owner may always write it here, so that what it holds can be received.
      const mode = receivedMode(entry.mode, true, preserve) | 0o700;
      Deno.mkdirSync(path, { recursive: true, mode });
      return;
    }
    Deno.mkdirSync(dirnamePath(path), { recursive: true });
    const file = createNewSync(path, receivedMode(entry.mode, false, preserve));
    // The time (with preserve) is set once the bytes are written.
    const mtime = preserve && entry.mtimeMs !== null ? new Date(entry.mtimeMs) : null;
    this.#file = { index, file, mtime };
  }

  /** Bytes of the entry being written, which must be the host's at `index`. */
  write(index: number, bytes: Uint8Array): void {
    if (this.#file?.index !== index) throw new ProtocolError("'data' without its 'file'");
    const { file } = this.#file;
    for (let at = 0; at < bytes.byteLength;) at += file.writeSync(bytes.subarray(at));
  }

  /** Ends the entry being written (its time set, with preserve). */
  closeCurrent(): void {
    if (this.#file === null) return;
    const { file, mtime } = this.#file;
    this.#file = null;
    try {
      if (mtime !== null) file.utimeSync(mtime, mtime);
    } finally {
      file.close();
    }
  }

  /** The host's output files, written new with what its result carried. */
  writeOutputs(files: OutputFiles, stdout: Uint8Array, stderr: Uint8Array): void {
    if (files.outFile) writeNewFileSync(files.outFile, stdout);
    if (files.errFile) writeNewFileSync(files.errFile, stderr);
  }

  /** Puts a host's received tree in place (`keep`, its success), or removes it. */
  finish(index: number, keep: boolean): void {
    if (this.#file?.index === index) this.closeCurrent();
    const staging = this.#staging.get(index);
    if (staging === undefined) return;
    this.#staging.delete(index);
    try {
      const { dir, into } = staging;
      // Modes were set as each entry was made (see `receivedMode`).
      if (keep) moveIntoPlace(joinPath(dir, into.dst), joinPath(into.folder, into.dst), true);
    } finally {
      Deno.removeSync(staging.dir, { recursive: true });
    }
  }

  /** Drops what a host has here after a problem, leaving what cannot be removed hidden. */
  drop(index: number): void {
    if (this.#file?.index === index) {
      const { file } = this.#file;
      this.#file = null;
      file.close();
    }
    try {
      this.finish(index, false);
    } catch {
      // What cannot be removed stays under its hidden name.
    }
  }

  /** The hosts with files received but not finished. */
  unfinished(): number[] {
    return [...this.#staging.keys()];
  }
}
