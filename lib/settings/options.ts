/**
 * The options every operation shares, and those of the transfers (`copy()`, `slurp()`).
 *
 * @module
 */

import type { Pool } from "../engine/pool.ts";
import type { HostsInput } from "../hosts/parse.ts";

/**
 * Options shared by every operation: scheduling, ssh settings and where output goes.
 *
 * @example Options every operation takes
 * ```ts
 * import { call, type CommonOptions, copy } from "@parallax/parallax";
 *
 * const common: CommonOptions = { user: "deploy", limit: 16, retries: 2, sshExtra: ["-F", "fleet"] };
 * const conf = await Deno.makeTempFile();
 * await copy(["web1"], conf, "/etc/app.conf", common);
 * await call(["web1"], "systemctl reload app", common);
 * await Deno.remove(conf);
 * ```
 */
export interface CommonOptions {
  /**
   * At most this many ssh processes run at once. `PARALLAX_PAR` gives the default when set.
   *
   * @default {32}
   */
  limit?: number;
  /**
   * Seconds a host's job may run, counted from the start of its ssh or scp process; then it is
   * stopped (its remote command too) and reported as kind `timeout`. 0 means no limit; otherwise
   * from 0.001 (1 ms) to 2,592,000 (30 days).
   *
   * @default {60 for call() and callStream(), 0 (none) for copy() and slurp(), as pscp and pslurp}
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
   * Aborting starts no more hosts: the running ones finish, and every host not started yet is a
   * `ParallaxError` of kind `skipped` that gives the signal's reason (a string, or an `Error`'s
   * message), as when `maxFailures` is exceeded. Through gateways, it reaches the gateways too.
   */
  halt?: AbortSignal;
  /**
   * While the call runs, SIGINT (Ctrl-C), SIGTERM and SIGHUP (terminal closed) cancel it: every
   * unfinished host is stopped, its remote command too, and reported `cancelled`. ssh and scp run
   * in sessions of their own, so a terminal's signals reach only this process, which decides. A
   * second signal kills every process at once. Set false when your program handles these signals
   * itself, and abort `signal` from your handler.
   *
   * @default {true}
   */
  handleSignals?: boolean;
  /**
   * After a signal has cancelled the call (see `handleSignals`) and its hosts are stopped, end
   * the process as the signal would have (exit status 130 for SIGINT, 143 for SIGTERM, 129 for
   * SIGHUP), so that an interrupted script does not carry on. With false, the call returns its
   * results (the unfinished hosts `cancelled`) and the script decides.
   *
   * @default {true}
   */
  exitOnSignal?: boolean;
  /**
   * Run the hosts in batches, one after the other (a batch starts when the previous one has
   * finished; `limit` still applies inside a batch): a number of hosts per batch, a percentage of
   * the hosts (`"20%"`, rounded up, at least 1), or a list of those for successive batches, the
   * last one repeating (`[1, 5, "20%"]`, as Ansible's `serial`).
   */
  batch?: number | string | readonly (number | string)[];
  /**
   * Seconds to wait between batches.
   *
   * @default {0}
   */
  batchPause?: number;
  /**
   * Told as each batch is about to start (with `batch` only), before the pause that precedes it:
   * its number (from 1), how many batches there are, its hosts' keys, and the pause in ms (0 for
   * the first). A throw rejects the call with that error once every host has ended.
   */
  onBatch?: (batch: BatchStart) => void;
  /**
   * Stop starting hosts once too many have failed (a `ParallaxError`, or for `call` a nonzero
   * exit): a number of failed hosts allowed in the whole run (`0`: stop at the first failure), or
   * a percentage string, the share of a batch's hosts allowed to fail. Running hosts finish; the
   * hosts never started get a `ParallaxError` of kind `skipped` that says why.
   */
  maxFailures?: number | string;
  /**
   * Try a host again, up to this many times, when its attempt failed with kind `connect` (the
   * connection was refused, timed out or not resolved: nothing ran on the host), after a growing
   * pause: 1 s, 2 s, 4 s… at most 30 s. Never for any other kind, so a command is never run
   * twice. Results and errors say how many `attempts` were made; a retry does not count against
   * `maxFailures` unless it is the last.
   *
   * @default {0}
   */
  retries?: number;
  /**
   * A pool to run on. Without one, the call starts its own and closes it before returning.
   */
  pool?: Pool;
  /**
   * Run ssh through OpenSSH ControlMasters kept by the pool, so that a later call to the same host
   * skips the handshake (see the `reuse` option of {@linkcode Pool}). A master serves only
   * connections with the same host alias, user, port and ssh arguments. Results are the same as
   * without reuse; a missing or broken control socket falls back to a plain connection. Through
   * `gateways`, each gateway's connection goes through its master the same way (the hosts behind
   * it connect from the gateway, anew for each call).
   *
   * @default {the pool's `reuse`: true for a pool you hold, false without one}
   */
  reuse?: boolean;
  /**
   * At most this many workers in the pool the call starts for itself (ignored when `pool` is
   * given); another worker starts only when every started one runs 32 processes.
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
  /**
   * Reach hosts through gateways, as ClusterShell's tree mode does: an object mapping each
   * gateway (an ssh destination as this machine reaches it) to the hosts it serves (any host
   * input form, names as the gateway resolves them). parallax connects once to each gateway,
   * starts itself there (`gatewayCommand`) and runs the hosts from there, `gatewayLimit` at a
   * time; results come back in the same map as without gateways, each with `via`. The hosts
   * behind a gateway are reached with the gateway's own ssh configuration; `timeout`,
   * `connectTimeout`, `user`, `port`, `quiet`, `retries`, `inline`, `stopRemote`, `sudo` and the
   * transfer switches apply to them, and `maxFailures` is applied by each gateway to its own hosts
   * as well as between batches. Hosts of the call that no gateway lists run directly; listed
   * hosts not in the call are ignored. Cannot be combined with `password`.
   */
  gateways?: Readonly<Record<string, HostsInput>>;
  /**
   * The command that starts parallax on a gateway, as argv; parallax appends `gateway`. The
   * gateway needs Deno and ssh (and scp for copy and slurp).
   *
   * @default {["deno", "run", "--no-prompt", "--allow-run=ssh,scp,/usr/bin/setsid", "--allow-read", "--allow-write", "--allow-sys=uid", "--allow-env=PARALLAX_USER,PARALLAX_PAR,PARALLAX_OPTIONS,TMPDIR", "jsr:@parallax/parallax@<this version>/cli"]}
   */
  gatewayCommand?: readonly string[];
  /**
   * ssh processes at once on each gateway.
   *
   * @default {32}
   */
  gatewayLimit?: number;
  /**
   * Arguments for the gateways' own ssh to their hosts, as `sshExtra` is for this machine's
   * (e.g. `["-F", "/etc/ssh/fleet_config"]`, a path on the gateway). They come before the
   * gateway's own defaults, so they win over them.
   *
   * @default {[]}
   */
  leafSshExtra?: readonly string[];
}

/**
 * Options of {@linkcode copy} and {@linkcode slurp}, on top of the common ones.
 *
 * @example Options copy and slurp share
 * ```ts
 * import { copy, type TransferOptions } from "@parallax/parallax";
 *
 * const transfer: TransferOptions = { compress: true, bandwidthLimit: 8_000 };
 * const tarball = await Deno.makeTempFile();
 * await copy(["web1"], tarball, "/srv/big.tar", transfer);
 * await Deno.remove(tarball);
 * ```
 */
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

/**
 * A batch about to start (see `onBatch`).
 *
 * @example Telling batches as they start
 * ```ts
 * import { type BatchStart, call } from "@parallax/parallax";
 *
 * const onBatch = (batch: BatchStart) => console.log(`batch ${batch.number}/${batch.of}`);
 * await call(["web1", "web2", "web3"], "true", { batch: 1, batchPause: 5, onBatch });
 * ```
 */
export interface BatchStart {
  /** Its number, from 1. */
  readonly number: number;
  /** How many batches the call has. */
  readonly of: number;
  /** Its hosts' keys, in order. */
  readonly hosts: readonly string[];
  /** The pause before it starts, in ms (0 for the first batch). */
  readonly pauseMs: number;
}
