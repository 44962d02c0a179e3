/**
 * The one driver behind every operation: hosts → jobs → pool → workers → results. An operation
 * supplies a {@linkcode Plan}; the driver does the rest (permissions, output files, connection
 * reuse, the password helper, signals, printing, classifying) and never loses a host: each gets
 * exactly one result or error.
 *
 * @module
 */

import { engineOf } from "../engine/_engine.ts";
import { FDS_PER_JOB } from "../engine/_fd_limit.ts";
import type { JobEnd, JobRequest } from "../engine/_run_queue.ts";
import { Pool } from "../engine/pool.ts";
import { defaultPoolSize, type Engine, workerLoadProblem } from "../engine/_engine.ts";
import type { Host } from "../hosts/parse.ts";
import { ParallaxError } from "../parallax_error.ts";
import { releaseBytes } from "../runtime/_bytes.ts";
import { missingRunPermission } from "../runtime/_permissions.ts";
import { delay } from "../runtime/_timer.ts";
import { gatewayOf } from "../settings/_gateway_settings.ts";
import { KILL_GRACE_MS, retryPauseMs, type Settings } from "../settings/_settings.ts";
import { AskpassServer } from "../ssh/_askpass.ts";
import { classify } from "../ssh/_classify.ts";
import { Masters } from "../ssh/_masters.ts";
import { scpLifelineEnv, scpLifelineScript, withScpLifeline } from "../ssh/_scp_lifeline.ts";
import { callerOwnsSshLog, factsOfJob, sshLogLevel, SshLogs, withSshLog } from "../ssh/_ssh_log.ts";
import { LinePrinter, logEnd, warn, writeTo } from "./_console.ts";
import { byGateway, runGateways } from "./_gateways.ts";
import { type OutputFiles, prepareOutputFiles } from "./_output_files.ts";
import type { HostObserver, Plan } from "./_plan.ts";
import { watchSignals } from "./_signals.ts";
import { CallerTypeError } from "../caller_error.ts";

/** Whether missing connection reuse has been told about (once per process). */
let toldNoReuse = false;

/**
 * Runs `plan` on every host and returns each host's result or error, in input order.
 *
 * @throws {TypeError} When `settings.pool` is closed.
 */
export async function drive<R>(
  hosts: readonly Host[],
  settings: Settings,
  plan: Plan<R>,
  observer: HostObserver<R> = {},
): Promise<Map<string, R | ParallaxError>> {
  if (settings.pool?.closed) {
    throw new CallerTypeError("Cannot run on a closed pool: create a new Pool");
  }
  const results: (R | ParallaxError)[] = new Array(hosts.length);
  let observerError: { error: unknown } | null = null;
  const settle = (index: number, result: R | ParallaxError) => {
    // Filled once: the first end of a host is its end.
    if (results[index] !== undefined) return;
    results[index] = result;
    try {
      observer.result?.(result);
    } catch (error) {
      observerError ??= { error };
    }
  };
  const done = () => {
    // Every slot is filled before the call returns: a hole would be a bug in parallax, and is
    // that host's local error rather than a missing value.
    for (let i = 0; i < hosts.length; i++) {
      if (results[i] === undefined) {
        const reason = "no result was recorded for this host (an internal error in parallax)";
        settle(i, new ParallaxError({ host: hosts[i].key, kind: "local", reason }));
      }
    }
    if (observerError !== null) throw observerError.error;
    return new Map(hosts.map((host, i) => [host.key, results[i]]));
  };
  const failAll = (kind: "spawn" | "local", reason: string, from = 0) => {
    for (let i = from; i < hosts.length; i++) {
      if (results[i] === undefined) {
        settle(i, new ParallaxError({ host: hosts[i].key, kind, reason }));
      }
    }
    return done();
  };
  if (hosts.length === 0) return new Map();

  // Only hosts reached from here run the program here (a relayed copy runs no local scp).
  const direct = hosts.some((host) => gatewayOf(settings.gateways, host) === undefined);
  const missingRun = direct ? missingRunPermission(plan.program) : null;
  if (missingRun !== null) return failAll("spawn", `cannot start '${plan.program}': ${missingRun}`);
  const unloadable = workerLoadProblem();
  if (unloadable !== null) return failAll("local", unloadable);
  let files: OutputFiles[];
  try {
    files = await prepareOutputFiles(hosts, settings.outdir, settings.errdir);
  } catch (error) {
    return failAll("local", (error as Error).message);
  }

  const pool = settings.pool ?? new Pool({
    size: Math.min(settings.poolSize ?? defaultPoolSize(), hosts.length),
    limit: settings.limit,
    reuse: false,
  });
  const engine = engineOf(pool);
  const stop = new AbortController();
  // One cancellation: the caller's signal, a signal received, and the pool's end.
  const signal = AbortSignal.any([
    ...(settings.signal ? [settings.signal] : []),
    stop.signal,
    engine.closedSignal,
  ]);
  using _signals = settings.handleSignals
    ? watchSignals({
      cancel: () => stop.abort(),
      kill: () => engine.kill(),
      exitOnSignal: settings.exitOnSignal,
    })
    : null;
  try {
    let masters: Masters | null = null;
    if (settings.reuse ?? engine.options.reuse) {
      const found = Masters.of(engine, settings.sshPath);
      if (typeof found !== "string") masters = found.ensureFolder() ? found : null;
      else if (settings.reuse === true) return failAll("local", found);
      else if (!toldNoReuse) {
        toldNoReuse = true;
        warn(`connection reuse is off: ${found}`);
      }
    }
    warnIfFdsShort(engine, settings, files[0]);
    let askpass: AskpassServer | null = null;
    if (settings.password !== undefined) {
      try {
        askpass = await AskpassServer.start(settings.password);
      } catch (error) {
        return failAll("local", `password authentication: ${(error as Error).message}`);
      }
    }
    await using _askpass = askpass;
    // ssh's own log, a file per job, for a command's end to be judged from ssh's facts; for a
    // transfer, the script that gives scp's ssh a lifeline (see `_scp_lifeline.ts`).
    using logs = plan.meaning === "command" && !callerOwnsSshLog(settings.sshExtra)
      ? SshLogs.open()
      : null;
    const scpSsh = plan.meaning === "transfer" ? scpLifelineScript() : null;

    const printers = new Map<number, Record<"stdout" | "stderr", LinePrinter>>();
    /**
     * A piece of a host's output: printed (`printOut`) and told to the observer, whose promise
     * (if any) says when it is used.
     */
    const show = (index: number, stream: "stdout" | "stderr", data: Uint8Array) => {
      const key = hosts[index].key;
      if (plan.printOut) {
        if (!printers.has(index)) printers.set(index, printersFor(key));
        printers.get(index)![stream].push(data);
      }
      return observer.output?.(key, stream, data);
    };
    /** A host has ended: its last partial lines are printed. */
    const flush = (index: number) => {
      printers.get(index)?.stdout.flush();
      printers.get(index)?.stderr.flush();
      printers.delete(index);
    };
    /** Per host: how many times its job was started, and the last failed attempt's error. */
    const attempts = new Array<number>(hosts.length).fill(0);
    const lastFailure = new Map<number, ParallaxError>();
    const discards: Promise<void>[] = [];
    const failures = new FailureBudget(settings);
    const job = (index: number, connection: readonly string[]): JobRequest => {
      const argv = plan.argv(hosts[index], index, connection);
      const logFile = logs?.file() ?? null;
      return {
        argv: scpSsh !== null
          ? withScpLifeline(argv, scpSsh)
          : logFile === null
          ? argv
          : withSshLog(argv, logFile.path, sshLogLevel(connection)),
        logFile,
        env: {
          ...askpass?.env(),
          ...(scpSsh !== null ? scpLifelineEnv(settings.sshPath) : {}),
          PARALLAX_HOST: hosts[index].host,
          PARALLAX_NODENUM: String(plan.nodeNumber?.(index) ?? index),
        },
        stdin: plan.input,
        lifeline: plan.lifeline,
        timeoutMs: settings.timeoutMs,
        killGraceMs: KILL_GRACE_MS,
        keepOutput: plan.keepOutput,
        streamOutput: plan.printOut || observer.output !== undefined,
        stdoutFile: files[index].outFile ?? null,
        stderrFile: files[index].errFile ?? null,
      };
    };
    /** The gateway a host would have run through, if any (for the hosts never started). */
    const via = (index: number) => gatewayOf(settings.gateways, hosts[index])?.key;
    for (const [b, batch] of batchesOf(hosts.length, settings.batch).entries()) {
      const skip = failures.exceeded ?? (signal.aborted ? null : undefined);
      if (skip !== undefined) {
        for (const index of batch) settle(index, notStarted(hosts[index], skip, via(index)));
        continue;
      }
      if (b > 0 && settings.batchPauseMs > 0) await delay(settings.batchPauseMs, signal);
      failures.startBatch(batch.length);
      // Each host's local preparation, just before its batch; a failure is that host's alone,
      // and counts against maxFailures like any other.
      const runnable: number[] = [];
      const connections: string[][] = [];
      const jobs: JobRequest[] = [];
      const viaGateways: number[] = [];
      for (const index of batch) {
        if (failures.exceeded !== null || signal.aborted) {
          const why = signal.aborted ? null : failures.exceeded;
          settle(index, notStarted(hosts[index], why, via(index)));
          continue;
        }
        try {
          await plan.prepare?.(hosts[index], index);
        } catch (error) {
          const reason = errorMessage(error);
          settle(index, new ParallaxError({ host: hosts[index].key, kind: "local", reason }));
          failures.count();
          continue;
        }
        if (gatewayOf(settings.gateways, hosts[index]) !== undefined) {
          viaGateways.push(index);
          continue;
        }
        const connection = masters === null ? [] : await masters.connection(hosts[index], settings);
        runnable.push(index);
        connections.push(connection);
        jobs.push(job(index, connection));
      }
      const halt = new AbortController();
      // The caller's halt stops this batch's starts as an exceeded budget does.
      const onHalt = () => {
        failures.stop(haltReason(settings.halt!));
        halt.abort();
      };
      settings.halt?.addEventListener("abort", onHalt, { once: true });
      if (settings.halt?.aborted) onHalt();
      if (viaGateways.length > 0 && plan.gateway === undefined) {
        for (const index of viaGateways) {
          const reason = "this operation cannot run through a gateway";
          settle(index, new ParallaxError({ host: hosts[index].key, kind: "local", reason }));
        }
      }
      const gateways = viaGateways.length === 0 || !plan.gateway || !settings.gateways
        ? null
        : runGateways({
          engine,
          hosts,
          settings,
          masters,
          gateways: settings.gateways,
          plan: { ...plan, gateway: plan.gateway },
          files,
          signal,
          stream: plan.printOut || observer.output !== undefined,
          started: (index) => observer.started?.(hosts[index].key),
          maxFailures: failures.remaining(),
          halt: halt.signal,
          haltReason: () => failures.exceeded ?? "the run was halted",
          settle(index, result) {
            if (result instanceof ParallaxError && plan.discard) {
              discards.push(plan.discard(index).catch(() => {}));
            }
            settle(index, result);
            // A host its gateway never started is not a failure of its own.
            const skipped = result instanceof ParallaxError && result.kind === "skipped";
            if (!skipped && failed(result) && failures.count()) halt.abort();
          },
          output: show,
          ended: flush,
        }, byGateway(hosts, viaGateways, settings.gateways).groups);
      const direct = engine.run(jobs, {
        limit: settings.limit,
        signal,
        halt: halt.signal,
        observer: {
          output(k, stream, data) {
            if (observer.output !== undefined) return show(runnable[k], stream, data);
            // Printed and seen by no one else: its memory goes back now, not at the next
            // collection (a fast host's output would otherwise pile up as garbage).
            show(runnable[k], stream, data);
            releaseBytes(data);
          },
          started: (k) => observer.started?.(hosts[runnable[k]].key),
          end(k, end) {
            const index = runnable[k];
            const host = hosts[index];
            flush(index);
            if (end.kind === "not-started") {
              const halted = halt.signal.aborted && !signal.aborted;
              settle(
                index,
                notStarted(
                  host,
                  halted ? failures.exceeded : null,
                  undefined,
                  lastFailure.get(index),
                ),
              );
              return;
            }
            const facts = factsOfJob(end, jobs[k].argv);
            const exited = classify(
              host.key,
              end,
              plan.program,
              plan.meaning,
              ++attempts[index],
              facts,
            );
            const result = exited instanceof ParallaxError
              ? exited
              : plan.result(host, exited, files[index], index);
            if (masters !== null && connected(end, exited)) {
              masters.hold(host, settings, connections[k]);
            }
            // Tried again only where ssh's own log proves that the command never started.
            const neverStarted = facts !== null && facts.commandSent === false;
            if (
              result instanceof ParallaxError && result.kind === "connect" && neverStarted &&
              attempts[index] <= settings.retries
            ) {
              if (signal.aborted || halt.signal.aborted) {
                // The retry it is owed never comes: cancelled (or skipped), as a retry that
                // was waiting would be.
                const halted = halt.signal.aborted && !signal.aborted;
                settle(
                  index,
                  notStarted(host, halted ? failures.exceeded : null, undefined, result),
                );
                return;
              }
              const pauseMs = retryPauseMs(attempts[index]);
              lastFailure.set(index, result);
              if (settings.verbose) {
                logEnd(
                  host.key,
                  jobs[k].argv,
                  `${describe(end, result)}; retry in ${pauseMs / 1000} s`,
                );
              }
              return { retryAfterMs: pauseMs };
            }
            if (settings.verbose) logEnd(host.key, jobs[k].argv, describe(end, result));
            if (result instanceof ParallaxError && plan.discard) {
              discards.push(plan.discard(index).catch(() => {}));
            }
            // The host's own end first, then the hosts it stops (in finishing order).
            settle(index, result);
            if (failed(result) && failures.count()) halt.abort();
          },
        },
      });
      await Promise.all([direct, gateways]);
      settings.halt?.removeEventListener("abort", onHalt);
    }
    await Promise.all(discards);
    return done();
  } finally {
    if (settings.pool === undefined) pool[Symbol.dispose]();
  }
}

/**
 * The hosts split into batches, as indices: sizes as given (a percentage of all the hosts,
 * rounded up, at least 1), the last size repeating; without sizes, one batch.
 */
function batchesOf(total: number, sizes: Settings["batch"]): number[][] {
  const all = Array.from({ length: total }, (_, i) => i);
  if (sizes.length === 0) return [all];
  const batches: number[][] = [];
  for (let at = 0, n = 0; at < total; n++) {
    const size = sizes[Math.min(n, sizes.length - 1)];
    const count = "count" in size
      ? size.count
      : Math.max(1, Math.ceil((total * size.percent) / 100));
    batches.push(all.slice(at, at + count));
    at += count;
  }
  return batches;
}

/**
 * The error of a host not started (again): skipped for `why`, or cancelled (`why` null).
 * `waiting` is the failed attempt a host was waiting to retry.
 */
function notStarted(
  host: Host,
  why: string | null,
  via?: string,
  waiting?: ParallaxError,
): ParallaxError {
  const attempts = waiting?.attempts ?? 0;
  const after = waiting === undefined
    ? ""
    : ` (attempt ${attempts} failed: ${waiting.message.slice(host.key.length + 2)})`;
  return why === null
    ? new ParallaxError({
      host: host.key,
      kind: "cancelled",
      reason: `cancelled before it ${
        waiting === undefined ? "started" : "was tried again"
      }${after}`,
      attempts,
      via,
    })
    : new ParallaxError({
      host: host.key,
      kind: "skipped",
      reason: `${waiting === undefined ? "never started" : "not tried again"}: ${why}${after}`,
      attempts,
      via,
    });
}

/** A host that failed: an error, or for call a nonzero exit. */
function failed(result: unknown): boolean {
  return result instanceof ParallaxError ||
    (typeof result === "object" && result !== null && "exitCode" in result &&
      (result as { exitCode: number }).exitCode !== 0);
}

/** Counts failures against `maxFailures`; says why once it is exceeded. */
class FailureBudget {
  /** Why no more hosts start, once the budget is exceeded. */
  exceeded: string | null = null;
  #total = 0;
  #inBatch = 0;
  #batchSize = 0;

  constructor(private readonly settings: Settings) {}

  /** Starts no more hosts, for `why` (unless the budget was exceeded already). */
  stop(why: string): void {
    this.exceeded ??= why;
  }

  /**
   * What is left of the budget, for a gateway to apply to its own hosts: the failures still
   * allowed, or the percentage; undefined without a budget.
   */
  remaining(): number | string | undefined {
    const limit = this.settings.maxFailures;
    if (limit === null) return undefined;
    return "count" in limit ? Math.max(0, limit.count - this.#total) : `${limit.percent}%`;
  }

  startBatch(size: number): void {
    this.#inBatch = 0;
    this.#batchSize = size;
  }

  /** Counts one failure; true when that exceeds the budget (the first time). */
  count(): boolean {
    this.#total++;
    this.#inBatch++;
    const limit = this.settings.maxFailures;
    if (limit === null || this.exceeded !== null) return false;
    if ("count" in limit && this.#total > limit.count) {
      const hosts = this.#total === 1 ? "1 host" : `${this.#total} hosts`;
      this.exceeded = `${hosts} failed, more than maxFailures ${limit.count}`;
    } else if ("percent" in limit && (this.#inBatch * 100) / this.#batchSize > limit.percent) {
      this.exceeded =
        `${this.#inBatch} of ${this.#batchSize} hosts of a batch failed, more than maxFailures ${limit.percent}%`;
    }
    return this.exceeded !== null;
  }
}

/** Whether the job's ssh reached the host (so that a master may be up to hold). */
function connected(end: JobEnd, exited: unknown): boolean {
  if (end.kind !== "ran" || end.process.exitCode === null) return false;
  return !(exited instanceof ParallaxError) ||
    ["timeout", "cancelled", "transfer"].includes(exited.kind);
}

/**
 * Says on stderr when the open-file limit holds fewer processes at once than `limit` (the pool
 * then runs no more than fit, rather than failing spawns with EMFILE).
 */
function warnIfFdsShort(engine: Engine, settings: Settings, files: OutputFiles): void {
  const perJob = FDS_PER_JOB + (files.outFile ? 1 : 0) + (files.errFile ? 1 : 0);
  const most = engine.jobsThatFit(perJob);
  const wanted = Math.min(settings.limit, engine.options.limit);
  if (most === null || most >= wanted || settings.quiet) return;
  warn(
    `limit ${wanted} lowered to ${most}: the open-file limit (ulimit -n) allows no more processes at once`,
  );
}

function printersFor(key: string): Record<"stdout" | "stderr", LinePrinter> {
  return {
    stdout: new LinePrinter(`${key}: `, (data) => writeTo("stdout", data)),
    stderr: new LinePrinter(`${key}: `, (data) => writeTo("stderr", data)),
  };
}

function describe(end: JobEnd, result: unknown): string {
  if (result instanceof ParallaxError) return `${result.kind} error: ${result.message}`;
  if (end.kind === "ran") {
    return `exit ${end.process.exitCode} in ${(end.process.durationMs / 1000).toFixed(2)} s`;
  }
  return end.kind;
}

/** Why the caller halted the run: the signal's reason where it is one. */
function haltReason(signal: AbortSignal): string {
  const { reason } = signal;
  if (typeof reason === "string" && reason !== "") return reason;
  if (reason instanceof Error && reason.name !== "AbortError") return reason.message;
  return "halted by the caller";
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
