/**
 * The pool's worker: runs the jobs the main thread posts, several at once, and posts back each
 * job's output chunks (when asked) and its outcome. It makes no decisions of its own.
 *
 * @module
 */

import { type FromWorker, outcomeTransfer, type ToWorker } from "../lib/protocol.ts";
import { runJob, type RunningJob } from "./run_job.ts";

/** The parts of the worker's global scope that this module uses. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;
const running = new Map<number, RunningJob>();

scope.onmessage = ({ data: message }) => {
  switch (message.type) {
    case "run": {
      const { job } = message;
      const handle = runJob(job, (stream, data) => {
        const transfer = job.keepOutput ? [] : [data.buffer as ArrayBuffer];
        scope.postMessage({ type: "chunk", id: job.id, stream, data }, transfer);
      });
      running.set(job.id, handle);
      handle.outcome.then((outcome) => {
        running.delete(job.id);
        scope.postMessage({ type: "done", outcome }, outcomeTransfer(outcome));
      });
      break;
    }
    case "cancel":
      running.get(message.id)?.cancel();
      break;
    case "crash":
      setTimeout(() => {
        throw new Error("worker crash requested by the pool (fault injection)");
      });
      break;
  }
};
