/**
 * The public {@linkcode Pool}: the workers that run every job, held across calls.
 *
 * @module
 */

import { checkOptionNames } from "../_option_check.ts";
import { attachEngine, defaultPoolSize, Engine } from "./_engine.ts";
import { CallerRangeError } from "../caller_error.ts";

/**
 * Options of {@linkcode Pool}.
 *
 * @example A pool for many calls
 * ```ts
 * import { call, Pool, type PoolOptions } from "@parallax/parallax";
 *
 * const options: PoolOptions = { limit: 64, reuse: true };
 * await using pool = new Pool(options);
 * await call(["web1"], "uptime", { pool });
 * await call(["web1"], "df -h /", { pool });
 * ```
 */
export interface PoolOptions {
  /**
   * At most this many workers. Each worker runs many processes at once, so a few are enough: the
   * first starts on first use, and another only when every started one runs 32 processes.
   *
   * @default {Math.min(2, navigator.hardwareConcurrency)}
   */
  size?: number;
  /**
   * At most this many processes at once across every call on the pool, however many calls run
   * concurrently (each call's own `limit` applies too).
   *
   * @default {32}
   */
  limit?: number;
  /**
   * Reuse connections between calls: the first connection to a host becomes an OpenSSH
   * ControlMaster (its socket in a private 0700 folder under `$TMPDIR` or `/tmp`), and later calls
   * to that host with the same ssh settings run through it without a new handshake. Masters end
   * when the pool is closed or disposed, and within seconds when the process dies. A call's
   * `reuse` option overrides this.
   *
   * @default {true}
   */
  reuse?: boolean;
  /**
   * Keep hosts warm between calls (with `reuse`): after a host's first call, one ssh session
   * stays open on its master and runs the host's next commands, so that a repeat `call()` starts
   * no local process. Results are the same either way, and say which path ran (`warm`). A call
   * that needs what only a new ssh carries exactly (`input`, `sudo`, `stopRemote: false`,
   * printed or streamed output, output files) takes a new ssh as before; a call's `warm: false`
   * does too. A host is warm where its login shell is found by name on its PATH and it has
   * `setsid` and /proc (Linux); elsewhere it never is.
   *
   * @default {true}
   */
  warm?: boolean;
}

/**
 * A fixed set of Web Workers that run ssh and scp processes for {@linkcode call} and its siblings,
 * and the one limit on how many run at once. (The connections to gateways run on the main thread,
 * under the same limit.)
 *
 * Without a pool, each call starts its own and closes it when it returns, so a script that calls
 * once exits by itself. A program that makes many calls can hold one pool and pass it as the
 * `pool` option, then dispose of it; an open pool keeps the process alive. A call on a closed pool
 * throws a `TypeError`.
 *
 * @example Holding a pool across calls
 * ```ts
 * import { call, Pool } from "@parallax/parallax";
 *
 * await using pool = new Pool({ size: 2 });
 * const first = await call(["web1", "web2"], "uptime", { pool, timeout: 10 });
 * const second = await call(["web1", "web2"], "df -h /", { pool, timeout: 10 });
 * console.log(first.size, second.size);
 * ```
 */
export class Pool implements Disposable, AsyncDisposable {
  readonly #engine: Engine;

  /**
   * Creates a pool; no worker starts until the first job.
   *
   * @param options The pool's size, limit and connection reuse.
   * @throws {RangeError} If `size` or `limit` is not a positive integer.
   */
  constructor(options?: PoolOptions) {
    checkOptionNames(options ?? {}, POOL_OPTIONS, "new Pool");
    const { size = defaultPoolSize(), limit = 32, reuse = true, warm = true } = options ?? {};
    if (!Number.isInteger(size) || size < 1) {
      throw new CallerRangeError(
        `Cannot create a pool of size ${size}: expected a positive integer`,
      );
    }
    if (!Number.isInteger(limit) || limit < 1) {
      throw new CallerRangeError(
        `Cannot create a pool with limit ${limit}: expected a positive integer`,
      );
    }
    this.#engine = new Engine({ size, limit, reuse: Boolean(reuse), warm: Boolean(warm) });
    attachEngine(this, this.#engine);
  }

  /**
   * The number of workers.
   *
   * @example
   * ```ts
   * import { Pool } from "@parallax/parallax";
   * using pool = new Pool({ size: 3 });
   * console.log(pool.size); // 3
   * ```
   */
  get size(): number {
    return this.#engine.options.size;
  }

  /**
   * The most processes the pool runs at once, across all its calls.
   *
   * @example
   * ```ts
   * import { Pool } from "@parallax/parallax";
   * using pool = new Pool({ limit: 8 });
   * console.log(pool.limit); // 8
   * ```
   */
  get limit(): number {
    return this.#engine.options.limit;
  }

  /**
   * Whether the pool has been closed; a call on a closed pool throws a `TypeError`.
   *
   * @example
   * ```ts
   * import { Pool } from "@parallax/parallax";
   * const pool = new Pool();
   * await pool.close();
   * console.log(pool.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#engine.closed;
  }

  /**
   * Cancels every running job, waits until they have reported (their remote commands are
   * stopped), terminates the workers and ends the connection masters. Calls still running
   * resolve with their unfinished hosts `cancelled`.
   *
   * @example
   * ```ts
   * import { Pool } from "@parallax/parallax";
   * const pool = new Pool();
   * await pool.close();
   * ```
   */
  close(): Promise<void> {
    return this.#engine.close();
  }

  /**
   * Terminates everything at once: running processes are killed and their jobs reported
   * cancelled; queued jobs never start; masters are asked to exit.
   */
  [Symbol.dispose](): void {
    this.#engine.dispose();
  }

  /** Same as {@linkcode Pool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The names of `Pool`'s options. */
const POOL_OPTIONS = [
  "size",
  "limit",
  "reuse",
  "warm",
] as const satisfies readonly (keyof PoolOptions)[];
