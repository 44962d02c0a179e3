/**
 * What the driver writes to the terminal: output lines prefixed with their host (`printOut`),
 * the verbose log, and warnings.
 *
 * @module
 */

import { shellWord } from "../runtime/_shell_quote.ts";

const NEWLINE = 0x0a;
const encoder = new TextEncoder();

/** Something that takes bytes synchronously, like `Deno.stdout`. */
export interface SyncWriter {
  writeSync(data: Uint8Array): number;
}

/** The terminal's two streams. */
export type Stream = "stdout" | "stderr";

/** A program's hold on the terminal (the CLI's progress line, its reaction to a closed pipe). */
export interface ConsoleGuard {
  /** Called before anything is written (to erase a progress line). */
  before(): void;
  /** A stream could not be written any more (a closed pipe, a closed terminal). */
  lost(stream: Stream): void;
}

let guard: ConsoleGuard | null = null;
const lost = new Set<Stream>();

/** Installs (or with null removes) the guard; also forgets which streams were lost. */
export function setConsoleGuard(next: ConsoleGuard | null): void {
  guard = next;
  lost.clear();
}

/**
 * Writes every byte to stdout or stderr. Never throws: a stream that cannot be written (its
 * reader gone, the terminal closed) is left alone from then on, and the guard is told.
 */
export function writeTo(stream: Stream, data: Uint8Array): void {
  if (lost.has(stream)) return;
  guard?.before();
  try {
    writeAllSync(stream === "stdout" ? Deno.stdout : Deno.stderr, data);
  } catch {
    lost.add(stream);
    guard?.lost(stream);
  }
}

/**
 * Writes `prefix` + line for every complete line pushed, bytes unchanged. A partial line is kept
 * as the chunks that hold it and written once it completes, without joining them: a long line
 * is held once.
 */
export class LinePrinter {
  readonly #prefix: Uint8Array;
  #pending: Uint8Array[] = [];

  constructor(prefix: string, private readonly write: (data: Uint8Array) => void) {
    this.#prefix = encoder.encode(prefix);
  }

  /** Adds output; prints each line it completes. */
  push(data: Uint8Array): void {
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end >= 0; end = data.indexOf(NEWLINE, start)) {
      this.#print(data.subarray(start, end + 1));
      start = end + 1;
    }
    if (start < data.byteLength) this.#pending.push(data.subarray(start));
  }

  /** Prints a final line that had no newline. */
  flush(): void {
    if (this.#pending.length > 0) this.#print(Uint8Array.of(NEWLINE));
  }

  #print(end: Uint8Array): void {
    const parts = [this.#prefix, ...this.#pending, end];
    this.#pending = [];
    for (const part of parts) this.write(part);
  }
}

/** Writes every byte, looping over short writes. */
export function writeAllSync(out: SyncWriter, data: Uint8Array): void {
  let written = 0;
  while (written < data.byteLength) written += out.writeSync(data.subarray(written));
}

/** Writes `parallax: <message>` on stderr. */
export function warn(message: string): void {
  writeTo("stderr", encoder.encode(`parallax: ${message}\n`));
}

/** The verbose log line of a host that ended: what happened and the command line. */
export function logEnd(key: string, argv: readonly string[], what: string): void {
  warn(`${key}: ${what} [${argv.map(shellWord).join(" ")}]`);
}
