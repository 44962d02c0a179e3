/**
 * Timers that hold any delay: `setTimeout` fires at once for a delay of 2^31 ms or more (about
 * 24.8 days), so longer delays are chained. The one module to swap for `@std/async` helpers.
 *
 * @module
 */

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
