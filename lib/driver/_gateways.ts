/**
 * The controller's side of gateways: one ssh job per gateway that starts parallax there, sends it
 * the request for the gateway's hosts, and turns its events back into those hosts' results. Every
 * host gets exactly one result or error, whatever the gateway does.
 *
 * Cancellation reaches the hosts behind a gateway through the same lifeline as any remote
 * command: stopping the gateway's ssh (a cancel, a signal, this process dying) ends its stdin,
 * the watcher on the gateway stops parallax there (SIGTERM), and parallax stops its own hosts,
 * their remote commands included; if it is killed instead, their ssh's stdin ends in turn.
 *
 * @module
 */

import type { Engine } from "../engine/_engine.ts";
import type { JobEnd, JobRequest } from "../engine/_run_queue.ts";
import type { StdinPart } from "../engine/_stdin_feed.ts";
import type { Host } from "../hosts/parse.ts";
import { ParallaxError } from "../parallax_error.ts";
import { decodeBase64 } from "../runtime/_base64.ts";
import { concatBytes, decode } from "../runtime/_bytes.ts";
import { joinPath } from "../runtime/_path.ts";
import {
  createNewSync,
  moveIntoPlace,
  realFoldersSync,
  receivedMode,
  writeNewFileSync,
} from "../runtime/_sink.ts";
import { after, type Timer } from "../runtime/_timer.ts";
import { shellWord } from "../runtime/_shell_quote.ts";
import { KILL_GRACE_MS, retryPauseMs, type Settings } from "../settings/_settings.ts";
import { gatewayOf, type GatewaySettings } from "../settings/_gateway_settings.ts";
import { classify } from "../ssh/_classify.ts";
import type { Masters } from "../ssh/_masters.ts";
import { withStdinLifeline } from "../ssh/_remote_command.ts";
import { callerOwnsSshLog, factsOfJob, sshLogLevel, SshLogs, withSshLog } from "../ssh/_ssh_log.ts";
import { sshArgv } from "../ssh/_ssh_argv.ts";
import { logEnd } from "./_console.ts";
import {
  control,
  type GatewayEvent,
  type GatewayRequest,
  HEARTBEAT_MS,
  type LeafOptions,
  line,
  parseEvent,
  PROTOCOL,
  PROTOCOL_VERSION,
  ProtocolError,
  shownText,
  SILENCE_MS,
  stagedPath,
} from "./_gateway_protocol.ts";
import type { OutputFiles } from "./_output_files.ts";
import type { GatewayPart, Plan } from "./_plan.ts";

/** The most of a gateway's own stderr kept for its error messages. */
const STDERR_KEPT = 16 * 1024;

/**
 * The longest line a gateway may send: a host's result carries its whole output (base64) when
 * output is kept, so then this is large; other lines carry at most a chunk of output. Past it the
 * gateway's hosts fail (kind `gateway`) instead of this process growing without bound.
 */
const MAX_LINE_BYTES = { kept: 512 * 2 ** 20, other: 4 * 2 ** 20 } as const;

/**
 * Milliseconds a gateway has, after its connection's `connectTimeout`, to start parallax and say
 * hello (a first start may download and compile it).
 */
const START_MS = 60_000;

/** ssh's own keepalives on a gateway's connection: a dead link ends ssh within 15 s. */
const HEARTBEAT_SSH_OPTIONS = ["ServerAliveInterval=5", "ServerAliveCountMax=3"];

/**
 * How long a gateway told to cancel has to report its hosts and end before it is stopped from
 * here: its hosts' own stop (SIGTERM, then SIGKILL after the kill grace) and a few seconds more.
 */
const CANCEL_WAIT_MS = KILL_GRACE_MS + 5_000;

/**
 * How long past a host's timeout its gateway may take to report it (the gateway stops it at its
 * timeout, waits the kill grace and a drain, then reports); a heartbeat's period may add to it.
 */
const LEAF_SLACK_MS = KILL_GRACE_MS + 8_000;

const encoder = new TextEncoder();

/** Matches ANSI escape sequences (colours in a gateway's messages). */
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** What the driver lends the gateways of one run. */
export interface GatewayRun<R> {
  readonly engine: Engine;
  readonly hosts: readonly Host[];
  readonly settings: Settings;
  /**
   * The run's connection reuse, or null: a gateway's connection then goes through its master as
   * a direct host's does, and persistent masters ask each gateway to keep its hosts' connections
   * as long.
   */
  readonly masters: Masters | null;
  readonly gateways: GatewaySettings;
  readonly plan: Plan<R> & { readonly gateway: GatewayPart<R> };
  readonly files: readonly OutputFiles[];
  readonly signal: AbortSignal;
  /** Whether the hosts' output is wanted as it arrives. */
  readonly stream: boolean;
  /** The failure budget each gateway applies to its own hosts (see `maxFailures`). */
  readonly maxFailures: number | string | undefined;
  /** Aborted when the run's failure budget is exceeded: the gateways start no more hosts. */
  readonly halt: AbortSignal;
  /** Why the run halted (for the hosts a gateway then skips). */
  haltReason(): string;
  /** A host's result or error. */
  settle(index: number, result: R | ParallaxError): void;
  /** A host has started behind its gateway (told for each attempt). */
  started(index: number): void;
  /**
   * A piece of a host's output, as it arrived. A promise returned says when it has been used:
   * until then the gateway's connection is read no further (so a slow consumer holds back the
   * gateway, and the gateway its hosts, instead of their output piling up here).
   */
  output(index: number, stream: "stdout" | "stderr", data: Uint8Array): void | Promise<void>;
  /** A host has ended: its printed lines are complete. */
  ended(index: number): void;
}

/** The hosts at `indices` grouped by the gateway that serves them, in order. */
export function byGateway(
  hosts: readonly Host[],
  indices: readonly number[],
  gateways: GatewaySettings,
): { direct: number[]; groups: Map<string, { gateway: Host; indices: number[] }> } {
  const direct: number[] = [];
  const groups = new Map<string, { gateway: Host; indices: number[] }>();
  for (const index of indices) {
    const gateway = gatewayOf(gateways, hosts[index]);
    if (gateway === undefined) {
      direct.push(index);
      continue;
    }
    const group = groups.get(gateway.key) ?? { gateway, indices: [] };
    group.indices.push(index);
    groups.set(gateway.key, group);
  }
  return { direct, groups };
}

/** Runs each gateway's hosts through it; resolves when every one of them is settled. */
export async function runGateways<R>(
  run: GatewayRun<R>,
  groups: ReadonlyMap<string, { gateway: Host; indices: number[] }>,
): Promise<void> {
  // The gateways' ssh log like a host's: whether a connection failed before anything was sent
  // there is read from ssh's own facts, never from what the gateway's program printed.
  using logs = callerOwnsSshLog(run.settings.sshExtra) ? null : SshLogs.open();
  await Promise.all(
    [...groups.values()].map(({ gateway, indices }) => runGateway(run, gateway, indices, logs)),
  );
}

async function runGateway<R>(
  run: GatewayRun<R>,
  gateway: Host,
  indices: readonly number[],
  logs: SshLogs | null,
): Promise<void> {
  const { settings } = run;
  const via = gateway.key;
  const session = new GatewaySession(run, via, indices);
  let request: StdinPart[];
  try {
    request = requestBytes(run, indices);
  } catch (error) {
    session.failAll("local", `cannot send the request to gateway ${via}: ${String(error)}`);
    return;
  }
  // parallax on the gateway reads its stdin itself: the request, then the control lines that
  // follow (a heartbeat, a halt); its end, or a silence, means this side is gone. The lifeline
  // stops it as well if stdin ends before it has started reading (a start that hangs).
  const command = withStdinLifeline(
    `env NO_COLOR=1 ${[...run.gateways.command, "gateway"].map(shellWord).join(" ")}`,
  );
  // The call's user and port are its hosts'; a gateway logs in as its own entry or ssh says.
  const toGateway = { ...settings, user: undefined, port: undefined };
  const connection = run.masters === null ? [] : await run.masters.connection(gateway, toGateway);
  const plainArgv = sshArgv(gateway, command, toGateway, [...HEARTBEAT_SSH_OPTIONS, ...connection]);
  const logFile = logs?.file() ?? null;
  const job: JobRequest = {
    argv: logFile === null
      ? plainArgv
      : withSshLog(plainArgv, logFile.path, sshLogLevel(connection)),
    env: {},
    stdin: request,
    lifeline: true,
    // The hosts' own timeouts run on the gateway; its connection lasts as long as they do.
    timeoutMs: 0,
    killGraceMs: KILL_GRACE_MS,
    keepOutput: false,
    streamOutput: true,
    stdoutFile: null,
    stderrFile: null,
    logFile,
    onMainThread: true,
  };
  const stop = new AbortController();
  session.stop = () => stop.abort();
  let ending: JobEnd | null = null;
  /** When the gateway's ssh was first found running (it may wait for a slot of the pool). */
  let startedAt: number | null = null;
  const handle = run.engine.start([job], {
    limit: 1,
    signal: stop.signal,
    // A gateway still waiting for its turn when the run halts is never started.
    halt: run.halt,
    observer: {
      output: (_k, stream, data) => session.receive(stream, data),
      end: (_k, end) => {
        // A gateway that could not be reached ran nothing: tried again like a host (`retries`).
        const failure = session.unreachable(end, job.argv);
        const attempts = session.attempts;
        if (
          failure !== null && attempts <= settings.retries && !run.signal.aborted &&
          !run.halt.aborted && !stop.signal.aborted
        ) {
          const pauseMs = retryPauseMs(attempts);
          if (settings.verbose) {
            logEnd(via, job.argv, `${failure.message}; retry in ${pauseMs / 1000} s`);
          }
          session.again();
          startedAt = null;
          return { retryAfterMs: pauseMs };
        }
        ending = end;
      },
    },
  });
  const say = (text: string) => handle.write(0, encoder.encode(text));
  const onHalt = () => say(control({ control: "halt", reason: run.haltReason() }));
  run.halt.addEventListener("abort", onHalt, { once: true });
  // The caller's cancel: a gateway that has said hello stops its hosts and reports each (with
  // the output they printed), and is stopped from here if it has not ended in time; any other
  // is stopped at once (nothing has started there).
  let cancelWait: Timer | null = null;
  const onCancel = () => {
    if (session.greeted && say(control({ control: "cancel" }))) {
      cancelWait = after(CANCEL_WAIT_MS, () => stop.abort());
    } else stop.abort();
  };
  if (run.signal.aborted) stop.abort();
  else run.signal.addEventListener("abort", onCancel, { once: true });
  const helloWithinMs = settings.connectTimeout * 1000 + START_MS;
  let beat: Timer | null = null;
  let lastBeat = Date.now();
  const heartbeat = () => {
    const now = Date.now();
    // This thread was stalled (a stopped process, a suspended laptop): what the gateway sent
    // meanwhile is read before its silence is judged, at the next beat.
    const stalled = now - lastBeat > HEARTBEAT_MS + SILENCE_MS / 2;
    lastBeat = now;
    if (say("\n")) startedAt ??= now;
    if (stalled) session.heardNow();
    else if (startedAt !== null) {
      const problem = session.silence(now - startedAt, helloWithinMs) ??
        session.overdue(now - startedAt, settings);
      if (problem !== null) session.giveUp(problem);
    }
    beat = after(HEARTBEAT_MS, heartbeat);
  };
  beat = after(HEARTBEAT_MS, heartbeat);
  try {
    await handle.done;
  } finally {
    (beat as Timer | null)?.clear();
    (cancelWait as Timer | null)?.clear();
    run.halt.removeEventListener("abort", onHalt);
    run.signal.removeEventListener("abort", onCancel);
  }
  session.close(ending ?? { kind: "not-started" }, job.argv);
  // A gateway that answered was reached: its master is kept for the pool's next calls.
  if (run.masters !== null && session.greeted) run.masters.hold(gateway, toGateway, connection);
  if (settings.verbose) {
    const settled = indices.filter((i) => session.settled.has(i)).length;
    logEnd(via, job.argv, `gateway for ${indices.length} hosts, ${settled} results`);
  }
}

/**
 * The request line and payload for the hosts at `indices`, as parts of stdin: the payload is the
 * operation's own bytes, never copied whole (the engine sends them on as ssh takes them).
 */
function requestBytes<R>(run: GatewayRun<R>, indices: readonly number[]): StdinPart[] {
  const { settings, plan, files } = run;
  const ask = plan.gateway.ask(indices);
  const keepForFiles = indices.some((i) => files[i].outFile || files[i].errFile);
  const options: LeafOptions = {
    timeout: settings.timeoutMs / 1000,
    connectTimeout: settings.connectTimeout,
    limit: run.gateways.limit,
    retries: settings.retries,
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    ...(settings.port !== undefined ? { port: settings.port } : {}),
    quiet: settings.quiet,
    ...(run.maxFailures !== undefined ? { maxFailures: run.maxFailures } : {}),
    inline: plan.keepOutput || keepForFiles,
    stopRemote: true,
    ...(run.masters?.keptSeconds != null ? { persist: run.masters.keptSeconds } : {}),
    ...(run.gateways.leafSshExtra.length > 0 ? { sshExtra: run.gateways.leafSshExtra } : {}),
    recursive: false,
    preserve: false,
    compress: false,
    ...ask.options,
  };
  const payloadBytes = ask.payload.reduce((sum, part) => sum + part.byteLength, 0);
  const { payload: _, options: __, ...op } = ask;
  const request = {
    protocol: PROTOCOL,
    version: PROTOCOL_VERSION,
    hosts: indices.map((i) => run.hosts[i].key),
    options,
    payloadBytes,
    ...op,
    ...(op.op === "call" ? { stream: run.stream } : {}),
  } as GatewayRequest;
  return [new TextEncoder().encode(line(request)), ...ask.payload];
}

/** One gateway's conversation: its event lines in, its hosts' results out. */
class GatewaySession<R> {
  /** Indices of the hosts settled so far. */
  readonly settled = new Set<number>();
  /** Stops the gateway's job (when this side gives up on it). */
  stop: () => void = () => {};
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #stderr: Uint8Array[] = [];
  #stderrBytes = 0;
  #hello = false;
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
  /** slurp: each host's files received so far, under their own names, and where each goes. */
  readonly #parts = new Map<number, [string, string][]>();
  /** When the gateway last said anything (ms since the epoch). */
  #heard = Date.now();
  /** Pieces of output this side has not finished using: the gateway is held back, not silent. */
  #using = 0;
  #refused: string | null = null;
  #broken: string | null = null;
  /** slurp: the file being written, the host it belongs to, and its modification time. */
  #file: { index: number; file: Deno.FsFile; mtime: Date | null } | null = null;

  constructor(
    private readonly run: GatewayRun<R>,
    private readonly via: string,
    private readonly indices: readonly number[],
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
    this.#closeFile();
    // Files of hosts that got no result stay nowhere.
    for (const index of [...this.#parts.keys()]) {
      this.#locally(index, () => this.#finishParts(index, false));
    }
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
        new ParallaxError({
          host: this.run.hosts[index].key,
          kind,
          reason: typeof reason === "string" ? reason : reason(attempts > 0),
          attempts,
          via: this.via,
        }),
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
    this.#broken = why;
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
  overdue(runningMs: number, settings: Settings): string | null {
    if (settings.timeoutMs <= 0) return null;
    const now = Date.now();
    for (const [index, at] of this.#startedAt) {
      if (this.settled.has(index) || now - at <= settings.timeoutMs + LEAF_SLACK_MS) continue;
      this.#dropped.add(index);
      if (this.#file?.index === index) this.#closeFile();
      this.#locally(index, () => this.#finishParts(index, false));
      this.#settle(
        index,
        new ParallaxError({
          host: this.run.hosts[index].key,
          kind: "timeout",
          reason: `timed out after ${settings.timeoutMs / 1000} s (through gateway ${this.via}, ` +
            "which sent no result for it in time)",
          attempts: this.#started.get(index) ?? 1,
          via: this.via,
        }),
      );
    }
    if (this.settled.size === this.indices.length) {
      return "kept running after its hosts' timeouts";
    }
    // Generous: every wave of hosts at the gateway's limit taking its whole timeout, each try.
    const waves = Math.ceil(this.indices.length / Math.max(1, this.run.gateways.limit));
    const perTry = settings.timeoutMs + settings.connectTimeout * 1000 + LEAF_SLACK_MS;
    return runningMs > START_MS + waves * perTry * (settings.retries + 1)
      ? "ran past the time its hosts' timeouts allow"
      : null;
  }

  /** Acts on one event; a promise returned says when the output it carried has been used. */
  #handle(event: GatewayEvent): void | Promise<void> {
    if (event.event === "hello") {
      this.#hello = true;
      return;
    }
    if (!this.#hello) throw new ProtocolError(`'${event.event}' before 'hello'`);
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
        this.#started.set(index, (this.#started.get(index) ?? 0) + 1);
        this.#startedAt.set(index, Date.now());
        this.run.started(index);
        return;
      }
      case "output":
        return this.run.output(this.indices[event.index], event.stream, decodeBase64(event.data));
      case "file":
        this.#locally(
          this.indices[event.index],
          () => this.#openFile(this.indices[event.index], event),
        );
        return;
      case "data": {
        const index = this.indices[event.index];
        if (this.#file?.index !== index) throw new ProtocolError("'data' without its 'file'");
        const bytes = decodeBase64(event.data);
        const file = this.#file.file;
        this.#locally(index, () => {
          for (let at = 0; at < bytes.byteLength;) at += file.writeSync(bytes.subarray(at));
        });
        return;
      }
      case "result":
        this.#closeFile();
        this.#result(this.indices[event.index], event.record);
        return;
    }
  }

  #result(index: number, record: Extract<GatewayEvent, { event: "result" }>["record"]): void {
    // Ended here already: what comes late is not its end.
    if (this.#dropped.has(index)) return;
    if (this.settled.has(index)) throw new ProtocolError("a second result for one host");
    const host = this.run.hosts[index];
    const stdout = decodeBase64(record.stdout);
    const stderr = decodeBase64(record.stderr);
    const files = this.run.files[index];
    try {
      if (files.outFile) writeNewFileSync(files.outFile, stdout);
      if (files.errFile) writeNewFileSync(files.errFile, stderr);
    } catch (error) {
      this.#settle(
        index,
        new ParallaxError({
          host: host.key,
          kind: "local",
          reason: `cannot write its output file: ${(error as Error).message}`,
          attempts: record.attempts,
          via: this.via,
        }),
      );
      return;
    }
    // A slurp's files: in place for a success, removed for an error.
    if (!this.#locally(index, () => this.#finishParts(index, record.kind === null))) return;
    const keep = this.run.plan.keepOutput;
    const result = record.kind === null
      ? this.run.plan.gateway.result(
        host,
        index,
        {
          exitCode: record.exitCode ?? 0,
          stdout: keep ? stdout : new Uint8Array(),
          stderr: keep ? stderr : new Uint8Array(),
          durationMs: record.durationMs ?? 0,
          attempts: record.attempts,
        },
        this.via,
        files,
      )
      : new ParallaxError({
        host: host.key,
        kind: record.kind as ParallaxError["kind"],
        reason: gatewayReason(this.via, record),
        stdoutBytes: stdout,
        stdout: decode(stdout),
        stderrBytes: stderr,
        stderr: decode(stderr),
        ...(record.exitCode !== null ? { exitCode: record.exitCode } : {}),
        ...(record.durationMs !== null ? { durationMs: record.durationMs } : {}),
        attempts: record.attempts,
        via: this.via,
      });
    this.#settle(index, result);
  }

  #openFile(index: number, event: Extract<GatewayEvent, { event: "file" }>): void {
    this.#closeFile();
    const into = this.run.plan.gateway.fetchInto?.(index);
    if (into === undefined) throw new ProtocolError("'file' in a reply to no slurp");
    const inside = stagedPath(event.path);
    if (inside !== into.dst && !inside.startsWith(`${into.dst}/`)) {
      throw new ProtocolError(`'file' ${JSON.stringify(inside)} outside ${into.dst}`);
    }
    const parts = inside.split("/");
    const { preserve } = into;
    if (event.type === "dir") {
      realFoldersSync(into.folder, parts, receivedMode(event.mode, true, preserve));
      return;
    }
    const folder = realFoldersSync(into.folder, parts.slice(0, -1));
    // Received under a name of its own, and put in place once the host has succeeded: a
    // failed or interrupted host leaves no partial file where the file belongs.
    const part = joinPath(folder, `.parallax-part-${crypto.randomUUID().slice(0, 8)}`);
    const file = createNewSync(part, receivedMode(event.mode, false, preserve));
    this.#parts.set(index, [...(this.#parts.get(index) ?? []), [
      part,
      joinPath(folder, parts.at(-1)!),
    ]]);
    // The time (with preserve) is set once the bytes are written.
    const mtime = preserve && event.mtimeMs !== null ? new Date(event.mtimeMs) : null;
    this.#file = { index, file, mtime };
  }

  /** Puts a host's received files in place (`keep`), or removes them. */
  #finishParts(index: number, keep: boolean): void {
    const parts = this.#parts.get(index) ?? [];
    this.#parts.delete(index);
    for (const [part, final] of parts) {
      // Modes were set as the file was made (see `receivedMode`).
      if (keep) moveIntoPlace(part, final, true);
      else Deno.removeSync(part);
    }
  }

  /**
   * Does `work` with a host's files here; a problem of this machine (a full disk, a folder where
   * a file goes) is that host's `local` error, and the rest the gateway says of it is dropped.
   */
  #locally(index: number, work: () => void): boolean {
    try {
      work();
      return true;
    } catch (error) {
      if (this.#file?.index === index) {
        this.#file.file.close();
        this.#file = null;
      }
      try {
        this.#finishParts(index, false);
      } catch {
        // What cannot be removed stays under its hidden name.
      }
      this.#dropped.add(index);
      this.#settle(
        index,
        new ParallaxError({
          host: this.run.hosts[index].key,
          kind: "local",
          reason: `cannot write what it sent: ${(error as Error).message}`,
          attempts: this.#started.get(index) ?? 1,
          via: this.via,
        }),
      );
      return false;
    }
  }

  #closeFile(): void {
    if (this.#file === null) return;
    const { file, mtime } = this.#file;
    if (mtime !== null) file.utimeSync(mtime, mtime);
    file.close();
    this.#file = null;
  }
}

/**
 * What a gateway's stderr says, on one line for a message: its colours dropped, its last three
 * lines kept (a download's progress comes before the error).
 */
export function gatewayMessage(stderr: string): string {
  return shownText(stderr.replace(ANSI, "").trim().split("\n").slice(-3).join("\n"));
}

/**
 * What an error record from gateway `via` says here. Cancelled on this side's word: said as for a
 * host cancelled with its gateway. A problem of the gateway's own machine says where it was, lest
 * it be looked for here.
 */
function gatewayReason(
  via: string,
  record: Extract<GatewayEvent, { event: "result" }>["record"],
): string {
  const reason = shownText(record.reason ?? record.kind!);
  if (record.kind === "cancelled") return cancelledReason(via, record.attempts > 0);
  if (record.kind === "spawn" || record.kind === "local") return `on gateway ${via}: ${reason}`;
  return reason;
}

/** What a host cancelled through gateway `via` says. */
function cancelledReason(via: string, started: boolean): string {
  return started
    ? `cancelled (through gateway ${via}; its command was stopped on the host)`
    : `cancelled before it started (through gateway ${via})`;
}
