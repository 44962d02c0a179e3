/**
 * Turns how a job ended into either a process that exited on its own or a {@linkcode ParallaxError} of the right
 * kind.
 *
 * @module
 */

import { type ErrorKind, ParallaxError } from "../parallax_error.ts";
import { concatBytes, decode } from "../runtime/_bytes.ts";
import type { JobEnd } from "../engine/_run_queue.ts";
import type { SshFacts } from "./_ssh_log.ts";

/** A job whose process ran and exited on its own. */
export interface Exited {
  readonly exitCode: number;
  /** Output as the chunks read. */
  readonly stdout: readonly Uint8Array[];
  readonly stderr: readonly Uint8Array[];
  readonly durationMs: number;
  /** How many times the job was started (more than once after retries). */
  readonly attempts: number;
  /** It ran on the host's warm session (see `_warm_session.ts`). */
  readonly warm?: boolean;
}

/** ssh's own exit status for its failures; a remote command's status is passed through. */
const SSH_FAILURE = 255;

/** ssh's messages for each kind, checked in this order against its own messages. */
const SSH_FAILURE_PATTERNS: readonly [ErrorKind, RegExp, string][] = [
  [
    "hostkey",
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .*(?:changed|mismatch)/i,
    "host key verification failed",
  ],
  [
    "auth",
    /Permission denied \(|Permission denied, please try again|Too many authentication failures/i,
    "authentication failed",
  ],
  [
    "connect",
    /Could not resolve hostname|Name or service not known|Temporary failure in name resolution|Connection refused|Connection timed out|Operation timed out|timed out during banner exchange|No route to host|Network is unreachable|Connection reset|Connection closed by|kex_exchange_identification/i,
    "cannot connect",
  ],
];

/**
 * What a job's exit status means: the remote command's status (ssh passes it through, and keeps
 * 255 for its own failures), or a transfer's success (scp: any nonzero status is a failure).
 */
export type ExitMeaning = "command" | "transfer";

/**
 * Classifies a job's end for host `key`.
 *
 * A kind comes from facts: the process's own end, and for ssh its log (`facts`): whether it
 * logged in, sent the command, received an exit status, and its own words. Without a log (no
 * private folder for it could be had; scp), ssh's words are looked for in its stderr.
 *
 * @param program The program the job ran, for messages about starting it.
 * @param attempts How many times the job has been started, this time included.
 * @param facts What ssh's own log says, when it had one.
 */
export function classify(
  key: string,
  end: JobEnd,
  program: string,
  meaning: ExitMeaning,
  attempts: number,
  facts: SshFacts | null = null,
): Exited | ParallaxError {
  if (end.kind === "not-started") {
    return new ParallaxError({
      host: key,
      kind: "cancelled",
      reason: "cancelled before it started",
      attempts,
    });
  }
  if (end.kind === "lost") {
    return new ParallaxError({
      host: key,
      attempts,
      kind: end.cancelled ? "cancelled" : "local",
      reason: end.cancelled
        ? `cancelled (${end.reason}); its process was killed`
        : `${end.reason}; its process was killed and the command may have run in part`,
    });
  }
  const ran = end.process;
  // Decoded only for failures: a success's output may be large, and is decoded on demand.
  let stderrText: string | undefined;
  const stderr = () => stderrText ??= decode(ran.stderr);
  const fail = (kind: ErrorKind, reason: string, cause?: unknown) =>
    new ParallaxError({
      host: key,
      kind,
      reason,
      stdout: decode(ran.stdout),
      stdoutBytes: concatBytes(ran.stdout),
      stderr: stderr(),
      stderrBytes: concatBytes(ran.stderr),
      durationMs: ran.durationMs,
      attempts,
      cause,
      ...(kind === "transfer" && ran.exitCode !== null ? { exitCode: ran.exitCode } : {}),
    });

  if (ran.spawnError !== null) {
    const { name, message } = ran.spawnError;
    const reason = name === "NotFound"
      ? `cannot start '${program}': program not found (${installHint(program)})`
      : name === "NotCapable" || name === "PermissionDenied"
      ? `cannot start '${program}': run access is not granted; run with --allow-run=${program}`
      : `cannot start '${program}': ${message}`;
    return fail("spawn", reason, ran.spawnError);
  }
  if (ran.timedOut) {
    return fail("timeout", `timed out after ${seconds(ran.durationMs)} and was killed`);
  }
  if (ran.cancelled) return fail("cancelled", "cancelled; its process was killed");
  if (ran.exitCode === null) {
    return fail("local", ran.localError ?? "the job ended without an exit status");
  }
  if (ran.signal !== null) {
    return fail("ssh", `${program} was killed by ${ran.signal}`);
  }
  const exited = (): Exited => ({
    exitCode: ran.exitCode!,
    stdout: ran.stdout,
    stderr: ran.stderr,
    durationMs: ran.durationMs,
    attempts,
  });
  if (facts?.untrusted) {
    // The log's folder was removed or replaced while ssh ran: how it ended cannot be told.
    const why = "ssh's log folder was removed or replaced while it ran (a /tmp cleaner, or " +
      "another user)";
    return ran.exitCode === SSH_FAILURE
      ? fail("ssh", `${why}: exit status 255, and the command may have run`)
      : fail("local", `${why}: its exit status ${ran.exitCode} cannot be trusted`);
  }
  if (meaning === "command" && ran.exitCode === SSH_FAILURE && facts !== null) {
    // The remote command's own 255, as ssh received it.
    if (facts.exitStatus === SSH_FAILURE) return afterRun(ran, exited());
    const said = facts.messages.at(-1);
    const detail = said === undefined ? "" : `: ${said}`;
    if (facts.commandSent === true) {
      return fail("ssh", `connection lost after the command started${detail}`);
    }
    if (facts.commandSent === null) {
      return fail(
        "ssh",
        `${program} exited with status 255 after logging in (the connection was lost, or the command exited 255)${detail}`,
      );
    }
    const text = facts.messages.join("\n");
    for (const [kind, pattern, summary] of SSH_FAILURE_PATTERNS) {
      if (pattern.test(text)) return fail(kind, `${summary}: ${matchingLine(text, pattern)}`);
    }
    return fail("ssh", `${program} failed before the command was sent${detail}`);
  }
  const failedToRun = meaning === "transfer" ? ran.exitCode !== 0 : ran.exitCode === SSH_FAILURE;
  if (failedToRun) {
    // A transfer's own program and its remote side say what failed on lines of their own
    // (`scp: …`, `rsync: …`, `rsync error: …`): only the others can be ssh's.
    const sshLines = meaning === "transfer"
      ? stderr().split("\n").filter((line) => !TRANSFER_LINE.test(line)).join("\n")
      : stderr();
    for (const [kind, pattern, summary] of SSH_FAILURE_PATTERNS) {
      if (pattern.test(sshLines)) {
        return fail(kind, `${summary}: ${matchingLine(sshLines, pattern)}`);
      }
    }
    if (meaning === "transfer" && MISSING_RSYNC.test(stderr())) {
      return fail(
        "transfer",
        `rsync is not installed on the host (or not on its PATH): ${
          matchingLine(stderr(), MISSING_RSYNC)
        }`,
      );
    }
    if (meaning === "transfer") {
      const detail = stderr().trim() === "" ? "" : `: ${allLines(stderr())}`;
      return fail("transfer", `${program} failed with exit status ${ran.exitCode}${detail}`);
    }
    const detail = stderr().trim() === "" ? "" : `: ${lastLine(stderr())}`;
    return fail("ssh", `${program} failed with exit status 255${detail}`);
  }
  return afterRun(ran, exited());

  /** A run whose process exited on its own: still a local error if its output was not all had. */
  function afterRun(ran: RanProcess, result: Exited): Exited | ParallaxError {
    if (ran.localError !== null) return fail("local", ran.localError);
    if (ran.outputCut) {
      return fail(
        "local",
        "the output pipes stayed open after ssh exited (a process holds them): output may be incomplete",
      );
    }
    return result;
  }
}

type RanProcess = Extract<JobEnd, { kind: "ran" }>["process"];

/** A line a transfer's program or its remote side printed (never ssh's own). */
const TRANSFER_LINE =
  /^\s*(?:scp|sftp|rsync|rsync error|\[(?:sender|receiver|Receiver|Sender|generator)\])\b/;

/** A remote shell that found no rsync. */
const MISSING_RSYNC = /rsync: (?:command )?not found|rsync: No such file or directory/;

/** What to install for `program`. */
function installHint(program: string): string {
  const name = program.split("/").at(-1) ?? program;
  return name === "rsync"
    ? "install rsync, e.g. apt-get install rsync"
    : "install OpenSSH's client, e.g. apt-get install openssh-client";
}

/** The last line of ssh's stderr that matches: ssh states its verdict last. */
function matchingLine(text: string, pattern: RegExp): string {
  return text.split("\n").findLast((line) => pattern.test(line))?.trim() ?? lastLine(text);
}

/** scp says what failed over several lines ("dest open …: Permission denied", "failed to …"). */
function allLines(text: string): string {
  const joined = text.split("\n").map((line) => line.trim()).filter((line) => line !== "")
    .join("; ");
  return joined.length > 500 ? `${joined.slice(0, 497)}...` : joined;
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.trim() ?? "";
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
