/**
 * The engine behind a {@linkcode Pool}: a fixed set of Web Workers, the one place that bounds how
 * many processes run at once (across every run on the pool) and how many file descriptors they
 * hold, and the owner of services that live as long as the pool. It runs argvs; it knows nothing
 * of ssh.
 *
 * @module
 */

import { missingReadPermission } from "../runtime/_permissions.ts";
import { after, type Timer } from "../runtime/_timer.ts";
import { FDS_PER_JOB, spareFileDescriptors } from "./_fd_limit.ts";
import { type JobWorker, MainThreadWorker } from "./_main_thread_worker.ts";
import type { FromWorker, JobSpec, ToWorker } from "./_protocol.ts";
import { type JobEnd, type JobRequest, type RunOptions, RunQueue } from "./_run_queue.ts";
import { planStdin, type StdinFeed } from "./_stdin_feed.ts";
import { CallerTypeError } from "../caller_error.ts";

/** The module every worker runs. */
const WORKER_URL = new URL("./worker/_job_worker.ts", import.meta.url);

/** How long {@linkcode Engine.close} waits for cancelled jobs to report before terminating. */
const CLOSE_WAIT_MS = 5_000;

/**
 * Liveness is watched per worker, not per job: while a worker has jobs it is pinged every
 * {@linkcode PING_MS}, and presumed hung only when it has said nothing (no pong, no other
 * message) for {@linkcode SILENT_MS}. A job that lingers (a grandchild holding its pipes) keeps
 * its worker answering, ends by itself after its drain, and touches no other job. A main thread
 * that was itself stalled (a stopped process, a suspended laptop) first reads what waited for it
 * before it judges anyone's silence.
 */
const PING_MS = 5_000;
const SILENT_MS = 30_000;

/**
 * Processes a worker runs before the pool starts another (while it has fewer than `size`). A
 * worker costs ~10 MiB and 0.1–0.3 s of CPU to start and warm up, and one drives this many ssh
 * with room to spare (ssh's own encryption is the work): measured on 2 cores, 32 hosts printing
 * 13.5 MB each ran as fast on one worker as on two, with 8–26 MiB less at the peak. So a call at
 * the default limit runs on one worker; more workers start only for higher limits.
 */
export const WORKER_SHARE = 32;

/** Something that lives as long as a pool (connection masters, say) and ends with it. */
export interface PoolService {
  /** Ends it, waiting for what it started. */
  close(): Promise<void>;
  /** Ends it without waiting (process exit, `[Symbol.dispose]`). */
  closeSync(): void;
}

/** How the engine is set up. */
export interface EngineOptions {
  readonly size: number;
  readonly limit: number;
  readonly reuse: boolean;
  /** Keep hosts warm between calls (see `PoolOptions.warm`); default true. */
  readonly warm?: boolean;
  /** The module the workers run (default: parallax's job worker). */
  readonly workerUrl?: URL;
  /** Processes a worker runs before another starts (default {@linkcode WORKER_SHARE}). */
  readonly workerShare?: number;
  /** How often workers are pinged, and after how long a silent one is hung (for tests). */
  readonly liveness?: { readonly pingMs: number; readonly silentMs: number };
}

/** A run in progress. */
export interface RunHandle {
  /** Resolves once every job of the run has ended (see {@linkcode Engine.run}). */
  readonly done: Promise<void>;
  /** Writes bytes to the held stdin of the running job at `index`; false if it is not running. */
  write(index: number, data: Uint8Array): boolean;
}

/** A worker and the jobs it has been given. */
interface Slot {
  worker: JobWorker | null;
  readonly jobs: Map<number, Assignment>;
  /** When the worker last said anything (`performance.now()`). */
  heard: number;
}

/** A job handed to a worker. */
interface Assignment {
  readonly queue: RunQueue;
  readonly index: number;
  readonly fds: number;
  /** The process (and process group) once the worker has started it. */
  pid: number | null;
  /** Its stdin, when this thread sends it piece by piece. */
  readonly feed: StdinFeed | null;
}

/** The workers, the limits and the services of one pool. */
export class Engine {
  readonly #slots: Slot[];
  /** Where jobs marked `onMainThread` run (a {@linkcode MainThreadWorker}, started on first use). */
  readonly #mainThread: Slot = { worker: null, jobs: new Map(), heard: 0 };
  /** The liveness round, while jobs run; and when it last ran. */
  #pinger: Timer | null = null;
  #lastRound = 0;
  #pingSeq = 0;
  readonly #queues = new Set<RunQueue>();
  readonly #services = new Map<string, PoolService>();
  #running = 0;
  #fdsInUse = 0;
  #fdBudget: number | null | undefined;
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Aborted when the pool closes (close, kill, dispose): every run on it reads this. */
  readonly #closedSignal = new AbortController();

  constructor(readonly options: EngineOptions) {
    this.#slots = Array.from(
      { length: options.size },
      () => ({ worker: null, jobs: new Map(), heard: 0 }),
    );
  }

  /** Whether the pool has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Aborted when the pool is closed (by close, kill or dispose): a caller adds it to the
   * cancellation it reads, so that a pool's end and a caller's cancel are one and the same.
   */
  get closedSignal(): AbortSignal {
    return this.#closedSignal.signal;
  }

  #markClosed(): void {
    this.#closed = true;
    this.#closedSignal.abort(new DOMException("the pool was closed", "AbortError"));
  }

  /** Every slot: the Web Workers' and the main thread's. */
  get #allSlots(): Slot[] {
    return [...this.#slots, this.#mainThread];
  }

  /** How many Web Workers are started. */
  get liveWorkers(): number {
    return this.#slots.filter((slot) => slot.worker !== null).length;
  }

  /**
   * Runs jobs, at most `options.limit` of them at once and never more than the pool's limit
   * across all runs; resolves once every job has ended (each told to the observer). When it
   * resolves, no process of the run is running.
   *
   * @throws {TypeError} When the pool is closed.
   */
  run(jobs: readonly JobRequest[], options: RunOptions): Promise<void> {
    return this.start(jobs, options).done;
  }

  /**
   * {@linkcode run}, with a handle that can also write to the held stdin of the run's running
   * jobs (those with `lifeline`).
   *
   * @throws {TypeError} When the pool is closed.
   */
  start(jobs: readonly JobRequest[], options: RunOptions): RunHandle {
    if (this.#closed) throw new CallerTypeError("Cannot run on a closed pool: create a new Pool");
    const queue = new RunQueue(jobs, options, () => this.#pump());
    const { signal, halt } = options;
    const onAbort = () => queue.cancel();
    const onHalt = () => queue.halt();
    signal?.addEventListener("abort", onAbort, { once: true });
    halt?.addEventListener("abort", onHalt, { once: true });
    this.#queues.add(queue);
    if (signal?.aborted) queue.cancel();
    else if (halt?.aborted) queue.halt();
    else this.#pump();
    const done = queue.done.finally(() => {
      signal?.removeEventListener("abort", onAbort);
      halt?.removeEventListener("abort", onHalt);
      this.#queues.delete(queue);
    });
    return { done, write: (index, data) => queue.write(index, data) };
  }

  /**
   * How many jobs of `fdsPerJob` descriptors the open-file limit lets run at once, or null when
   * there is no known limit.
   */
  jobsThatFit(fdsPerJob: number): number | null {
    const budget = this.#budget();
    return budget === null ? null : Math.max(1, Math.floor(budget / fdsPerJob));
  }

  /**
   * Holds `count` file descriptors for something outside the workers (a long-lived helper
   * process); false when they would not fit. Give them back with {@linkcode releaseFds}.
   */
  reserveFds(count: number): boolean {
    const budget = this.#budget();
    if (budget !== null && this.#fdsInUse + count > budget) return false;
    this.#fdsInUse += count;
    return true;
  }

  releaseFds(count: number): void {
    this.#fdsInUse -= count;
    this.#pump();
  }

  /** The pool's service under `key`, created on first use; closed when the pool closes. */
  service<T extends PoolService>(key: string, create: () => T): T {
    if (this.#closed) throw new CallerTypeError("Cannot use a closed pool: create a new Pool");
    let found = this.#services.get(key);
    if (found === undefined) {
      found = create();
      this.#services.set(key, found);
    }
    return found as T;
  }

  /**
   * Cancels every run, waits (a bounded time) until their jobs have reported, then terminates
   * the workers and closes the services.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#markClosed();
      const cancelled = Promise.all([...this.#queues].map((queue) => queue.cancel()));
      let timer: Timer | undefined;
      await Promise.race([
        cancelled,
        new Promise((resolve) => timer = after(CLOSE_WAIT_MS, () => resolve(null))),
      ]);
      timer?.clear();
      for (const slot of this.#allSlots) this.#retire(slot, "the pool was closed");
      const services = [...this.#services.values()];
      this.#services.clear();
      await Promise.all(services.map((service) => service.close()));
    })();
    return this.#closing;
  }

  /**
   * Kills every running process at once (SIGKILL, through its worker), never starts a queued
   * job, and terminates the workers a moment later if their jobs have not all reported by then.
   */
  kill(): void {
    this.#markClosed();
    for (const queue of this.#queues) queue.cancel();
    for (const slot of this.#allSlots) {
      for (const id of slot.jobs.keys()) {
        slot.worker?.postMessage({ type: "cancel", id, now: true });
      }
    }
    after(1_000, () => this.dispose());
  }

  /** Terminates everything at once: processes are killed, unfinished jobs end as cancelled. */
  dispose(): void {
    this.#markClosed();
    for (const queue of this.#queues) queue.cancel();
    for (const slot of this.#allSlots) this.#retire(slot, "the pool was closed");
    for (const service of this.#services.values()) service.closeSync();
    this.#services.clear();
  }

  #budget(): number | null {
    if (this.#fdBudget === undefined) this.#fdBudget = spareFileDescriptors();
    return this.#fdBudget;
  }

  /** Starts queued jobs while the limits allow, taking from each run in turn. */
  #pump(): void {
    let started = true;
    while (started && this.#running < this.options.limit && !this.#closed) {
      started = false;
      for (const queue of this.#queues) {
        if (this.#running >= this.options.limit) return;
        const job = queue.peek();
        if (job === undefined) continue;
        const fds = fdsOf(job);
        const budget = this.#budget();
        if (budget !== null && this.#running > 0 && this.#fdsInUse + fds > budget) return;
        this.#dispatch(queue, queue.take(), fds);
        started = true;
      }
    }
  }

  #dispatch(queue: RunQueue, index: number, fds: number): void {
    const { onMainThread, ...request } = queue.jobs[index];
    const slot = onMainThread ? this.#mainThread : this.#slotFor();
    const worker = slot.worker ?? this.#startWorker(slot);
    const { stdin, feed } = planStdin(request.stdin);
    const job: JobSpec = { ...request, id: this.#nextId++, stdin };
    this.#running++;
    this.#fdsInUse += fds;
    if (slot.jobs.size === 0) slot.heard = performance.now();
    slot.jobs.set(job.id, { queue, index, fds, pid: null, feed });
    this.#watchLiveness();
    queue.running.set(index, {
      cancel: () => worker.postMessage({ type: "cancel", id: job.id } satisfies ToWorker),
      write: (data) => worker.postMessage({ type: "write", id: job.id, data } satisfies ToWorker),
    });
    worker.postMessage({ type: "run", job } satisfies ToWorker);
  }

  /**
   * The started worker with the fewest jobs, unless every started worker already runs its share
   * and a slot is still free: then that slot (its worker starts).
   */
  #slotFor(): Slot {
    const share = this.options.workerShare ?? WORKER_SHARE;
    let best: Slot | null = null;
    for (const slot of this.#slots) {
      if (slot.worker !== null && (best === null || slot.jobs.size < best.jobs.size)) best = slot;
    }
    if (best !== null && best.jobs.size < share) return best;
    return this.#slots.find((slot) => slot.worker === null) ?? best!;
  }

  #startWorker(slot: Slot): JobWorker {
    const worker: JobWorker = slot === this.#mainThread
      ? new MainThreadWorker()
      : new Worker(this.options.workerUrl ?? WORKER_URL, { type: "module" });
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      slot.heard = performance.now();
      if (data.type === "pong") return;
      const assignment = slot.jobs.get(data.id);
      if (assignment === undefined) return;
      if (data.type === "started") {
        assignment.pid = data.pid;
        if (!data.restarted) assignment.queue.options.observer.started?.(assignment.index);
      } else if (data.type === "pull") {
        const piece = assignment.feed?.next(data.spare) ?? new Uint8Array();
        const message: ToWorker = { type: "feed", id: data.id, data: piece };
        worker.postMessage(message, [piece.buffer as ArrayBuffer]);
      } else if (data.type === "chunk") {
        const { id, stream, data: bytes } = data;
        const size = bytes.byteLength;
        const ack = () => worker.postMessage({ type: "ack", id, bytes: size } satisfies ToWorker);
        const used = assignment.queue.options.observer.output?.(assignment.index, stream, bytes);
        if (used instanceof Promise) used.then(ack, ack);
        else ack();
      } else {
        // Cancelled while it waited in the worker for its turn to spawn: it never started.
        const neverStarted = assignment.pid === null && data.end.cancelled;
        this.#finish(
          slot,
          data.id,
          neverStarted ? { kind: "not-started" } : { kind: "ran", process: data.end },
        );
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#retire(slot, `its worker failed: ${event.message}`);
    };
    worker.onmessageerror = () => this.#retire(slot, "a message from its worker was unreadable");
    slot.worker = worker;
    return worker;
  }

  #finish(slot: Slot, id: number, end: JobEnd): void {
    const assignment = slot.jobs.get(id);
    if (assignment === undefined) return;
    slot.jobs.delete(id);
    this.#running--;
    if (this.#running === 0) {
      // No job, nothing to watch: no timer keeps the process alive.
      this.#pinger?.clear();
      this.#pinger = null;
    }
    this.#fdsInUse -= assignment.fds;
    try {
      assignment.queue.end(assignment.index, end);
    } finally {
      this.#pump();
    }
  }

  /** Starts the liveness rounds if they are not running. */
  #watchLiveness(): void {
    if (this.#pinger !== null) return;
    this.#lastRound = performance.now();
    this.#pinger = after(this.#pingMs, () => this.#livenessRound());
  }

  get #pingMs(): number {
    return this.options.liveness?.pingMs ?? PING_MS;
  }

  get #silentMs(): number {
    return this.options.liveness?.silentMs ?? SILENT_MS;
  }

  /**
   * One liveness round: a worker with jobs that has said nothing for {@linkcode SILENT_MS} is
   * retired (its jobs reported lost); the others are pinged. Rounds go on while jobs run.
   */
  #livenessRound(): void {
    this.#pinger = null;
    const now = performance.now();
    // This thread was stalled: what the workers sent meanwhile is read first, so nobody's
    // silence is judged this round.
    const stalled = now - this.#lastRound > this.#pingMs + this.#silentMs / 2;
    this.#lastRound = now;
    for (const slot of this.#allSlots) {
      if (slot.worker === null || slot.jobs.size === 0) continue;
      if (stalled) slot.heard = now;
      if (now - slot.heard > this.#silentMs) {
        this.#retire(slot, "its worker stopped answering");
        continue;
      }
      slot.worker.postMessage({ type: "ping", seq: this.#pingSeq++ } satisfies ToWorker);
    }
    if (this.#running > 0 && !this.#closed) {
      this.#pinger = after(this.#pingMs, () => this.#livenessRound());
    }
  }

  /**
   * Terminates a slot's worker, then reports its jobs as lost. Their processes run in sessions of
   * their own, which terminating the worker does not reach: the worker's end closes their stdin
   * (a call's remote command stops on that, and its ssh with it), and where full `--allow-run`
   * is granted they are also killed outright.
   */
  #retire(slot: Slot, reason: string): void {
    slot.worker?.terminate();
    slot.worker = null;
    for (const [id, { pid }] of [...slot.jobs]) {
      if (pid !== null) killGroup(pid);
      this.#finish(slot, id, { kind: "lost", reason, cancelled: false });
    }
  }
}

/** File descriptors a job holds while it runs. */
function fdsOf(job: JobRequest): number {
  return FDS_PER_JOB + (job.stdoutFile !== null ? 1 : 0) + (job.stderrFile !== null ? 1 : 0);
}

function killGroup(pid: number): void {
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return;
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}

/**
 * Why the pool's workers cannot be loaded, or null: the main thread needs read access to the
 * worker module and its imports (parallax's own folder), unless it is compiled into a binary.
 */
export function workerLoadProblem(): string | null {
  const missing = missingReadPermission(WORKER_URL, new URL("../../..", WORKER_URL).pathname);
  return missing === null ? null : `cannot load parallax's workers: ${missing}`;
}

/** The default pool size: two workers (one on a single core); see the README's figures. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1));
}

const engines = new WeakMap<object, Engine>();

/** Ties a pool to its engine. */
export function attachEngine(pool: object, engine: Engine): void {
  engines.set(pool, engine);
}

/**
 * The engine of a pool.
 *
 * @throws {TypeError} For anything that is not a Pool created by `new Pool()`.
 */
export function engineOf(pool: object): Engine {
  const found = engines.get(pool);
  if (found === undefined) throw new CallerTypeError("Expected a Pool created by new Pool()");
  return found;
}
