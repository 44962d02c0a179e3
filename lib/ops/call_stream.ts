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
 * print, as long as the loop consumes the chunks as they come (`outdir` keeps a copy on disk).
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
  const queue: CallEvent[] = [];
  let wake: (() => void) | null = null;
  const push = (event: CallEvent) => {
    queue.push(event);
    wake?.();
  };
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let finished = false;
  let failure: { error: unknown } | null = null;
  const running = callWith(hosts, command, { ...options, signal }, {
    output: (host, stream, data) => push({ type: "output", host, stream, data }),
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
        yield queue.shift()!;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => wake = resolve);
      wake = null;
    }
    if (failure !== null) throw (failure as { error: unknown }).error;
  } finally {
    if (!finished) stop.abort();
    await running;
  }
}
