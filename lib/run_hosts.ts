/**
 * The one driver behind every operation: hosts → jobs → pool → workers → results. An operation
 * supplies the argv for each host and turns a completed run into its result type; the driver does
 * the rest (permissions, output files, printing, the pool, the result map).
 *
 * @module
 */

import { classify, type Completed, type ExitMeaning } from "./classify.ts";
import type { Host } from "./hosts.ts";
import { LinePrinter, writeAllSync } from "./line_printer.ts";
import { safeNames } from "./output_names.ts";
import { ParallaxError } from "./parallax_error.ts";
import { joinPath, resolvePath } from "./path.ts";
import { missingRunPermission, missingWritePermission } from "./permissions.ts";
import { AskpassServer } from "./askpass.ts";
import { ControlDir } from "./control_dir.ts";
import { maxConcurrentJobs } from "./fd_limit.ts";
import { whileInterruptible } from "./interrupts.ts";
import {
  controlDirFor,
  defaultPoolSize,
  type JobEnd,
  type JobRequest,
  Pool,
  runJobs,
  workerLoadProblem,
} from "./pool.ts";
import { KILL_GRACE_MS, type Settings } from "./settings.ts";

/** Where a host's output files are. */
export interface OutputFiles {
  readonly outFile?: string;
  readonly errFile?: string;
}

/** What an operation tells the driver. */
export interface Plan<R> {
  /** The program every job runs (`argv[0]`), checked for run permission before anything starts. */
  readonly program: string;
  /** What the program's exit status means. */
  readonly meaning: ExitMeaning;
  /**
   * Work to do once before any host is contacted (creating folders, say); a rejection becomes a
   * `local` error for every host.
   */
  prepare?(): Promise<void>;
  /**
   * The command line for a host; `argv[0]` is the program. `settings` are the call's, with the
   * connection-reuse options filled in.
   */
  argv(host: Host, index: number, settings: Settings): string[];
  /**
   * The marker of the line in which the remote command announces its process group (its first
   * line on stderr), and the command line that stops that group on a host that timed out or was
   * cancelled. Without them, nothing is done on the remote side.
   */
  readonly remoteStop?: {
    readonly pidMarker: string;
    argv(host: Host, pid: number, settings: Settings): string[];
  };
  /** Told each chunk of output as it arrives (streaming). */
  onChunk?(index: number, stream: "stdout" | "stderr", data: Uint8Array): void;
  /** Bytes for every job's stdin, or null. */
  readonly stdin: Uint8Array | null;
  /** Keep output in memory for the result. */
  readonly keepOutput: boolean;
  /** Print output lines prefixed with the host as they arrive. */
  readonly printOut: boolean;
  /** Told each host's result or error as soon as it is known. */
  onResult?(result: R | ParallaxError): void;
  /** The result of the host at `index`, whose job completed. */
  result(host: Host, completed: Completed, files: OutputFiles, index: number): R | ParallaxError;
}

/** Runs `plan` on every host and returns each host's result or error, in input order. */
export async function runOnHosts<R>(
  hosts: readonly Host[],
  settings: Settings,
  plan: Plan<R>,
): Promise<Map<string, R | ParallaxError>> {
  const ends: (R | ParallaxError)[] = new Array(hosts.length);
  const toMap = () => new Map(hosts.map((host, i) => [host.key, ends[i]]));
  if (hosts.length === 0) return new Map();

  const refuseAll = (kind: "spawn" | "local", reason: string) => {
    hosts.forEach((host, i) => {
      ends[i] = new ParallaxError({ host: host.key, kind, reason });
      plan.onResult?.(ends[i]);
    });
    return toMap();
  };
  const missingRun = missingRunPermission(plan.program);
  if (missingRun !== null) {
    return refuseAll("spawn", `cannot start '${plan.program}': ${missingRun}`);
  }
  const unloadable = workerLoadProblem();
  if (unloadable !== null) return refuseAll("local", unloadable);
  let files: OutputFiles[];
  try {
    files = await prepareOutputFiles(hosts, settings);
    await plan.prepare?.();
  } catch (error) {
    return refuseAll("local", (error as Error).message);
  }

  const pool = settings.pool ?? new Pool({
    size: Math.min(settings.poolSize ?? defaultPoolSize(), hosts.length),
    reuse: false,
  });
  try {
    const control = controlDirFor(pool, settings.reuse, settings.sshPath);
    if (typeof control === "string" && settings.reuse === true) return refuseAll("local", control);
    const reusing = control instanceof ControlDir
      ? { ...settings, controlOptions: control.sshOptions() }
      : settings;
    const limit = fitLimit(settings.limit, files[0], settings.quiet);
    let askpass: AskpassServer | null = null;
    if (settings.password !== undefined) {
      try {
        askpass = await AskpassServer.start(settings.password);
      } catch (error) {
        return refuseAll("local", `password authentication: ${(error as Error).message}`);
      }
    }
    await using _askpass = askpass;
    await whileInterruptible(
      settings.signal,
      () => pool[Symbol.dispose](),
      (signal) =>
        runBatch(
          hosts,
          { ...reusing, limit, signal },
          plan,
          pool,
          files,
          ends,
          askpass?.env() ?? {},
        ),
      settings.handleSignals,
    );
    return toMap();
  } finally {
    if (settings.pool === undefined) pool[Symbol.dispose]();
  }
}

/**
 * The limit, lowered when the open-file limit could not hold that many processes at once (a
 * spawn would fail half-way with EMFILE); says so on stderr.
 */
function fitLimit(limit: number, files: OutputFiles, quiet: boolean): number {
  const extra = (files.outFile ? 1 : 0) + (files.errFile ? 1 : 0);
  const most = maxConcurrentJobs(extra);
  if (most === null || most >= limit) return limit;
  if (!quiet) {
    writeAllSync(
      Deno.stderr,
      encoder.encode(
        `parallax: limit ${limit} lowered to ${most}: the open-file limit (ulimit -n) allows no more processes at once\n`,
      ),
    );
  }
  return most;
}

/** Runs every host's job on the pool and records each end as it comes. */
async function runBatch<R>(
  hosts: readonly Host[],
  settings: Settings,
  plan: Plan<R>,
  pool: Pool,
  files: readonly OutputFiles[],
  ends: (R | ParallaxError)[],
  extraEnv: Readonly<Record<string, string>>,
): Promise<void> {
  const printers = plan.printOut ? hosts.map((host) => printersFor(host.key)) : [];
  const jobs: JobRequest[] = hosts.map((host, index) => ({
    argv: plan.argv(host, index, settings),
    env: { ...extraEnv, PARALLAX_HOST: host.host, PARALLAX_NODENUM: String(index) },
    stdin: plan.stdin,
    timeoutMs: settings.timeoutMs,
    killGraceMs: KILL_GRACE_MS,
    keepOutput: plan.keepOutput,
    streamOutput: plan.printOut || plan.onChunk !== undefined,
    stdoutFile: files[index].outFile ?? null,
    stderrFile: files[index].errFile ?? null,
    pidMarker: plan.remoteStop?.pidMarker ?? null,
  }));
  const stranded: { index: number; pid: number }[] = [];
  let callbackError: { error: unknown } | null = null;
  await runJobs(pool, jobs, {
    limit: settings.limit,
    signal: settings.signal,
    onChunk: (index, stream, data) => {
      printers[index]?.[stream].push(data);
      plan.onChunk?.(index, stream, data);
    },
    onEnd: (index, end) => {
      printers[index]?.stdout.flush();
      printers[index]?.stderr.flush();
      const host = hosts[index];
      const outcome = classify(host.key, end, plan.program, plan.meaning);
      if (
        end.kind === "finished" && end.outcome.remotePid !== null &&
        (end.outcome.timedOut || end.outcome.cancelled)
      ) {
        stranded.push({ index, pid: end.outcome.remotePid });
      }
      ends[index] = outcome instanceof ParallaxError
        ? outcome
        : plan.result(host, outcome, files[index], index);
      if (settings.verbose) logEnd(host, jobs[index].argv, end, ends[index]);
      try {
        plan.onResult?.(ends[index]);
      } catch (error) {
        callbackError ??= { error };
      }
    },
  });
  if (plan.remoteStop && stranded.length > 0) {
    await stopRemote(
      stranded.map(({ index, pid }) => plan.remoteStop!.argv(hosts[index], pid, settings)),
      settings,
      pool,
      extraEnv,
    );
  }
  if (callbackError !== null) throw (callbackError as { error: unknown }).error;
}

/** How long the remote stop of a timed-out or cancelled host may take. */
const REMOTE_STOP_TIMEOUT_MS = 15_000;

/**
 * Stops the remote process groups of hosts that timed out or were cancelled, over a new
 * connection each (through the master when connections are reused). Best effort: a host that
 * cannot be reached now is left alone; its process exits when it next writes to the closed
 * connection.
 */
async function stopRemote(
  argvs: string[][],
  settings: Settings,
  pool: Pool,
  env: Readonly<Record<string, string>>,
): Promise<void> {
  const jobs: JobRequest[] = argvs.map((argv) => ({
    argv,
    env,
    stdin: null,
    timeoutMs: REMOTE_STOP_TIMEOUT_MS,
    killGraceMs: KILL_GRACE_MS,
    keepOutput: false,
    streamOutput: false,
    stdoutFile: null,
    stderrFile: null,
    pidMarker: null,
  }));
  try {
    await runJobs(pool, jobs, { limit: settings.limit });
  } catch {
    // The pool was closed meanwhile (a second interrupt): nothing more to do.
  }
}

/** Creates `outdir` and `errdir` and names each host's files in them. */
async function prepareOutputFiles(
  hosts: readonly Host[],
  settings: Settings,
): Promise<OutputFiles[]> {
  const { outdir, errdir } = settings;
  const names = safeNames(hosts.map((host) => host.key));
  const sameDir = outdir !== undefined && errdir !== undefined &&
    resolvePath(outdir) === resolvePath(errdir);
  for (const dir of [outdir, errdir]) {
    if (dir === undefined) continue;
    const missing = missingWritePermission(dir);
    if (missing !== null) throw new Error(`cannot write output folder '${dir}': ${missing}`);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      throw new Error(`cannot create output folder '${dir}': ${(error as Error).message}`);
    }
  }
  return names.map((name) => ({
    ...(outdir !== undefined ? { outFile: joinPath(outdir, sameDir ? `${name}.out` : name) } : {}),
    ...(errdir !== undefined ? { errFile: joinPath(errdir, sameDir ? `${name}.err` : name) } : {}),
  }));
}

function printersFor(key: string): Record<"stdout" | "stderr", LinePrinter> {
  return {
    stdout: new LinePrinter(`${key}: `, Deno.stdout),
    stderr: new LinePrinter(`${key}: `, Deno.stderr),
  };
}

const encoder = new TextEncoder();

function logEnd(host: Host, argv: readonly string[], end: JobEnd, result: unknown): void {
  const what = result instanceof ParallaxError
    ? `${result.kind} error: ${result.message}`
    : end.kind === "finished"
    ? `exit ${end.outcome.exitCode} in ${(end.outcome.durationMs / 1000).toFixed(2)} s`
    : end.kind;
  const line = `parallax: ${host.key}: ${what} [${argv.map(quoteArg).join(" ")}]\n`;
  writeAllSync(Deno.stderr, encoder.encode(line));
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
