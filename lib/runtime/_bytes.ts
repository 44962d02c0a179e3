/**
 * Bytes as they travel: chunks joined only when someone asks for them, output grown in one buffer,
 * input shared by every worker.
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

const decoder = new TextDecoder();

/** Decodes output as UTF-8, replacing invalid bytes. */
export function decode(bytes: Uint8Array | readonly Uint8Array[]): string {
  return decoder.decode(bytes instanceof Uint8Array ? bytes : concatBytes(bytes));
}

/**
 * The parts joined into memory that every worker can read without a copy of its own (a
 * `SharedArrayBuffer`): one copy, whatever the number of hosts. One part that is shared already is
 * used as it is.
 */
export function sharedBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0].buffer instanceof SharedArrayBuffer) return parts[0];
  const all = new Uint8Array(
    new SharedArrayBuffer(parts.reduce((sum, part) => sum + part.byteLength, 0)),
  );
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.byteLength;
  }
  return all;
}

/** What a growing buffer reserves at first; past it, a larger reservation takes the bytes once. */
const FIRST_RESERVATION = 1 << 20;

/** Bytes this few are handed on as a small copy of their own, not in their reservation. */
const SMALL_BYTES = 64 * 1024;

/**
 * Bytes appended piece by piece into one buffer, held once. The buffer is a resizable
 * `ArrayBuffer`: its pages come straight from the system as it grows and go back with it, so
 * neither the pieces nor a final join are ever held beside the bytes (joining thousands of 64 KiB
 * chunks left them behind in the allocator, twice the output in memory).
 */
export class GrowingBytes {
  #buffer = reserve(0, FIRST_RESERVATION);
  #length = 0;

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
    this.#buffer = reserve(0, FIRST_RESERVATION);
    this.#length = 0;
    if (length <= SMALL_BYTES) return new Uint8Array(buffer, 0, length).slice();
    buffer.resize(length);
    return new Uint8Array(buffer, 0, length);
  }

  #grow(need: number): void {
    const buffer = this.#buffer;
    const size = Math.max(need, buffer.byteLength * 2, SMALL_BYTES);
    if (need <= buffer.maxByteLength) {
      buffer.resize(Math.min(size, buffer.maxByteLength));
      return;
    }
    const next = reserve(size, Math.max(need * 2, buffer.maxByteLength * 16));
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
 * A resizable buffer of `size` bytes that can grow to `most` in place; where the system refuses
 * that much address space, one that holds `size` exactly (growing it then moves the bytes).
 */
function reserve(size: number, most: number): ArrayBuffer {
  try {
    return new ArrayBuffer(size, { maxByteLength: most });
  } catch {
    return new ArrayBuffer(size, { maxByteLength: size });
  }
}
