/**
 * One gateway's conversation, as a state machine fed bytes: the gateway's stdout and stderr in,
 * its hosts' ends out (through {@linkcode SessionRun.settle}), each host settled once whatever
 * the gateway sends. What it sends is trusted for nothing: lines are bounded, records validated
 * (`_gateway_protocol.ts`), a host's files written through the one sink (`_received_files.ts`),
 * and the ends decided in `_ends.ts`. Its launcher (the ssh job, heartbeats, cancel) is
 * `_gateways.ts`.
 *
 * @module
 */

import type { JobEnd } from "../engine/_run_queue.ts";
import type { Host } from "../hosts/parse.ts";
import { ParallaxError } from "../parallax_error.ts";
import { decodeBase64 } from "../runtime/_base64.ts";
import { concatBytes, decode } from "../runtime/_bytes.ts";
import { KILL_GRACE_MS } from "../settings/_settings.ts";
import { classify } from "../ssh/_classify.ts";
import { factsOfJob } from "../ssh/_ssh_log.ts";
import { cancelledReason, hostError, recordEnd } from "./_ends.ts";
import {
  type GatewayEvent,
  gatewayMessage,
  parseEvent,
  ProtocolError,
  shownText,
  SILENCE_MS,
} from "./_gateway_protocol.ts";
import type { OutputFiles } from "./_output_files.ts";
import type { GatewayPart } from "./_plan.ts";
import { ReceivedFiles } from "./_received_files.ts";

/** The most of a gateway's own stderr kept for its error messages. */
const STDERR_KEPT = 16 * 1024;

/**
 * The longest line a gateway may send: a host's result carries its whole output (base64) when
 * output is kept, so then this is large; other lines carry at most a chunk of output. Past it the
 * gateway's hosts fail (kind `gateway`) instead of this process growing without bound.
 */
export const MAX_LINE_BYTES = { kept: 512 * 2 ** 20, other: 4 * 2 ** 20 } as const;

/**
 * Milliseconds a gateway has, after its connection's `connectTimeout`, to start parallax and say
 * hello (a first start may download and compile it).
 */
export const START_MS = 60_000;

/**
 * How long past a host's timeout its gateway may take to report it (the gateway stops it at its
 * timeout, waits the kill grace and a drain, then reports); a heartbeat's period may add to it.
 */
const LEAF_SLACK_MS = KILL_GRACE_MS + 8_000;

/** The longest pause before a retry (see `retryPauseMs`). */
const MAX_RETRY_PAUSE_MS = 30_000;

/** What a session needs of its run: the hosts, what to do with them, and where their ends go. */
export interface SessionRun<R> {
  readonly hosts: readonly Host[];
  readonly files: readonly OutputFiles[];
  readonly plan: { readonly keepOutput: boolean; readonly gateway: GatewayPart<R> };
  /** The gateway's own limit of hosts at once. */
  readonly gateways: { readonly limit: number };
  readonly signal: AbortSignal;
  readonly halt: AbortSignal;
  /** Why the run halted (for the hosts a gateway then skips). */
  haltReason(): string;
  /** A host's result or error. */
  settle(index: number, result: R | ParallaxError): void;
  /** A host has started behind its gateway (told for each attempt). */
  started(index: number): void;
  /**
   * A piece of a host's output, as it arrived. A promise returned says when it has been used:
   * until then the gateway's connection is read no further.
   */
  output(index: number, stream: "stdout" | "stderr", data: Uint8Array): void | Promise<void>;
  /** A host has ended: its printed lines are complete. */
  ended(index: number): void;
}

/** The times a session judges a gateway's hosts by (from the call's settings). */
export interface SessionTimes {
  readonly timeoutMs: number;
  readonly connectTimeout: number;
  readonly retries: number;
}

/** One gateway's conversation: its event lines in, its hosts' results out. */
export class GatewaySession<R> {
  /** Indices of the hosts settled so far. */
  readonly settled = new Set<number>();
  /** Stops the gateway's job (when this side gives up on it). */
  stop: () => void = () => {};
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #stderr: Uint8Array[] = [];
  #stderrBytes = 0;
  #hello = false;
  /** When the gateway said hello (ms since the epoch). */
  #helloAt: number | null = null;
  #ended = false;
  #attempts = 0;
  /** The hosts that have started behind the gateway, and how many times. */
  readonly #started = new Map<number, number>();
  /** When each host's last attempt started (ms since the epoch), for its timeout here. */
  readonly #startedAt = new Map<number, number>();
  /**
   * Hosts ended here: by their timeout (the gateway sent no result in time), or by a problem
   * with their files on this machine. What the gateway still says of them is dropped.
   */
  readonly #dropped = new Set<number>();
  /** What the gateway sent for its hosts' files, on this machine. */
  readonly #files = new ReceivedFiles();
  /** When the gateway last said anything (ms since the epoch). */
  #heard = Date.now();
  /** Pieces of output this side has not finished using: the gateway is held back, not silent. */
  #using = 0;
  #refused: string | null = null;
  #broken: string | null = null;

  constructor(
    private readonly run: SessionRun<R>,
    private readonly via: string,
    private readonly indices: readonly number[],
    private readonly times: SessionTimes,
  ) {}

  /**
   * A chunk of the gateway's output; a promise returned says when the hosts' output in it has
   * been used (the chunk's lines are read no further until then).
   */
  receive(stream: "stdout" | "stderr", data: Uint8Array): void | Promise<void> {
    if (stream === "stderr") {
      if (this.#stderrBytes < STDERR_KEPT) {
        this.#stderr.push(data.slice(0, STDERR_KEPT - this.#stderrBytes));
        this.#stderrBytes += data.byteLength;
      }
      return;
    }
    if (this.#broken !== null) return;
    this.#heard = Date.now();
    const using: Promise<void>[] = [];
    let from = 0;
    for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, from)) {
      if (this.#pendingBytes + at - from > this.#maxLine) return this.#tooLong();
      this.#pending.push(data.subarray(from, at));
      const text = decode(concatBytes(this.#pending));
      this.#pending = [];
      this.#pendingBytes = 0;
      from = at + 1;
      try {
        const used = this.#handle(parseEvent(text, this.indices.length));
        if (used instanceof Promise) using.push(used);
      } catch (error) {
        const message = error instanceof ProtocolError ? error.message : String(error);
        const hint = this.#hello
          ? ""
          : " (does a start-up file of the gateway's shell print to stdout?)";
        this.giveUp(`broke the protocol: ${message}${hint}`);
        return;
      }
    }
    if (from < data.byteLength) {
      this.#pendingBytes += data.byteLength - from;
      if (this.#pendingBytes > this.#maxLine) return this.#tooLong();
      this.#pending.push(data.slice(from));
    }
    if (using.length === 0) return;
    this.#using++;
    const done = () => {
      this.#using--;
      this.#heard = Date.now();
    };
    return Promise.all(using).then(done, done);
  }

  /** Whether the gateway has said hello (parallax runs there). */
  get greeted(): boolean {
    return this.#hello;
  }

  /** How many times the gateway's ssh has been started. */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * Counts an end of the gateway's ssh; the reason when it could not connect before anything
   * started there (kind `connect`: nothing ran, so it may be tried again), else null.
   */
  unreachable(end: JobEnd, argv: readonly string[]): ParallaxError | null {
    if (end.kind !== "not-started") this.#attempts++;
    if (this.#hello || this.#broken !== null || end.kind !== "ran") return null;
    const facts = factsOfJob(end, argv);
    // Tried again only where ssh's own log proves that nothing was sent to the gateway.
    if (facts !== null && facts.commandSent !== false) return null;
    const gateway = classify(this.via, end, argv[0], "command", this.#attempts, facts);
    return gateway instanceof ParallaxError && gateway.kind === "connect" ? gateway : null;
  }

  /** The gateway's ssh is about to be started again: what the last attempt said is dropped. */
  again(): void {
    this.#pending = [];
    this.#stderr = [];
    this.#stderrBytes = 0;
  }

  /** The gateway's job has ended: every host not yet settled gets its error. */
  close(end: JobEnd, argv: readonly string[]): void {
    // Files of hosts that got no result stay nowhere.
    for (const index of this.#files.unfinished()) this.#files.drop(index);
    if (this.settled.size === this.indices.length) return;
    const facts = factsOfJob(end, argv);
    const gateway = classify(this.via, end, argv[0], "command", 1, facts);
    // Reached, and its program started (ssh sent it), but no hello: it did not start parallax.
    const reached = facts !== null && facts.commandSent !== false;
    if (end.kind === "not-started" && this.run.halt.aborted && !this.run.signal.aborted) {
      this.failAll("skipped", `never started: ${this.run.haltReason()}`);
      return;
    }
    const said = gatewayMessage(decode(concatBytes(this.#stderr)));
    const tail = said === "" ? "" : `: ${said}`;
    // Cancelled by the caller; a gateway given up on was stopped by this side.
    if (gateway instanceof ParallaxError && gateway.kind === "cancelled" && this.#broken === null) {
      this.failAll("cancelled", (started) => cancelledReason(this.via, started));
      return;
    }
    const exit = end.kind === "ran" && end.process.exitCode !== null
      ? `exit ${end.process.exitCode}`
      : null;
    if (this.#refused !== null) {
      this.failAll("gateway", `gateway ${this.via} refused the request: ${this.#refused}`);
    } else if (!this.#hello) {
      this.failAll(
        "gateway",
        this.#broken !== null
          ? `gateway ${this.via} ${this.#broken}${tail}`
          : gateway instanceof ParallaxError && !reached
          ? `cannot reach gateway ${gateway.message}${
            this.#attempts > 1 ? ` (${this.#attempts} attempts)` : ""
          }`
          : `gateway ${this.via} did not start parallax (${exit})${tail}`,
      );
    } else {
      const why = this.#broken !== null
        ? `it ${this.#broken}`
        : this.#ended
        ? "it ended without it"
        : `its connection ended (${
          gateway instanceof ParallaxError ? gateway.message.slice(this.via.length + 2) : exit
        }${tail})`;
      // A host the gateway never started did not run; one it started may have.
      this.failAll(
        "gateway",
        (started) =>
          started
            ? `started through gateway ${this.via}, but ${why} before the result came back: the command may have run`
            : `never started: gateway ${this.via} did not start it before ${why}`,
      );
    }
  }

  /**
   * Settles every host not settled yet with one error: `reason` may tell hosts the gateway had
   * started from the others; `attempts` are the starts the gateway reported.
   */
  failAll(
    kind: "gateway" | "cancelled" | "local" | "skipped",
    reason: string | ((started: boolean) => string),
  ): void {
    for (const index of this.indices) {
      if (this.settled.has(index)) continue;
      const attempts = this.#started.get(index) ?? 0;
      this.#settle(
        index,
        hostError(
          this.run.hosts[index],
          kind,
          typeof reason === "string" ? reason : reason(attempts > 0),
          attempts,
          this.via,
        ),
      );
    }
  }

  #settle(index: number, result: R | ParallaxError): void {
    this.settled.add(index);
    this.run.ended(index);
    this.run.settle(index, result);
  }

  /** A line past the bound: the gateway is given up (its memory here is let go). */
  #tooLong(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.giveUp(`broke the protocol: a line longer than ${this.#maxLine / 2 ** 20} MiB`);
  }

  /** Whether the gateway's results carry its hosts' output (as the request asked). */
  get #maxLine(): number {
    const { plan, files } = this.run;
    const kept = plan.keepOutput ||
      this.indices.some((i) => Boolean(files[i].outFile || files[i].errFile));
    return kept ? MAX_LINE_BYTES.kept : MAX_LINE_BYTES.other;
  }

  /** Stops the gateway's job: `why` completes "the gateway …" in its hosts' errors. */
  giveUp(why: string): void {
    if (this.#broken !== null) return;
    // What the gateway sent may be quoted in `why`: shown on one line, without control characters.
    this.#broken = shownText(why);
    this.stop();
  }

  /**
   * Why to give up on a gateway that has been quiet too long, or null: no hello within
   * `helloWithinMs` of its start (`runningMs` ago), or nothing heard for `SILENCE_MS` since.
   */
  silence(runningMs: number, helloWithinMs: number): string | null {
    if (!this.#hello) {
      return runningMs > helloWithinMs
        ? `did not start parallax within ${Math.round(helloWithinMs / 1000)} s`
        : null;
    }
    // Held back by this side's consumer: what the gateway said waits to be read.
    if (this.#using > 0) return null;
    const quietMs = Date.now() - this.#heard;
    return quietMs > SILENCE_MS ? `fell silent for ${Math.round(quietMs / 1000)} s` : null;
  }

  /** Counts the gateway as heard from now (after this side was stalled). */
  heardNow(): void {
    this.#heard = Date.now();
    for (const [index, at] of this.#startedAt) this.#startedAt.set(index, Math.max(at, Date.now()));
  }

  /**
   * The call's `timeout` holds through a gateway whatever it sends: a host that has not come
   * back `timeout` + {@linkcode LEAF_SLACK_MS} after it started ends here as kind `timeout`
   * (a result that still comes for it is ignored); a gateway that runs past the time its hosts
   * can take at its limit (`runningMs` since its start) is given up. The reason to give up, or
   * null.
   */
  overdue(runningMs: number): string | null {
    const settings = this.times;
    if (settings.timeoutMs <= 0) return null;
    const now = Date.now();
    for (const [index, at] of this.#startedAt) {
      if (this.settled.has(index) || now - at <= settings.timeoutMs + LEAF_SLACK_MS) continue;
      this.#dropped.add(index);
      this.#files.drop(index);
      this.#settle(
        index,
        hostError(
          this.run.hosts[index],
          "timeout",
          `timed out after ${settings.timeoutMs / 1000} s (through gateway ${this.via}, ` +
            "which sent no result for it in time)",
          this.#started.get(index) ?? 1,
          this.via,
        ),
      );
    }
    if (this.settled.size === this.indices.length) {
      return "kept running after its hosts' timeouts";
    }
    // Generous: from its hello, every wave of hosts at the gateway's limit taking its whole
    // timeout, each try, with the longest pause before each retry (before the hello: its start).
    const waves = Math.ceil(this.indices.length / Math.max(1, this.run.gateways.limit));
    const perTry = settings.timeoutMs + settings.connectTimeout * 1000 + LEAF_SLACK_MS;
    const allowed = waves *
      (perTry * (settings.retries + 1) + settings.retries * MAX_RETRY_PAUSE_MS);
    const since = this.#helloAt === null ? runningMs - START_MS : Date.now() - this.#helloAt;
    return since > allowed ? "ran past the time its hosts' timeouts allow" : null;
  }

  /** Acts on one event; a promise returned says when the output it carried has been used. */
  #handle(event: GatewayEvent): void | Promise<void> {
    if (event.event === "hello") {
      if (this.#hello) throw new ProtocolError("a second 'hello'");
      this.#hello = true;
      this.#helloAt = Date.now();
      return;
    }
    if (!this.#hello) throw new ProtocolError(`'${event.event}' before 'hello'`);
    if (this.#ended) throw new ProtocolError(`'${event.event}' after 'end'`);
    // A host ended here: the rest of what the gateway says of it is dropped.
    if ("index" in event && this.#dropped.has(this.indices[event.index])) return;
    switch (event.event) {
      case "refused":
        this.#refused = shownText(event.reason);
        return;
      case "end":
        this.#ended = true;
        return;
      case "alive":
        return;
      case "started": {
        const index = this.indices[event.index];
        if (this.settled.has(index)) throw new ProtocolError("'started' after its result");
        const starts = (this.#started.get(index) ?? 0) + 1;
        // Each start begins the host's time anew: no more starts than its retries allow.
        if (starts > this.times.retries + 1) {
          throw new ProtocolError(
            `'started' ${starts} times for one host (retries ${this.times.retries})`,
          );
        }
        this.#started.set(index, starts);
        this.#startedAt.set(index, Date.now());
        this.run.started(index);
        return;
      }
      case "output": {
        const index = this.indices[event.index];
        if (this.settled.has(index)) throw new ProtocolError("'output' after its result");
        return this.run.output(index, event.stream, decodeBase64(event.data));
      }
      case "file": {
        const index = this.indices[event.index];
        const into = this.run.plan.gateway.fetchInto?.(index);
        if (into === undefined) throw new ProtocolError("'file' in a reply to no slurp");
        this.#locally(index, () => this.#files.open(index, into, event));
        return;
      }
      case "data": {
        const index = this.indices[event.index];
        const bytes = decodeBase64(event.data);
        this.#locally(index, () => this.#files.write(index, bytes));
        return;
      }
      case "result":
        this.#files.closeCurrent();
        this.#result(this.indices[event.index], event.record);
        return;
    }
  }

  #result(index: number, record: Extract<GatewayEvent, { event: "result" }>["record"]): void {
    // Ended here already: what comes late is not its end.
    if (this.#dropped.has(index)) return;
    if (this.settled.has(index)) throw new ProtocolError("a second result for one host");
    const output = { stdout: decodeBase64(record.stdout), stderr: decodeBase64(record.stderr) };
    const files = this.run.files[index];
    // Its output files, and a slurp's files (in place for a success, removed for an error).
    const written = this.#locally(index, () => {
      this.#files.writeOutputs(files, output.stdout, output.stderr);
      this.#files.finish(index, record.kind === null);
    }, "cannot write its output file");
    if (!written) return;
    const { plan } = this.run;
    this.#settle(
      index,
      recordEnd(
        plan.gateway,
        this.run.hosts[index],
        index,
        record,
        output,
        this.via,
        files,
        plan.keepOutput,
      ),
    );
  }

  /**
   * Does `work` with a host's files here; a problem of this machine (a full disk, a folder where
   * a file goes) is that host's `local` error, and the rest the gateway says of it is dropped. The
   * gateway's own fault ({@linkcode ProtocolError}) is thrown on: it breaks the session.
   */
  #locally(index: number, work: () => void, what = "cannot write what it sent"): boolean {
    try {
      work();
      return true;
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      this.#files.drop(index);
      this.#dropped.add(index);
      this.#settle(
        index,
        hostError(
          this.run.hosts[index],
          "local",
          `${what}: ${(error as Error).message}`,
          this.#started.get(index) ?? 1,
          this.via,
        ),
      );
      return false;
    }
  }
}
