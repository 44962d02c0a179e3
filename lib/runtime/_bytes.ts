/**
 * Bytes as they travel: chunks joined only when someone asks for them, output grown in one buffer,
 * input shared by every worker, text encoded as its bytes are needed.
 *
 * @module
 */

/** Joins chunks into one array (the chunk itself when there is one). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length === 0) return new Uint8Array();
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

/** Lossy where it must be, but a leading BOM is text like any other: kept. */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

/** Decodes output as UTF-8, replacing invalid bytes; chunks are decoded in turn, never joined. */
export function decode(bytes: Uint8Array | readonly Uint8Array[]): string {
  if (bytes instanceof Uint8Array) return decoder.decode(bytes);
  let text = "";
  for (const chunk of bytes) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/**
 * A string as the UTF-8 bytes it stands for, held as the string alone: its length in bytes is
 * counted once, and pieces are encoded on demand ({@linkcode TextBytes.encodeInto}), so text sent
 * to many places is never held a second time as bytes.
 */
export class TextBytes {
  /** The length of the text's UTF-8. */
  readonly byteLength: number;

  constructor(readonly text: string) {
    let bytes = 0;
    const scratch = new Uint8Array(Math.min(COUNT_SLICE, text.length * 3));
    for (let at = 0; at < text.length;) {
      const { read, written } = encoder.encodeInto(text.substring(at), scratch);
      at += read;
      bytes += written;
    }
    this.byteLength = bytes;
  }

  /**
   * Encodes the text from UTF-16 position `from` into `into`, as far as whole characters fit;
   * returns how many UTF-16 units were read and bytes written.
   */
  encodeInto(from: number, into: Uint8Array): { read: number; written: number } {
    const { read, written } = encoder.encodeInto(this.text.substring(from), into);
    return { read, written };
  }
}

/** Bytes encoded at a time to count a text's UTF-8. */
const COUNT_SLICE = 1 << 20;

/**
 * Reads a stream to its end into memory every worker can read (a `SharedArrayBuffer`): the
 * bytes are held once, with no chunks or join beside them.
 */
export async function readShared(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const bytes = new GrowingBytes(true);
  const reader = stream.getReader({ mode: "byob" });
  try {
    let buffer = new Uint8Array(64 * 1024);
    while (true) {
      const { value, done } = await reader.read(buffer);
      if (done || value === undefined) break;
      bytes.append(value);
      buffer = new Uint8Array(value.buffer);
    }
  } finally {
    reader.releaseLock();
  }
  return bytes.take();
}

/** What a growing buffer reserves at first; past it, a larger reservation takes the bytes once. */
const FIRST_RESERVATION = 1 << 20;

/** Bytes this few are handed on as a small copy of their own, not in their reservation. */
const SMALL_BYTES = 64 * 1024;

/**
 * Bytes appended piece by piece into one buffer, held once. The buffer is a resizable
 * `ArrayBuffer` (or, `shared`, a growable `SharedArrayBuffer` every worker can read): its pages come
 * straight from the system as it grows and go back with it, so neither the pieces nor a final join
 * are ever held beside the bytes (joining thousands of 64 KiB chunks left them behind in the
 * allocator, twice the output in memory).
 */
export class GrowingBytes {
  #buffer: ArrayBuffer | SharedArrayBuffer;
  #length = 0;

  constructor(private readonly shared = false) {
    this.#buffer = reserve(0, FIRST_RESERVATION, shared);
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends a copy of `data`. */
  append(data: Uint8Array): void {
    const need = this.#length + data.byteLength;
    if (need > this.#buffer.byteLength) this.#grow(need);
    new Uint8Array(this.#buffer, this.#length, data.byteLength).set(data);
    this.#length = need;
  }

  /** The bytes appended, as one array that the caller now owns; this starts empty again. */
  take(): Uint8Array {
    const buffer = this.#buffer;
    const length = this.#length;
    this.#buffer = reserve(0, FIRST_RESERVATION, this.shared);
    this.#length = 0;
    if (buffer instanceof SharedArrayBuffer) return new Uint8Array(buffer, 0, length);
    if (length <= SMALL_BYTES) return new Uint8Array(buffer, 0, length).slice();
    buffer.resize(length);
    return new Uint8Array(buffer, 0, length);
  }

  #grow(need: number): void {
    const buffer = this.#buffer;
    const size = Math.max(need, buffer.byteLength * 2, SMALL_BYTES);
    if (need <= buffer.maxByteLength) {
      const room = Math.min(size, buffer.maxByteLength);
      if (buffer instanceof SharedArrayBuffer) buffer.grow(room);
      else buffer.resize(room);
      return;
    }
    const next = reserve(size, Math.max(need * 2, buffer.maxByteLength * 16), this.shared);
    new Uint8Array(next).set(new Uint8Array(buffer, 0, this.#length));
    this.#buffer = next;
  }
}

/**
 * Gives back at once the memory of bytes that nobody reads again, without waiting for the
 * collector: an array that is the whole of its buffer lets the buffer go (a resizable one, as
 * {@linkcode GrowingBytes.take} makes, shrinks to nothing; another is detached). Only for bytes
 * that nothing else refers to; a part of a larger buffer is left to the collector.
 */
export function releaseBytes(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (
    !(buffer instanceof ArrayBuffer) || bytes.byteOffset !== 0 ||
    bytes.byteLength !== buffer.byteLength || bytes.byteLength === 0
  ) {
    return;
  }
  if (buffer.resizable) buffer.resize(0);
  else buffer.transfer(0);
}

/**
 * A buffer of `size` bytes that can grow to `most` in place (`shared`: a `SharedArrayBuffer`);
 * where the system refuses that much address space, one that holds `size` exactly (growing it then
 * moves the bytes).
 */
function reserve(size: number, most: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  const Memory = shared ? SharedArrayBuffer : ArrayBuffer;
  try {
    return new Memory(size, { maxByteLength: most });
  } catch {
    return new Memory(size, { maxByteLength: size });
  }
}
