/**
 * The one driver behind every operation: hosts → jobs → pool → workers → results. An operation
 * supplies a {@linkcode Plan}; the driver does the rest (permissions, output files, connection
 * reuse, the password helper, signals, printing, classifying) and never loses a host: each gets
 * exactly one result or error.
 *
 * @module
 */

import { engineOf } from "../engine/_engine.ts";
import type { JobEnd } from "../engine/_run_queue.ts";
import { Pool } from "../engine/pool.ts";
import { defaultPoolSize, workerLoadProblem } from "../engine/_engine.ts";
import type { Host } from "../hosts/parse.ts";
import { ParallaxError } from "../parallax_error.ts";
import { releaseBytes } from "../runtime/_bytes.ts";
import { missingRunPermission } from "../runtime/_permissions.ts";
import { delay } from "../runtime/_timer.ts";
import { gatewayOf } from "../settings/_gateway_settings.ts";
import { retryPauseMs, type Settings } from "../settings/_settings.ts";
import { learnConfigTimeouts } from "../ssh/_ssh_config.ts";
import { factsOfJob } from "../ssh/_ssh_log.ts";
import { HostLines, logEnd } from "./_console.ts";
import { hostError, jobEnd, notStarted, withWarm } from "./_ends.ts";
import { batchesOf, failed, FailureBudget } from "./_failure_budget.ts";
import { byGateway, runGateways } from "./_gateways.ts";
import { Jobs, warnIfFdsShort } from "./_jobs.ts";
import { type OutputFiles, prepareOutputFiles } from "./_output_files.ts";
import type { HostObserver, Plan } from "./_plan.ts";
import { Settlement } from "./_settlement.ts";
import { watchSignals } from "./_signals.ts";
import { CallerTypeError } from "../caller_error.ts";
import { runWarm, type WarmJob } from "./_warm_jobs.ts";
import { carries } from "../ssh/_warm_session.ts";

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
  // A call's errors say whether the command ran warm: those not from a warm session did not.
  const ends = new Settlement<R>(
    hosts,
    observer.result?.bind(observer),
    plan.meaning === "command" ? (e) => e.warm === undefined ? withWarm(e, false) : e : undefined,
  );
  if (hosts.length === 0) return new Map();

  // Only hosts reached from here run the program here (a relayed copy runs no local scp).
  const direct = hosts.some((host) => gatewayOf(settings.gateways, host) === undefined);
  const missingRun = direct ? missingRunPermission(plan.program) : null;
  if (missingRun !== null) {
    ends.failRest("spawn", `cannot start '${plan.program}': ${missingRun}`);
    return ends.done();
  }
  const unloadable = workerLoadProblem();
  if (unloadable !== null) {
    ends.failRest("local", unloadable);
    return ends.done();
  }
  let files: OutputFiles[];
  try {
    files = await prepareOutputFiles(hosts, settings.outdir, settings.errdir);
  } catch (error) {
    ends.failRest("local", (error as Error).message);
    return ends.done();
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
    // ssh_config's own ConnectTimeout where it sets one (only looked up when one is mentioned).
    await learnConfigTimeouts(settings, hosts);
    const opened = await Jobs.open(engine, settings, plan);
    if (typeof opened === "string") {
      ends.failRest("local", opened);
      return ends.done();
    }
    await using jobs = opened;
    warnIfFdsShort(engine, settings, files[0]);
    const { masters } = jobs;
    /**
     * Whether the pool keeps its hosts warm (see `ssh/_warm_session.ts`), and whether this call
     * runs on their warm sessions.
     */
    const keepWarm = engine.options.warm ?? true;
    const runWarmly = keepWarm && (plan.warm ?? true);
    const stream = plan.printOut || observer.output !== undefined;
    const lines = new HostLines();
    /**
     * A piece of a host's output: printed (`printOut`) and told to the observer, whose promise
     * (if any) says when it is used.
     */
    const show = (index: number, stream: "stdout" | "stderr", data: Uint8Array) => {
      const key = hosts[index].key;
      if (plan.printOut) lines.push(index, key, stream, data);
      return observer.output?.(key, stream, data);
    };
    /** Per host: how many times its job was started, and the last failed attempt's error. */
    const attempts = new Array<number>(hosts.length).fill(0);
    const lastFailure = new Map<number, ParallaxError>();
    const discards: Promise<void>[] = [];
    const failures = new FailureBudget(settings.maxFailures);
    /** A host's end: settled, counted against the budget; true when that halts the run. */
    const settle = (index: number, result: R | ParallaxError): boolean => {
      // A later end of a host already settled changes nothing (its folder stays, say).
      if (!ends.settle(index, result)) return false;
      if (result instanceof ParallaxError && plan.discard) {
        discards.push(plan.discard(index).catch(() => {}));
      }
      // A host never started is not a failure of its own.
      const skipped = result instanceof ParallaxError && result.kind === "skipped";
      return !skipped && failed(result) && failures.count();
    };
    /** The gateway a host would have run through, if any (for the hosts never started). */
    const via = (index: number) => gatewayOf(settings.gateways, hosts[index])?.key;
    const batches = batchesOf(hosts.length, settings.batch);
    for (const [b, batch] of batches.entries()) {
      const skip = failures.exceeded ?? (signal.aborted ? null : undefined);
      if (skip !== undefined) {
        for (const index of batch) ends.settle(index, notStarted(hosts[index], skip, via(index)));
        continue;
      }
      const pauseMs = b > 0 ? settings.batchPauseMs : 0;
      if (settings.batch.length > 0) {
        ends.tell(() =>
          settings.onBatch?.({
            number: b + 1,
            of: batches.length,
            hosts: batch.map((index) => hosts[index].key),
            pauseMs,
          })
        );
      }
      if (pauseMs > 0) await delay(pauseMs, signal);
      failures.startBatch(batch.length);
      // Each host's local preparation, just before its batch; a failure is that host's alone,
      // and counts against maxFailures like any other.
      /** The hosts run here, each with its connection-reuse options. */
      const runnable: { index: number; connection: string[] }[] = [];
      const viaGateways: number[] = [];
      /** The hosts whose command runs on their warm session. */
      const warmJobs: WarmJob[] = [];
      for (const index of batch) {
        if (failures.exceeded !== null || signal.aborted) {
          const why = signal.aborted ? null : failures.exceeded;
          ends.settle(index, notStarted(hosts[index], why, via(index)));
          continue;
        }
        try {
          await plan.prepare?.(hosts[index], index);
        } catch (error) {
          const reason = errorMessage(error);
          settle(index, hostError(hosts[index], "local", reason, 0));
          continue;
        }
        if (gatewayOf(settings.gateways, hosts[index]) !== undefined) {
          viaGateways.push(index);
          continue;
        }
        const connection = await jobs.connection(hosts[index], settings);
        const given = runWarmly && !stream && files[index].outFile === undefined &&
            files[index].errFile === undefined
          ? plan.warmCommand?.(index) ?? null
          : null;
        const warmCommand = given !== null && carries(given) ? given : null;
        const session = warmCommand === null ? null : masters?.warmSession(connection) ?? null;
        if (session !== null && warmCommand !== null) {
          warmJobs.push({ index, connection, session, command: warmCommand });
          continue;
        }
        runnable.push({ index, connection });
      }
      const halt = new AbortController();
      // The caller's halt stops this batch's starts as an exceeded budget does.
      const onHalt = () => {
        failures.stop(haltReason(settings.halt!));
        halt.abort();
      };
      settings.halt?.addEventListener("abort", onHalt, { once: true });
      if (settings.halt?.aborted) onHalt();
      /** Whether the run was halted (and not cancelled): hosts not started then are skipped. */
      const halted = () => halt.signal.aborted && !signal.aborted;
      try {
        if (viaGateways.length > 0 && plan.gateway === undefined) {
          for (const index of viaGateways) {
            const reason = plan.gatewayRefusal ?? "this operation cannot run through a gateway";
            settle(index, hostError(hosts[index], "local", reason, 0));
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
            stream,
            started: (index) => observer.started?.(hosts[index].key),
            maxFailures: failures.remaining(),
            halt: halt.signal,
            haltReason: () => failures.exceeded ?? "the run was halted",
            settle(index, result) {
              if (settle(index, result)) halt.abort();
            },
            output: show,
            ended: (index) => lines.flush(index),
          }, byGateway(hosts, viaGateways, settings.gateways).groups);
        /** Starts `these` hosts' jobs on the engine; resolves when each has ended. */
        const runDirect = (
          these: readonly { index: number; connection: string[] }[],
          limit: number,
        ) => {
          const made = these.map(({ index, connection }) =>
            jobs.request(plan, settings, hosts[index], index, connection, files[index], stream)
          );
          const requests = made.map(({ request }) => request);
          return engine.run(requests, {
            limit,
            signal,
            halt: halt.signal,
            observer: {
              output(k, stream, data) {
                if (observer.output !== undefined) return show(these[k].index, stream, data);
                // Printed and seen by no one else: its memory goes back now, not at the next
                // collection (a fast host's output would otherwise pile up as garbage).
                show(these[k].index, stream, data);
                releaseBytes(data);
              },
              started: (k) => observer.started?.(hosts[these[k].index].key),
              end(k, end) {
                const { index, connection } = these[k];
                const host = hosts[index];
                lines.flush(index);
                if (end.kind === "not-started") {
                  const why = halted() ? failures.exceeded : null;
                  ends.settle(index, notStarted(host, why, undefined, lastFailure.get(index)));
                  return;
                }
                const argv = requests[k].argv;
                // What -v shows: the command line as parallax built it (no log switches, no
                // lifeline script), with the command as given.
                const shown = () => {
                  const plain = made[k].shown;
                  const command = plan.shownCommand?.(index);
                  return command === undefined ? plain : [...plain.slice(0, -1), command];
                };
                const facts = factsOfJob(end, argv);
                const verdict = jobEnd(plan, host, index, end, files[index], {
                  attempts: ++attempts[index],
                  retries: settings.retries,
                  facts,
                  cancelled: signal.aborted,
                  halted: halted(),
                  haltReason: failures.exceeded,
                  pauseMs: retryPauseMs,
                });
                if (masters !== null && verdict.reached) {
                  masters.hold(host, settings, connection, keepWarm);
                }
                if ("retryAfterMs" in verdict) {
                  lastFailure.set(index, verdict.failure);
                  if (settings.verbose) {
                    const retry = `; retry in ${verdict.retryAfterMs / 1000} s`;
                    logEnd(host.key, shown(), `${describe(end, verdict.failure)}${retry}`);
                  }
                  return { retryAfterMs: verdict.retryAfterMs };
                }
                // Its error's message is the host's own report (said once there).
                if (settings.verbose) {
                  logEnd(host.key, shown(), describe(end, verdict.settle, false));
                }
                // The host's own end first, then the hosts it stops (in finishing order).
                if (settle(index, verdict.settle)) halt.abort();
              },
            },
          });
        };
        // The call's limit holds for its warm and its other hosts together: split between them
        // (by their numbers), or one after the other when it is 1.
        const both = warmJobs.length > 0 && runnable.length > 0;
        const sequential = both && settings.limit < 2;
        const warmLanes = !both || sequential ? settings.limit : Math.min(
          settings.limit - 1,
          Math.max(
            1,
            Math.round(settings.limit * warmJobs.length / (warmJobs.length + runnable.length)),
          ),
        );
        const warm = runWarm(warmJobs, {
          limit: warmLanes,
          signal,
          halt: halt.signal,
          keepOutput: plan.keepOutput,
          timeoutMs: settings.timeoutMs,
          env: (index) => ({
            PARALLAX_HOST: hosts[index].host,
            PARALLAX_NODENUM: String(plan.nodeNumber?.(index) ?? index),
          }),
          started: (index) => observer.started?.(hosts[index].key),
          end(index, end, facts) {
            const host = hosts[index];
            if (end.kind === "not-started") {
              const why = halted() ? failures.exceeded : null;
              ends.settle(index, notStarted(host, why));
              return;
            }
            const verdict = jobEnd(plan, host, index, end, files[index], {
              attempts: ++attempts[index],
              retries: 0,
              facts,
              cancelled: signal.aborted,
              halted: halted(),
              haltReason: failures.exceeded,
              pauseMs: retryPauseMs,
              warm: true,
            });
            const result = "settle" in verdict ? verdict.settle : verdict.failure;
            if (settings.verbose) {
              const command = plan.shownCommand?.(index) ?? "";
              logEnd(host.key, ["(warm)", command], describe(end, result, false));
            }
            if (settle(index, result)) halt.abort();
          },
        });
        // A host whose warm session was found gone runs as if it had none, in the warm lanes.
        const direct = sequential
          ? warm.then((unsent) => runDirect([...unsent, ...runnable], settings.limit))
          : Promise.all([
            runDirect(runnable, both ? settings.limit - warmLanes : settings.limit),
            warm.then((unsent) => runDirect(unsent, warmLanes)),
          ]);
        await Promise.all([direct, gateways]);
      } finally {
        settings.halt?.removeEventListener("abort", onHalt);
      }
    }
    await Promise.all(discards);
    return ends.done();
  } finally {
    if (settings.pool === undefined) pool[Symbol.dispose]();
  }
}

function describe(end: JobEnd, result: unknown, withMessage = true): string {
  if (result instanceof ParallaxError && !withMessage) return `${result.kind} error`;
  if (result instanceof ParallaxError) {
    // Its message without the host, which the line starts with already.
    const said = result.message.startsWith(`${result.host}: `)
      ? result.message.slice(result.host.length + 2)
      : result.message;
    return `${result.kind} error: ${said}`;
  }
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
