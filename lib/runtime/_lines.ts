/**
 * Text lines out of a stream of byte chunks: decoded as UTF-8 across chunk boundaries (a
 * character split between two reads stays whole; invalid bytes become U+FFFD), each line given
 * without its `"\n"`, and the last unterminated line at the end. The one module to swap for
 * `@std/streams`' `TextLineStream`.
 *
 * @module
 */

/** Splits one stream's chunks into lines. */
export class LineSplitter {
  readonly #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  #partial = "";

  /** The complete lines that `chunk` ends (a line may have begun in earlier chunks). */
  push(chunk: Uint8Array): string[] {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.#partial = lines.pop()!;
    return lines;
  }

  /** The last line, if the stream did not end with `"\n"` (and what was left undecoded). */
  end(): string[] {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = "";
    return rest === "" ? [] : [rest];
  }
}
