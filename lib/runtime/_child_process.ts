/**
 * A small interface over the runtime's child process, so that nothing else touches
 * `Deno.Command` directly.
 *
 * Every child starts in a session (and process group) of its own: a terminal's Ctrl-C or hang-up
 * reaches this process only, which then decides what its children get. Where the caller allows
 * it and run access to `/usr/bin/setsid` (util-linux, BusyBox) is granted beside the program's
 * own, a child starts as `setsid program …`: the runtime then spawns it without copying itself,
 * where a session of its own otherwise takes a fork of this whole process (its cost grows with
 * the memory this process holds: ~10 ms of CPU a child at 200 MB).
 *
 * @module
 */

/** How a child process ended. */
export interface ChildStatus {
  /** Exit code; 128 + n for a death by signal n. */
  readonly code: number;
  /** Name of the signal that ended it, or null. */
  readonly signal: string | null;
}

/** A running child process. */
export interface Child {
  /** The child's pid, which is also its process group and session id. */
  readonly pid: number;
  /**
   * It started as `setsid program …` (see {@linkcode SpawnOptions.setsid}): until setsid has made
   * its session (a moment), a terminal's signal can still reach it, and a program that cannot be
   * executed is setsid's exit status 126 or 127 rather than an exception.
   */
  readonly throughSetsid: boolean;
  /** stdout, or null when it goes to /dev/null. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** stderr, or null when it goes to /dev/null. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves when the process has exited. */
  readonly status: Promise<ChildStatus>;
  /** Closes stdin, even in the middle of writing the input; does nothing when already closed. */
  closeStdin(): void;
  /**
   * Writes more bytes to a held stdin (see {@linkcode SpawnOptions.holdStdin}), after the input
   * and whatever was written before; does nothing once stdin is closed.
   */
  writeStdin(bytes: Uint8Array): void;
  /**
   * Sends a signal to the child (ssh and scp pass it on to what they started); does nothing once
   * the child has exited.
   */
  kill(signal: Deno.Signal): void;
}

/** What to start, and how. */
export interface SpawnOptions {
  /** Variables added to the inherited environment. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Bytes for stdin, or pieces of them as they come (each written once the one before is
   * taken). Without `holdStdin`, stdin is closed after them (null: /dev/null).
   */
  readonly stdin: Uint8Array | AsyncIterable<Uint8Array> | null;
  /**
   * Keep stdin open after the bytes until {@linkcode Child.closeStdin}: the child sees its end
   * when this process closes it or dies, whichever comes first.
   */
  readonly holdStdin: boolean;
  /** Read stdout and stderr (default), or send them to /dev/null. */
  readonly output?: "piped" | "null";
  /** Let this process exit while the child still runs (default false). */
  readonly unref?: boolean;
  /**
   * May start through setsid (default false): only for a caller that can tell setsid's own end
   * from the program's (see {@linkcode Child.throughSetsid}), e.g. by a log the program writes as
   * it starts.
   */
  readonly setsid?: boolean;
}

/**
 * The program that starts another in a session of its own without forking first, by its path:
 * a name Deno cannot find in `--allow-run` costs a notice on every start where it is missing.
 */
const SETSID = "/usr/bin/setsid";
/** Whether `setsid` may be run here; null until first asked. */
let setsidUsable: boolean | null = null;
/** Programs this thread has started directly: they exist, and `setsid` would find them too. */
const startedOnce = new Set<string>();

/**
 * How the next child running `program` gets its session: through `setsid` only once `program` was
 * started directly in this thread (so that a missing program is still the runtime's `NotFound`,
 * never setsid's exit code 127, which a remote command's can be), and only while both may be run
 * (setsid never runs what this process may not); else a fork. `setsid` does not fork: a child of
 * this process leads no process group, so it becomes its session's leader under its own pid, the
 * pid kept here.
 */
export function sessionStart(program: string): "setsid" | "fork" {
  if (!startedOnce.has(program)) return "fork";
  setsidUsable ??= runGranted(SETSID);
  return setsidUsable && runGranted(program) ? "setsid" : "fork";
}

function runGranted(command: string): boolean {
  return Deno.permissions.querySync({ name: "run", command }).state === "granted";
}

/** Bytes per write to a child's stdin: a large input is written in slices. */
const WRITE_SLICE = 256 * 1024;

/**
 * Starts `argv[0]` with the rest of `argv` as its arguments, in a session of its own.
 *
 * @throws Whatever `Deno.Command#spawn` throws: `Deno.errors.NotFound` for a missing program,
 * `Deno.errors.NotCapable` without run permission.
 */
export function spawnChild(argv: readonly string[], options: SpawnOptions): Child {
  const piped = options.stdin !== null || options.holdStdin;
  const start = (wrapped: boolean) => {
    const [program, ...args] = wrapped ? [SETSID, ...argv] : argv;
    return new Deno.Command(program, {
      args,
      env: { ...options.env },
      stdin: piped ? "piped" : "null",
      stdout: options.output ?? "piped",
      stderr: options.output ?? "piped",
      detached: !wrapped,
    }).spawn();
  };
  let process: Deno.ChildProcess;
  let throughSetsid = options.setsid === true && sessionStart(argv[0]) === "setsid";
  if (throughSetsid) {
    try {
      process = start(true);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable)) {
        throw error;
      }
      // No setsid here after all (or its access was taken back): a fork from now on.
      setsidUsable = false;
      throughSetsid = false;
      process = start(false);
    }
  } else {
    process = start(false);
    startedOnce.add(argv[0]);
  }
  if (options.unref) process.unref();
  let exited = false;
  const status = process.status.then((s) => {
    exited = true;
    return { code: s.code, signal: s.signal };
  });
  const stdin = piped ? new StdinFeeder(process.stdin, options.stdin, options.holdStdin) : null;
  return {
    pid: process.pid,
    throughSetsid,
    stdout: options.output === "null" ? null : process.stdout,
    stderr: options.output === "null" ? null : process.stderr,
    status,
    closeStdin: () => stdin?.close(),
    writeStdin: (bytes) => stdin?.write(bytes),
    kill(signal) {
      if (exited) return;
      try {
        process.kill(signal);
      } catch {
        // The process exited between the check and the kill.
      }
    },
  };
}

/** Writes the input to a child's stdin, then closes it or holds it open for more, or until asked. */
class StdinFeeder {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;
  #writing = true;
  /** The writes so far, in order: each waits for the one before. */
  #queue: Promise<void>;

  constructor(
    stdin: WritableStream<Uint8Array>,
    input: Uint8Array | AsyncIterable<Uint8Array> | null,
    hold: boolean,
  ) {
    this.#writer = stdin.getWriter();
    this.#queue = this.#feed(input ?? new Uint8Array(), hold);
  }

  async #feed(input: Uint8Array | AsyncIterable<Uint8Array>, hold: boolean): Promise<void> {
    try {
      if (input instanceof Uint8Array) await this.#writeSlices(input);
      else {
        for await (const piece of input) {
          if (this.#closed) break;
          await this.#writer.write(piece);
        }
      }
    } catch {
      // EPIPE: the process closed its stdin early. Its exit status tells the rest.
    }
    this.#writing = false;
    if (!hold) this.close();
  }

  /**
   * Writes bytes through one buffer of its own, used again for every slice: they may live in
   * memory shared with other threads, and a fresh slice per write would leave them all behind as
   * garbage, once per host.
   */
  async #writeSlices(bytes: Uint8Array): Promise<void> {
    const scratch = new Uint8Array(Math.min(WRITE_SLICE, bytes.byteLength));
    for (let at = 0; at < bytes.byteLength && !this.#closed; at += WRITE_SLICE) {
      const slice = bytes.subarray(at, at + WRITE_SLICE);
      scratch.set(slice);
      await this.#writer.write(scratch.subarray(0, slice.byteLength));
    }
  }

  /** Writes `bytes` after everything written before (a held stdin only). */
  write(bytes: Uint8Array): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      this.#writing = true;
      try {
        await this.#writer.write(bytes);
      } catch {
        // The process closed its stdin: nothing more to say to it.
      }
      this.#writing = false;
    });
  }

  /** Closes stdin; in the middle of a write, drops the rest of the input. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    (this.#writing ? this.#writer.abort() : this.#writer.close()).catch(() => {});
  }
}
