/**
 * Flow control for a job's forwarded output: the worker reads no further while the main thread
 * has more than a window of it not yet used. A consumer slower than the hosts then slows the
 * hosts (ssh waits on a full pipe) instead of piling their output up in memory.
 *
 * @module
 */

/** Bytes of one job's output that may be on their way to, or waiting in, the main thread. */
export const STREAM_WINDOW_BYTES = 256 * 1024;

/** The bytes forwarded and not yet acknowledged, and whoever waits for room. */
export class StreamWindow {
  #outstanding = 0;
  #open = false;
  #wake: (() => void) | null = null;

  /** Whether a reader is waiting for room (so its stream is not stalled, only held back). */
  get waiting(): boolean {
    return this.#wake !== null;
  }

  /** Counts bytes handed to the main thread. */
  sent(bytes: number): void {
    this.#outstanding += bytes;
  }

  /** The main thread is done with `bytes` of them. */
  acknowledge(bytes: number): void {
    this.#outstanding -= bytes;
    if (this.#outstanding <= STREAM_WINDOW_BYTES) this.#release();
  }

  /** Resolves once there is room for more (at once while there is, or once opened). */
  room(): Promise<void> | undefined {
    if (this.#open || this.#outstanding <= STREAM_WINDOW_BYTES) return undefined;
    return new Promise((resolve) => {
      const before = this.#wake;
      this.#wake = () => {
        before?.();
        resolve();
      };
    });
  }

  /** Lifts the limit for good: a job being stopped reads what is left without waiting. */
  open(): void {
    this.#open = true;
    this.#release();
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
