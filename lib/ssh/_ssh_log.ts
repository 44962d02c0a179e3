/**
 * ssh's own log, apart from the remote command's output: each job's ssh writes its messages to a
 * file of its own (`-E`) in a private folder, at a level that records the facts of its phases:
 * did it log in, did it send the command (or open a session through a master), did an exit
 * status come back. Those facts, and ssh's own words, decide how a job ended; the remote
 * command's stderr never does (it may say "Connection refused" for reasons of its own).
 *
 * @module
 */

import { joinPath } from "../runtime/_path.ts";
import {
  canReadEnv,
  missingReadPermission,
  missingWritePermission,
} from "../runtime/_permissions.ts";
import {
  makePrivateFolder,
  type PrivateFolder,
  privateFolderProblem,
  remakePrivateFolder,
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
}

/** How much of ssh's log to ask for: enough for the facts above, and no more. */
export type SshLogLevel = "DEBUG1" | "DEBUG2" | "VERBOSE";

/** ssh's informational lines that say nothing of a failure. */
const INFO = /^(?:Authenticated to |Transferred: |Bytes per second: )/;

/** The most of a log read back: ssh's verdict is at its end. */
const MAX_LOG_BYTES = 256 * 1024;

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
 * Whether the caller steers ssh's log with its own arguments (`-v`, `-q`, `-E file`): then that
 * log is theirs, as it would be without parallax, and none is read (no facts: nothing retried).
 */
export function callerOwnsSshLog(sshExtra: readonly string[]): boolean {
  return sshExtra.some((arg) => /^-[A-Za-z]*[vq][A-Za-z]*$/.test(arg) || arg.startsWith("-E"));
}

/** Reads the facts from a log's text. */
export function readSshLog(text: string): SshFacts {
  const lines = text.split(/\r?\n/);
  let loggedIn = false;
  let sent = false;
  let detailed = false;
  let exitStatus: number | null = null;
  const messages: string[] = [];
  for (const line of lines) {
    if (line.startsWith("debug")) {
      detailed = true;
      const body = line.replace(/^debug\d: /, "");
      if (body.startsWith("Sending command: ")) sent = true;
      else if (body.startsWith("mux_client_request_session: master session id: ")) {
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
  return {
    loggedIn,
    commandSent: detailed ? sent : (loggedIn ? null : false),
    exitStatus,
    messages,
  };
}

/**
 * The private folder of one run's ssh logs, a file per job, read back and removed when the job
 * ends. Null from {@linkcode SshLogs.open} when no private folder can be had (no write access to
 * the temporary folder): then no fact is known, and nothing is retried.
 */
export class SshLogs implements Disposable {
  #next = 0;

  private constructor(private readonly folder: PrivateFolder) {}

  /** A new private folder under `$TMPDIR` (where it may be read) or `/tmp`; null if none. */
  static open(): SshLogs | null {
    const tmpdir = canReadEnv("TMPDIR") ? Deno.env.get("TMPDIR") : undefined;
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
   * A new log file's path for one job; null when the folder is not private any more (then the
   * job runs without a log, as if none could be had).
   */
  path(): string | null {
    if (remakePrivateFolder(this.folder) !== null) return null;
    return joinPath(this.folder.dir, `${this.#next++}.log`);
  }

  /** Reads a job's log (its last {@linkcode MAX_LOG_BYTES}) and removes it; "" if none. */
  take(path: string): string {
    let text = "";
    try {
      const file = Deno.openSync(path, { read: true });
      try {
        const size = file.statSync().size;
        if (size > MAX_LOG_BYTES) file.seekSync(size - MAX_LOG_BYTES, Deno.SeekMode.Start);
        const buffer = new Uint8Array(Math.min(size, MAX_LOG_BYTES));
        let filled = 0;
        while (filled < buffer.length) {
          const n = file.readSync(buffer.subarray(filled));
          if (n === null) break;
          filled += n;
        }
        text = new TextDecoder().decode(buffer.subarray(0, filled));
      } finally {
        file.close();
      }
    } catch {
      // No log: ssh never started, or could not write it.
    }
    try {
      Deno.removeSync(path);
    } catch {
      // Gone already.
    }
    return text;
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
