/**
 * `callStream()`: `call()` as an async iterable of output chunks and results, as they happen.
 *
 * @module
 */

import type { HostsInput } from "../hosts/parse.ts";
import type { PerHost } from "../hosts/per_host.ts";
import type { ParallaxError } from "../parallax_error.ts";
import { type CallOptions, type CallResult, callWith } from "./call.ts";

/** What {@linkcode callStream} yields. */
export type CallEvent =
  /** A piece of a host's output, as it arrived (not split into lines). */
  | {
    readonly type: "output";
    readonly host: string;
    readonly stream: "stdout" | "stderr";
    readonly data: Uint8Array;
  }
  /** A host has finished: its result or error. */
  | { readonly type: "result"; readonly host: string; readonly result: CallResult | ParallaxError };

/**
 * Runs `command` on every host like {@linkcode call}, and yields each host's output as it arrives
 * and each host's result as soon as it finishes, so that a caller can show progress and act on
 * the first results while the rest run. The iteration ends after the last result. Leaving the
 * loop early (`break`, an exception) cancels the hosts still running and waits until their
 * processes are gone.
 *
 * With `inline: false` the results hold no output, so memory stays small however much the hosts
 * print (`outdir` keeps a copy on disk). A loop slower than the hosts holds them back rather than
 * gathering their output: each host's output is read at most about 256 KiB ahead of the loop.
 *
 * @param hosts As for {@linkcode call}.
 * @param command As for {@linkcode call}.
 * @param options As for {@linkcode call}.
 * @returns An async iterable of {@linkcode CallEvent}s.
 * @throws {TypeError} As {@linkcode call} does, from the first step of the iteration.
 *
 * @example Acting on results as they come
 * ```ts
 * import { callStream, ParallaxError } from "@parallax/parallax";
 *
 * for await (const event of callStream(["web1", "web2"], "uptime", { timeout: 10 })) {
 *   if (event.type === "output") continue;
 *   const { host, result } = event;
 *   console.log(host, result instanceof ParallaxError ? result.kind : result.exitCode);
 * }
 * ```
 */
export async function* callStream(
  hosts: HostsInput,
  command: PerHost<string>,
  options: CallOptions = {},
): AsyncGenerator<CallEvent, void, undefined> {
  /** Events not yet taken, each with what to call once the loop has used it. */
  const queue: { event: CallEvent; used?: () => void }[] = [];
  let wake: (() => void) | null = null;
  /** The loop has been left: nothing more is taken. */
  let left = false;
  const push = (event: CallEvent, used?: () => void) => {
    if (left) return used?.();
    queue.push({ event, used });
    wake?.();
  };
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let finished = false;
  let failure: { error: unknown } | null = null;
  const running = callWith(hosts, command, { ...options, signal }, {
    // A chunk counts as used once the loop asks for the next event: a loop slower than the
    // hosts holds their output back (256 KiB each) instead of gathering it here.
    output: (host, stream, data) =>
      new Promise<void>((used) => push({ type: "output", host, stream, data }, used)),
    result: (result) => push({ type: "result", host: result.host, result }),
  })
    .catch((error) => {
      failure = { error };
    })
    .finally(() => {
      finished = true;
      wake?.();
    });
  try {
    while (true) {
      if (queue.length > 0) {
        const { event, used } = queue.shift()!;
        yield event;
        used?.();
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => wake = resolve);
      wake = null;
    }
    if (failure !== null) throw (failure as { error: unknown }).error;
  } finally {
    left = true;
    if (!finished) stop.abort();
    // Left early: what was never taken is let go, so the hosts being stopped are not held back.
    for (const { used } of queue.splice(0)) used?.();
    await running;
  }
}
