/**
 * The messages between the main thread and the pool's workers: one tagged union per direction.
 * Both sides import this module and nothing else to talk to each other.
 *
 * A worker only runs the argv it is given and reports what happened; every decision (which
 * program, which flags, which files) is made on the main thread before a {@linkcode JobSpec}
 * is posted.
 *
 * @module
 */

/** One process for a worker to run. */
export interface JobSpec {
  /** Identifier unique within the pool, echoed in every message about this job. */
  readonly id: number;
  /** Program and arguments; `argv[0]` is the program. */
  readonly argv: readonly string[];
  /** Variables added to the inherited environment of the process. */
  readonly env: Readonly<Record<string, string>>;
  /** Bytes written to the process's stdin, which is then closed; null gives it /dev/null. */
  readonly stdin: Uint8Array | null;
  /** Milliseconds from spawn after which the process is terminated; 0 means never. */
  readonly timeoutMs: number;
  /** Milliseconds between SIGTERM and SIGKILL when the job is timed out or cancelled. */
  readonly killGraceMs: number;
  /** Keep stdout and stderr in memory and send them back with the outcome. */
  readonly keepOutput: boolean;
  /** Also post each chunk of output as it arrives ({@linkcode ChunkMessage}). */
  readonly streamOutput: boolean;
  /** File that receives stdout (created or truncated), or null. */
  readonly stdoutFile: string | null;
  /** File that receives stderr (created or truncated), or null. */
  readonly stderrFile: string | null;
  /**
   * A line `<pidMarker><number>` that the remote command writes first on stderr, to be cut out of
   * the output and reported as {@linkcode JobOutcome.remotePid}; null when there is none.
   */
  readonly pidMarker: string | null;
}

/** How a job's process ended, as seen by the worker. */
export interface JobOutcome {
  readonly id: number;
  /** The process could not be started: the error's name and message. */
  readonly spawnError: { readonly name: string; readonly message: string } | null;
  /** Exit code; for a death by signal, 128 + the signal number. */
  readonly exitCode: number | null;
  /** Name of the signal that ended the process, if one did. */
  readonly signal: string | null;
  /** The job ran past its `timeoutMs` and was killed. */
  readonly timedOut: boolean;
  /** The job was cancelled by the main thread and killed. */
  readonly cancelled: boolean;
  /** Captured stdout, as the chunks read (none unless `keepOutput`). */
  readonly stdout: readonly Uint8Array[];
  /** Captured stderr: all of it with `keepOutput`, else its last 64 KiB (for classifying). */
  readonly stderr: readonly Uint8Array[];
  /** Total bytes the process wrote to stdout and stderr, kept or not. */
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  /** Writing an output file failed: the error's message. */
  readonly fileError: string | null;
  /** Milliseconds from spawn to the end of the job. */
  readonly durationMs: number;
  /** The remote process group announced by the `pidMarker` line, if it came. */
  readonly remotePid: number | null;
  /** The output pipes stayed open long after the process exited: the output may be incomplete. */
  readonly outputCut: boolean;
}

/** Main thread → worker: run a job. */
export interface RunMessage {
  readonly type: "run";
  readonly job: JobSpec;
}

/** Main thread → worker: kill a running job (SIGTERM, then SIGKILL after its grace). */
export interface CancelMessage {
  readonly type: "cancel";
  readonly id: number;
}

/** Main thread → worker: throw an uncaught error (fault injection for the pool's tests). */
export interface CrashMessage {
  readonly type: "crash";
}

/** Every message the main thread sends to a worker. */
export type ToWorker = RunMessage | CancelMessage | CrashMessage;

/** Worker → main thread: a piece of a job's output, sent only when `streamOutput` is set. */
export interface ChunkMessage {
  readonly type: "chunk";
  readonly id: number;
  readonly stream: "stdout" | "stderr";
  readonly data: Uint8Array;
}

/** Worker → main thread: a job has ended and its process is gone. */
export interface DoneMessage {
  readonly type: "done";
  readonly outcome: JobOutcome;
}

/** Every message a worker sends to the main thread. */
export type FromWorker = ChunkMessage | DoneMessage;

/** The buffers of an outcome, for the transfer list of `postMessage`. */
export function outcomeTransfer(outcome: JobOutcome): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const bytes of [...outcome.stdout, ...outcome.stderr]) {
    if (bytes.byteLength > 0 && bytes.buffer instanceof ArrayBuffer) buffers.add(bytes.buffer);
  }
  return [...buffers];
}
