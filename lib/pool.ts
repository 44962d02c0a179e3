/**
 * The fixed pool of Web Workers that runs every job, and the one place that bounds how many jobs
 * run at once.
 *
 * @module
 */

import { ControlDir } from "./control_dir.ts";
import { missingReadPermission } from "./permissions.ts";
import type { FromWorker, JobOutcome, JobSpec, ToWorker } from "./protocol.ts";

/** The module every worker runs. */
const WORKER_URL = new URL("../workers/job_worker.ts", import.meta.url);

/** Options of {@linkcode Pool}. */
export interface PoolOptions {
  /**
   * Number of workers. Each worker runs many processes at once, so a few are enough; workers are
   * started on first use.
   *
   * @default {Math.min(2, navigator.hardwareConcurrency)}
   */
  size?: number;
  /**
   * Reuse connections between calls: the first connection to a host becomes an OpenSSH
   * ControlMaster (sockets in a private 0700 folder of the pool's), later calls to that host run
   * through it without a new handshake. Masters are closed (`ssh -O exit`) when the pool is closed
   * or disposed and when the process exits normally. A call's `reuse` option overrides this.
   *
   * @default {true}
   */
  reuse?: boolean;
}

/** A job for the pool: a {@linkcode JobSpec} without its id, which the pool assigns. */
export type JobRequest = Omit<JobSpec, "id">;

/** How a job ended, as the pool saw it. */
export type JobEnd =
  /** The worker ran it and reported its outcome. */
  | { readonly kind: "finished"; readonly outcome: JobOutcome }
  /** It was cancelled before it was handed to a worker: nothing was started. */
  | { readonly kind: "not-started" }
  /**
   * Its worker died or was terminated before reporting; the process was killed with it.
   * `cancelled` tells whether the batch had been cancelled by then.
   */
  | { readonly kind: "lost"; readonly reason: string; readonly cancelled: boolean };

/** Options of {@linkcode runJobs}. */
export interface RunJobsOptions {
  /** At most this many of the batch's jobs run at once. */
  readonly limit: number;
  /** Aborting kills running jobs and never starts queued ones. */
  readonly signal?: AbortSignal;
  /** Called with each chunk of output of a job that streams its output. */
  readonly onChunk?: (index: number, stream: "stdout" | "stderr", data: Uint8Array) => void;
  /** Called as each job ends, in the order they end. */
  readonly onEnd?: (index: number, end: JobEnd) => void;
}

/** How long {@linkcode Pool.close} waits for cancelled jobs to report before terminating. */
const CLOSE_WAIT_MS = 5_000;

/** Extra time a worker gets past a job's timeout and kill grace before it is presumed hung. */
const WATCHDOG_SLACK_MS = 5_000;

/**
 * A fixed set of Web Workers that run ssh and scp processes for {@linkcode call} and its siblings.
 *
 * Without a pool, each call starts its own and closes it when it returns, so a script that calls
 * once exits by itself. A program that makes many calls can hold one pool and pass it as the
 * `pool` option, then dispose of it; an open pool keeps the process alive.
 *
 * @example Holding a pool across calls
 * ```ts
 * import { call, Pool } from "@parallax/parallax";
 *
 * using pool = new Pool({ size: 2 });
 * const first = await call(["web1", "web2"], "uptime", { pool, timeout: 10 });
 * const second = await call(["web1", "web2"], "df -h /", { pool, timeout: 10 });
 * console.log(first.size, second.size);
 * ```
 */
export class Pool implements Disposable, AsyncDisposable {
  readonly #slots: Slot[];
  readonly #batches = new Set<Batch>();
  readonly #reuse: boolean;
  #control: ControlDir | string | null = null;
  readonly #onUnload = () => this.#closeControl();
  #nextId = 1;
  #closed = false;

  /**
   * Creates a pool; no worker starts until the first job.
   *
   * @param options The pool's size.
   * @throws {RangeError} If `size` is not a positive integer.
   */
  constructor(options: PoolOptions = {}) {
    const { size = defaultPoolSize(), reuse = true } = options;
    this.#reuse = reuse;
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Cannot create a pool of size ${size}: expected a positive integer`);
    }
    this.#slots = Array.from({ length: size }, () => new Slot());
    engines.set(this, {
      run: (jobs, options) => this.#run(jobs, options),
      crashWorker: (index) => this.#slots[index]?.worker?.postMessage({ type: "crash" }),
      terminateWorker: (index) => this.#retire(this.#slots[index], "its worker was terminated"),
      liveWorkers: () => this.#slots.filter((slot) => slot.worker !== null).length,
      reuseByDefault: () => this.#reuse,
      controlDir: (sshPath) => this.#controlDir(sshPath),
    });
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
    return this.#slots.length;
  }

  /**
   * Cancels every running job (SIGTERM, then SIGKILL), waits until they have reported, and
   * terminates the workers. Calls still running resolve with their jobs `cancelled`.
   *
   * @example
   * ```ts
   * import { Pool } from "@parallax/parallax";
   * const pool = new Pool();
   * await pool.close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    const cancelled = Promise.all([...this.#batches].map((batch) => batch.cancel()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise((resolve) => timer = setTimeout(resolve, CLOSE_WAIT_MS));
    await Promise.race([cancelled, bound]);
    clearTimeout(timer);
    const control = this.#control;
    this.#control = null;
    this[Symbol.dispose]();
    if (control instanceof ControlDir) {
      globalThis.removeEventListener("unload", this.#onUnload);
      await control.close();
    }
  }

  /**
   * Terminates the workers at once: running processes are killed with them and their jobs are
   * reported as cancelled; queued jobs never start.
   */
  [Symbol.dispose](): void {
    this.#closed = true;
    for (const batch of this.#batches) batch.cancel();
    for (const slot of this.#slots) this.#retire(slot, "the pool was closed");
    this.#closeControl();
  }

  /** Same as {@linkcode Pool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The pool's control socket folder, created on first use; a string says why it cannot be. */
  #controlDir(sshPath: string): ControlDir | string {
    if (this.#closed) return "the pool is closed";
    if (this.#control === null) {
      this.#control = ControlDir.create(sshPath);
      if (this.#control instanceof ControlDir) {
        globalThis.addEventListener("unload", this.#onUnload);
      }
    }
    return this.#control;
  }

  #closeControl(): void {
    const control = this.#control;
    this.#control = null;
    if (control instanceof ControlDir) {
      globalThis.removeEventListener("unload", this.#onUnload);
      control.closeSync();
    }
  }

  #run(jobs: readonly JobRequest[], options: RunJobsOptions): Promise<void> {
    if (this.#closed) throw new Error("Cannot run jobs on a closed pool");
    const batch = new Batch(jobs, options, (index) => this.#dispatch(batch, index));
    this.#batches.add(batch);
    return batch.start().finally(() => this.#batches.delete(batch));
  }

  #dispatch(batch: Batch, index: number): void {
    const slot = this.#slots.reduce((best, s) => s.jobs.size < best.jobs.size ? s : best);
    const worker = slot.worker ?? this.#startWorker(slot);
    const job: JobSpec = { ...batch.jobs[index], id: this.#nextId++ };
    const watchdog = job.timeoutMs > 0
      ? setTimeout(
        () => this.#retire(slot, "its worker stopped answering"),
        job.timeoutMs + job.killGraceMs + WATCHDOG_SLACK_MS,
      )
      : undefined;
    slot.jobs.set(job.id, { batch, index, watchdog });
    batch.running.set(index, () => worker.postMessage({ type: "cancel", id: job.id }));
    worker.postMessage({ type: "run", job } satisfies ToWorker);
  }

  #startWorker(slot: Slot): Worker {
    const worker = new Worker(WORKER_URL, { type: "module" });
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      const id = data.type === "done" ? data.outcome.id : data.id;
      const entry = slot.jobs.get(id);
      if (entry === undefined) return;
      if (data.type === "chunk") {
        entry.batch.options.onChunk?.(entry.index, data.stream, data.data);
        return;
      }
      slot.jobs.delete(id);
      clearTimeout(entry.watchdog);
      entry.batch.end(entry.index, { kind: "finished", outcome: data.outcome });
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#retire(slot, `its worker failed: ${event.message}`);
    };
    worker.onmessageerror = () => this.#retire(slot, "a message from its worker was unreadable");
    slot.worker = worker;
    return worker;
  }

  /** Terminates a slot's worker (killing its processes) and reports its jobs as lost. */
  #retire(slot: Slot, reason: string): void {
    slot.worker?.terminate();
    slot.worker = null;
    const orphans = [...slot.jobs.values()];
    slot.jobs.clear();
    for (const { batch, index, watchdog } of orphans) {
      clearTimeout(watchdog);
      batch.end(index, { kind: "lost", reason, cancelled: false });
    }
  }
}

/**
 * The default pool size: two workers (one on a single core). Measured on 2,000 short jobs, 1, 2, 4
 * and 8 workers take 1.26, 1.18, 1.27 and 1.38 s, and every worker adds 12-30 MiB of memory.
 */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1));
}

/** A worker and the jobs it has been given. */
class Slot {
  worker: Worker | null = null;
  readonly jobs = new Map<
    number,
    { batch: Batch; index: number; watchdog: ReturnType<typeof setTimeout> | undefined }
  >();
}

/** One call's jobs: the queue, the limit and the accounting of what has ended. */
class Batch {
  /** Running jobs by index, each with the function that cancels it. */
  readonly running = new Map<number, () => void>();
  #next = 0;
  #ended = 0;
  #cancelled = false;
  #resolve = () => {};
  readonly #done = new Promise<void>((resolve) => this.#resolve = resolve);

  constructor(
    readonly jobs: readonly JobRequest[],
    readonly options: RunJobsOptions,
    private readonly dispatch: (index: number) => void,
  ) {}

  start(): Promise<void> {
    const { signal } = this.options;
    const onAbort = () => this.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) this.cancel();
    else this.#pump();
    return this.#done.finally(() => signal?.removeEventListener("abort", onAbort));
  }

  /** Never starts the queued jobs; asks the running ones to stop; resolves when all have ended. */
  cancel(): Promise<void> {
    if (!this.#cancelled) {
      this.#cancelled = true;
      while (this.#next < this.jobs.length) this.end(this.#next++, { kind: "not-started" });
      for (const cancel of this.running.values()) cancel();
    }
    return this.#done;
  }

  end(index: number, end: JobEnd): void {
    if (end.kind === "lost" && this.#cancelled) end = { ...end, cancelled: true };
    this.running.delete(index);
    this.#ended++;
    this.options.onEnd?.(index, end);
    if (this.#ended === this.jobs.length) this.#resolve();
    else this.#pump();
  }

  #pump(): void {
    if (this.jobs.length === 0) this.#resolve();
    while (
      !this.#cancelled && this.running.size < this.options.limit && this.#next < this.jobs.length
    ) {
      this.dispatch(this.#next++);
    }
  }
}

/** What the rest of the library may do with a pool; not part of the public API. */
interface Engine {
  run(jobs: readonly JobRequest[], options: RunJobsOptions): Promise<void>;
  crashWorker(index: number): void;
  terminateWorker(index: number): void;
  liveWorkers(): number;
  reuseByDefault(): boolean;
  controlDir(sshPath: string): ControlDir | string;
}

const engines = new WeakMap<Pool, Engine>();

function engine(pool: Pool): Engine {
  const found = engines.get(pool);
  if (found === undefined) throw new TypeError("Expected a Pool created by new Pool()");
  return found;
}

/**
 * Runs a batch of jobs on the pool, at most `limit` at a time, and resolves once every job has
 * ended (each reported through `onEnd`). When it resolves, no process of the batch is running.
 */
export function runJobs(
  pool: Pool,
  jobs: readonly JobRequest[],
  options: RunJobsOptions,
): Promise<void> {
  return engine(pool).run(jobs, options);
}

/**
 * The control socket folder of a pool for connection reuse, or why there is none. Null when the
 * call does not reuse connections (`reuse` false, or unset and the pool's default is off).
 */
export function controlDirFor(
  pool: Pool,
  reuse: boolean | undefined,
  sshPath: string,
): ControlDir | string | null {
  const e = engine(pool);
  return (reuse ?? e.reuseByDefault()) ? e.controlDir(sshPath) : null;
}

/** Makes worker `index` throw an uncaught error, as a crashing worker would. For tests. */
export function crashWorkerForTest(pool: Pool, index: number): void {
  engine(pool).crashWorker(index);
}

/** Terminates worker `index` from the main thread, as a pool would a hung worker. For tests. */
export function terminateWorkerForTest(pool: Pool, index: number): void {
  engine(pool).terminateWorker(index);
}

/** How many of the pool's workers are started. For tests. */
export function liveWorkersForTest(pool: Pool): number {
  return engine(pool).liveWorkers();
}

/**
 * Why the pool's workers cannot be loaded, or null: the main thread needs read access to the
 * worker module and its imports (parallax's own folder), unless it is compiled into a binary.
 */
export function workerLoadProblem(): string | null {
  const missing = missingReadPermission(WORKER_URL, new URL("..", WORKER_URL).pathname);
  return missing === null ? null : `cannot load parallax's workers: ${missing}`;
}
