/**
 * Runs one {@linkcode JobSpec} to its end inside a worker: spawn, feed stdin, read stdout and
 * stderr concurrently with waiting for the exit, stop the process on timeout or cancel.
 *
 * @module
 */

import type { JobSpec, ProcessEnd } from "../_protocol.ts";
import { type Child, spawnChild } from "../../runtime/_child_process.ts";
import { after, nextTurn, type Timer } from "../../runtime/_timer.ts";
import { FedStdin } from "./_fed_stdin.ts";
import { OutputFile } from "./_output_file.ts";
import { type Forward, type Keep, OutputReader } from "./_output_reader.ts";
import { StreamWindow } from "./_stream_window.ts";
import { HeldLog } from "../../runtime/_held_log.ts";

/**
 * How long to wait, after the process has exited, for more output or the pipes' end. Seconds can
 * pass under heavy load (measured: up to 6 s with 256 ssh at once on 2 cores), so this is long;
 * only a grandchild that holds the pipes open ever reaches it.
 */
const PIPE_DRAIN_MS = 30_000;

/** The same for a job that was stopped: what was in flight is all that can still come. */
const STOPPED_DRAIN_MS = 2_000;

/**
 * How often a process started through setsid is started again after a signal ended it before it
 * ran (see `execute`).
 */
const MOST_RESTARTS = 3;

/** The last spawn turn handed out: each starts one turn of the event loop after the one before. */
let lastTurn: Promise<void> = Promise.resolve();

/**
 * Waits for this job's turn to spawn. A spawn blocks the worker's thread while the whole process
 * forks (milliseconds, and far more on a loaded machine), so jobs spawn one per turn of the event
 * loop: between two spawns the worker handles what came in meanwhile (a cancel, which then keeps
 * the queued jobs from starting at all), fires its timers and reads its pipes.
 */
function spawnTurn(): Promise<void> {
  const turn = lastTurn.then(nextTurn);
  lastTurn = turn;
  return turn;
}

/** What a running job tells its worker. */
export interface JobEvents {
  /**
   * The process has started; `pid` is also its process group. `restarted`: the same attempt
   * again, its process before having never run.
   */
  started(pid: number, restarted: boolean): void;
  /** A chunk of output to forward (only for jobs that stream their output). */
  chunk(stream: "stdout" | "stderr", data: Uint8Array, transfer: boolean): void;
  /**
   * Send the next piece of fed stdin (only for jobs whose stdin is fed); `spare` is a piece
   * written already, whose buffer goes back to be filled again.
   */
  pull(spare: Uint8Array | null): void;
}

/** A job in progress. */
export interface RunningJob {
  /** Resolves when the process is gone and every output byte is accounted for. */
  readonly end: Promise<ProcessEnd>;
  /**
   * Stops the process (SIGTERM, then SIGKILL after the job's grace; `now`: SIGKILL at once) and
   * marks it cancelled.
   */
  cancel(now: boolean): void;
  /** Writes bytes to the process's held stdin (a job with `lifeline`), once it has started. */
  write(bytes: Uint8Array): void;
  /** The next piece of fed stdin, as asked for with {@linkcode JobEvents.pull}. */
  feed(piece: Uint8Array): void;
  /** The main thread is done with `bytes` of the output forwarded to it. */
  acknowledge(bytes: number): void;
}

/** Starts a job; never throws: every failure is part of its end. */
export function runJob(spec: JobSpec, events: JobEvents): RunningJob {
  const cancel = new AbortController();
  let stopper: Stopper | null = null;
  /** Bytes asked to be written before the process started. */
  const early: Uint8Array[] = [];
  /** Whether anything was written to its stdin besides the input (it cannot be said again). */
  let written = false;
  const window = new StreamWindow();
  const stdin = spec.stdin?.kind === "fed" ? new FedStdin(spec.stdin.size, events.pull) : null;
  const end = execute(spec, events, cancel.signal, window, stdin, (s) => {
    stopper = s;
    for (const bytes of early.splice(0)) s.child.writeStdin(bytes);
  }, () => written).finally(() => stdin?.end());
  return {
    end,
    cancel(now) {
      cancel.abort();
      if (now) stopper?.kill();
    },
    write(bytes) {
      written = true;
      if (stopper === null) early.push(bytes);
      else stopper.child.writeStdin(bytes);
    },
    feed: (piece) => stdin?.receive(piece),
    acknowledge: (bytes) => window.acknowledge(bytes),
  };
}

const NOT_RUN = {
  spawnError: null,
  exitCode: null,
  signal: null,
  timedOut: false,
  cancelled: false,
  stdout: [],
  stderr: [],
  stdoutBytes: 0,
  stderrBytes: 0,
  localError: null,
  outputCut: false,
  log: null,
} as const;

async function execute(
  spec: JobSpec,
  events: JobEvents,
  cancelled: AbortSignal,
  window: StreamWindow,
  fed: FedStdin | null,
  started: (stopper: Stopper) => void,
  written: () => boolean,
): Promise<ProcessEnd> {
  // From the spawn on: the wait for a turn to spawn is not the job's time.
  let startedAt = performance.now();
  const ended = (fields: Partial<ProcessEnd>): ProcessEnd => ({
    ...NOT_RUN,
    ...fields,
    durationMs: performance.now() - startedAt,
  });
  const files: (OutputFile | null)[] = [];
  let log: HeldLog | null = null;
  try {
    try {
      // One at a time, so that the first is closed (below) when the second cannot be made.
      files.push(await OutputFile.open(spec.stdoutFile));
      files.push(await OutputFile.open(spec.stderrFile));
    } catch (error) {
      return ended({ localError: errorMessage(error) });
    }
    await spawnTurn();
    startedAt = performance.now();
    if (cancelled.aborted) return ended({ cancelled: true });
    if (spec.logFile !== null) {
      try {
        log = HeldLog.make(spec.logFile.path, spec.logFile.uid);
      } catch (error) {
        return ended({ localError: `${errorMessage(error)}; nothing was started` });
      }
    }
    for (let restarts = 0;; restarts++) {
      let child: Child;
      try {
        child = spawnChild(spec.argv, {
          env: spec.env,
          stdin: fed ?? (spec.stdin?.kind === "bytes" ? spec.stdin.bytes : null),
          holdStdin: spec.lifeline,
          // Through setsid only where the program's log tells whether it ran (below), and its
          // stdin could be given again.
          setsid: log !== null && spec.logFile?.startsLog === true && fed === null,
        });
      } catch (error) {
        const { name, message } = error instanceof Error ? error : new Error(String(error));
        return ended({ spawnError: { name, message } });
      }
      events.started(child.pid, restarts > 0);
      const stopper = new Stopper(child, spec.killGraceMs, window);
      started(stopper);
      const onCancel = () => stopper.stop("cancelled");
      cancelled.addEventListener("abort", onCancel, { once: true });
      const deadline = spec.timeoutMs > 0
        ? after(
          Math.max(0, spec.timeoutMs - (performance.now() - startedAt)),
          () => stopper.stop("timedOut"),
        )
        : null;

      const reader = (stream: "stdout" | "stderr", keep: Keep, file: OutputFile | null) => {
        const forward: Forward | null = spec.streamOutput
          ? (data, transfer) => events.chunk(stream, data, transfer)
          : null;
        return new OutputReader(stream, keep, file, forward, window);
      };
      const out = reader("stdout", spec.keepOutput ? "all" : "none", files[0]);
      const err = reader("stderr", spec.keepOutput ? "all" : "tail", files[1]);
      const reading = Promise.all([out.read(child.stdout), err.read(child.stderr)]);
      const status = await child.status;
      deadline?.clear();
      cancelled.removeEventListener("abort", onCancel);
      child.closeStdin();
      const drainMs = stopper.reason === null ? PIPE_DRAIN_MS : STOPPED_DRAIN_MS;
      const complete = await drainOrAbandon(reading, [out, err], window, drainMs);
      stopper.dispose();
      // Started through setsid, ended by a signal or setsid's own failure, by itself, and the
      // program's log untouched: the program never ran (it logs as it starts, before it contacts
      // anything). The log is looked at only for such an end, not on every job's.
      const setsidEnd = status.signal !== null || status.code === 126 || status.code === 127;
      const neverRan = setsidEnd && child.throughSetsid && stopper.reason === null &&
        out.total === 0 && log !== null && log.untouched;
      if (
        neverRan && status.signal !== null && err.total === 0 && !written() &&
        restarts < MOST_RESTARTS
      ) {
        // A terminal's signal (Ctrl-C, hang-up) reached it in the moment before setsid made its
        // session: start it again, now out of the terminal's reach (a cancel that comes with
        // the signal ends it as any other).
        await spawnTurn();
        if (cancelled.aborted) return ended({ cancelled: true });
        continue;
      }
      if (neverRan && status.signal === null && (status.code === 126 || status.code === 127)) {
        // setsid could not execute the program (gone since it first started, or no longer
        // executable): the runtime's own error for it, never a remote command's exit status.
        return ended({
          spawnError: status.code === 127
            ? { name: "NotFound", message: "program not found" }
            : { name: "Error", message: "the program could not be executed" },
        });
      }
      return ended({
        exitCode: status.code,
        signal: status.signal,
        timedOut: stopper.reason === "timedOut",
        cancelled: stopper.reason === "cancelled",
        stdout: out.kept(),
        stderr: err.kept(),
        stdoutBytes: out.total,
        stderrBytes: err.total,
        localError: out.localError ?? err.localError,
        outputCut: !complete,
        log: log?.finish() ?? null,
      });
    }
  } finally {
    for (const file of files) file?.close();
    log?.discard();
  }
}

/**
 * Stops a process once: closes its stdin (the lifeline, so the far side stops its work too),
 * sends SIGTERM to its process group, and SIGKILL after the grace.
 */
class Stopper {
  reason: "timedOut" | "cancelled" | null = null;
  #kill: Timer | null = null;

  constructor(
    readonly child: Child,
    private readonly graceMs: number,
    private readonly window: StreamWindow,
  ) {}

  stop(reason: "timedOut" | "cancelled"): void {
    if (this.reason !== null) return;
    this.reason = reason;
    // What is left in the pipes is read without waiting for the main thread.
    this.window.open();
    this.child.closeStdin();
    this.child.kill("SIGTERM");
    this.#kill = after(this.graceMs, () => this.child.kill("SIGKILL"));
  }

  /** Stops it now: SIGKILL without waiting for the grace. */
  kill(): void {
    this.stop("cancelled");
    this.child.kill("SIGKILL");
  }

  dispose(): void {
    this.#kill?.clear();
  }
}

/**
 * Waits for both output pipes to reach EOF. A grandchild that inherited them (a backgrounded
 * process on the far side of ssh, say) can hold them open after the process has exited: once
 * `graceMs` pass with no byte arriving, the readers are cancelled rather than waiting forever.
 * While bytes keep coming (a loaded machine can be seconds behind), or a reader waits for the main
 * thread to use what it was sent, it waits.
 */
async function drainOrAbandon(
  reading: Promise<unknown>,
  readers: OutputReader[],
  window: StreamWindow,
  graceMs: number,
): Promise<boolean> {
  let finished = false;
  const done = reading.then(() => finished = true);
  let seen = -1;
  while (true) {
    const bytes = readers.reduce((sum, r) => sum + r.total, 0);
    if (bytes === seen && !window.waiting) break;
    seen = bytes;
    let timer: Timer | undefined;
    const grace = new Promise<void>((resolve) => timer = after(graceMs, resolve));
    await Promise.race([done, grace]);
    timer?.clear();
    if (finished) return true;
    // A loaded machine can stall this thread for long: when it wakes, the timer may run before
    // the reads that completed meanwhile. Let those land before judging.
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (finished) return true;
  }
  for (const reader of readers) reader.abandon();
  window.open();
  await reading;
  return false;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
