/**
 * `call()`: run one command on every host.
 *
 * @module
 */

import { drive } from "../driver/_drive.ts";
import type { StdinPart } from "../engine/_stdin_feed.ts";
import { type HostObserver, withOnResult } from "../driver/_plan.ts";
import { type HostsInput, parseHosts } from "../hosts/parse.ts";
import { type PerHost, stringFor } from "../hosts/per_host.ts";
import type { ErrorKind, ParallaxError } from "../parallax_error.ts";
import { decode, TextBytes } from "../runtime/_bytes.ts";
import { type ResultRecord, toRecord } from "../record.ts";
import { DEFAULT_CALL_TIMEOUT, resolveSettings } from "../settings/_settings.ts";
import type { CommonOptions } from "../settings/options.ts";
import { remoteCommandLine } from "../ssh/_remote_command.ts";
import type { Exited } from "../ssh/_classify.ts";
import { sshArgv } from "../ssh/_ssh_argv.ts";
import { shellQuote } from "../runtime/_shell_quote.ts";
import { sudoInputPrefix, sudoMarker, sudoRefusal, type SudoRequest } from "../ssh/_sudo.ts";
import { HeldOutput } from "./_held_output.ts";
import { CallerTypeError } from "../caller_error.ts";
import { checkOptionNames, COMMON_OPTIONS, type Unlisted } from "../settings/_option_names.ts";

/**
 * What a host's command produced. A nonzero exit code is a result, not an error.
 *
 * @example Reading a host's result
 * ```ts
 * import { call, ParallaxError } from "@parallax/parallax";
 *
 * for (const [host, result] of await call(["web1"], "df -h /")) {
 *   if (!(result instanceof ParallaxError)) console.log(host, result.exitCode, result.stdout);
 * }
 * ```
 */
export interface CallResult {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** The remote command's exit status. */
  readonly exitCode: number;
  /** Standard output as text (invalid UTF-8 replaced); empty with `inline: false`. */
  readonly stdout: string;
  /** Standard error as text (the remote command's; ssh's own messages are in its log); empty with `inline: false`. */
  readonly stderr: string;
  /** Standard output exactly as received. */
  readonly stdoutBytes: Uint8Array;
  /** Standard error exactly as received. */
  readonly stderrBytes: Uint8Array;
  /** Milliseconds from the start of ssh to its exit (of the last attempt). */
  readonly durationMs: number;
  /** How many times ssh was started for this host: 1, more after `retries`. */
  readonly attempts: number;
  /** The file in `outdir` that holds this host's stdout. */
  readonly outFile?: string;
  /** The file in `errdir` that holds this host's stderr. */
  readonly errFile?: string;
  /** The gateway the host was reached through (see the `gateways` option), if any. */
  readonly via?: string;
  /**
   * Whether the command ran on the host's warm session (see `PoolOptions.warm`) rather than a
   * new ssh; the rest of the result is the same either way.
   */
  readonly warm: boolean;
  /** The result as a JSON record, the shape of the CLI's `--json` lines. */
  toJSON(): ResultRecord<ErrorKind>;
}

/**
 * Options of {@linkcode call}.
 *
 * @example Options of a call
 * ```ts
 * import { call, type CallOptions } from "@parallax/parallax";
 *
 * const options: CallOptions = { timeout: 30, limit: 64, inline: true, env: { LANG: "C" } };
 * await call(["web1", "web2"], "uptime", options);
 * ```
 */
export interface CallOptions extends CommonOptions {
  /**
   * Keep each host's stdout and stderr in its result. With `false` the result's output is empty
   * and memory stays small however much the hosts print (use `outdir`/`errdir` to keep it).
   *
   * @default {true}
   */
  inline?: boolean;
  /**
   * Text or bytes written to every host's stdin; without it, stdin is empty. Held once, however
   * many hosts: never copied whole, it is sent on to each ssh a piece at a time as it takes it
   * (text encoded as UTF-8 piece by piece; bytes in a `SharedArrayBuffer` are read by the
   * workers in place).
   */
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
   * Run the command under `sudo` on each host: `true` as root, or a user name. sudo must need no
   * password, or be given `sudoPassword`; it never waits at a prompt. A host where sudo refuses
   * (a wrong or missing password, a user who may not sudo) is a `ParallaxError` of kind `auth`
   * whose message names sudo; the command did not run there. The command runs with `sh -c` as
   * that user (sudo's `-H`: its home), with `input` on its stdin, and `stopRemote` stops it as
   * usual.
   */
  sudo?: boolean | string;
  /**
   * sudo's password on the hosts. It is written to ssh's stdin, ahead of `input`, and read by the
   * remote shell and sudo from there: it never appears in any process's arguments or
   * environment, nor in a file, on either side.
   */
  sudoPassword?: string;
  /**
   * Variables for the remote command (Fabric's `env=`, Ansible's `environment:`): names
   * `[A-Za-z_][A-Za-z0-9_]*`, values quoted, exported by the remote shell before the command runs
   * (under `sudo` too). They travel in the command line, which the host's process list shows:
   * keep secrets in `input` instead. The local ssh gets none of them; it inherits this process's
   * environment, as any child does.
   */
  env?: Readonly<Record<string, string>>;
  /**
   * The remote working directory (Fabric's `cd()`, Ansible's `chdir:`). A folder the host does
   * not have is that host's nonzero exit, with the shell's message on stderr, and the command
   * does not run.
   */
  cwd?: string;
  /**
   * Run on the hosts' warm sessions where the pool keeps them (see `PoolOptions.warm`); `false`:
   * a new ssh for every host, as without a pool.
   *
   * @default {the pool's `warm`}
   */
  warm?: boolean;
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
 * @param command The remote command line, run by the remote user's shell; or a function that
 * gives each host its own (see {@linkcode PerHost}).
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
  command: PerHost<string>,
  options?: CallOptions,
): Promise<Map<string, CallResult | ParallaxError>> {
  return callWith(hosts, command, options ?? {});
}

/**
 * `call()` with an observer that is told each host's output and result as they happen, and the
 * hosts' `PARALLAX_NODENUM`s where they are not their positions (on a gateway).
 *
 * @throws {TypeError} As {@linkcode call} does.
 */
export async function callWith(
  hosts: HostsInput,
  command: PerHost<string>,
  options: CallOptions,
  observer: HostObserver<CallResult> = {},
  nodeNumbers?: readonly number[],
): Promise<Map<string, CallResult | ParallaxError>> {
  checkOptionNames(options, CALL_OPTION_NAMES, "call");
  if (typeof command !== "function") checkCommand(command);
  const parsed = parseHosts(hosts);
  const settings = resolveSettings(options, DEFAULT_CALL_TIMEOUT);
  const { inline = true, input, printOut = false, stopRemote = true } = options;
  if (input !== undefined && typeof input !== "string" && !(input instanceof Uint8Array)) {
    throw new CallerTypeError("Cannot use input: expected a string or a Uint8Array");
  }
  const sudo = sudoRequest(options);
  // The input is held once, whatever the number of hosts: as the caller gave it (the engine
  // reads bytes in place or sends them on as ssh takes them, encoding text a piece at a time).
  const given = input === undefined
    ? null
    : typeof input === "string"
    ? new TextBytes(input)
    : input;
  const prefix = sudo === null ? null : sudoInputPrefix(sudo);
  const parts = [prefix, given].filter((part) => part !== null && part.byteLength > 0);
  const stdin = parts.length === 0 ? null : parts as StdinPart[];
  const inputBytes = given?.byteLength ?? 0;
  const place = placeOf(options);
  const line = (text: string) => remoteCommandLine(place(text), inputBytes, stopRemote, sudo);
  const fixed = typeof command === "function" ? null : line(command);
  // A warm session carries the command exactly, but not stdin, sudo's password or a remote left
  // running when its host is stopped: those take a new ssh.
  const warm = options.warm !== false && stdin === null && sudo === null && stopRemote &&
    !printOut;
  /** Per host, its command as given (from a per-host function). */
  const commands: string[] = [];
  return await drive(parsed, settings, {
    program: settings.sshPath,
    meaning: "command",
    input: stdin,
    lifeline: stopRemote,
    keepOutput: inline,
    printOut,
    prepare: typeof command === "function"
      ? (host, index) => {
        commands[index] = stringFor(command, host, index, checkCommand);
        return Promise.resolve();
      }
      : undefined,
    argv: (host, index, connection) =>
      sshArgv(host, fixed ?? line(commands[index]), settings, connection),
    shownCommand: (index) => typeof command === "function" ? commands[index] : command,
    ...(options.warm === undefined ? {} : { warm: options.warm }),
    ...(warm
      ? {
        warmCommand: (index: number) =>
          place(typeof command === "function" ? commands[index] : command),
      }
      : {}),
    ...(nodeNumbers === undefined ? {} : { nodeNumber: (index: number) => nodeNumbers[index] }),
    ...(sudo === null ? {} : {
      refusal: ({ exitCode, stderr }: Exited) =>
        exitCode === 1 ? sudoRefusal(decode(stderr), sudo) : null,
    }),
    result: (host, { exitCode, stdout, stderr, durationMs, attempts, warm }, files) =>
      callResult(
        { host: host.key, exitCode, durationMs, attempts, warm: warm === true, ...files },
        stdout,
        inline ? stderr : [],
      ),
    gateway: {
      ask: (indices) => ({
        op: "call",
        commands: typeof command === "function"
          ? indices.map((i) => place(commands[i]))
          : [place(command)],
        nodes: indices.map((i) => nodeNumbers?.[i] ?? i),
        options: {
          inline,
          stopRemote,
          ...(sudo === null ? {} : { sudo: sudo.user }),
          ...(sudo?.password === undefined ? {} : { sudoPassword: sudo.password }),
        },
        payload: given === null ? [] : [given],
      }),
      result: (host, _index, { exitCode, stdout, stderr, durationMs, attempts }, via, files) =>
        callResult(
          { host: host.key, exitCode, durationMs, attempts, via, warm: false, ...files },
          [stdout],
          [stderr],
        ),
    },
  }, withOnResult(observer, options.onResult));
}

/** The names of `call()`'s options (checked against {@linkcode CallOptions} both ways). */
export const CALL_OPTION_NAMES = [
  ...COMMON_OPTIONS,
  "inline",
  "input",
  "printOut",
  "stopRemote",
  "sudo",
  "sudoPassword",
  "env",
  "cwd",
  "warm",
  "onResult",
] as const satisfies readonly (keyof CallOptions)[];
const _allCall: [Unlisted<CallOptions, typeof CALL_OPTION_NAMES>] extends [never] ? true : never =
  true;
void _allCall;

/**
 * What puts a command in its place: `cd` to `cwd` (the command does not run if that fails), the
 * `env` variables exported, then the command, on its first line (its line numbers unchanged).
 *
 * @throws {TypeError} For a malformed name, value or folder.
 */
function placeOf(options: CallOptions): (command: string) => string {
  const { env, cwd } = options;
  const steps: string[] = [];
  if (cwd !== undefined) {
    if (typeof cwd !== "string" || cwd === "" || cwd.includes("\0")) {
      throw new CallerTypeError(`Cannot use cwd ${JSON.stringify(cwd)}: expected a folder path`);
    }
    steps.push(`cd -- ${shellQuote(cwd)} || exit`);
  }
  if (env !== undefined) {
    if (typeof env !== "object" || env === null || Array.isArray(env)) {
      throw new CallerTypeError("Cannot use env: expected an object of names and values");
    }
    const pairs = Object.entries(env).map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new CallerTypeError(
          `Cannot use env name ${JSON.stringify(name)}: not a variable name`,
        );
      }
      if (typeof value !== "string" || value.includes("\0")) {
        throw new CallerTypeError(`Cannot use env ${name}: expected a string without NUL`);
      }
      return `${name}=${shellQuote(value)}`;
    });
    if (pairs.length > 0) steps.push(`export ${pairs.join(" ")}`);
  }
  return steps.length === 0 ? (command) => command : (command) => `${steps.join("; ")}; ${command}`;
}

/**
 * Checks a command line: not empty, no NUL.
 *
 * @throws {TypeError} Saying which.
 */
function checkCommand(command: unknown): string {
  if (typeof command !== "string" || command.trim() === "") {
    throw new CallerTypeError(`Cannot call an empty command: ${JSON.stringify(command)}`);
  }
  if (command.includes("\0")) throw new CallerTypeError("Cannot call a command that contains NUL");
  return command;
}

/**
 * The sudo request of the options, or null.
 *
 * @throws {TypeError} For a malformed user or password.
 */
function sudoRequest(options: CallOptions): SudoRequest | null {
  const { sudo, sudoPassword } = options;
  if (sudoPassword !== undefined) {
    if (typeof sudoPassword !== "string" || /[\n\r\0]/.test(sudoPassword)) {
      throw new CallerTypeError("Cannot use sudoPassword: expected a string without newlines");
    }
    if (sudo === undefined || sudo === false) {
      throw new CallerTypeError(
        "Cannot use sudoPassword without sudo: set sudo to true or a user name",
      );
    }
  }
  if (sudo === undefined || sudo === false) return null;
  const user = sudo === true ? "root" : sudo;
  if (
    typeof user !== "string" || user === "" || user.startsWith("-") || /[\s\p{Cc}]/u.test(user)
  ) {
    throw new CallerTypeError(
      `Cannot use sudo ${JSON.stringify(sudo)}: expected true or a user name`,
    );
  }
  return {
    user,
    marker: sudoMarker(),
    ...(sudoPassword !== undefined ? { password: sudoPassword } : {}),
  };
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
        attempts: fields.attempts,
        via: fields.via,
        warm: fields.warm,
      });
    },
  };
}
