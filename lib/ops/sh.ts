/**
 * `sh`: command lines built from a template, each interpolated value quoted for POSIX `sh`.
 *
 * @module
 */

import { CallerTypeError } from "../caller_error.ts";
import { shellQuote } from "../runtime/_shell_quote.ts";

/**
 * What {@linkcode sh} accepts in a `${…}`: a string, a number, or an array of them.
 *
 * @example Values a command may interpolate
 * ```ts
 * import { sh, type ShValue } from "@parallax/parallax";
 *
 * const files: ShValue = ["a b.txt", "it's.txt"];
 * console.log(sh`ls -l ${files} ${42}`);
 * ```
 */
export type ShValue = string | number | bigint | readonly (string | number | bigint)[];

/**
 * Builds a command line from a template: the template's own text is kept as written (it is
 * your shell code), and each interpolated value becomes one shell word, single-quoted, so that
 * the remote shell reads it back unchanged (`$(…)`, `;`, quotes and spaces included). An array
 * becomes one word per element, joined by spaces; a number its decimal digits.
 *
 * @param strings The template's text.
 * @param values The interpolated values.
 * @returns The command line.
 * @throws {TypeError} For `null`, `undefined`, a string with NUL, a number that is not finite,
 * or any other kind of value.
 *
 * @example Arguments that would otherwise need quoting by hand
 * ```ts
 * import { call, sh } from "@parallax/parallax";
 *
 * const names = ["a b", "$(touch x)", "it's"];
 * const results = await call(["web1"], sh`printf '%s|' ${names}`);
 * // On each host: a b|$(touch x)|it's|  (and no file named x is created)
 * console.log(results.size);
 * ```
 */
export function sh(strings: TemplateStringsArray, ...values: ShValue[]): string {
  let line = strings[0];
  for (let i = 0; i < values.length; i++) line += words(values[i], i) + strings[i + 1];
  return line;
}

function words(value: unknown, position: number): string {
  if (Array.isArray(value)) return value.map((item) => word(item, position)).join(" ");
  return word(value, position);
}

function word(value: unknown, position: number): string {
  if (typeof value === "string") {
    if (value.includes("\0")) {
      throw new CallerTypeError(`Cannot put value ${position + 1} in a command: it holds NUL`);
    }
    return shellQuote(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  throw new CallerTypeError(
    `Cannot put value ${position + 1} in a command: ${
      value === null || value === undefined ? String(value) : typeof value
    } is not a string, a finite number or an array of them`,
  );
}
