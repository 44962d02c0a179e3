/**
 * A small interface over the runtime's child process, so that nothing else in the worker touches
 * `Deno.Command` directly.
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

/** A running child process with piped stdout and stderr. */
export interface Child {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves when the process has exited. */
  readonly status: Promise<ChildStatus>;
  /** Sends a signal; does nothing once the process has exited. */
  kill(signal: Deno.Signal): void;
}

/** What to start. */
export interface SpawnOptions {
  /** Variables added to the inherited environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Bytes for stdin (then closed), or null for /dev/null. */
  readonly stdin: Uint8Array | null;
}

/**
 * Starts `argv[0]` with the rest of `argv` as its arguments.
 *
 * @throws Whatever `Deno.Command#spawn` throws: `Deno.errors.NotFound` for a missing program,
 * `Deno.errors.NotCapable` without run permission.
 */
export function spawnChild(argv: readonly string[], options: SpawnOptions): Child {
  const [program, ...args] = argv;
  const process = new Deno.Command(program, {
    args,
    env: { ...options.env },
    stdin: options.stdin === null ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = process.status.then((s) => {
    exited = true;
    return { code: s.code, signal: s.signal };
  });
  if (options.stdin !== null) feedStdin(process.stdin, options.stdin);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    status,
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

/** Writes the bytes and closes stdin; a process that exits without reading them is not an error. */
async function feedStdin(stdin: WritableStream<Uint8Array>, bytes: Uint8Array): Promise<void> {
  const writer = stdin.getWriter();
  try {
    await writer.write(bytes);
    await writer.close();
  } catch {
    // EPIPE: the process closed its stdin early. Its exit status tells the rest.
  }
}
