/**
 * A host's end, decided here: every way a host ends (its process ran here, a gateway's record, a
 * gateway lost, never started) becomes its result or its {@linkcode ParallaxError} through one of
 * these functions, and nowhere else. A kind comes from facts (the process's end, ssh's own log, a
 * validated record, this side's cancellation), never from what the remote command printed; the
 * only words of a host read here are the refusal marker of sudo, which no command can predict
 * (see `ssh/_sudo.ts`), and a transfer's stderr (scp has no log of its own).
 *
 * @module
 */

import type { JobEnd } from "../engine/_run_queue.ts";
import type { Host } from "../hosts/parse.ts";
import { ParallaxError } from "../parallax_error.ts";
import { decode } from "../runtime/_bytes.ts";
import { classify, type Exited } from "../ssh/_classify.ts";
import type { SshFacts } from "../ssh/_ssh_log.ts";
import { type LeafRecord, shownText } from "./_gateway_protocol.ts";
import type { OutputFiles } from "./_output_files.ts";
import type { GatewayPart, Plan } from "./_plan.ts";

/** What the driver does with a job's end: settle the host, or start it again after a pause. */
export type JobVerdict<R> =
  & (
    | { readonly settle: R | ParallaxError }
    | { readonly retryAfterMs: number; readonly failure: ParallaxError }
  )
  & {
    /** Whether ssh reached the host (so that a master may be up to hold). */
    readonly reached: boolean;
  };

/** What a direct host's end is judged with, besides the end itself. */
export interface JobContext {
  /** How many times the host has been started, this time included. */
  readonly attempts: number;
  /** `retries` of the call. */
  readonly retries: number;
  /** ssh's own facts (its log), or null without one. */
  readonly facts: SshFacts | null;
  /** Whether the call was cancelled, or halted (no host starts again then). */
  readonly cancelled: boolean;
  readonly halted: boolean;
  /** Why the call halted, for a host that is then not started again. */
  readonly haltReason: string | null;
  /** The pause before retry number `attempts`. */
  pauseMs(attempts: number): number;
  /** It ran on the host's warm session. */
  readonly warm?: boolean;
}

/**
 * The end of a host whose job ran here (direct): its result, its error, or a retry, which comes
 * only where ssh's own log proves that the command never started.
 */
export function jobEnd<R>(
  plan: Pick<Plan<R>, "program" | "meaning" | "result" | "refusal">,
  host: Host,
  index: number,
  end: JobEnd,
  files: OutputFiles,
  context: JobContext,
): JobVerdict<R> {
  const exited = classify(
    host.key,
    end,
    plan.program,
    plan.meaning,
    context.attempts,
    context.facts,
  );
  const result = exited instanceof ParallaxError
    ? (context.warm ? withWarm(exited, true) : exited)
    : ranEnd(plan, host, index, context.warm ? { ...exited, warm: true } : exited, files);
  const reached = end.kind === "ran" && end.process.exitCode !== null &&
    (!(exited instanceof ParallaxError) ||
      ["timeout", "cancelled", "transfer"].includes(exited.kind));
  const neverStarted = context.facts !== null && context.facts.commandSent === false;
  if (
    !(result instanceof ParallaxError) || result.kind !== "connect" || !neverStarted ||
    context.attempts > context.retries
  ) {
    return { settle: result, reached };
  }
  if (context.cancelled || context.halted) {
    // The retry it is owed never comes: cancelled (or skipped), as a retry that was waiting
    // would be.
    return {
      settle: notStarted(host, context.cancelled ? null : context.haltReason, undefined, result),
      reached,
    };
  }
  return { retryAfterMs: context.pauseMs(context.attempts), failure: result, reached };
}

/** `error`, saying whether the host's command ran on its warm session. */
export function withWarm(error: ParallaxError, warm: boolean): ParallaxError {
  const stamped = new ParallaxError({
    host: error.host,
    kind: error.kind,
    reason: error.message.slice(error.host.length + 2),
    stderr: error.stderr,
    stderrBytes: error.stderrBytes,
    ...(error.stdout !== undefined ? { stdout: error.stdout } : {}),
    ...(error.stdoutBytes !== undefined ? { stdoutBytes: error.stdoutBytes } : {}),
    ...(error.exitCode !== undefined ? { exitCode: error.exitCode } : {}),
    ...(error.durationMs !== undefined ? { durationMs: error.durationMs } : {}),
    attempts: error.attempts,
    ...(error.via !== undefined ? { via: error.via } : {}),
    cause: error.cause,
    warm,
  });
  // Where the error was made, not this copy.
  stamped.stack = error.stack;
  return stamped;
}

/** A process that exited on its own: the operation's result, or a refusal the plan recognises. */
function ranEnd<R>(
  plan: Pick<Plan<R>, "result" | "refusal">,
  host: Host,
  index: number,
  exited: Exited,
  files: OutputFiles,
): R | ParallaxError {
  const refused = plan.refusal?.(exited) ?? null;
  if (refused !== null) {
    return new ParallaxError({
      host: host.key,
      kind: "auth",
      reason: refused.reason,
      stderr: refused.said,
      durationMs: exited.durationMs,
      attempts: exited.attempts,
    });
  }
  return plan.result(host, exited, files, index);
}

/**
 * The error of a host not started (again): skipped for `why`, or cancelled (`why` null).
 * `waiting` is the failed attempt a host was waiting to retry; `via` its gateway.
 */
export function notStarted(
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

/**
 * The end of a host that gateway `via` reported (a record the protocol has validated): its result
 * through the operation, or its error. `output` is the record's output decoded; `keep` says
 * whether it goes into the result.
 */
export function recordEnd<R>(
  part: GatewayPart<R>,
  host: Host,
  index: number,
  record: LeafRecord,
  output: { readonly stdout: Uint8Array; readonly stderr: Uint8Array },
  via: string,
  files: OutputFiles,
  keep: boolean,
): R | ParallaxError {
  const { stdout, stderr } = output;
  if (record.kind === null) {
    return part.result(
      host,
      index,
      {
        exitCode: record.exitCode ?? 0,
        stdout: keep ? stdout : new Uint8Array(),
        stderr: keep ? stderr : new Uint8Array(),
        durationMs: record.durationMs ?? 0,
        attempts: record.attempts,
      },
      via,
      files,
    );
  }
  return new ParallaxError({
    host: host.key,
    kind: record.kind as ParallaxError["kind"],
    reason: recordReason(via, record),
    stdoutBytes: stdout,
    stdout: decode(stdout),
    stderrBytes: stderr,
    stderr: decode(stderr),
    ...(record.exitCode !== null ? { exitCode: record.exitCode } : {}),
    ...(record.durationMs !== null ? { durationMs: record.durationMs } : {}),
    attempts: record.attempts,
    via,
  });
}

/**
 * The error of a host that this side ends without a process end to judge: its local preparation
 * failed, or (behind gateway `via`) the gateway was lost, refused, ran past the host's time, or
 * what it sent could not be written here.
 */
export function hostError(
  host: Host,
  kind: "gateway" | "cancelled" | "local" | "skipped" | "timeout",
  reason: string,
  attempts: number,
  via?: string,
): ParallaxError {
  return new ParallaxError({ host: host.key, kind, reason, attempts, via });
}

/**
 * What an error record from gateway `via` says here. Cancelled on this side's word: said as for a
 * host cancelled with its gateway. A problem of the gateway's own machine says where it was, lest
 * it be looked for here.
 */
function recordReason(via: string, record: LeafRecord): string {
  const reason = shownText(record.reason ?? record.kind!);
  if (record.kind === "cancelled") return cancelledReason(via, record.attempts > 0);
  if (record.kind === "spawn" || record.kind === "local") return `on gateway ${via}: ${reason}`;
  return reason;
}

/** What a host cancelled through gateway `via` says. */
export function cancelledReason(via: string, started: boolean): string {
  return started
    ? `cancelled (through gateway ${via}; its command was stopped on the host)`
    : `cancelled before it started (through gateway ${via})`;
}
