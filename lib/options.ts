/**
 * The options that callers pass to {@linkcode call} (and, later, its siblings).
 *
 * @module
 */

import type { CallResult } from "./call.ts";
import type { CopyResult } from "./copy.ts";
import type { ParallaxError } from "./parallax_error.ts";
import type { Pool } from "./pool.ts";
import type { SlurpResult } from "./slurp.ts";

/** Options shared by every operation: scheduling, ssh settings and where output goes. */
export interface CommonOptions {
  /**
   * At most this many ssh processes run at once. `PARALLAX_PAR` gives the default when set.
   *
   * @default {32}
   */
  limit?: number;
  /**
   * Seconds a host's job may run, counted from the start of its ssh process; then it is killed
   * (SIGTERM, then SIGKILL) and reported as kind `timeout`. 0 means no limit.
   *
   * @default {60}
   */
  timeout?: number;
  /**
   * Seconds ssh waits for a connection (ssh's `ConnectTimeout`), a whole number.
   *
   * @default {10}
   */
  connectTimeout?: number;
  /**
   * Login user for hosts that name none. `PARALLAX_USER` gives the default when set; otherwise
   * ssh's own default (ssh_config, then the local user).
   */
  user?: string;
  /** Port for hosts that name none; otherwise ssh's own default. */
  port?: number;
  /**
   * ssh options, each passed as `-o OPTION` before parallax's own (the first value OpenSSH sees
   * wins, so these take precedence), e.g. `["StrictHostKeyChecking=accept-new"]`.
   * `PARALLAX_OPTIONS` (options separated by `;` or newlines) gives the default when set.
   *
   * @default {[]}
   */
  sshOptions?: readonly string[];
  /**
   * Extra ssh arguments placed before every option, e.g. `["-F", "path/ssh_config"]`.
   *
   * @default {[]}
   */
  sshExtra?: readonly string[];
  /**
   * Folder that receives one file per host with its stdout, created if missing. File names come
   * from the host keys with `/` and control characters replaced, so that no host can write
   * outside it; two hosts that map to one name get `name`, `name.1`, ….
   * `PARALLAX_OUTDIR` gives the default when set.
   */
  outdir?: string;
  /** Folder that receives one file per host with its stderr, named as in `outdir`. */
  errdir?: string;
  /**
   * Print one line per host to stderr as it starts and ends, with ssh's arguments and the
   * outcome. `PARALLAX_VERBOSE=1` gives the default when set.
   *
   * @default {false}
   */
  verbose?: boolean;
  /**
   * Make ssh print errors only (`-o LogLevel=ERROR`), dropping warnings such as
   * "Permanently added … to the list of known hosts".
   *
   * @default {false}
   */
  quiet?: boolean;
  /**
   * Password for hosts that ask for one (password or keyboard-interactive authentication). ssh gets
   * it from an SSH_ASKPASS helper that fetches it from this process over a private Unix socket: it
   * is never in any process's arguments or environment, nor in any file. Needs write access to
   * `/tmp` (the socket's private folder) and `--allow-net` (Deno counts a Unix socket as network
   * access). Host-key questions are never answered.
   */
  password?: string;
  /** Aborting kills the running jobs, never starts queued ones, and reports them `cancelled`. */
  signal?: AbortSignal;
  /**
   * While the call runs, SIGINT and SIGTERM cancel it (every ssh killed, unfinished hosts
   * `cancelled`, the call returns) instead of ending the process and leaving its ssh processes
   * orphaned; a second signal terminates the workers at once. Set false when your program handles
   * these signals itself, and abort `signal` from your handler.
   *
   * @default {true}
   */
  handleSignals?: boolean;
  /**
   * A pool to run on. Without one, the call starts its own and closes it before returning.
   */
  pool?: Pool;
  /**
   * Run ssh through OpenSSH ControlMasters kept by the pool, so that a later call to the same host
   * skips the handshake (see the `reuse` option of {@linkcode Pool}). OpenSSH heals what goes
   * wrong with a master: a stale socket is replaced by a new master, and a session the master
   * cannot open goes over a fresh connection.
   *
   * @default {the pool's `reuse`: true for a pool you hold, false without one}
   */
  reuse?: boolean;
  /**
   * Workers in the pool the call starts for itself (ignored when `pool` is given).
   *
   * @default {Math.min(2, navigator.hardwareConcurrency)}
   */
  poolSize?: number;
  /**
   * The ssh program to run.
   *
   * @default {"ssh"}
   */
  sshPath?: string;
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
   * When a host times out or is cancelled, also stop its remote command: the command announces
   * its remote process group (one line on stderr that parallax cuts out of the output) and
   * parallax kills that group over a new connection (SIGTERM, then SIGKILL a second later). Costs
   * one extra connection per stopped host (a handshake; about 10 ms through a reused master).
   * Needs a POSIX-compatible login shell on the host (sh, bash, dash, zsh, ksh); turn it off for
   * csh or fish.
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

/** Options of {@linkcode copy} and {@linkcode slurp}, on top of the common ones. */
export interface TransferOptions extends CommonOptions {
  /**
   * Copy folders with everything in them (scp `-r`), as the Python original always did.
   *
   * @default {true}
   */
  recursive?: boolean;
  /**
   * Keep modification times, access times and modes (scp `-p`).
   *
   * @default {false}
   */
  preserve?: boolean;
  /**
   * Compress the transfer (scp `-C`). The Python original always compressed; measured on
   * loopback it makes a 10 MB copy slower, so it is off unless asked for (see the README).
   *
   * @default {false}
   */
  compress?: boolean;
  /** Bandwidth limit per host in Kbit/s (scp `-l`). */
  bandwidthLimit?: number;
  /**
   * The scp program to run. It must support SFTP mode (`-s`, OpenSSH 8.7 and later).
   *
   * @default {"scp"}
   */
  scpPath?: string;
}

/** Options of {@linkcode copy}. */
export interface CopyOptions extends TransferOptions {
  /** Called with each host's result or error as soon as that host finishes. */
  onResult?: (result: CopyResult | ParallaxError) => void;
}

/** Options of {@linkcode slurp}. */
export interface SlurpOptions extends TransferOptions {
  /** Called with each host's result or error as soon as that host finishes. */
  onResult?: (result: SlurpResult | ParallaxError) => void;
  /**
   * Local folder under which each host gets its own folder.
   *
   * @default {"."}
   */
  localdir?: string;
}
