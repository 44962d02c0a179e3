/**
 * A log file made for a child process in a private folder and held open here, so that what is
 * read back is what the child wrote to the file made for it, whatever happens to its path.
 *
 * @module
 */

import { dirnamePath } from "./_path.ts";
import { notPrivate } from "./_private_folder.ts";

/** The most of a log read back: a program's verdict is at its end. */
const MAX_LOG_BYTES = 256 * 1024;

/** A log file made new and held open. */
export class HeldLog {
  #done: { text: string; trusted: boolean } | null = null;

  private constructor(
    private readonly path: string,
    private readonly file: Deno.FsFile,
    private readonly made: Deno.FileInfo,
  ) {}

  /**
   * Makes `path` new in its folder, after checking that the folder is still private to `uid`
   * (made again, new, if something removed it).
   *
   * @throws {Error} When the folder is not private any more, or the file cannot be made.
   */
  static make(path: string, uid: number): HeldLog {
    const folder = dirnamePath(path);
    try {
      Deno.mkdirSync(folder, { mode: 0o700 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const problem = notPrivate(folder, Deno.lstatSync(folder), uid);
    if (problem !== null) throw new Error(`the folder of ssh's log is not private: ${problem}`);
    const file = Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return new HeldLog(path, file, file.statSync());
  }

  /**
   * What was written, read through the held descriptor, and whether the path still led to this
   * file (else the program may have written elsewhere). Removes the file and lets it go.
   */
  finish(): { text: string; trusted: boolean } {
    if (this.#done !== null) return this.#done;
    let trusted = false;
    try {
      const now = Deno.lstatSync(this.path);
      trusted = !now.isSymlink && now.ino === this.made.ino && now.dev === this.made.dev;
      if (trusted) Deno.removeSync(this.path);
    } catch {
      // Gone: not trusted.
    }
    let text = "";
    try {
      const size = this.file.statSync().size;
      const from = Math.max(0, size - MAX_LOG_BYTES);
      this.file.seekSync(from, Deno.SeekMode.Start);
      const buffer = new Uint8Array(size - from);
      let filled = 0;
      while (filled < buffer.length) {
        const n = this.file.readSync(buffer.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      text = new TextDecoder().decode(buffer.subarray(0, filled));
    } finally {
      this.file.close();
    }
    return this.#done = { text, trusted };
  }

  /** Lets the file go, if {@linkcode finish} has not (the program never started). */
  discard(): void {
    this.finish();
  }
}
