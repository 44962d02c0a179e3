/**
 * Output as it travels: a list of chunks, joined only when someone asks for the bytes.
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
