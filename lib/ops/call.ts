/**
 * `call()`: run one command on every host.
 *
 * @module
 */

import { drive } from "../driver/_drive.ts";
import type { HostObserver } from "../driver/_plan.ts";
import { type HostsInput, parseHosts } from "../hosts/parse.ts";
import type { ErrorKind, ParallaxError } from "../parallax_error.ts";
import { type ResultRecord, toRecord } from "../record.ts";
import { DEFAULT_CALL_TIMEOUT, resolveSettings } from "../settings/_settings.ts";
import type { CommonOptions } from "../settings/options.ts";
import { withLifeline } from "../ssh/_remote_command.ts";
import { sshArgv } from "../ssh/_ssh_argv.ts";
import { HeldOutput } from "./_held_output.ts";

/** What a host's command produced. A nonzero exit code is a result, not an error. */
export interface CallResult {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** The remote command's exit status. */
  readonly exitCode: number;
  /** Standard output as text (invalid UTF-8 replaced); empty with `inline: false`. */
  readonly stdout: string;
  /** Standard error as text (ssh's messages included); empty with `inline: false`. */
  readonly stderr: string;
  /** Standard output exactly as received. */
  readonly stdoutBytes: Uint8Array;
  /** Standard error exactly as received. */
  readonly stderrBytes: Uint8Array;
  /** Milliseconds from the start of ssh to its exit. */
  readonly durationMs: number;
  /** The file in `outdir` that holds this host's stdout. */
  readonly outFile?: string;
  /** The file in `errdir` that holds this host's stderr. */
  readonly errFile?: string;
  /** The result as a JSON record, the shape of the CLI's `--json` lines. */
  toJSON(): ResultRecord<ErrorKind>;
}

/** Options of {@linkcode call}. */
export interface CallOptions extends CommonOptions {
  /**
   * Keep each host's stdout and stderr in its result. With `false` the result's output is empty
   * and memory stays small however much the hosts print (use `outdir`/`errdir` to keep it).
   *
   * @default {true}
   */
  inline?: boolean;
  /** Text or bytes written to every host's stdin; without it, stdin is empty. */
  input?: string | Uint8Array;
  /**
   * Write each line of output as it arrives, prefixed with `host: ` (stdout lines to stdout,
   * stderr lines to stderr).
   *
   * @default {false}
   */
  printOut?: boolean;
  /**
   * Stop the remote command when its host is stopped (timeout, cancel, a signal) and when this
   * process dies, even by SIGKILL: ssh's stdin stays open as a lifeline, and a watcher on the
   * host stops the command's process group (SIGTERM, then SIGKILL two seconds later) when it
   * ends. Needs a POSIX-compatible login shell on the host (sh, bash, dash, zsh, ksh) with
   * `head -c`; turn it off for csh or fish (then only the local ssh is stopped, and a remote
   * command that never writes runs on).
   *
   * @default {true}
   */
  stopRemote?: boolean;
  /**
   * Called with each host's result or error as soon as that host finishes, in the order they
   * finish (the returned map keeps input order). An exception it throws rejects the call once
   * every host has finished.
   */
  onResult?: (result: CallResult | ParallaxError) => void;
}

/**
 * Runs `command` on every host over ssh, at most `limit` at a time, and returns each host's
 * {@linkcode CallResult} or {@linkcode ParallaxError}. One host's failure never affects another's
 * result; when the promise resolves, no ssh process it started is still running.
 *
 * @param hosts `"[user@]host[:port]"` strings, `[host, port?, user?]` tuples, `{ host, port?,
 * user? }` objects, or one whitespace-separated string.
 * @param command The remote command line, run by the remote user's shell.
 * @param options See {@linkcode CallOptions}.
 * @returns A map from each host's key (a string entry exactly as written) to its result or error,
 * in input order.
 * @throws {TypeError} For a malformed or duplicate host, an empty command or a malformed option.
 * @throws {RangeError} For an option value out of range.
 *
 * @example Running a command on three hosts
 * ```ts
 * import { call, ParallaxError } from "@parallax/parallax";
 *
 * const results = await call(["web1", "admin@web2:2222", "web3"], "uptime", {
 *   limit: 16,
 *   timeout: 30,
 * });
 * for (const [host, result] of results) {
 *   if (result instanceof ParallaxError) console.error(`${host}: ${result.kind}: ${result.message}`);
 *   else console.log(`${host} [${result.exitCode}] ${result.stdout.trim()}`);
 * }
 * ```
 */
export function call(
  hosts: HostsInput,
  command: string,
  options: CallOptions = {},
): Promise<Map<string, CallResult | ParallaxError>> {
  return callWith(hosts, command, options);
}

/**
 * `call()` with an observer that is told each host's output and result as they happen.
 *
 * @throws {TypeError} As {@linkcode call} does.
 */
export async function callWith(
  hosts: HostsInput,
  command: string,
  options: CallOptions,
  observer: HostObserver<CallResult> = {},
): Promise<Map<string, CallResult | ParallaxError>> {
  if (typeof command !== "string" || command.trim() === "") {
    throw new TypeError(`Cannot call an empty command: ${JSON.stringify(command)}`);
  }
  if (command.includes("\0")) throw new TypeError("Cannot call a command that contains NUL");
  const parsed = parseHosts(hosts);
  const settings = resolveSettings(options, DEFAULT_CALL_TIMEOUT);
  const { inline = true, input, printOut = false, stopRemote = true } = options;
  if (input !== undefined && typeof input !== "string" && !(input instanceof Uint8Array)) {
    throw new TypeError("Cannot use input: expected a string or a Uint8Array");
  }
  const bytes = input === undefined
    ? null
    : typeof input === "string"
    ? new TextEncoder().encode(input)
    : input;
  const sent = stopRemote ? withLifeline(command, bytes?.byteLength ?? 0) : command;
  const onResult = options.onResult;
  return await drive(parsed, settings, {
    program: settings.sshPath,
    meaning: "command",
    input: bytes,
    lifeline: stopRemote,
    keepOutput: inline,
    printOut,
    argv: (host, _index, connection) => sshArgv(host, sent, settings, connection),
    result: (host, { exitCode, stdout, stderr, durationMs }, files) =>
      callResult({ host: host.key, exitCode, durationMs, ...files }, stdout, inline ? stderr : []),
  }, {
    ...observer,
    result(result) {
      onResult?.(result);
      observer.result?.(result);
    },
  });
}

/** A result whose streams are held as read until someone asks for them. */
function callResult(
  fields: Omit<CallResult, "stdout" | "stderr" | "stdoutBytes" | "stderrBytes" | "toJSON">,
  stdoutChunks: readonly Uint8Array[],
  stderrChunks: readonly Uint8Array[],
): CallResult {
  const out = new HeldOutput(stdoutChunks);
  const err = new HeldOutput(stderrChunks);
  return {
    ...fields,
    get stdoutBytes() {
      return out.bytes();
    },
    get stderrBytes() {
      return err.bytes();
    },
    get stdout() {
      return out.text();
    },
    get stderr() {
      return err.text();
    },
    toJSON() {
      return toRecord<ErrorKind>({
        host: fields.host,
        ok: fields.exitCode === 0,
        kind: null,
        message: null,
        exitCode: fields.exitCode,
        stdout: out.bytes(),
        stderr: err.bytes(),
        durationMs: fields.durationMs,
      });
    },
  };
}
