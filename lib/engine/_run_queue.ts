/**
 * One run's jobs: its queue, its own limit, and the accounting of what has ended.
 *
 * @module
 */

import type { JobSpec, ProcessEnd } from "./_protocol.ts";

/** A job for the engine: a {@linkcode JobSpec} without its id, which the engine assigns. */
export type JobRequest = Omit<JobSpec, "id">;

/** How a job ended, as the engine saw it. */
export type JobEnd =
  /** The worker ran it and reported how its process ended. */
  | { readonly kind: "ran"; readonly process: ProcessEnd }
  /** It was cancelled before it was handed to a worker: nothing was started. */
  | { readonly kind: "not-started" }
  /**
   * Its worker died or was terminated before reporting; its process was killed.
   * `cancelled` tells whether the run had been cancelled by then.
   */
  | { readonly kind: "lost"; readonly reason: string; readonly cancelled: boolean };

/** Told what happens to a run's jobs, by index. */
export interface JobObserver {
  /** A chunk of output of a job that streams its output. */
  output?(index: number, stream: "stdout" | "stderr", data: Uint8Array): void;
  /** A job has ended (each job exactly once, in the order they end). */
  end(index: number, end: JobEnd): void;
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

/** A run's queue. The engine takes jobs from it with {@linkcode RunQueue.take}. */
export class RunQueue {
  /** Running jobs by index, each with the function that cancels it. */
  readonly running = new Map<number, () => void>();
  #next = 0;
  #ended = 0;
  #cancelled = false;
  #resolve = () => {};
  readonly done = new Promise<void>((resolve) => this.#resolve = resolve);

  constructor(readonly jobs: readonly JobRequest[], readonly options: RunOptions) {
    if (jobs.length === 0) this.#resolve();
  }

  /** The next job to start, if the run may start one now. */
  peek(): JobRequest | undefined {
    if (this.#cancelled || this.running.size >= this.options.limit) return undefined;
    return this.jobs[this.#next];
  }

  /** Takes the job {@linkcode peek} showed; returns its index. */
  take(): number {
    return this.#next++;
  }

  /** Never starts the queued jobs; lets the running ones finish. */
  halt(): void {
    while (this.#next < this.jobs.length) this.end(this.#next++, { kind: "not-started" });
  }

  /** Never starts the queued jobs; cancels the running ones; resolves when all have ended. */
  cancel(): Promise<void> {
    if (!this.#cancelled) {
      this.#cancelled = true;
      while (this.#next < this.jobs.length) this.end(this.#next++, { kind: "not-started" });
      for (const cancel of this.running.values()) cancel();
    }
    return this.done;
  }

  /** Records the end of the job at `index`. */
  end(index: number, end: JobEnd): void {
    if (end.kind === "lost" && this.#cancelled) end = { ...end, cancelled: true };
    this.running.delete(index);
    this.#ended++;
    try {
      this.options.observer.end(index, end);
    } finally {
      if (this.#ended === this.jobs.length) this.#resolve();
    }
  }
}
