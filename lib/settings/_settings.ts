/**
 * Turns the options a caller passed into checked, immutable settings, with defaults from the
 * environment for what the caller left unset.
 *
 * @module
 */

import { readEnvDefaults } from "./_env_defaults.ts";
import { checkName } from "../hosts/parse.ts";
import type { BatchStart, CommonOptions } from "./options.ts";
import type { Pool } from "../engine/pool.ts";
import { type GatewaySettings, resolveGateways } from "./_gateway_settings.ts";
import { CallerRangeError, CallerTypeError } from "../caller_error.ts";

/** The defaults of the Python original. */
export const DEFAULT_LIMIT = 32;
/** Seconds; the original's README promises one minute per host for commands. */
export const DEFAULT_CALL_TIMEOUT = 60;
/** The longest timeout: 30 days, in seconds. */
export const MAX_TIMEOUT = 30 * 24 * 3600;

/** The most retries a call takes (beyond, a host that never answers is better reported). */
const MAX_RETRIES = 100;
/** The pause before retry number `attempts` (1 s, doubling with each attempt, at most 30 s). */
export function retryPauseMs(attempts: number): number {
  return Math.min(1_000 * 2 ** (attempts - 1), 30_000);
}
/** Seconds ssh waits for a connection. */
export const DEFAULT_CONNECT_TIMEOUT = 10;
/** Milliseconds between SIGTERM and SIGKILL when a job is stopped. */
export const KILL_GRACE_MS = 2_000;

/** Checked settings shared by every operation. */
export interface Settings {
  readonly limit: number;
  readonly timeoutMs: number;
  readonly connectTimeout: number;
  /** Whether the caller set `connectTimeout` (else ssh_config's own may apply). */
  readonly connectTimeoutGiven: boolean;
  /**
   * The `ConnectTimeout` ssh_config gives a host (by key), where the caller set none: learnt
   * before the run (see `ssh/_ssh_config.ts`); used instead of the default.
   */
  readonly configTimeouts: Map<string, number>;
  readonly user?: string;
  readonly port?: number;
  readonly sshOptions: readonly string[];
  readonly sshExtra: readonly string[];
  readonly outdir?: string;
  readonly errdir?: string;
  readonly verbose: boolean;
  readonly quiet: boolean;
  readonly signal?: AbortSignal;
  /** Aborting starts no more hosts; running ones finish. */
  readonly halt?: AbortSignal;
  readonly pool?: Pool;
  readonly poolSize?: number;
  readonly sshPath: string;
  readonly reuse?: boolean;
  readonly password?: string;
  readonly handleSignals: boolean;
  readonly exitOnSignal: boolean;
  /** Batch sizes as given: numbers of hosts or percentages; the last repeats. Empty: one batch. */
  readonly batch: readonly BatchSize[];
  readonly batchPauseMs: number;
  /** Told as each batch is about to start. */
  readonly onBatch?: (batch: BatchStart) => void;
  /** Failures allowed: in the whole run (`count`) or per batch (`percent`); null: no limit. */
  readonly maxFailures: BatchSize | null;
  /** Extra attempts for a host whose connection failed. */
  readonly retries: number;
  /** The gateways, or null when every host runs directly. */
  readonly gateways: GatewaySettings | null;
}

/** A size: a number of hosts, or a percentage of them. */
export type BatchSize = { readonly count: number } | { readonly percent: number };

/**
 * Checks the common options and fills in defaults (the environment's, then the built-in ones).
 * `defaultTimeout` is the operation's: 60 s for `call`, none for `copy` and `slurp`.
 *
 * @throws {RangeError} For a number out of range (limit, timeout, connectTimeout, port).
 * @throws {TypeError} For a value of the wrong shape (user, sshOptions, sshExtra).
 */
export function resolveSettings(options: CommonOptions, defaultTimeout: number): Settings {
  const env = readEnvDefaults();
  const {
    limit = env.limit ?? DEFAULT_LIMIT,
    timeout = defaultTimeout,
    connectTimeout = DEFAULT_CONNECT_TIMEOUT,
    user = env.user,
    port,
    sshOptions = env.sshOptions ?? [],
    sshExtra = [],
    outdir = env.outdir,
    errdir,
    verbose = env.verbose ?? false,
    quiet = false,
    signal,
    halt,
    pool,
    poolSize,
    sshPath = "ssh",
    reuse,
    password,
    handleSignals = true,
    exitOnSignal = true,
    batch,
    batchPause = 0,
    onBatch,
    maxFailures,
    retries = 0,
  } = options;
  requireInteger("limit", limit, 1);
  if (
    typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0 ||
    (timeout > 0 && timeout < 0.001) || timeout > MAX_TIMEOUT
  ) {
    throw new CallerRangeError(
      `Cannot use timeout ${timeout}: expected seconds from 0.001 to ${MAX_TIMEOUT} (30 days), or 0 for none`,
    );
  }
  requireInteger("connectTimeout", connectTimeout, 1);
  requireInteger("retries", retries, 0, MAX_RETRIES);
  if (port !== undefined) requireInteger("port", port, 1, 65535);
  if (poolSize !== undefined) requireInteger("poolSize", poolSize, 1);
  if (user !== undefined) checkName(user, "user", `with user '${user}'`);
  requireStrings("sshOptions", sshOptions);
  requireStrings("sshExtra", sshExtra);
  for (const option of sshOptions) {
    // deno-lint-ignore no-control-regex
    if (option.trim() === "" || /[\u0000-\u001f]/.test(option)) {
      throw new CallerTypeError(
        `Cannot use ssh option '${option}': empty or has control characters`,
      );
    }
  }
  if (onBatch !== undefined && typeof onBatch !== "function") {
    throw new CallerTypeError("Cannot use onBatch: expected a function");
  }
  if (password !== undefined && (typeof password !== "string" || password.includes("\n"))) {
    throw new CallerTypeError("Cannot use password: expected a string without newlines");
  }
  if (typeof sshPath !== "string" || sshPath === "") {
    throw new CallerTypeError(`Cannot use sshPath '${sshPath}': expected a program name or path`);
  }
  const gateways = resolveGateways(options);
  if (gateways !== null) {
    if (options.password !== undefined) {
      throw new CallerTypeError(
        "Cannot use password with gateways: the hosts behind a gateway log in with the gateway's own keys",
      );
    }
  }
  return Object.freeze({
    limit,
    timeoutMs: Math.round(timeout * 1000),
    connectTimeout,
    connectTimeoutGiven: options.connectTimeout !== undefined,
    configTimeouts: new Map(),
    user,
    port,
    sshOptions: Object.freeze([...sshOptions]),
    sshExtra: Object.freeze([...sshExtra]),
    outdir,
    errdir,
    verbose,
    quiet,
    signal,
    halt,
    pool,
    poolSize,
    sshPath,
    reuse,
    password,
    handleSignals: Boolean(handleSignals),
    exitOnSignal: Boolean(exitOnSignal),
    batch: Object.freeze(
      (batch === undefined ? [] : Array.isArray(batch) ? checkNotEmpty(batch) : [batch]).map((
        size,
      ) => sizeOf("batch", size, 1)),
    ),
    batchPauseMs: pauseMs(batchPause),
    onBatch,
    maxFailures: maxFailures === undefined ? null : sizeOf("maxFailures", maxFailures, 0),
    retries,
    gateways,
  });
}

/**
 * A size written as a whole number (at least `min`) or a percentage string (`"20%"`).
 *
 * @throws {RangeError} For anything else.
 */
function sizeOf(name: string, value: unknown, min: number): BatchSize {
  if (typeof value === "number" && Number.isInteger(value) && value >= min) return { count: value };
  const percent = typeof value === "string" ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value) : null;
  if (percent !== null && Number(percent[1]) >= min && Number(percent[1]) <= 100) {
    return { percent: Number(percent[1]) };
  }
  throw new CallerRangeError(
    `Cannot use ${name} ${
      JSON.stringify(value)
    }: expected an integer >= ${min} or a percentage like "20%"`,
  );
}

function checkNotEmpty<T>(sizes: readonly T[]): readonly T[] {
  if (sizes.length === 0) {
    throw new CallerRangeError("Cannot use batch []: expected at least one size");
  }
  return sizes;
}

function pauseMs(seconds: unknown): number {
  if (
    typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0 || seconds > MAX_TIMEOUT
  ) {
    throw new CallerRangeError(`Cannot use batchPause ${seconds}: expected seconds >= 0`);
  }
  return Math.round(seconds * 1000);
}

function requireInteger(name: string, value: unknown, min: number, max = Infinity): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `an integer >= ${min}` : `an integer in ${min}-${max}`;
    throw new CallerRangeError(`Cannot use ${name} ${String(value)}: expected ${range}`);
  }
}

function requireStrings(name: string, value: unknown): void {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new CallerTypeError(`Cannot use ${name}: expected an array of strings`);
  }
}
