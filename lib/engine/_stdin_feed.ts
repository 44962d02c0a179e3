/**
 * How a job's stdin reaches its worker: in memory the worker reads in place (shared, or small
 * enough to copy with the job), or from this thread piece by piece as the process takes it. An
 * input the caller holds in an ordinary buffer is then held once, however many hosts it goes to:
 * at most two pieces per job are ever copied out of it at a time.
 *
 * @module
 */

import { concatBytes } from "../runtime/_bytes.ts";
import { FEED_SLICE, type JobStdin } from "./_protocol.ts";

/** The stdin of a job as its spec gives it, and the feed behind it when it is fed. */
export interface StdinPlan {
  readonly stdin: JobStdin | null;
  readonly feed: StdinFeed | null;
}

/** Decides how `parts` (written one after the other) reach a job's process. */
export function planStdin(parts: readonly Uint8Array[] | null): StdinPlan {
  if (parts === null) return { stdin: null, feed: null };
  const size = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const [first] = parts;
  if (parts.length === 1 && first.buffer instanceof SharedArrayBuffer) {
    return { stdin: { kind: "bytes", bytes: first }, feed: null };
  }
  if (size <= FEED_SLICE) {
    return { stdin: { kind: "bytes", bytes: concatBytes(parts) }, feed: null };
  }
  return { stdin: { kind: "fed", size }, feed: new StdinFeed(parts) };
}

/**
 * This thread's side of a fed stdin: the next piece, copied out of the parts into a buffer of
 * its own to transfer. The worker hands written pieces back, so a job's pieces reuse the same
 * two buffers from start to end instead of leaving the input behind as garbage, once per host.
 */
export class StdinFeed {
  #part = 0;
  #offset = 0;

  constructor(private readonly parts: readonly Uint8Array[]) {}

  /**
   * The next piece (at most {@linkcode FEED_SLICE} bytes; empty once everything is sent), in
   * `spare`'s buffer when one is handed back.
   */
  next(spare: Uint8Array | null): Uint8Array {
    const buffer = spare?.buffer instanceof ArrayBuffer && spare.buffer.byteLength === FEED_SLICE
      ? new Uint8Array(spare.buffer)
      : new Uint8Array(FEED_SLICE);
    let filled = 0;
    while (filled < FEED_SLICE && this.#part < this.parts.length) {
      const part = this.parts[this.#part];
      const taken = part.subarray(this.#offset, this.#offset + FEED_SLICE - filled);
      buffer.set(taken, filled);
      filled += taken.byteLength;
      this.#offset += taken.byteLength;
      if (this.#offset === part.byteLength) {
        this.#part++;
        this.#offset = 0;
      }
    }
    return buffer.subarray(0, filled);
  }
}
