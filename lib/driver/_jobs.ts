/**
 * What a direct host's job needs besides its command line: connection reuse, the password
 * helper, ssh's own log (a file per job, for its end to be judged from facts), scp's lifeline,
 * and the file descriptors they take. Opened once per call, released when it ends.
 *
 * @module
 */

import type { Engine } from "../engine/_engine.ts";
import { FDS_PER_JOB } from "../engine/_fd_limit.ts";
import type { JobRequest } from "../engine/_run_queue.ts";
import type { Host } from "../hosts/parse.ts";
import { KILL_GRACE_MS, type Settings } from "../settings/_settings.ts";
import { AskpassServer } from "../ssh/_askpass.ts";
import { Masters } from "../ssh/_masters.ts";
import { scpLifelineEnv, scpLifelineScript, withScpLifeline } from "../ssh/_scp_lifeline.ts";
import { callerOwnsSshLog, loggedSsh, SshLogs } from "../ssh/_ssh_log.ts";
import { warn } from "./_console.ts";
import type { OutputFiles } from "./_output_files.ts";
import type { Plan } from "./_plan.ts";

/** Whether missing connection reuse has been told about (once per process). */
let toldNoReuse = false;

/** A call's means of running its direct hosts' jobs. */
export class Jobs implements AsyncDisposable {
  private constructor(
    /** The pool's connection reuse, or null. */
    readonly masters: Masters | null,
    private readonly askpass: AskpassServer | null,
    private readonly logs: SshLogs | null,
    private readonly scpSsh: string | null,
  ) {}

  /**
   * Opens what `plan`'s jobs need on `engine`; a problem that fails every host is returned as its
   * reason.
   */
  static async open<R>(
    engine: Engine,
    settings: Settings,
    plan: Plan<R>,
  ): Promise<Jobs | string> {
    let masters: Masters | null = null;
    if (settings.reuse ?? engine.options.reuse) {
      const found = Masters.of(engine, settings.sshPath);
      if (typeof found !== "string") masters = found.ensureFolder() ? found : null;
      else if (settings.reuse === true) return found;
      else if (!toldNoReuse) {
        toldNoReuse = true;
        warn(`connection reuse is off: ${found}`);
      }
    }
    let askpass: AskpassServer | null = null;
    if (settings.password !== undefined) {
      try {
        askpass = await AskpassServer.start(settings.password);
      } catch (error) {
        return `password authentication: ${(error as Error).message}`;
      }
    }
    const logs = plan.meaning === "command" && !callerOwnsSshLog(settings.sshExtra)
      ? SshLogs.open()
      : null;
    const scpSsh = plan.meaning === "transfer" ? scpLifelineScript() : null;
    return new Jobs(masters, askpass, logs, scpSsh);
  }

  /** The connection-reuse options for `host` (none without reuse). */
  connection(host: Host, settings: Settings): Promise<string[]> {
    return this.masters === null ? Promise.resolve([]) : this.masters.connection(host, settings);
  }

  /**
   * The job of `host` at `index`, over `connection`, and its command line as `verbose` shows it
   * (without the log switches and the lifeline script parallax adds).
   */
  request<R>(
    plan: Plan<R>,
    settings: Settings,
    host: Host,
    index: number,
    connection: readonly string[],
    files: OutputFiles,
    stream: boolean,
  ): { request: JobRequest; shown: readonly string[] } {
    const argv = plan.argv(host, index, connection);
    const log = this.logs?.file() ?? null;
    // scp's ssh is started by scp, and not told of the log here.
    const job = this.scpSsh === null ? loggedSsh(argv, log, connection) : {
      argv: (plan.transferLifeline ?? withScpLifeline)(argv, this.scpSsh),
      logFile: log === null ? null : { ...log, startsLog: false },
    };
    const request: JobRequest = {
      argv: job.argv,
      logFile: job.logFile,
      env: {
        ...this.askpass?.env(),
        ...(this.scpSsh !== null ? scpLifelineEnv(settings.sshPath) : {}),
        PARALLAX_HOST: host.host,
        PARALLAX_NODENUM: String(plan.nodeNumber?.(index) ?? index),
      },
      stdin: plan.input,
      lifeline: plan.lifeline,
      timeoutMs: settings.timeoutMs,
      killGraceMs: KILL_GRACE_MS,
      keepOutput: plan.keepOutput,
      streamOutput: stream,
      stdoutFile: files.outFile ?? null,
      stderrFile: files.errFile ?? null,
    };
    return { request, shown: argv };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.logs?.[Symbol.dispose]();
    await this.askpass?.[Symbol.asyncDispose]();
  }
}

/**
 * Says on stderr when the open-file limit holds fewer processes at once than `limit` (the pool
 * then runs no more than fit, rather than failing spawns with EMFILE).
 */
export function warnIfFdsShort(engine: Engine, settings: Settings, files: OutputFiles): void {
  const perJob = FDS_PER_JOB + (files.outFile ? 1 : 0) + (files.errFile ? 1 : 0);
  const most = engine.jobsThatFit(perJob);
  const wanted = Math.min(settings.limit, engine.options.limit);
  if (most === null || most >= wanted || settings.quiet) return;
  warn(
    `limit ${wanted} lowered to ${most}: the open-file limit (ulimit -n) allows no more processes at once`,
  );
}
