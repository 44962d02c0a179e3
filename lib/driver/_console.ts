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
 * as copies of the parts that hold it and written once it completes, without joining them: a long
 * line is held once. Nothing pushed is kept, so the caller may let it go at once.
 */
export class LinePrinter {
  readonly #prefix: Uint8Array;
  #pending: Uint8Array[] = [];
  /** Whole lines with their prefixes are put together here, used again for every chunk. */
  #scratch = new Uint8Array(0);

  /** `write` must be done with the bytes when it returns (it writes synchronously). */
  constructor(prefix: string, private readonly write: (data: Uint8Array) => void) {
    this.#prefix = encoder.encode(prefix);
  }

  /**
   * Adds output; prints each line it completes. The whole lines of a chunk go out in one write,
   * prefixes and all; a line that was pending goes out as the parts that hold it.
   */
  push(data: Uint8Array): void {
    const last = data.lastIndexOf(NEWLINE);
    if (last < 0) {
      if (data.byteLength > 0) this.#pending.push(data.slice());
      return;
    }
    let from = 0;
    if (this.#pending.length > 0) {
      from = data.indexOf(NEWLINE) + 1;
      this.#print(data.subarray(0, from));
    }
    if (from <= last) this.write(this.#prefixed(data.subarray(from, last + 1)));
    if (last + 1 < data.byteLength) this.#pending.push(data.slice(last + 1));
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

  /** Whole lines (`lines` ends with a newline), each with the prefix, in the scratch buffer. */
  #prefixed(lines: Uint8Array): Uint8Array {
    let count = 0;
    for (let at = lines.indexOf(NEWLINE); at >= 0; at = lines.indexOf(NEWLINE, at + 1)) count++;
    const size = count * this.#prefix.byteLength + lines.byteLength;
    if (this.#scratch.byteLength < size) {
      this.#scratch = new Uint8Array(Math.max(size, this.#scratch.byteLength * 2));
    }
    const out = this.#scratch.subarray(0, size);
    let to = 0;
    for (let from = 0; from < lines.byteLength;) {
      const end = lines.indexOf(NEWLINE, from) + 1;
      out.set(this.#prefix, to);
      out.set(lines.subarray(from, end), to + this.#prefix.byteLength);
      to += this.#prefix.byteLength + end - from;
      from = end;
    }
    return out;
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

/**
 * The verbose log line of a host that ended, on one line: what happened, and the command line
 * (as shown: the remote command as the caller gave it, not parallax's wrapper around it).
 */
export function logEnd(key: string, argv: readonly string[], what: string): void {
  const line = argv.map(shellWord).join(" ").replace(/[\r\n]+/g, " ");
  warn(`${key}: ${what} [${line}]`);
}

/** Each host's output printed as whole lines, prefixed with its key (`printOut`). */
export class HostLines {
  readonly #printers = new Map<number, Record<Stream, LinePrinter>>();

  /** A piece of the output of the host at `index`. */
  push(index: number, key: string, stream: Stream, data: Uint8Array): void {
    let printers = this.#printers.get(index);
    if (printers === undefined) {
      printers = {
        stdout: new LinePrinter(`${key}: `, (data) => writeTo("stdout", data)),
        stderr: new LinePrinter(`${key}: `, (data) => writeTo("stderr", data)),
      };
      this.#printers.set(index, printers);
    }
    printers[stream].push(data);
  }

  /** The host at `index` has ended: its last partial lines are printed. */
  flush(index: number): void {
    const printers = this.#printers.get(index);
    this.#printers.delete(index);
    printers?.stdout.flush();
    printers?.stderr.flush();
  }
}
