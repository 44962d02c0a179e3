/**
 * Rolling work: the hosts in batches, and the failure budget (`maxFailures`) that stops starting
 * hosts once exceeded.
 *
 * @module
 */

import { ParallaxError } from "../parallax_error.ts";
import type { Settings } from "../settings/_settings.ts";

/**
 * The hosts split into batches, as indices: sizes as given (a percentage of all the hosts,
 * rounded up, at least 1), the last size repeating; without sizes, one batch.
 */
export function batchesOf(total: number, sizes: Settings["batch"]): number[][] {
  const all = Array.from({ length: total }, (_, i) => i);
  if (sizes.length === 0) return [all];
  const batches: number[][] = [];
  for (let at = 0, n = 0; at < total; n++) {
    const size = sizes[Math.min(n, sizes.length - 1)];
    const count = "count" in size
      ? size.count
      : Math.max(1, Math.ceil((total * size.percent) / 100));
    batches.push(all.slice(at, at + count));
    at += count;
  }
  return batches;
}

/** A host that failed: an error, or for call a nonzero exit. */
export function failed(result: unknown): boolean {
  return result instanceof ParallaxError ||
    (typeof result === "object" && result !== null && "exitCode" in result &&
      (result as { exitCode: number }).exitCode !== 0);
}

/** Counts failures against `maxFailures`; says why once it is exceeded. */
export class FailureBudget {
  /** Why no more hosts start, once the budget is exceeded. */
  exceeded: string | null = null;
  #total = 0;
  #inBatch = 0;
  #batchSize = 0;

  constructor(private readonly limit: Settings["maxFailures"]) {}

  /** Starts no more hosts, for `why` (unless the budget was exceeded already). */
  stop(why: string): void {
    this.exceeded ??= why;
  }

  /**
   * What is left of the budget, for a gateway to apply to its own hosts: the failures still
   * allowed, or the percentage; undefined without a budget.
   */
  remaining(): number | string | undefined {
    const limit = this.limit;
    if (limit === null) return undefined;
    return "count" in limit ? Math.max(0, limit.count - this.#total) : `${limit.percent}%`;
  }

  startBatch(size: number): void {
    this.#inBatch = 0;
    this.#batchSize = size;
  }

  /** Counts one failure; true when that exceeds the budget (the first time). */
  count(): boolean {
    this.#total++;
    this.#inBatch++;
    const limit = this.limit;
    if (limit === null || this.exceeded !== null) return false;
    if ("count" in limit && this.#total > limit.count) {
      const hosts = this.#total === 1 ? "1 host" : `${this.#total} hosts`;
      this.exceeded = `${hosts} failed, more than maxFailures ${limit.count}`;
    } else if ("percent" in limit && (this.#inBatch * 100) / this.#batchSize > limit.percent) {
      this.exceeded =
        `${this.#inBatch} of ${this.#batchSize} hosts of a batch failed, more than maxFailures ${limit.percent}%`;
    }
    return this.exceeded !== null;
  }
}
