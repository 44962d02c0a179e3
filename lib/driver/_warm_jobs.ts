/**
 * The jobs of a call that run on their hosts' warm sessions (see `ssh/_warm_session.ts`): no
 * local process, at most the call's `limit` at once, each ending as a job of the engine would,
 * with the facts its session gave (the command was sent; its exit status as the host's shell saw
 * it), so that its end is decided where every other is (`_ends.ts`).
 *
 * @module
 */

import type { JobEnd } from "../engine/_run_queue.ts";
import { KILL_GRACE_MS } from "../settings/_settings.ts";
import type { SshFacts } from "../ssh/_ssh_log.ts";
import type { WarmEnd, WarmSession } from "../ssh/_warm_session.ts";

/** A host's command for its warm session. */
export interface WarmJob {
  readonly index: number;
  /** The host's connection-reuse options (for a new ssh, if its session is found gone). */
  readonly connection: string[];
  readonly session: WarmSession;
  readonly command: string;
}

/** How a call's warm jobs run, and whom they tell. */
export interface WarmRunOptions {
  readonly limit: number;
  /** Aborting stops running commands and starts no more (they end `not-started`). */
  readonly signal: AbortSignal;
  /** Aborting starts no more (they end `not-started`); running ones finish. */
  readonly halt: AbortSignal;
  readonly keepOutput: boolean;
  readonly timeoutMs: number;
  /** The variables of the host at `index` (sent where ssh would send them). */
  env(index: number): Record<string, string>;
  started(index: number): void;
  /** A job's end, with the facts its session gave (null for one never started). */
  end(index: number, end: JobEnd, facts: SshFacts | null): void;
}

/**
 * Runs `jobs` on their sessions; resolves when every one has ended and been told, with the jobs
 * whose session was found gone before their command was sent (they did not run: for a new ssh).
 */
export async function runWarm(
  jobs: readonly WarmJob[],
  options: WarmRunOptions,
): Promise<WarmJob[]> {
  let next = 0;
  const unsent: WarmJob[] = [];
  const lane = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      if (options.signal.aborted || options.halt.aborted) {
        job.session.unclaim();
        options.end(job.index, { kind: "not-started" }, null);
        continue;
      }
      let end: WarmEnd;
      try {
        end = await job.session.run(job.command, {
          timeoutMs: options.timeoutMs,
          killGraceMs: KILL_GRACE_MS,
          signal: options.signal,
          keepOutput: options.keepOutput,
          env: options.env(job.index),
          sent: () => options.started(job.index),
        });
      } catch (error) {
        end = {
          how: "broken",
          sent: true,
          status: null,
          stdout: [],
          stderr: [],
          stdoutBytes: 0,
          stderrBytes: 0,
          durationMs: 0,
          reason: `the warm session failed: ${(error as Error).message}`,
        };
      }
      if (end.how === "unsent") unsent.push(job);
      // Cancelled while the session answered its ping: the command was never sent.
      else if (end.how === "cancelled" && !end.sent) {
        options.end(job.index, { kind: "not-started" }, null);
      } else options.end(job.index, jobEndOf(end), factsOf(end));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.limit, jobs.length) }, lane));
  return unsent;
}

/** A warm end as the engine would have told a job's end. */
function jobEndOf(end: WarmEnd): JobEnd {
  return {
    kind: "ran",
    process: {
      spawnError: null,
      // A broken session is ssh's failure, as a cut connection is (its exit status 255).
      exitCode: end.how === "broken" ? 255 : end.status ?? 255,
      signal: null,
      timedOut: end.how === "timeout",
      cancelled: end.how === "cancelled",
      stdout: end.stdout,
      stderr: end.stderr,
      stdoutBytes: end.stdoutBytes,
      stderrBytes: end.stderrBytes,
      localError: null,
      durationMs: end.durationMs,
      outputCut: false,
      log: null,
    },
  };
}

/** What the session tells of the command: it was sent; its status, when one came. */
function factsOf(end: WarmEnd): SshFacts {
  return {
    loggedIn: true,
    commandSent: true,
    exitStatus: end.how === "broken" ? null : end.status,
    messages: end.reason === null ? [] : [end.reason],
  };
}
