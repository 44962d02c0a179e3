/**
 * The messages between the main thread and the pool's workers: one tagged union per direction.
 * Both sides import this module and nothing else to talk to each other.
 *
 * A worker only runs the argv it is given and reports what happened; every decision (which
 * program, which flags, which files) is made on the main thread before a {@linkcode JobSpec}
 * is posted. The engine knows nothing of ssh: a job is a process with an argv.
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
  /** What is written to the process's stdin (null: nothing, stdin is /dev/null). */
  readonly stdin: JobStdin | null;
  /**
   * Hold stdin open after `stdin` until the job ends: the far side sees its end when the job is
   * stopped or this process dies, and stops its own work then (a lifeline).
   */
  readonly lifeline: boolean;
  /** Milliseconds from spawn after which the process is stopped; 0 means never. */
  readonly timeoutMs: number;
  /** Milliseconds between SIGTERM and SIGKILL when the job is timed out or cancelled. */
  readonly killGraceMs: number;
  /** Keep stdout and stderr and send them back with the end. */
  readonly keepOutput: boolean;
  /** Also post each chunk of output as it arrives ({@linkcode ChunkMessage}). */
  readonly streamOutput: boolean;
  /** File that receives stdout (created or truncated), or null. */
  readonly stdoutFile: string | null;
  /** File that receives stderr (created or truncated), or null. */
  readonly stderrFile: string | null;
  /**
   * A file the program writes its own log to (ssh's `-E`), or null: made new just before the
   * spawn in its folder (private to `uid`: mode 0700, not a link; made again if gone, refused
   * if anyone else's), held open here, and read back through that descriptor when the process
   * has ended, so that what is read is what the program wrote, whoever touches the path.
   * `startsLog`: the program itself writes it as it starts, before it contacts anything (ssh with
   * `-E`), so a log left empty says it never ran.
   */
  readonly logFile: {
    readonly path: string;
    readonly uid: number;
    readonly startsLog: boolean;
  } | null;
}

/**
 * A job's stdin: bytes the worker has (small ones, or memory every job of a call shares), or
 * bytes the main thread sends in pieces as the process takes them, so that an input the caller
 * holds is held once, not once per host.
 */
export type JobStdin =
  /**
   * The bytes. They may be shared by every job of a call (a `SharedArrayBuffer`): the worker reads
   * them, never writes or transfers them.
   */
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  /**
   * `size` bytes that the main thread sends as {@linkcode FeedMessage}s, one for each
   * {@linkcode PullMessage} (at most {@linkcode FEED_SLICE} bytes each).
   */
  | { readonly kind: "fed"; readonly size: number };

/** The most bytes of stdin one {@linkcode FeedMessage} carries. */
export const FEED_SLICE = 256 * 1024;

/** How a job's process ended, as the worker saw it. */
export interface ProcessEnd {
  /** The process could not be started: the error's name and message. */
  readonly spawnError: { readonly name: string; readonly message: string } | null;
  /** Exit code; for a death by signal, 128 + the signal number. Null when it never ran. */
  readonly exitCode: number | null;
  /** Name of the signal that ended the process, if one did. */
  readonly signal: string | null;
  /** The job ran past its `timeoutMs` and was stopped. */
  readonly timedOut: boolean;
  /** The job was cancelled by the main thread and stopped. */
  readonly cancelled: boolean;
  /** Captured stdout: one chunk holding it all (none unless `keepOutput`). */
  readonly stdout: readonly Uint8Array[];
  /** Captured stderr: all of it with `keepOutput`, else its last 64 KiB (for classifying). */
  readonly stderr: readonly Uint8Array[];
  /** Total bytes the process wrote to stdout and stderr, kept or not. */
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  /** A local problem while the job ran (an output file, a failed read): its message. */
  readonly localError: string | null;
  /** Milliseconds from spawn to the end of the job. */
  readonly durationMs: number;
  /** The output pipes stayed open long after the process exited: the output may be incomplete. */
  readonly outputCut: boolean;
  /**
   * The program's log (see `logFile`): all of it, or its first and last 128 KiB (`cut`); `trusted`
   * is false when its path no
   * longer led to the file made for it (removed or replaced while it ran), so that the program
   * may have written elsewhere. Null without a `logFile`, or when it never started.
   */
  readonly log: { readonly text: string; readonly trusted: boolean; readonly cut: boolean } | null;
}

/** Main thread → worker: run a job. */
export interface RunMessage {
  readonly type: "run";
  readonly job: JobSpec;
}

/**
 * Main thread → worker: stop a running job (SIGTERM, then SIGKILL after its grace; with `now`,
 * SIGKILL at once).
 */
export interface CancelMessage {
  readonly type: "cancel";
  readonly id: number;
  readonly now?: boolean;
}

/** Main thread → worker: more bytes for a running job's held stdin (see `lifeline`). */
export interface WriteMessage {
  readonly type: "write";
  readonly id: number;
  readonly data: Uint8Array;
}

/** Main thread → worker: the next piece of a job's fed stdin (see {@linkcode JobStdin}). */
export interface FeedMessage {
  readonly type: "feed";
  readonly id: number;
  /** Owned by the worker alone (transferred). */
  readonly data: Uint8Array;
}

/**
 * Main thread → worker: it is done with `bytes` of a job's forwarded output. A worker sends at
 * most a window (256 KiB) of a job's output ahead of these, so a slow consumer slows the job.
 */
export interface AckMessage {
  readonly type: "ack";
  readonly id: number;
  readonly bytes: number;
}

/**
 * Main thread → worker: are you there? A worker answers each with a {@linkcode PongMessage}
 * at once, whatever its jobs are doing; one that stops answering is presumed hung.
 */
export interface PingMessage {
  readonly type: "ping";
  readonly seq: number;
}

/** Every message the main thread sends to a worker. */
export type ToWorker =
  | RunMessage
  | CancelMessage
  | WriteMessage
  | FeedMessage
  | AckMessage
  | PingMessage;

/** Worker → main thread: a job's process has started (its pid is its process group). */
export interface StartedMessage {
  readonly type: "started";
  readonly id: number;
  readonly pid: number;
  /**
   * The same attempt started again, its process having never run (see `_run_job.ts`): its pid
   * replaces the one before; it is no new attempt.
   */
  readonly restarted: boolean;
}

/**
 * Worker → main thread: a piece of a job's output, sent only when `streamOutput` is set; the main
 * thread owns it alone, and answers with an {@linkcode AckMessage} once it has used it.
 */
export interface ChunkMessage {
  readonly type: "chunk";
  readonly id: number;
  readonly stream: "stdout" | "stderr";
  readonly data: Uint8Array;
}

/**
 * Worker → main thread: send the next piece of a job's fed stdin. A worker asks for a piece while
 * it writes the one before, so at most two are on their way or being written per job; it hands
 * back (transfers) the buffer of a piece it has written, for the main thread to fill again.
 */
export interface PullMessage {
  readonly type: "pull";
  readonly id: number;
  readonly spare: Uint8Array | null;
}

/** Worker → main thread: a job has ended and its process is gone. */
export interface DoneMessage {
  readonly type: "done";
  readonly id: number;
  readonly end: ProcessEnd;
}

/** Worker → main thread: the answer to a {@linkcode PingMessage}. */
export interface PongMessage {
  readonly type: "pong";
  readonly seq: number;
}

/** Every message a worker sends to the main thread. */
export type FromWorker = StartedMessage | ChunkMessage | PullMessage | DoneMessage | PongMessage;
