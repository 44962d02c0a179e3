/**
 * Reads one output stream of a job to its end through one reused buffer, and is the one owner of
 * its bytes: what is kept (for the job's end) is copied into one growing buffer, or for a tail
 * into chunks of its own; what is forwarded is a copy at its exact size that the main thread then
 * owns alone, so it can let it go the moment it is used.
 *
 * @module
 */

import { GrowingBytes } from "../../runtime/_bytes.ts";
import type { OutputFile } from "./_output_file.ts";
import type { StreamWindow } from "./_stream_window.ts";

/** Without `keepOutput`, the last this many bytes of stderr are still kept (ssh's messages). */
export const STDERR_TAIL_BYTES = 64 * 1024;

/** The buffer a stream is read into (the size of a pipe's reads). */
const READ_BUFFER_BYTES = 64 * 1024;

/** Read buffers no reader is using, for the next ones: a job's start allocates none. */
const spareBuffers: ArrayBuffer[] = [];

/** More spare buffers than this are let go (as many as 64 streams read at once). */
const MOST_SPARE_BUFFERS = 128;

/** What a reader keeps of its stream. */
export type Keep = "all" | "tail" | "none";

/**
 * Hands a chunk to the main thread. `transfer` says the reader keeps nothing of it, so its
 * buffer may move; otherwise it must be copied.
 */
export type Forward = (data: Uint8Array, transfer: boolean) => void;

/** Reads a stream; keeps, writes and forwards its chunks as the job asks. */
export class OutputReader {
  /** Bytes read so far, kept or not. */
  total = 0;
  /** A local problem (writing the file, reading the pipe): its message. */
  localError: string | null = null;
  /** What "tail" keeps: the last chunks. */
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  /** What "all" keeps: every byte, in one growing buffer. */
  readonly #all: GrowingBytes | null;
  #reader: ReadableStreamBYOBReader | null = null;
  #abandoned = false;

  constructor(
    private readonly name: "stdout" | "stderr",
    private readonly keep: Keep,
    private file: OutputFile | null,
    private readonly forward: Forward | null,
    private readonly window: StreamWindow | null = null,
  ) {
    this.#all = keep === "all" ? new GrowingBytes() : null;
  }

  /** Reads to the end. Never rejects: a failure is recorded in `localError`. */
  async read(stream: ReadableStream<Uint8Array> | null): Promise<void> {
    if (stream === null) return;
    // Read into one buffer, used again and again (and by the next job after this one): no
    // allocation per read. What is kept or forwarded is copied out of it at its exact size, so
    // memory holds those bytes and no more.
    let buffer = new Uint8Array(spareBuffers.pop() ?? new ArrayBuffer(READ_BUFFER_BYTES));
    try {
      const reader = stream.getReader({ mode: "byob" });
      this.#reader = reader;
      while (true) {
        if (this.forward !== null) await this.window?.room();
        if (this.#abandoned) break;
        const { value, done } = await reader.read(buffer);
        if (value !== undefined) buffer = new Uint8Array(value.buffer);
        if (done || value === undefined) break;
        await this.#take(value);
      }
      if (buffer.byteLength === READ_BUFFER_BYTES && spareBuffers.length < MOST_SPARE_BUFFERS) {
        spareBuffers.push(buffer.buffer as ArrayBuffer);
      }
    } catch (error) {
      // Cancelled by abandon() after the process exited: what was read is kept. Anything else
      // is a local failure that the host's result must show.
      if (!this.#abandoned) {
        this.localError ??= `cannot read ${this.name}: ${errorMessage(error)}`;
      }
    } finally {
      this.#reader?.releaseLock();
    }
  }

  /** Stops reading a pipe that a leftover process holds open. */
  abandon(): void {
    this.#abandoned = true;
    this.#reader?.cancel().catch(() => {});
  }

  /** The kept bytes, as chunks in order; the caller takes ownership. */
  kept(): Uint8Array[] {
    if (this.#all === null) return this.#chunks;
    return this.#all.length === 0 ? [] : [this.#all.take()];
  }

  async #take(data: Uint8Array): Promise<void> {
    this.total += data.byteLength;
    if (this.file !== null) {
      try {
        await this.file.write(data);
      } catch (error) {
        this.localError ??= `cannot write ${this.name} file: ${errorMessage(error)}`;
        this.file = null;
      }
    }
    // `data` is a view of the read buffer, which the next read fills again.
    if (this.#all !== null) this.#all.append(data);
    if (this.keep !== "tail") {
      if (this.forward !== null) this.#forward(data.slice(), true);
      return;
    }
    const own = data.slice();
    this.#chunks.push(own);
    this.#kept += own.byteLength;
    while (this.#kept - this.#chunks[0].byteLength >= STDERR_TAIL_BYTES) {
      this.#kept -= this.#chunks.shift()!.byteLength;
    }
    this.#forward(own, false);
  }

  #forward(data: Uint8Array, transfer: boolean): void {
    if (this.forward === null) return;
    this.window?.sent(data.byteLength);
    this.forward(data, transfer);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
