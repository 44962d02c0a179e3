/**
 * Prints a stream of output line by line with a prefix, as lines complete.
 *
 * @module
 */

const NEWLINE = 0x0a;
const encoder = new TextEncoder();

/** Something that takes bytes synchronously, like `Deno.stdout`. */
export interface SyncWriter {
  writeSync(data: Uint8Array): number;
}

/** Writes `prefix` + line for every complete line pushed; keeps the partial last line. */
export class LinePrinter {
  readonly #prefix: Uint8Array;
  #pending: Uint8Array = new Uint8Array();

  constructor(prefix: string, private readonly out: SyncWriter) {
    this.#prefix = encoder.encode(prefix);
  }

  /** Adds output; prints each line it completes. Bytes are passed through unchanged. */
  push(data: Uint8Array): void {
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end >= 0; end = data.indexOf(NEWLINE, start)) {
      this.#print(concat(this.#pending, data.subarray(start, end + 1)));
      this.#pending = new Uint8Array();
      start = end + 1;
    }
    if (start < data.byteLength) this.#pending = concat(this.#pending, data.subarray(start));
  }

  /** Prints a final line that had no newline. */
  flush(): void {
    if (this.#pending.byteLength > 0) this.#print(concat(this.#pending, Uint8Array.of(NEWLINE)));
    this.#pending = new Uint8Array();
  }

  #print(line: Uint8Array): void {
    writeAllSync(this.out, concat(this.#prefix, line));
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const all = new Uint8Array(a.byteLength + b.byteLength);
  all.set(a);
  all.set(b, a.byteLength);
  return all;
}

/** Writes every byte, looping over short writes. */
export function writeAllSync(out: SyncWriter, data: Uint8Array): void {
  let written = 0;
  while (written < data.byteLength) written += out.writeSync(data.subarray(written));
}
