/**
 * `call()`: run one command on every host.
 *
 * @module
 */

import { concatBytes, decode } from "./bytes.ts";
import { type HostsInput, parseHosts } from "./hosts.ts";
import type { CallOptions } from "./options.ts";
import type { ParallaxError } from "./parallax_error.ts";
import { runOnHosts } from "./run_hosts.ts";
import { resolveSettings } from "./settings.ts";
import { sshArgv } from "./ssh_argv.ts";

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
}

const encoder = new TextEncoder();

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
  return runCall(hosts, command, options);
}

/** Where {@linkcode runCall} sends each chunk of output, by host key. */
export type ChunkSink = (host: string, stream: "stdout" | "stderr", data: Uint8Array) => void;

/** `call()`, with each chunk of output also sent to `onChunk` as it arrives. */
export async function runCall(
  hosts: HostsInput,
  command: string,
  options: CallOptions,
  onChunk?: ChunkSink,
): Promise<Map<string, CallResult | ParallaxError>> {
  if (typeof command !== "string" || command.trim() === "") {
    throw new TypeError(`Cannot call an empty command: ${JSON.stringify(command)}`);
  }
  if (command.includes("\0")) throw new TypeError("Cannot call a command that contains NUL");
  const parsed = parseHosts(hosts);
  const settings = resolveSettings(options);
  const { inline = true, input, printOut = false, stopRemote = true } = options;
  const pidMarker = `parallax-pgid-${crypto.randomUUID().slice(0, 8)}:`;
  const stdin = input === undefined
    ? null
    : typeof input === "string"
    ? encoder.encode(input)
    : input;
  return await runOnHosts(parsed, settings, {
    program: settings.sshPath,
    meaning: "command",
    argv: (host, _index, effective) =>
      sshArgv(host, stopRemote ? announcePgid(pidMarker, command) : command, effective),
    ...(stopRemote
      ? {
        remoteStop: {
          pidMarker,
          argv: (host, pid, effective) => sshArgv(host, stopGroupCommand(pid), effective),
        },
      }
      : {}),
    onResult: options.onResult,
    ...(onChunk
      ? { onChunk: (index, stream, data) => onChunk(parsed[index].key, stream, data) }
      : {}),
    stdin,
    keepOutput: inline,
    printOut,
    result: (host, { exitCode, stdout, stderr, durationMs }, files) =>
      callResult({ host: host.key, exitCode, durationMs, ...files }, stdout, inline ? stderr : []),
  });
}

/**
 * The command as sent: first a line on stderr with the remote shell's pid, which is its process
 * group (sshd starts every session's shell with setsid), then the caller's command.
 */
function announcePgid(marker: string, command: string): string {
  return `printf '%s%s\\n' '${marker}' "$$" >&2; ${command}`;
}

/** Stops a remote process group: SIGTERM, then SIGKILL a second later. */
function stopGroupCommand(pid: number): string {
  return `kill -TERM -${pid} 2>/dev/null; sleep 1; kill -KILL -${pid} 2>/dev/null; exit 0`;
}

/**
 * A result whose bytes are joined and decoded on first use, so that large output is held once,
 * as it was read, until someone asks for it.
 */
function callResult(
  fields: Omit<CallResult, "stdout" | "stderr" | "stdoutBytes" | "stderrBytes">,
  stdoutChunks: readonly Uint8Array[],
  stderrChunks: readonly Uint8Array[],
): CallResult {
  const lazy = (chunks: readonly Uint8Array[]) => {
    let bytes: Uint8Array | undefined;
    let text: string | undefined;
    return {
      bytes: () => bytes ??= concatBytes(chunks.length === 0 ? [new Uint8Array()] : chunks),
      text: () => text ??= decode(bytes ?? chunks),
    };
  };
  const out = lazy(stdoutChunks);
  const err = lazy(stderrChunks);
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
  };
}
