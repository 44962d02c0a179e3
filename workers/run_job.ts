/**
 * Runs one {@linkcode JobSpec} to its end inside a worker: spawn, feed stdin, read stdout and
 * stderr concurrently with waiting for the exit, enforce the timeout by SIGTERM then SIGKILL.
 *
 * @module
 */

import type { JobOutcome, JobSpec } from "../lib/protocol.ts";
import { type Child, spawnChild } from "./child_process.ts";

/**
 * Without `keepOutput`, the last this many bytes of stderr are still kept: the main thread needs
 * ssh's messages to tell a refused connection from a refused key.
 */
const STDERR_TAIL_BYTES = 64 * 1024;

/**
 * How long to wait, after the process has exited, for more output or the pipes' end. Seconds can
 * pass under heavy load (measured: up to 6 s with 256 ssh at once on 2 cores), so this is long;
 * only a grandchild that holds the pipes open ever reaches it.
 */
const PIPE_DRAIN_MS = 30_000;

/** A job in progress. */
export interface RunningJob {
  /** Resolves when the process is gone and every output byte is accounted for. */
  readonly outcome: Promise<JobOutcome>;
  /** Kills the process (SIGTERM, then SIGKILL after the job's grace) and marks it cancelled. */
  cancel(): void;
}

/** Called with each chunk of output when the job streams its output. */
export type ChunkListener = (stream: "stdout" | "stderr", data: Uint8Array) => void;

/** Starts a job; never throws: every failure is part of the outcome. */
export function runJob(spec: JobSpec, onChunk: ChunkListener): RunningJob {
  let cancelRequested = false;
  let cancel = () => {
    cancelRequested = true;
  };
  const outcome = execute(spec, onChunk, (kill) => {
    cancel = kill;
    if (cancelRequested) kill();
  });
  return { outcome, cancel: () => cancel() };
}

async function execute(
  spec: JobSpec,
  onChunk: ChunkListener,
  setCancel: (kill: () => void) => void,
): Promise<JobOutcome> {
  const started = performance.now();
  const base = {
    id: spec.id,
    spawnError: null,
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    stdout: [],
    stderr: [],
    stdoutBytes: 0,
    stderrBytes: 0,
    fileError: null,
    remotePid: null,
    outputCut: false,
  };
  let cancelled = false;
  setCancel(() => {
    cancelled = true;
  });
  const files: Deno.FsFile[] = [];
  let stdoutFile: OutputFile | null = null;
  let stderrFile: OutputFile | null = null;
  try {
    stdoutFile = await OutputFile.open(spec.stdoutFile, files);
    stderrFile = await OutputFile.open(spec.stderrFile, files);
  } catch (error) {
    closeAll(files);
    return { ...base, fileError: errorMessage(error), durationMs: performance.now() - started };
  }
  if (cancelled) {
    closeAll(files);
    return { ...base, cancelled: true, durationMs: performance.now() - started };
  }

  let child: Child;
  try {
    child = spawnChild(spec.argv, { env: spec.env, stdin: spec.stdin });
  } catch (error) {
    closeAll(files);
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    return { ...base, spawnError: { name, message }, durationMs: performance.now() - started };
  }

  let timedOut = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  const terminate = () => {
    child.kill("SIGTERM");
    timers.push(setTimeout(() => child.kill("SIGKILL"), spec.killGraceMs));
  };
  setCancel(() => {
    if (cancelled || timedOut) return;
    cancelled = true;
    terminate();
  });
  if (spec.timeoutMs > 0) {
    timers.push(setTimeout(() => {
      if (cancelled) return;
      timedOut = true;
      terminate();
    }, spec.timeoutMs));
  }

  const out = new Collector("stdout", spec, stdoutFile, onChunk);
  const err = new Collector("stderr", spec, stderrFile, onChunk, spec.pidMarker);
  const reading = Promise.all([out.drain(child.stdout), err.drain(child.stderr)]);
  const status = await child.status;
  const complete = await drainOrAbandon(reading, [out, err]);
  for (const timer of timers) clearTimeout(timer);
  closeAll(files);
  return {
    ...base,
    exitCode: status.code,
    signal: status.signal,
    timedOut,
    cancelled,
    stdout: out.chunksRead(),
    stderr: err.chunksRead(),
    stdoutBytes: out.total,
    stderrBytes: err.total,
    fileError: out.fileError ?? err.fileError,
    durationMs: performance.now() - started,
    remotePid: err.remotePid,
    outputCut: !complete,
  };
}

/**
 * Waits for both output pipes to reach EOF. A grandchild that inherited them (a backgrounded
 * process on the far side of ssh, say) can hold them open after the process has exited: once
 * {@linkcode PIPE_DRAIN_MS} pass with no byte arriving, the readers are cancelled rather than
 * waiting forever. While bytes keep coming (a loaded machine can be seconds behind), it waits.
 */
async function drainOrAbandon(
  reading: Promise<unknown>,
  collectors: Collector[],
): Promise<boolean> {
  const done = reading.then(() => "done" as const);
  let seen = -1;
  while (true) {
    const bytes = collectors.reduce((sum, c) => sum + c.total, 0);
    if (bytes === seen) break;
    seen = bytes;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), PIPE_DRAIN_MS);
    });
    const first = await Promise.race([done, grace]);
    clearTimeout(timer);
    if (first === "done") return true;
  }
  for (const collector of collectors) collector.abandon();
  await reading;
  return false;
}

/** A file that receives one stream of a job's output. */
class OutputFile {
  private constructor(private readonly file: Deno.FsFile) {}

  /**
   * Opens `path` for writing, replacing whatever was there. The old entry is removed first and the
   * file is created exclusively, so a symlink planted at that name is never followed.
   */
  static async open(path: string | null, opened: Deno.FsFile[]): Promise<OutputFile | null> {
    if (path === null) return null;
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
    opened.push(file);
    return new OutputFile(file);
  }

  async write(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.byteLength) written += await this.file.write(data.subarray(written));
  }
}

/** Bytes of stderr searched for the pid marker line before giving up on it. */
const MARKER_WINDOW = 64 * 1024;
const NEWLINE = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads one output stream to its end, keeping, writing and forwarding it as the job asks. On
 * stderr it can first cut out the line that announces the remote process group: ssh's own
 * warnings may come before it, so the head of the stream is held back until that line has come
 * (or {@linkcode MARKER_WINDOW} bytes without it).
 */
class Collector {
  total = 0;
  fileError: string | null = null;
  remotePid: number | null = null;
  private head: Uint8Array | null;
  private readonly markerBytes: Uint8Array | null;
  /**
   * What is kept, as read: everything with `keepOutput` (joined only if the caller asks for the
   * bytes, so that memory stays near the bytes held), else stderr's tail.
   */
  private readonly chunks: Uint8Array[] = [];
  private kept = 0;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;

  constructor(
    private readonly name: "stdout" | "stderr",
    private readonly spec: JobSpec,
    private file: OutputFile | null,
    private readonly onChunk: ChunkListener,
    marker: string | null = null,
  ) {
    this.head = marker === null ? null : new Uint8Array();
    this.markerBytes = marker === null ? null : encoder.encode(marker);
  }

  async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    this.reader = stream.getReader();
    try {
      while (true) {
        const { value, done } = await this.reader.read();
        if (done) break;
        await this.take(value);
      }
      if (this.head !== null && this.head.byteLength > 0) await this.accept(this.head);
      this.head = null;
    } catch {
      // The reader was cancelled after the process exited: what was read is kept.
    } finally {
      this.reader.releaseLock();
    }
  }

  abandon(): void {
    this.reader?.cancel().catch(() => {});
  }

  /** Passes data on, after cutting the marker line out of the held-back head. */
  private async take(data: Uint8Array): Promise<void> {
    if (this.head === null) return await this.accept(data);
    const head = new Uint8Array(this.head.byteLength + data.byteLength);
    head.set(this.head);
    head.set(data, this.head.byteLength);
    const markerBytes = this.markerBytes!;
    const at = indexOf(head, markerBytes);
    const end = at < 0 ? -1 : head.indexOf(NEWLINE, at);
    if (at >= 0 && end >= 0) {
      const pid = Number(decoder.decode(head.subarray(at + markerBytes.byteLength, end)));
      if (Number.isInteger(pid) && pid > 1) this.remotePid = pid;
      this.head = null;
      const rest = new Uint8Array(head.byteLength - (end + 1 - at));
      rest.set(head.subarray(0, at));
      rest.set(head.subarray(end + 1), at);
      if (rest.byteLength > 0) await this.accept(rest);
    } else if (head.byteLength >= MARKER_WINDOW) {
      this.head = null;
      await this.accept(head);
    } else {
      this.head = head;
    }
  }

  private async accept(data: Uint8Array): Promise<void> {
    this.total += data.byteLength;
    if (this.file !== null) {
      try {
        await this.file.write(data);
      } catch (error) {
        this.fileError = `cannot write ${this.name} file: ${errorMessage(error)}`;
        this.file = null;
      }
    }
    // A short read can sit in a much larger buffer: keep a copy of its bytes, not the buffer.
    const own = data.byteLength * 2 < data.buffer.byteLength ? data.slice() : data;
    if (this.spec.keepOutput) {
      this.chunks.push(own);
    } else if (this.name === "stderr") {
      this.chunks.push(own);
      this.kept += data.byteLength;
      while (this.kept - this.chunks[0].byteLength >= STDERR_TAIL_BYTES) {
        this.kept -= this.chunks.shift()!.byteLength;
      }
    }
    if (this.spec.streamOutput) this.onChunk(this.name, data);
  }

  chunksRead(): Uint8Array[] {
    return this.chunks;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.byteLength <= haystack.byteLength; i++) {
    for (let j = 0; j < needle.byteLength; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function closeAll(files: Deno.FsFile[]): void {
  for (const file of files) {
    try {
      file.close();
    } catch {
      // Already closed.
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
