/**
 * A result's output stream, held in one form at a time where it can be: the chunks as read are
 * joined (for the bytes) or decoded (for the text) on first use and then let go; valid UTF-8 is
 * held as text alone and encoded again, byte-exact, if the bytes are asked for later.
 *
 * @module
 */

import { concatBytes, decode, releaseBytes } from "../runtime/_bytes.ts";

/** The fastest decoder (its default options), which drops a leading BOM. */
const fast = new TextDecoder();
const encoder = new TextEncoder();

/** One stream of a result. */
export class HeldOutput {
  #chunks: readonly Uint8Array[] | null;
  #bytes: Uint8Array | undefined;
  #text: string | undefined;

  constructor(chunks: readonly Uint8Array[]) {
    this.#chunks = chunks;
  }

  bytes(): Uint8Array {
    if (this.#bytes === undefined) {
      if (this.#chunks !== null) {
        this.#bytes = this.#chunks.length === 0 ? new Uint8Array() : concatBytes(this.#chunks);
        this.#chunks = null;
      } else {
        this.#bytes = encoder.encode(this.#text!);
      }
    }
    return this.#bytes;
  }

  text(): string {
    if (this.#text !== undefined) return this.#text;
    if (this.#bytes !== undefined) return this.#text = decode(this.#bytes);
    const chunks = this.#chunks!;
    const text = exactText(chunks);
    if (text !== null) {
      // The text holds it all now: the bytes, never handed out, go back to the system at once.
      for (const chunk of chunks) releaseBytes(chunk);
      this.#chunks = null;
      return this.#text = text;
    }
    // Not valid UTF-8: the bytes stay, the text replaces what cannot be decoded.
    return this.#text = decode(chunks);
  }
}

const REPLACEMENT = "\ufffd";

/** The text of bytes that are valid UTF-8 (every byte kept, a BOM too), or null. */
function exactText(chunks: readonly Uint8Array[]): string | null {
  // The fast way: the lossy decoder marks every invalid sequence with U+FFFD, so a text without
  // one is exact. It drops a leading BOM, so bytes that start with one take the slow way.
  if (chunks.length === 1 && !startsWithBom(chunks[0])) {
    const text = fast.decode(chunks[0]);
    if (!text.includes(REPLACEMENT)) return text;
  }
  const exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    let text = "";
    for (const chunk of chunks) text += exact.decode(chunk, { stream: true });
    return text + exact.decode();
  } catch {
    return null;
  }
}

function startsWithBom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}
