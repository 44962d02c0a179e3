/**
 * A job's stdin as the main thread sends it, piece by piece: the worker asks for the next piece
 * while the process takes the one before, so the input is never held here as a whole (nor once
 * per host), and a process that reads slowly is sent nothing more until it has read.
 *
 * @module
 */

/** The pieces of one job's fed stdin, in order, as an async iterable of its bytes. */
export class FedStdin implements AsyncIterable<Uint8Array> {
  /** Whoever waits for the piece asked for (one is asked for at a time). */
  #waiting: ((piece: Uint8Array | null) => void) | null = null;
  #ended = false;

  /**
   * `pull` asks the main thread for the next piece (it comes to {@linkcode receive}), handing
   * back a piece already written, whose buffer the main thread fills again.
   */
  constructor(readonly size: number, private readonly pull: (spare: Uint8Array | null) => void) {}

  /** The piece asked for, from the main thread. */
  receive(piece: Uint8Array): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(piece);
  }

  /** No more pieces will be taken (the job has ended): a wait for one ends at once. */
  end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(null);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    let received = 0;
    let written: Uint8Array | null = null;
    let next = this.size > 0 ? this.#next(null) : null;
    while (next !== null) {
      const piece = await next;
      // Ended, or the main thread has nothing more (never before `size`, but never a loop).
      if (piece === null || piece.byteLength === 0) return;
      received += piece.byteLength;
      // The next piece travels while this one is written (the consumer asks for another only
      // once it has written this one, so the one before is free to go back).
      next = received < this.size ? this.#next(written) : null;
      yield piece;
      written = piece;
    }
  }

  #next(spare: Uint8Array | null): Promise<Uint8Array | null> {
    if (this.#ended) return Promise.resolve(null);
    const piece = new Promise<Uint8Array | null>((resolve) => this.#waiting = resolve);
    this.pull(spare);
    return piece;
  }
}
