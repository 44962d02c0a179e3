/**
 * What a pool's worker does: runs the jobs posted to it, several at once, and posts back each
 * job's start, its output chunks (when asked) and its end. It makes no decisions of its own. A
 * Web Worker serves its global scope (`_job_worker.ts`); the engine's main-thread worker serves
 * one end of a message channel.
 *
 * @module
 */

import type { FromWorker, ToWorker } from "../_protocol.ts";
import { runJob, type RunningJob } from "./_run_job.ts";

/** Where the jobs come from and their news goes: a worker's global scope or a message port. */
export interface JobScope {
  /** Hands each message posted to the jobs to `handler`. */
  listen(handler: (message: ToWorker) => void): void;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

/**
 * Serves the jobs posted to `scope`; `stopAll()` kills every running one at once. A job's end
 * never rejects; should it, `fail` hears of it (by default the rejection goes unhandled, which
 * ends a Web Worker with an error its pool sees).
 */
export function serveJobs(
  scope: JobScope,
  fail?: (error: unknown) => void,
): { stopAll(): void } {
  const running = new Map<number, RunningJob>();
  scope.listen((message) => {
    switch (message.type) {
      case "run": {
        const { id } = message.job;
        const job = runJob(message.job, {
          started: (pid, restarted) => scope.postMessage({ type: "started", id, pid, restarted }),
          chunk: (stream, data, transfer) =>
            scope.postMessage(
              { type: "chunk", id, stream, data },
              transfer ? buffersOf([data]) : [],
            ),
          pull: (spare) =>
            scope.postMessage(
              { type: "pull", id, spare },
              spare === null ? [] : buffersOf([spare]),
            ),
        });
        running.set(id, job);
        job.end.then((end) => {
          running.delete(id);
          scope.postMessage({ type: "done", id, end }, buffersOf([...end.stdout, ...end.stderr]));
        }, fail);
        break;
      }
      case "cancel":
        running.get(message.id)?.cancel(message.now ?? false);
        break;
      case "write":
        running.get(message.id)?.write(message.data);
        break;
      case "feed":
        running.get(message.id)?.feed(message.data);
        break;
      case "ack":
        running.get(message.id)?.acknowledge(message.bytes);
        break;
      case "ping":
        scope.postMessage({ type: "pong", seq: message.seq });
        break;
    }
  });
  return { stopAll: () => running.forEach((job) => job.cancel(true)) };
}

/** The distinct buffers under `chunks`, for a transfer list: the worker keeps none of them. */
function buffersOf(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const bytes of chunks) {
    if (bytes.byteLength > 0 && bytes.buffer instanceof ArrayBuffer) buffers.add(bytes.buffer);
  }
  return [...buffers];
}
