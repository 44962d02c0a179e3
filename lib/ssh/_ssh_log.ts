/**
 * ssh's own log, apart from the remote command's output: each job's ssh writes its messages to a
 * file of its own (`-E`) in a private folder, at a level that records the facts of its phases:
 * did it log in, did it send the command (or open a session through a master), did an exit
 * status come back. Those facts, and ssh's own words, decide how a job ended; the remote
 * command's stderr never does (it may say "Connection refused" for reasons of its own).
 *
 * @module
 */

import type { JobEnd } from "../engine/_run_queue.ts";
import type { JobSpec } from "../engine/_protocol.ts";
import { joinPath } from "../runtime/_path.ts";
import { missingReadPermission, missingWritePermission } from "../runtime/_permissions.ts";
import {
  makePrivateFolder,
  type PrivateFolder,
  privateFolderProblem,
  readableTmpdir,
} from "../runtime/_private_folder.ts";

/** What ssh's log says of one run. */
export interface SshFacts {
  /** ssh logged in, or reached the host through a master. */
  readonly loggedIn: boolean;
  /**
   * ssh sent the command (or a master opened a session for it): the command may have started.
   * Null when the log is not detailed enough to tell (then it is taken as sent once logged in).
   */
  readonly commandSent: boolean | null;
  /** The remote command's exit status as ssh received it; null when none came back. */
  readonly exitStatus: number | null;
  /** ssh's own messages (its debug lines left out), its verdict last. */
  readonly messages: readonly string[];
  /**
   * The log's path stopped leading to the file made for it while ssh ran (its folder removed or
   * replaced): ssh may have written elsewhere, and nothing above is known.
   */
  readonly untrusted?: boolean;
}

/** How much of ssh's log to ask for: enough for the facts above, and no more. */
export type SshLogLevel = "DEBUG1" | "DEBUG2" | "VERBOSE";

/** ssh's informational lines that say nothing of a failure. */
const INFO = /^(?:Authenticated to |Transferred: |Bytes per second: )/;

/**
 * The level for a job: through a running master, `DEBUG2` (the client then logs a few lines,
 * the exit status among them); where the job may become a master itself, `VERBOSE` (the master
 * keeps the log file open for its whole life, so it must log little; the facts are then only
 * "logged in"); on a connection of its own, `DEBUG1` (the exit status is logged).
 */
export function sshLogLevel(connection: readonly string[]): SshLogLevel {
  const path = connection.find((o) => o.startsWith("ControlPath="))?.slice(12);
  if (path === undefined) return "DEBUG1";
  try {
    if (Deno.lstatSync(path).isSocket) return "DEBUG2";
  } catch {
    // No master yet: this job may become it.
  }
  return "VERBOSE";
}

/**
 * `argv` (an ssh command line) with its log sent to `path` at `level`. These come first, so that
 * they win over the caller's options (OpenSSH keeps the first value it sees); a later `-v` only
 * adds detail, and its lines go to the log too.
 */
export function withSshLog(
  argv: readonly string[],
  path: string,
  level: SshLogLevel,
): string[] {
  return [argv[0], "-E", path, "-o", `LogLevel=${level}`, ...argv.slice(1)];
}

/**
 * A job's ssh command line with its log (see `JobSpec.logFile`) at the level for `connection`,
 * and that log as the job carries it; without a log, the command line as it is.
 */
export function loggedSsh(
  argv: readonly string[],
  log: { readonly path: string; readonly uid: number } | null,
  connection: readonly string[],
): { argv: string[]; logFile: JobSpec["logFile"] } {
  if (log === null) return { argv: [...argv], logFile: null };
  const level = sshLogLevel(connection);
  return {
    argv: withSshLog(argv, log.path, level),
    // From DEBUG1 up ssh logs as it starts (reading its configuration), so a log left empty says
    // it never ran; at VERBOSE a session through a master logs nothing at all.
    logFile: { ...log, startsLog: level !== "VERBOSE" },
  };
}

/** ssh's switches that take an argument: in a cluster (`-4F file`), what follows one is its value. */
const TAKES_VALUE = new Set("BbcDEeFIiJLlmOoPpQRSWw");

/**
 * Whether the caller steers ssh's log with its own arguments (`-v`, `-q`, `-y`, `-E file`, alone
 * or in a cluster such as `-4vv`): then that log is theirs, as it would be without parallax, and
 * none is read (no facts: nothing retried).
 */
export function callerOwnsSshLog(sshExtra: readonly string[]): boolean {
  let value = false;
  for (const arg of sshExtra) {
    // The argument of the switch before (`-F`, then its file) is no switch.
    if (value) {
      value = false;
      continue;
    }
    if (!arg.startsWith("-") || arg === "-" || arg === "--") continue;
    for (const letter of arg.slice(1)) {
      if ("vqyE".includes(letter)) return true;
      if (TAKES_VALUE.has(letter)) {
        value = arg.endsWith(letter);
        break;
      }
    }
  }
  return false;
}

/**
 * Reads the facts from a log's text. `command` is the command line ssh was given, which it
 * echoes after "Sending command: " (so that none of its lines is read as ssh's own); `cut` says
 * the log's middle was left out (then what is missing may have been a fact: a cut log never
 * proves that nothing was sent).
 */
export function readSshLog(text: string, command: string | null = null, cut = false): SshFacts {
  const lines = text.split(/\r?\n/);
  const commandLines = command === null ? [] : command.split("\n").map((l) => l.replace(/\r$/, ""));
  let loggedIn = false;
  let sent = false;
  let detailed = false;
  let exitStatus: number | null = null;
  const messages: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("debug")) {
      detailed = true;
      const body = line.replace(/^debug\d: /, "");
      if (body.startsWith("Sending command: ")) {
        sent = true;
        // The command's own lines follow: they are the caller's text, not ssh's. They are
        // skipped as they match the command, in order: ssh cuts a log message at about 1 KiB,
        // so fewer may have been echoed than the command has (the last one cut short).
        for (let k = 1; k < commandLines.length && i + 1 < lines.length; k++) {
          const next = lines[i + 1];
          if (next === commandLines[k]) {
            i++;
            continue;
          }
          if (next !== "" && commandLines[k].startsWith(next)) i++;
          break;
        }
      } else if (body.startsWith("mux_client_request_session: master session id: ")) {
        loggedIn = true;
        sent = true;
      } else if (body.startsWith("Authentication succeeded")) loggedIn = true;
      let match = /^Exit status (-?\d+)$/.exec(body);
      if (match !== null && Number(match[1]) >= 0) exitStatus = Number(match[1]);
      match = /^Received exit status from master (\d+)$/.exec(body);
      if (match !== null) exitStatus = Number(match[1]);
      continue;
    }
    if (line.startsWith("Authenticated to ")) loggedIn = true;
    const trimmed = line.trim();
    if (trimmed !== "" && !INFO.test(trimmed)) messages.push(trimmed);
  }
  // Without debug lines (VERBOSE): logged in, or through a master (which logs nothing at that
  // level), the command may have been sent; only ssh's own failure messages prove it was not.
  let commandSent = detailed ? sent : loggedIn || messages.length === 0 ? null : false;
  if (cut && commandSent === false) commandSent = null;
  return { loggedIn, commandSent, exitStatus, messages };
}

/**
 * The facts of an ssh job's end, from its log as the worker read it back (null without one);
 * `argv` is the job's, whose last word is the command ssh echoes.
 */
export function factsOfJob(end: JobEnd, argv: readonly string[]): SshFacts | null {
  return end.kind === "ran" && end.process.log !== null
    ? factsOf(end.process.log, argv.at(-1) ?? null)
    : null;
}

/** The facts of a job's log as the worker read it back (see `JobSpec.logFile`). */
export function factsOf(
  log: { readonly text: string; readonly trusted: boolean; readonly cut: boolean },
  command: string | null = null,
): SshFacts {
  if (!log.trusted) {
    return { loggedIn: false, commandSent: null, exitStatus: null, messages: [], untrusted: true };
  }
  return readSshLog(log.text, command, log.cut);
}

/**
 * The private folder of one run's ssh logs, a file per job, read back by the worker through the
 * descriptor it made the file with, and removed when the job ends. Null from {@linkcode SshLogs.open} when no private folder can be had (no write access to
 * the temporary folder): then no fact is known, and nothing is retried.
 */
export class SshLogs implements Disposable {
  #next = 0;

  private constructor(private readonly folder: PrivateFolder) {}

  /** A new private folder under `$TMPDIR` (where it may be read) or `/tmp`; null if none. */
  static open(): SshLogs | null {
    const tmpdir = readableTmpdir();
    for (const base of new Set([...(tmpdir ? [tmpdir] : []), "/tmp"])) {
      if (missingWritePermission(base) !== null || missingReadPermission(base) !== null) continue;
      try {
        return new SshLogs(makePrivateFolder(base, "plx-log-"));
      } catch {
        // Try the next place.
      }
    }
    return null;
  }

  /**
   * Where one job's log goes (made new by the worker just before the spawn, in this folder,
   * checked then; see `JobSpec.logFile`).
   */
  file(): { path: string; uid: number } | null {
    if (this.folder.uid === null) return null;
    return { path: joinPath(this.folder.dir, `${this.#next++}.log`), uid: this.folder.uid };
  }

  [Symbol.dispose](): void {
    if (privateFolderProblem(this.folder) !== null) return;
    try {
      Deno.removeSync(this.folder.dir, { recursive: true });
    } catch {
      // Gone already, or not ours to remove any more.
    }
  }
}
