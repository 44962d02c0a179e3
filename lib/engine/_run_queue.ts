/**
 * One run's jobs: its queue, its own limit, and the accounting of what has ended.
 *
 * @module
 */

import { after, type Timer } from "../runtime/_timer.ts";
import type { JobSpec, ProcessEnd } from "./_protocol.ts";
import type { StdinPart } from "./_stdin_feed.ts";

/**
 * A job for the engine: a {@linkcode JobSpec} without its id, which the engine assigns, and with
 * its stdin as the bytes themselves, in parts written one after the other (null: none). A single
 * part in a `SharedArrayBuffer` is read by the worker in place; other large ones stay on this
 * thread and are sent to the worker as the process takes them, so they are never copied whole.
 */
export type JobRequest = Omit<JobSpec, "id" | "stdin"> & {
  readonly stdin: readonly StdinPart[] | null;
  /**
   * Run it on the main thread rather than in a Web Worker (a connection to a gateway: long-lived,
   * few, and read on the main thread anyway).
   */
  readonly onMainThread?: boolean;
};

/** How a job ended, as the engine saw it. */
export type JobEnd =
  /** The worker ran it and reported how its process ended. */
  | { readonly kind: "ran"; readonly process: ProcessEnd }
  /**
   * It was cancelled before its process started (before it was handed to a worker, or while it
   * waited there for its turn to spawn): nothing was started.
   */
  | { readonly kind: "not-started" }
  /**
   * Its worker died or was terminated before reporting; its process was killed.
   * `cancelled` tells whether the run had been cancelled by then.
   */
  | { readonly kind: "lost"; readonly reason: string; readonly cancelled: boolean };

/** Told what happens to a run's jobs, by index. */
export interface JobObserver {
  /**
   * A chunk of output of a job that streams its output. A promise returned says when the chunk
   * has been used: until then it counts against the job's window, and the job reads no further
   * past it.
   */
  output?(index: number, stream: "stdout" | "stderr", data: Uint8Array): void | Promise<void>;
  /** A job's process has started (told for each attempt). */
  started?(index: number): void;
  /**
   * A job has ended (each job once, in the order they end). Returning `{ retryAfterMs }` asks
   * for the job to run again after that pause instead: `end` is then told again when that attempt
   * ends, or (`not-started`) when the run is halted or cancelled before it starts.
   */
  end(index: number, end: JobEnd): void | Retry;
}

/** A request to run a job again after a pause. */
export interface Retry {
  readonly retryAfterMs: number;
}

/** Options of a run. */
export interface RunOptions {
  /** At most this many of the run's jobs at once (the pool's limit applies as well). */
  readonly limit: number;
  /** Aborting stops running jobs and never starts queued ones. */
  readonly signal?: AbortSignal;
  /** Aborting never starts queued jobs (they end `not-started`); running ones finish. */
  readonly halt?: AbortSignal;
  readonly observer: JobObserver;
}

/** What the engine lets a run do to one of its running jobs. */
export interface RunningJob {
  /** Stops the job. */
  cancel(): void;
  /** Writes bytes to its held stdin. */
  write(data: Uint8Array): void;
}

/** A run's queue. The engine takes jobs from it with {@linkcode RunQueue.take}. */
export class RunQueue {
  /** Running jobs by index. */
  readonly running = new Map<number, RunningJob>();
  #next = 0;
  #ended = 0;
  #cancelled = false;
  #halted = false;
  /** Jobs waiting for their retry, and the timer that makes each ready. */
  readonly #waiting = new Map<number, Timer>();
  /** Jobs whose retry is due, in the order they became due. */
  #ready: number[] = [];
  #resolve = () => {};
  readonly done = new Promise<void>((resolve) => this.#resolve = resolve);

  /** `wake` is called when a retry is due, so that the engine can start it. */
  constructor(
    readonly jobs: readonly JobRequest[],
    readonly options: RunOptions,
    private readonly wake: () => void,
  ) {
    if (jobs.length === 0) this.#resolve();
  }

  /** The next job to start, if the run may start one now. */
  peek(): JobRequest | undefined {
    if (this.#cancelled || this.running.size >= this.options.limit) return undefined;
    return this.jobs[this.#ready[0] ?? this.#next];
  }

  /** Takes the job {@linkcode peek} showed (a due retry first); returns its index. */
  take(): number {
    return this.#ready.shift() ?? this.#next++;
  }

  /** Never starts the queued jobs (retries included); lets the running ones finish. */
  halt(): void {
    this.#halted = true;
    this.#endUnstarted();
  }

  /** Never starts the queued jobs; cancels the running ones; resolves when all have ended. */
  cancel(): Promise<void> {
    if (!this.#cancelled) {
      this.#cancelled = true;
      this.#endUnstarted();
      for (const job of this.running.values()) job.cancel();
    }
    return this.done;
  }

  /**
   * Writes bytes to the held stdin of the job at `index`; false when it is not running (not
   * started yet, or ended).
   */
  write(index: number, data: Uint8Array): boolean {
    const job = this.running.get(index);
    job?.write(data);
    return job !== undefined;
  }

  /** Records the end of the job at `index` (or schedules its retry, if the observer asks). */
  end(index: number, end: JobEnd): void {
    if (end.kind === "lost" && this.#cancelled) end = { ...end, cancelled: true };
    this.running.delete(index);
    let retry: Retry | void = undefined;
    try {
      retry = this.options.observer.end(index, end);
      if (retry !== undefined && (this.#cancelled || this.#halted)) {
        // The run stops before the retry: the observer hears that it never starts again.
        retry = undefined;
        this.options.observer.end(index, { kind: "not-started" });
      }
    } finally {
      if (retry !== undefined) {
        this.#waiting.set(index, after(retry.retryAfterMs, () => this.#due(index)));
      } else if (++this.#ended === this.jobs.length) this.#resolve();
    }
  }

  #due(index: number): void {
    this.#waiting.delete(index);
    this.#ready.push(index);
    this.wake();
  }

  #endUnstarted(): void {
    const unstarted = [...this.#ready, ...this.#waiting.keys()];
    for (const timer of this.#waiting.values()) timer.clear();
    this.#waiting.clear();
    this.#ready = [];
    while (this.#next < this.jobs.length) unstarted.push(this.#next++);
    for (const index of unstarted) this.end(index, { kind: "not-started" });
  }
}
