/**
 * One shape for every host's end, whichever command produced it, and the exit status pssh users
 * expect from a set of them.
 *
 * @module
 */

import type { CallResult } from "../call.ts";
import type { CopyResult } from "../copy.ts";
import { ParallaxError } from "../parallax_error.ts";
import type { SlurpResult } from "../slurp.ts";

/** A host's end, as the CLI reports it. */
export interface HostOutcome {
  readonly host: string;
  /** Finished without error and, for call, with exit code 0. */
  readonly ok: boolean;
  readonly exitCode?: number;
  readonly error?: ParallaxError;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs?: number;
  /** copy: the remote destination; slurp: the local path written. */
  readonly path?: string;
}

/** Normalizes a result or error of any command. */
export function toOutcome(
  result: CallResult | CopyResult | SlurpResult | ParallaxError,
): HostOutcome {
  if (result instanceof ParallaxError) {
    return {
      host: result.host,
      ok: false,
      exitCode: result.exitCode,
      error: result,
      stdout: result.stdout ?? "",
      stderr: result.stderr,
      durationMs: result.durationMs,
    };
  }
  if ("exitCode" in result) {
    return {
      host: result.host,
      ok: result.exitCode === 0,
      exitCode: result.exitCode,
      stdout: result.stdout,
      stderr: result.stderr,
      durationMs: result.durationMs,
    };
  }
  return {
    host: result.host,
    ok: true,
    exitCode: 0,
    stdout: "",
    stderr: result.stderr,
    durationMs: result.durationMs,
    path: result.path,
  };
}

/** The reason a host failed, in a few words, without the host's name. */
export function failureReason(outcome: HostOutcome): string {
  const { error } = outcome;
  if (error === undefined) return `Exited with error code ${outcome.exitCode}`;
  if (error.kind === "timeout") return "Timed out, killed";
  if (error.kind === "cancelled") return "Interrupted";
  const message = error.message.startsWith(`${outcome.host}: `)
    ? error.message.slice(outcome.host.length + 2)
    : error.message;
  return `${error.kind}: ${message}`;
}

/**
 * pssh's exit status: 0 all succeeded; 3 a host was killed, timed out or interrupted; else 4 an
 * ssh or scp error on some host; else 5 a remote command exited nonzero.
 */
export function exitStatus(outcomes: readonly HostOutcome[]): number {
  const kinds = outcomes.map((o) => o.error?.kind);
  if (kinds.some((k) => k === "timeout" || k === "cancelled")) return 3;
  if (kinds.some((k) => k !== undefined)) return 4;
  if (outcomes.some((o) => !o.ok)) return 5;
  return 0;
}
