/**
 * Reads one output stream of a job to its end, and is the one owner of its bytes: each chunk is
 * either kept (for the job's end) or handed to the main thread by transfer, never both.
 *
 * @module
 */

import type { OutputFile } from "./_output_file.ts";

/** Without `keepOutput`, the last this many bytes of stderr are still kept (ssh's messages). */
export const STDERR_TAIL_BYTES = 64 * 1024;

/** The buffer a stream that nobody keeps is read into (the size of a pipe's reads). */
const READ_BUFFER_BYTES = 64 * 1024;

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
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  #reader: ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader | null = null;
  #abandoned = false;

  constructor(
    private readonly name: "stdout" | "stderr",
    private readonly keep: Keep,
    private file: OutputFile | null,
    private readonly forward: Forward | null,
  ) {}

  /** Reads to the end. Never rejects: a failure is recorded in `localError`. */
  async read(stream: ReadableStream<Uint8Array> | null): Promise<void> {
    if (stream === null) return;
    // A stream that only goes to a file (or nowhere) is read into one buffer, used again and
    // again: no allocation per read, so memory stays flat however much the host prints.
    const reuse = this.keep === "none" && this.forward === null;
    try {
      if (reuse) {
        const reader = stream.getReader({ mode: "byob" });
        this.#reader = reader;
        let buffer = new Uint8Array(READ_BUFFER_BYTES);
        while (true) {
          const { value, done } = await reader.read(buffer);
          if (done || value === undefined) break;
          await this.#take(value);
          buffer = new Uint8Array(value.buffer);
        }
      } else {
        const reader = stream.getReader();
        this.#reader = reader;
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          await this.#take(value);
        }
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

  /** The kept chunks, in order; the caller takes ownership. */
  kept(): Uint8Array[] {
    return this.#chunks;
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
    if (this.keep === "none") {
      this.forward?.(data, true);
      return;
    }
    // A short read can sit in a much larger buffer: keep a copy of its bytes, not the buffer.
    const own = data.byteLength * 2 < data.buffer.byteLength ? data.slice() : data;
    this.#chunks.push(own);
    this.#kept += own.byteLength;
    if (this.keep === "tail") {
      while (this.#kept - this.#chunks[0].byteLength >= STDERR_TAIL_BYTES) {
        this.#kept -= this.#chunks.shift()!.byteLength;
      }
    }
    this.forward?.(own, false);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
