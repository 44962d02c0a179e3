/**
 * The module a pool's Web Worker runs: it serves the jobs the main thread posts.
 *
 * @module
 */

import type { FromWorker, ToWorker } from "../_protocol.ts";
import { serveJobs } from "./_serve_jobs.ts";

/** The parts of the worker's global scope that this module uses. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;
serveJobs({
  listen: (handler) => scope.onmessage = ({ data }) => handler(data),
  postMessage: (message, transfer) => scope.postMessage(message, transfer ?? []),
});
