/**
 * The CLI's hold on the terminal: everything it writes goes through here, so that the live
 * progress line (on a terminal only) is erased before anything else is written and at exit, and
 * a closed stdout (`| head`) ends the run quietly.
 *
 * @module
 */

import { setConsoleGuard, type Stream, writeTo } from "../driver/_console.ts";

const encoder = new TextEncoder();
const CLEAR = "\r\x1b[K";

/** The terminal as the CLI uses it during one run. */
export class Terminal implements Disposable {
  #done = 0;
  #failed = 0;
  #shown = false;
  #stopped = false;
  /** The batch running (with `--batch`), and when its pause ends (ms, `performance.now()`). */
  #batch: { number: number; of: number; startsAt: number } | null = null;
  readonly #started = performance.now();
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param total Hosts in the run, for the progress line.
   * @param progress Draw the progress line (only when stdout and stderr are both a terminal).
   * @param onStdoutLost Called once when stdout cannot be written any more.
   */
  constructor(
    private readonly total: number,
    private readonly progress: boolean,
    onStdoutLost: () => void,
  ) {
    setConsoleGuard({
      before: () => this.#clear(),
      lost: (stream: Stream) => {
        if (stream === "stdout") onStdoutLost();
      },
    });
    if (progress) this.#timer = setInterval(() => this.#draw(), 250);
  }

  /** Writes text or bytes to stdout. */
  out(data: string | Uint8Array): void {
    writeTo("stdout", typeof data === "string" ? encoder.encode(data) : data);
    this.#draw();
  }

  /** Writes `parallax: <message>` to stderr. */
  error(message: string): void {
    writeTo("stderr", encoder.encode(`parallax: ${message}\n`));
  }

  /** Counts a finished host and redraws. */
  count(ok: boolean): void {
    this.#done++;
    if (!ok) this.#failed++;
    this.#draw();
  }

  /** A batch is about to start, after `pauseMs`. */
  batch(number: number, of: number, pauseMs: number): void {
    this.#batch = { number, of, startsAt: performance.now() + pauseMs };
    this.#draw();
  }

  /**
   * The run's last line on stderr: how many hosts ended how, and the time
   * (`48 ok, 2 connect, 1 timeout, 9 skipped in 12.3 s`).
   */
  recap(rows: readonly { ok: boolean; kind: string | null }[]): void {
    const counts = new Map<string, number>();
    const add = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);
    for (const row of rows) add(row.ok ? "ok" : row.kind ?? "exited nonzero");
    const order = ["ok", "exited nonzero", ...RECAP_KINDS];
    const parts = [...counts].sort(([a], [b]) => rank(order, a) - rank(order, b))
      .map(([what, n]) => `${n} ${what}`);
    const seconds = ((performance.now() - this.#started) / 1000).toFixed(1);
    writeTo("stderr", encoder.encode(`${parts.join(", ") || "no hosts"} in ${seconds} s\n`));
  }

  /** Removes the progress line for good (before the final report). */
  stopProgress(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#clear();
  }

  /** Removes the line and gives the terminal back. */
  [Symbol.dispose](): void {
    this.stopProgress();
    setConsoleGuard(null);
  }

  #clear(): void {
    if (!this.#shown) return;
    this.#shown = false;
    try {
      Deno.stderr.writeSync(encoder.encode(CLEAR));
    } catch {
      // The terminal is gone.
    }
  }

  #draw(): void {
    if (!this.progress || this.#stopped) return;
    const elapsed = ((performance.now() - this.#started) / 1000).toFixed(1);
    const failed = this.#failed > 0 ? `, ${this.#failed} failed` : "";
    let batch = "";
    if (this.#batch !== null) {
      const { number, of, startsAt } = this.#batch;
      const wait = Math.ceil((startsAt - performance.now()) / 1000);
      batch = ` batch ${number}/${of}${wait > 0 ? ` in ${wait} s` : ""}`;
    }
    try {
      Deno.stderr.writeSync(
        encoder.encode(`${CLEAR}[${this.#done}/${this.total}${failed}]${batch} ${elapsed} s`),
      );
      this.#shown = true;
    } catch {
      this.#stopped = true;
    }
  }
}

/** The kinds in the recap's order: connection trouble first, the hosts never run last. */
const RECAP_KINDS = [
  "connect",
  "auth",
  "hostkey",
  "timeout",
  "ssh",
  "transfer",
  "spawn",
  "local",
  "gateway",
  "cancelled",
  "skipped",
];

function rank(order: readonly string[], what: string): number {
  const at = order.indexOf(what);
  return at === -1 ? order.length : at;
}
