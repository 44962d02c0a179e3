/**
 * The error reported for a host whose job did not produce a result.
 *
 * @module
 */

import { type ResultRecord, toRecord } from "./record.ts";

/**
 * What went wrong for a host:
 * - `connect`: refused, unreachable, name not resolved, or the connection timed out;
 * - `auth`: the server refused every credential (permission denied);
 * - `hostkey`: host key verification failed (unknown or changed key);
 * - `timeout`: the per-host timeout expired and the job was killed;
 * - `cancelled`: the call was aborted or the pool closed before the job finished;
 * - `ssh`: any other ssh failure (exit status 255, or ssh killed by a signal);
 * - `transfer`: scp connected but the copy failed: a missing remote source, a remote permission
 *   problem, a full disk;
 * - `spawn`: ssh could not be started (missing program, missing `--allow-run`);
 * - `local`: a problem on this machine (an output file, a worker that died);
 * - `skipped`: never started, because too many hosts had failed (`maxFailures`) or the caller
 *   halted the run (`halt`);
 * - `gateway`: the host's gateway (see the `gateways` option) could not be reached or could not
 *   start parallax (the host did not run), or its connection ended before the host's result came
 *   back (the message says so: the command may have run).
 *
 * `sudo` refusing (a wrong or missing password, not a sudoer) is kind `auth` too, and says so.
 *
 * @example Counting failures by kind
 * ```ts
 * import { call, type ErrorKind, ParallaxError } from "@parallax/parallax";
 *
 * const kinds = new Map<ErrorKind, number>();
 * for (const result of (await call(["web1", "web2"], "true")).values()) {
 *   if (result instanceof ParallaxError) kinds.set(result.kind, (kinds.get(result.kind) ?? 0) + 1);
 * }
 * ```
 */
export type ErrorKind =
  | "connect"
  | "auth"
  | "hostkey"
  | "timeout"
  | "cancelled"
  | "ssh"
  | "transfer"
  | "spawn"
  | "local"
  | "skipped"
  | "gateway";

/**
 * The fields of a {@linkcode ParallaxError}.
 *
 * @example An error of your own, as parallax's
 * ```ts
 * import { ParallaxError, type ParallaxErrorInit } from "@parallax/parallax";
 *
 * const init: ParallaxErrorInit = { host: "web1", kind: "local", reason: "skipped by policy" };
 * console.log(new ParallaxError(init).message); // "web1: skipped by policy"
 * ```
 */
export interface ParallaxErrorInit {
  /** The host's key, as in the result map. */
  host: string;
  /** What went wrong. */
  kind: ErrorKind;
  /** A sentence that says what happened, without the host (the message adds it). */
  reason: string;
  /** ssh's or the command's standard error, as far as it was read. */
  stderr?: string;
  /** Standard output read before the failure. */
  stdout?: string;
  /** ssh's or the command's standard error exactly as received, where it differs from the text. */
  stderrBytes?: Uint8Array;
  /** Standard output exactly as received. */
  stdoutBytes?: Uint8Array;
  /** scp's exit status, for kind `transfer`. */
  exitCode?: number;
  /** Milliseconds the job ran, where it was started. */
  durationMs?: number;
  /** How many times the host's job was started (default 0: never). */
  attempts?: number;
  /** The gateway the host was reached through, if any. */
  via?: string;
  /** A call's: whether the host's command ran on its warm session (else a new ssh). */
  warm?: boolean;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * The error in place of a host's result when its job failed: it could not connect, was refused,
 * timed out, was cancelled, or could not run at all. A remote command that runs and exits
 * nonzero is not an error: its result carries the exit code.
 *
 * @example Telling results and errors apart
 * ```ts
 * import { call, ParallaxError } from "@parallax/parallax";
 *
 * const results = await call(["web1", "web2"], "uptime", { timeout: 10 });
 * for (const [host, result] of results) {
 *   if (result instanceof ParallaxError) console.log(`${host} failed (${result.kind})`);
 *   else console.log(`${host} exited ${result.exitCode}`);
 * }
 * ```
 */
export class ParallaxError extends Error {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** What went wrong; see {@linkcode ErrorKind}. */
  readonly kind: ErrorKind;
  /** ssh's or the command's standard error, as far as it was read. */
  readonly stderr: string;
  /** Standard output read before the failure, if any was. */
  readonly stdout?: string;
  /** Standard error exactly as received (empty when none was read). */
  readonly stderrBytes: Uint8Array;
  /** Standard output exactly as received, if any was read. */
  readonly stdoutBytes?: Uint8Array;
  /**
   * scp's exit status for a failed transfer (kind `transfer`); absent where the command did not
   * exit by itself (a timeout, a cancel, an ssh failure).
   */
  readonly exitCode?: number;
  /** Milliseconds the job ran, where it was started. */
  readonly durationMs?: number;
  /**
   * How many times the host's job was started: 1, more after `retries`, 0 for a host never
   * started.
   */
  readonly attempts: number;
  /** The gateway the host was reached through (see the `gateways` option), if any. */
  readonly via?: string;
  /**
   * A call's error: `true` where the host's command ran on its warm session (see
   * `PoolOptions.warm`), `false` where it took a new ssh (or never started). Absent for copy,
   * slurp and sync.
   */
  readonly warm?: boolean;

  /**
   * Creates the error for one host.
   *
   * @param init The host, the kind, a reason and what output there was.
   *
   * @example
   * ```ts
   * import { ParallaxError } from "@parallax/parallax";
   * const error = new ParallaxError({ host: "web1", kind: "timeout", reason: "timed out" });
   * console.log(error.message); // "web1: timed out"
   * ```
   */
  constructor(init: ParallaxErrorInit) {
    super(`${init.host}: ${init.reason}`, init.cause === undefined ? {} : { cause: init.cause });
    this.name = "ParallaxError";
    this.host = init.host;
    this.kind = init.kind;
    this.stderr = init.stderr ?? "";
    this.stderrBytes = init.stderrBytes ?? new TextEncoder().encode(this.stderr);
    if (init.stdout !== undefined) this.stdout = init.stdout;
    if (init.stdoutBytes !== undefined) this.stdoutBytes = init.stdoutBytes;
    else if (init.stdout !== undefined) this.stdoutBytes = new TextEncoder().encode(init.stdout);
    if (init.exitCode !== undefined) this.exitCode = init.exitCode;
    if (init.durationMs !== undefined) this.durationMs = init.durationMs;
    this.attempts = init.attempts ?? 0;
    if (init.via !== undefined) this.via = init.via;
    if (init.warm !== undefined) this.warm = init.warm;
  }

  /**
   * The error as a JSON record, the shape of the CLI's `--json` lines (an `Error`'s message is
   * not part of `JSON.stringify` otherwise).
   *
   * @example
   * ```ts
   * import { ParallaxError } from "@parallax/parallax";
   * const error = new ParallaxError({ host: "web1", kind: "timeout", reason: "timed out" });
   * console.log(JSON.stringify(error)); // {"host":"web1","status":"failure","kind":"timeout",…}
   * ```
   */
  toJSON(): ResultRecord<ErrorKind> {
    return toRecord({
      host: this.host,
      ok: false,
      kind: this.kind,
      message: this.message,
      exitCode: this.exitCode ?? null,
      stdout: this.stdoutBytes ?? new Uint8Array(),
      stderr: this.stderrBytes,
      durationMs: this.durationMs ?? null,
      attempts: this.attempts,
      via: this.via,
      ...(this.warm !== undefined ? { warm: this.warm } : {}),
    });
  }
}
