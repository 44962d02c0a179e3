/**
 * A log file made for a child process in a private folder and held open here, so that what is
 * read back is what the child wrote to the file made for it, whatever happens to its path.
 *
 * @module
 */

import { dirnamePath } from "./_path.ts";
import { notPrivate } from "./_private_folder.ts";

/**
 * The most of a log read back, from each end: what a program did first is at its start, its
 * verdict at its end; a longer log is read as those two parts, and said to be cut.
 */
const PART_BYTES = 128 * 1024;

/** What was read of a log: its text, whether its path still led to it, whether it was cut. */
export interface LogRead {
  readonly text: string;
  readonly trusted: boolean;
  /** Longer than what is read: its middle is left out. */
  readonly cut: boolean;
}

/**
 * What `lstat` says of `folder`, after making it (0700) if nothing is there. Looked at first and
 * made only when missing: a job's log is made in a folder that is nearly always there, and a
 * refused `mkdir` costs an exception each time.
 */
function folderMadeIfGone(folder: string): Deno.FileInfo {
  try {
    return Deno.lstatSync(folder);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    Deno.mkdirSync(folder, { mode: 0o700 });
  } catch (error) {
    // Made by another job meanwhile: checked below like any other.
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  return Deno.lstatSync(folder);
}

/** A log file made new and held open. */
export class HeldLog {
  #done: LogRead | null = null;

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
    const problem = notPrivate(folder, folderMadeIfGone(folder), uid);
    if (problem !== null) throw new Error(`the folder of ssh's log is not private: ${problem}`);
    const file = Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return new HeldLog(path, file, file.statSync());
  }

  /**
   * Whether the program wrote nothing to it yet, and its path still leads to it (else it may have
   * written elsewhere: not untouched).
   */
  get untouched(): boolean {
    if (this.#done !== null) return false;
    try {
      const now = Deno.lstatSync(this.path);
      return !now.isSymlink && now.ino === this.made.ino && now.dev === this.made.dev &&
        this.file.statSync().size === 0;
    } catch {
      return false;
    }
  }

  /**
   * What was written, read through the held descriptor, and whether the path still led to this
   * file (else the program may have written elsewhere). Removes the file and lets it go.
   */
  finish(): LogRead {
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
    let cut = false;
    try {
      const size = this.file.statSync().size;
      cut = size > 2 * PART_BYTES;
      if (!cut) text = this.#read(0, size);
      else {
        // Whole lines of each part: the head up to its last line end, the tail from its first.
        const head = this.#read(0, PART_BYTES);
        const tail = this.#read(size - PART_BYTES, PART_BYTES);
        text = `${head.slice(0, head.lastIndexOf("\n") + 1)}${tail.slice(tail.indexOf("\n") + 1)}`;
      }
    } finally {
      this.file.close();
    }
    return this.#done = { text, trusted, cut };
  }

  #read(from: number, length: number): string {
    this.file.seekSync(from, Deno.SeekMode.Start);
    const buffer = new Uint8Array(length);
    let filled = 0;
    while (filled < buffer.length) {
      const n = this.file.readSync(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return new TextDecoder().decode(buffer.subarray(0, filled));
  }

  /** Lets the file go, if {@linkcode finish} has not (the program never started). */
  discard(): void {
    this.finish();
  }
}
