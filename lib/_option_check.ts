/**
 * Option names checked against the known ones: an unknown name (a slip such as `timeOut`) is a
 * `TypeError` before anything runs, naming the nearest known name.
 *
 * @module
 */

import { CallerTypeError } from "./caller_error.ts";

/**
 * Checks that `options` holds only names in `known`.
 *
 * @throws {TypeError} Naming the first unknown option of `fn` and the nearest known name.
 */
export function checkOptionNames(options: object, known: readonly string[], fn: string): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const near = nearest(name, known);
    throw new CallerTypeError(
      `Unknown option '${name}' for ${fn}()${near === null ? "" : `: did you mean '${near}'?`}`,
    );
  }
}

/** The known name closest to `name` (case aside), if it is close enough to be a slip. */
function nearest(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
