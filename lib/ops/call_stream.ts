/**
 * `callStream()`: `call()` as an async iterable of output chunks and results, as they happen.
 *
 * @module
 */

import type { HostsInput } from "../hosts/parse.ts";
import type { PerHost } from "../hosts/per_host.ts";
import type { ParallaxError } from "../parallax_error.ts";
import { LineSplitter } from "../runtime/_lines.ts";
import { CALL_OPTION_NAMES, type CallOptions, type CallResult, callWith } from "./call.ts";
import { checkOptionNames } from "../settings/_option_names.ts";

/**
 * A host has finished: its result or error.
 *
 * @example The end of each host in a stream
 * ```ts
 * import { callStream, ParallaxError, type ResultEvent } from "@parallax/parallax";
 *
 * for await (const event of callStream(["web1", "web2"], "true")) {
 *   if (event.type !== "result") continue;
 *   const end: ResultEvent = event;
 *   console.log(end.host, end.result instanceof ParallaxError ? end.result.kind : "ok");
 * }
 * ```
 */
export interface ResultEvent {
  /** Says which event this is. */
  readonly type: "result";
  /** The host's key, as in `call()`'s map. */
  readonly host: string;
  /** The host's result or error, as `call()` gives it. */
  readonly result: CallResult | ParallaxError;
}

/**
 * What {@linkcode callStream} yields.
 *
 * @example Output and results as they come
 * ```ts
 * import { type CallEvent, callStream } from "@parallax/parallax";
 *
 * for await (const event of callStream(["web1", "web2"], "uptime")) {
 *   const seen: CallEvent = event;
 *   if (seen.type === "result") console.log(seen.host, "done");
 * }
 * ```
 */
export type CallEvent =
  /** A piece of a host's output, as it arrived (not split into lines). */
  | {
    readonly type: "output";
    readonly host: string;
    readonly stream: "stdout" | "stderr";
    readonly data: Uint8Array;
  }
  | ResultEvent;

/**
 * What {@linkcode callStream} yields with `lines: true`.
 *
 * @example Lines as they come
 * ```ts
 * import { type CallLineEvent, callStream } from "@parallax/parallax";
 *
 * for await (const event of callStream(["web1"], "journalctl -n 20", { lines: true })) {
 *   const seen: CallLineEvent = event;
 *   if (seen.type === "line") console.log(`${seen.host} ${seen.stream}: ${seen.line}`);
 * }
 * ```
 */
export type CallLineEvent =
  /**
   * A complete line of a host's output, without its `"\n"`; the last line of a stream that did
   * not end with one comes when its host ends, before its result.
   */
  | {
    readonly type: "line";
    readonly host: string;
    readonly stream: "stdout" | "stderr";
    readonly line: string;
  }
  | ResultEvent;

/**
 * Options of {@linkcode callStream}: {@linkcode CallOptions}, and how output is handed out.
 *
 * @example Streaming lines with a timeout
 * ```ts
 * import { callStream, type CallStreamOptions } from "@parallax/parallax";
 *
 * const options = { lines: true, timeout: 60 } as const satisfies CallStreamOptions;
 * for await (const event of callStream(["web1"], "uptime", options)) console.log(event.type);
 * ```
 */
export interface CallStreamOptions extends CallOptions {
  /**
   * Yield output as `line` events, decoded per host and stream, instead of `output` chunks.
   *
   * @default {false}
   */
  lines?: boolean;
}

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
 * @param options As for {@linkcode call}, and `lines` (see {@linkcode CallStreamOptions}).
 * @returns An async iterable of {@linkcode CallEvent}s ({@linkcode CallLineEvent}s with `lines`).
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
 *
 * @example Lines as they come, per host
 * ```ts
 * import { callStream } from "@parallax/parallax";
 *
 * for await (const event of callStream(["web1", "web2"], "tail -n 3 /var/log/syslog", {
 *   lines: true,
 * })) {
 *   if (event.type === "line") console.log(`${event.host} ${event.stream}: ${event.line}`);
 * }
 * ```
 */
export function callStream(
  hosts: HostsInput,
  command: PerHost<string>,
  options: CallStreamOptions & { readonly lines: true },
): AsyncGenerator<CallLineEvent, void, undefined>;
/**
 * {@linkcode callStream} with output as it arrives, in chunks (the default).
 *
 * @param hosts As for {@linkcode call}.
 * @param command As for {@linkcode call}.
 * @param options As for {@linkcode call}.
 * @returns An async iterable of {@linkcode CallEvent}s.
 * @throws {TypeError} As {@linkcode call} does, from the first step of the iteration.
 *
 * @example Output as it arrives
 * ```ts
 * import { callStream } from "@parallax/parallax";
 *
 * for await (const event of callStream(["web1"], "uptime")) {
 *   if (event.type === "output") await Deno.stdout.write(event.data);
 * }
 * ```
 */
export function callStream(
  hosts: HostsInput,
  command: PerHost<string>,
  options?: CallStreamOptions & { readonly lines?: false },
): AsyncGenerator<CallEvent, void, undefined>;
export async function* callStream(
  hosts: HostsInput,
  command: PerHost<string>,
  options: CallStreamOptions = {},
): AsyncGenerator<CallEvent | CallLineEvent, void, undefined> {
  checkOptionNames(options, [...CALL_OPTION_NAMES, "lines"], "callStream");
  const { lines = false, ...callOptions } = options;
  /** Per host and stream, with `lines`: the splitter of its output. */
  const splitters = new Map<string, LineSplitter>();
  const splitter = (host: string, stream: "stdout" | "stderr") => {
    const key = `${stream}\n${host}`;
    let found = splitters.get(key);
    if (found === undefined) splitters.set(key, found = new LineSplitter());
    return found;
  };
  /** Events not yet taken, each with what to call once the loop has used it. */
  const queue: { event: CallEvent | CallLineEvent; used?: () => void }[] = [];
  let wake: (() => void) | null = null;
  /** The loop has been left: nothing more is taken. */
  let left = false;
  const push = (event: CallEvent | CallLineEvent, used?: () => void) => {
    if (left) return used?.();
    queue.push({ event, used });
    wake?.();
  };
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let finished = false;
  let failure: { error: unknown } | null = null;
  /** A host's lines of `stream`, the last one's use telling that the chunk has been used. */
  const pushLines = (
    host: string,
    stream: "stdout" | "stderr",
    found: string[],
    used: () => void,
  ) => {
    if (found.length === 0) return used();
    found.forEach((line, i) =>
      push({ type: "line", host, stream, line }, i === found.length - 1 ? used : undefined)
    );
  };
  const running = callWith(hosts, command, { ...callOptions, signal }, {
    // A chunk counts as used once the loop asks for the next event: a loop slower than the
    // hosts holds their output back (256 KiB each) instead of gathering it here.
    output: (host, stream, data) =>
      new Promise<void>((used) => {
        if (lines) pushLines(host, stream, splitter(host, stream).push(data), used);
        else push({ type: "output", host, stream, data }, used);
      }),
    result: (result) => {
      if (lines) {
        for (const stream of ["stdout", "stderr"] as const) {
          pushLines(result.host, stream, splitter(result.host, stream).end(), () => {});
          splitters.delete(`${stream}\n${result.host}`);
        }
      }
      push({ type: "result", host: result.host, result });
    },
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
