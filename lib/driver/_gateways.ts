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
import { after, type Timer } from "../runtime/_timer.ts";
import { shellWord } from "../runtime/_shell_quote.ts";
import { KILL_GRACE_MS, retryPauseMs, type Settings } from "../settings/_settings.ts";
import { gatewayOf, type GatewaySettings } from "../settings/_gateway_settings.ts";
import type { Masters } from "../ssh/_masters.ts";
import { withStdinLifeline } from "../ssh/_remote_command.ts";
import { callerOwnsSshLog, loggedSsh, SshLogs } from "../ssh/_ssh_log.ts";
import { sshArgv } from "../ssh/_ssh_argv.ts";
import { logEnd } from "./_console.ts";
import {
  control,
  type GatewayRequest,
  HEARTBEAT_MS,
  type LeafOptions,
  line,
  PROTOCOL,
  PROTOCOL_VERSION,
  SILENCE_MS,
} from "./_gateway_protocol.ts";
import { GatewaySession, type SessionRun, START_MS } from "./_gateway_session.ts";
import type { OutputFiles } from "./_output_files.ts";
import type { GatewayPart, Plan } from "./_plan.ts";

/** ssh's own keepalives on a gateway's connection: a dead link ends ssh within 15 s. */
const HEARTBEAT_SSH_OPTIONS = ["ServerAliveInterval=5", "ServerAliveCountMax=3"];

/**
 * How long a gateway told to cancel has to report its hosts and end before it is stopped from
 * here: its hosts' own stop (SIGTERM, then SIGKILL after the kill grace) and a few seconds more.
 */
const CANCEL_WAIT_MS = KILL_GRACE_MS + 5_000;

const encoder = new TextEncoder();

/** What the driver lends the gateways of one run. */
export interface GatewayRun<R> extends SessionRun<R> {
  readonly engine: Engine;
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
  /** Whether the hosts' output is wanted as it arrives. */
  readonly stream: boolean;
  /** The failure budget each gateway applies to its own hosts (see `maxFailures`). */
  readonly maxFailures: number | string | undefined;
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
  const session = new GatewaySession(run, via, indices, settings);
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
  const { argv, logFile } = loggedSsh(plainArgv, logs?.file() ?? null, connection);
  const job: JobRequest = {
    argv,
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
        session.overdue(now - startedAt);
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
