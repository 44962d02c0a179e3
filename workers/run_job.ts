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

/** How long to wait for the output pipes to close once the process has exited. */
const PIPE_DRAIN_MS = 500;

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
    stdout: new Uint8Array(),
    stderr: new Uint8Array(),
    stdoutBytes: 0,
    stderrBytes: 0,
    fileError: null,
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
  const err = new Collector("stderr", spec, stderrFile, onChunk);
  const reading = Promise.all([out.drain(child.stdout), err.drain(child.stderr)]);
  const status = await child.status;
  await drainOrAbandon(reading, [out, err]);
  for (const timer of timers) clearTimeout(timer);
  closeAll(files);
  return {
    ...base,
    exitCode: status.code,
    signal: status.signal,
    timedOut,
    cancelled,
    stdout: out.bytes(),
    stderr: err.bytes(),
    stdoutBytes: out.total,
    stderrBytes: err.total,
    fileError: out.fileError ?? err.fileError,
    durationMs: performance.now() - started,
  };
}

/**
 * Waits for both output pipes to reach EOF. A grandchild that inherited them (a backgrounded
 * process on the far side of ssh, say) can hold them open after the process has exited: after a
 * short grace the readers are cancelled rather than waiting forever.
 */
async function drainOrAbandon(reading: Promise<unknown>, collectors: Collector[]): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), PIPE_DRAIN_MS);
  });
  const first = await Promise.race([reading.then(() => "done" as const), grace]);
  clearTimeout(timer);
  if (first === "late") {
    for (const collector of collectors) collector.abandon();
    await reading;
  }
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

/** Reads one output stream to its end, keeping, writing and forwarding it as the job asks. */
class Collector {
  total = 0;
  fileError: string | null = null;
  private readonly chunks: Uint8Array[] = [];
  private kept = 0;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;

  constructor(
    private readonly name: "stdout" | "stderr",
    private readonly spec: JobSpec,
    private file: OutputFile | null,
    private readonly onChunk: ChunkListener,
  ) {}

  async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    this.reader = stream.getReader();
    try {
      while (true) {
        const { value, done } = await this.reader.read();
        if (done) break;
        await this.accept(value);
      }
    } catch {
      // The reader was cancelled after the process exited: what was read is kept.
    } finally {
      this.reader.releaseLock();
    }
  }

  abandon(): void {
    this.reader?.cancel().catch(() => {});
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
    if (this.spec.keepOutput) {
      this.chunks.push(data);
    } else if (this.name === "stderr") {
      this.chunks.push(data);
      this.kept += data.byteLength;
      while (this.kept - this.chunks[0].byteLength >= STDERR_TAIL_BYTES) {
        this.kept -= this.chunks.shift()!.byteLength;
      }
    }
    if (this.spec.streamOutput) this.onChunk(this.name, data);
  }

  bytes(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0];
    const all = new Uint8Array(this.chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
    let offset = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return all;
  }
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
