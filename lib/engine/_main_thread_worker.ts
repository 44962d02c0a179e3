/**
 * A worker on the main thread: the jobs of a {@linkcode MainThreadWorker} run in this thread, with
 * the same messages as a Web Worker's, through a message channel. The engine runs the few
 * long-lived connections to gateways here, where their protocol is read anyway: a Web Worker for
 * them alone would cost more to start (~0.1 s of CPU) than it would ever save.
 *
 * @module
 */

import type { FromWorker, ToWorker } from "./_protocol.ts";
import { type JobScope, serveJobs } from "./worker/_serve_jobs.ts";

/** What the engine uses of a worker, Web Worker or not. */
export interface JobWorker {
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror: ((event: MessageEvent) => void) | null;
  postMessage(message: ToWorker, transfer?: Transferable[]): void;
  terminate(): void;
}

/** A {@linkcode JobWorker} whose jobs run on this thread. */
export class MainThreadWorker implements JobWorker {
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onmessageerror: ((event: MessageEvent) => void) | null = null;
  readonly #channel = new MessageChannel();
  readonly #jobs: { stopAll(): void };

  constructor() {
    const { port1: mine, port2: theirs } = this.#channel;
    mine.onmessage = (event) => this.onmessage?.(event);
    mine.onmessageerror = (event) => this.onmessageerror?.(event);
    // A job's failure is reported as a Web Worker's would be, never thrown into this thread.
    const fail = (error: unknown) =>
      this.onerror?.(new ErrorEvent("error", { message: String(error), error }));
    const scope: JobScope = {
      listen: (handler) =>
        theirs.onmessage = ({ data }) => {
          try {
            handler(data);
          } catch (error) {
            fail(error);
          }
        },
      postMessage: (message, transfer) => theirs.postMessage(message, transfer ?? []),
    };
    this.#jobs = serveJobs(scope, fail);
  }

  postMessage(message: ToWorker, transfer: Transferable[] = []): void {
    this.#channel.port1.postMessage(message, transfer);
  }

  /** Kills its running jobs' processes at once and closes the channel. */
  terminate(): void {
    this.#jobs.stopAll();
    this.#channel.port1.close();
    this.#channel.port2.close();
  }
}
