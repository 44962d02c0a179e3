/**
 * The live progress line on a terminal's stderr: done/total, failures, elapsed.
 *
 * @module
 */

const encoder = new TextEncoder();
const CLEAR = "\r\x1b[K";

/** Redraws one line on stderr; does nothing when disabled. */
export class Progress {
  #done = 0;
  #failed = 0;
  #shown = false;
  #stopped = false;
  readonly #started = performance.now();
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly total: number, private readonly enabled: boolean) {
    if (enabled) this.#timer = setInterval(() => this.#draw(), 250);
  }

  /** Counts a finished host and redraws. */
  count(ok: boolean): void {
    this.#done++;
    if (!ok) this.#failed++;
    this.#draw();
  }

  /** Removes the line, runs `write` (which prints to the terminal), and draws it again. */
  around(write: () => void): void {
    this.#clear();
    write();
    this.#draw();
  }

  /** Removes the line for good. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#clear();
  }

  #clear(): void {
    if (this.#shown) Deno.stderr.writeSync(encoder.encode(CLEAR));
    this.#shown = false;
  }

  #draw(): void {
    if (!this.enabled || this.#stopped) return;
    const elapsed = ((performance.now() - this.#started) / 1000).toFixed(1);
    const failed = this.#failed > 0 ? `, ${this.#failed} failed` : "";
    const line = `[${this.#done}/${this.total}${failed}] ${elapsed} s`;
    Deno.stderr.writeSync(encoder.encode(`${CLEAR}${line}`));
    this.#shown = true;
  }
}
