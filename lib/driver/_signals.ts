/**
 * SIGINT (Ctrl-C), SIGTERM and SIGHUP (terminal closed) while calls run. ssh and scp run in
 * sessions of their own, so a terminal's signals reach this process only: the first signal
 * cancels every call that handles signals (each stops its hosts, remote commands included), a
 * second one kills every process at once. When the last of those calls has cleaned up, the
 * process ends as the signal would have ended it (128 + its number), unless every call that saw
 * it asked to return instead (`exitOnSignal: false`).
 *
 * @module
 */

const SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

const NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** What a call does when a signal comes. */
export interface Interruptible {
  /** The first signal: stop the call's hosts. */
  cancel(): void;
  /** A second signal: kill every process now. */
  kill(): void;
  /** End the process once the calls are done (false: return the results). */
  readonly exitOnSignal: boolean;
}

const active = new Set<Interruptible>();
let received: Deno.Signal | null = null;
let count = 0;
let exitPending = false;

function onSignal(signal: Deno.Signal): void {
  count++;
  received ??= signal;
  for (const call of active) {
    if (count === 1) call.cancel();
    else call.kill();
  }
}

const listeners = new Map(SIGNALS.map((name) => [name, () => onSignal(name)]));

/**
 * Watches signals for one call until the returned handle is disposed; the handle tells which
 * signal came, if one did. Disposing the last handle ends the process when a signal came and a
 * call asked for that.
 */
export function watchSignals(call: Interruptible): Disposable & { received(): Deno.Signal | null } {
  if (active.size === 0) {
    received = null;
    count = 0;
    exitPending = false;
    for (const [name, listener] of listeners) {
      try {
        Deno.addSignalListener(name, listener);
      } catch {
        // Not supported here: the process keeps its default behaviour for this signal.
      }
    }
  }
  active.add(call);
  let seen: Deno.Signal | null = null;
  return {
    received: () => seen ?? received,
    [Symbol.dispose]() {
      seen = received;
      active.delete(call);
      if (received !== null && call.exitOnSignal) exitPending = true;
      if (active.size > 0) return;
      for (const [name, listener] of listeners) {
        try {
          Deno.removeSignalListener(name, listener);
        } catch {
          // Never added.
        }
      }
      if (exitPending && received !== null) Deno.exit(128 + (NUMBERS[received] ?? 0));
    },
  };
}

/** The signal that interrupted the latest calls, or null (for the CLI's summary). */
export function lastSignal(): Deno.Signal | null {
  return received;
}
