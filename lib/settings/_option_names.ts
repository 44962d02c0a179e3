/**
 * Every option's name, per operation, checked at run time: a misspelt option (`timeOut`) is a
 * `TypeError` that names it and the nearest known name, before any host is contacted. Each list
 * is checked against its interface by the compiler, both ways (an operation's own list lives
 * beside its options).
 *
 * @module
 */

import { CallerTypeError } from "../caller_error.ts";
import type { CommonOptions, TransferOptions } from "./options.ts";

/** The names of every operation's options. */
export const COMMON_OPTIONS = [
  "limit",
  "timeout",
  "connectTimeout",
  "user",
  "port",
  "sshOptions",
  "sshExtra",
  "outdir",
  "errdir",
  "verbose",
  "quiet",
  "password",
  "signal",
  "halt",
  "handleSignals",
  "exitOnSignal",
  "batch",
  "batchPause",
  "onBatch",
  "maxFailures",
  "retries",
  "pool",
  "reuse",
  "poolSize",
  "sshPath",
  "gateways",
  "gatewayCommand",
  "gatewayLimit",
  "leafSshExtra",
] as const satisfies readonly (keyof CommonOptions)[];

/** The names of every transfer's options. */
export const TRANSFER_OPTIONS = [
  ...COMMON_OPTIONS,
  "recursive",
  "preserve",
  "compress",
  "bandwidthLimit",
  "scpPath",
] as const satisfies readonly (keyof TransferOptions)[];

const _allCommon: [Unlisted<CommonOptions, typeof COMMON_OPTIONS>] extends [never] ? true
  : never = true;
const _allTransfer: [Unlisted<TransferOptions, typeof TRANSFER_OPTIONS>] extends [never] ? true
  : never = true;
void [_allCommon, _allTransfer];

/**
 * The options of `T` that `L` does not list; `never` when it lists them all. Each operation
 * checks its list with it: `const _all: [Unlisted<X, typeof LIST>] extends [never] ? true : never`.
 */
export type Unlisted<T, L extends readonly string[]> = Exclude<keyof T, L[number]>;

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
