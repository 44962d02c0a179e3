/**
 * SIGINT and SIGTERM while a call runs: the first cancels the call (its processes are killed, its
 * unfinished hosts reported `cancelled`), a second terminates the pool's workers at once, which
 * kills their processes with them. Without this, a signal would end the process and leave its
 * ssh processes running, orphaned.
 *
 * @module
 */

const SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/**
 * Runs `fn` with a signal that aborts when the caller's `signal` does or on the first SIGINT or
 * SIGTERM; calls `onSecond` on the next one. Listeners are removed when `fn` settles. When not
 * `enabled`, runs `fn` with the caller's signal alone and leaves the process's signals alone.
 */
export async function whileInterruptible<T>(
  signal: AbortSignal | undefined,
  onSecond: () => void,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
  enabled = true,
): Promise<T> {
  if (!enabled) return await fn(signal);
  const interrupt = new AbortController();
  let received = 0;
  const listener = () => {
    received++;
    if (received === 1) interrupt.abort();
    else onSecond();
  };
  const added: Deno.Signal[] = [];
  for (const name of SIGNALS) {
    try {
      Deno.addSignalListener(name, listener);
      added.push(name);
    } catch {
      // Not supported here: the process keeps its default behaviour for this signal.
    }
  }
  try {
    return await fn(signal ? AbortSignal.any([signal, interrupt.signal]) : interrupt.signal);
  } finally {
    for (const name of added) Deno.removeSignalListener(name, listener);
  }
}
