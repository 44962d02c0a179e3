/**
 * How a job's stdin reaches its worker: in memory the worker reads in place (shared, or small
 * enough to copy with the job), or from this thread piece by piece as the process takes it. An
 * input the caller holds in an ordinary buffer, or as text, is then held once, however many hosts
 * it goes to: at most two pieces per job are ever copied (or encoded) out of it at a time.
 *
 * @module
 */

import { concatBytes, type TextBytes } from "../runtime/_bytes.ts";
import { FEED_SLICE, type JobStdin } from "./_protocol.ts";

/** A part of a job's stdin: bytes, or text sent as its UTF-8. */
export type StdinPart = Uint8Array | TextBytes;

/** The stdin of a job as its spec gives it, and the feed behind it when it is fed. */
export interface StdinPlan {
  readonly stdin: JobStdin | null;
  readonly feed: StdinFeed | null;
}

/** Decides how `parts` (written one after the other) reach a job's process. */
export function planStdin(parts: readonly StdinPart[] | null): StdinPlan {
  if (parts === null) return { stdin: null, feed: null };
  const size = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const [first] = parts;
  if (
    parts.length === 1 && first instanceof Uint8Array && first.buffer instanceof SharedArrayBuffer
  ) {
    return { stdin: { kind: "bytes", bytes: first }, feed: null };
  }
  if (size <= FEED_SLICE) {
    const bytes = parts.map((part) =>
      part instanceof Uint8Array ? part : encoder.encode(part.text)
    );
    return { stdin: { kind: "bytes", bytes: concatBytes(bytes) }, feed: null };
  }
  return { stdin: { kind: "fed", size }, feed: new StdinFeed(parts) };
}

const encoder = new TextEncoder();

/**
 * This thread's side of a fed stdin: the next piece, copied out of the parts into a buffer of
 * its own to transfer. The worker hands written pieces back, so a job's pieces reuse the same
 * two buffers from start to end instead of leaving the input behind as garbage, once per host.
 */
export class StdinFeed {
  #part = 0;
  #offset = 0;

  constructor(private readonly parts: readonly StdinPart[]) {}

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
      // `#offset` counts bytes of bytes, UTF-16 units of text.
      let end: number;
      if (part instanceof Uint8Array) {
        const taken = part.subarray(this.#offset, this.#offset + FEED_SLICE - filled);
        buffer.set(taken, filled);
        filled += taken.byteLength;
        this.#offset += taken.byteLength;
        end = part.byteLength;
      } else {
        const { read, written } = part.encodeInto(this.#offset, buffer.subarray(filled));
        filled += written;
        this.#offset += read;
        end = part.text.length;
        // A character that does not fit whole goes into the next piece.
        if (this.#offset < end && read === 0) break;
      }
      if (this.#offset === end) {
        this.#part++;
        this.#offset = 0;
      }
    }
    return buffer.subarray(0, filled);
  }
}
