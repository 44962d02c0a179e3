/**
 * Every option's name, per operation, checked at run time: a misspelt option (`timeOut`) is a
 * `TypeError` that names it and the nearest known name, before any host is contacted. Each list
 * is checked against its interface by the compiler, both ways (an operation's own list lives
 * beside its options).
 *
 * @module
 */

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

export { checkOptionNames } from "../_option_check.ts";
