/**
 * Timers that hold any delay: `setTimeout` fires at once for a delay of 2^31 ms or more (about
 * 24.8 days), so longer delays are chained. And a turn of the event loop without a timer. The one
 * module to swap for `@std/async` helpers.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** The longest delay one `setTimeout` holds. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** A pending timer; `clear()` cancels it (and does nothing once it has fired). */
export interface Timer {
  clear(): void;
}

/** Calls `fn` once after `ms` milliseconds, however long that is. */
export function after(ms: number, fn: () => void): Timer {
  let handle: ReturnType<typeof setTimeout> | undefined;
  const due = Date.now() + ms;
  const arm = (left: number) => {
    handle = setTimeout(() => {
      const remaining = due - Date.now();
      if (remaining > 0) arm(remaining);
      else fn();
    }, Math.min(Math.max(left, 0), MAX_DELAY_MS));
  };
  arm(ms);
  return { clear: () => clearTimeout(handle) };
}

/** Resolves after `ms` milliseconds, or at once when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = after(ms, done);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      timer.clear();
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Resolves on the next turn of the event loop, after what is due now has run: I/O that is ready
 * (pipes, messages from other threads) and timers that are due. Not a timer: `setTimeout(0)` takes
 * ~2 ms a turn here (its nesting clamp), which a chain of turns would add up.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
