/**
 * Builds rsync command lines for one host: rsync over the same ssh command parallax runs
 * (`rsync -e`), in archive mode, with its changes itemized and its totals counted, and what
 * rsync prints read back into numbers.
 *
 * Remote paths reach the remote rsync as arguments of its own (`-s`, `--secluded-args`): no remote
 * shell splits or expands them.
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import type { Settings } from "../settings/_settings.ts";
import { loginOf, sshOptionArgs } from "./_ssh_argv.ts";
import { localArg } from "./_scp_argv.ts";
import { CallerTypeError } from "../caller_error.ts";

/** What rsync is asked to do, on top of archive mode. */
export interface RsyncRequest {
  /** The local rsync program. */
  readonly rsyncPath: string;
  readonly delete: boolean;
  readonly checksum: boolean;
  readonly exclude: readonly string[];
  readonly dryRun: boolean;
  readonly compress: boolean;
  readonly bandwidthLimit?: number;
}

/** Where a sync goes: the host, the call's settings, its connection-reuse options. */
export interface RsyncTarget {
  readonly host: Host;
  readonly settings: Settings;
  readonly connection?: readonly string[];
}

/**
 * `rsync -a -s --itemize-changes --stats [flags] -e 'ssh …' -- SRC... [user@]host:DST`.
 *
 * @throws {TypeError} For an ssh argument rsync's `-e` cannot carry (both kinds of quote).
 */
export function rsyncArgv(
  target: RsyncTarget,
  request: RsyncRequest,
  sources: readonly string[],
  destination: string,
): string[] {
  const { host, settings, connection = [] } = target;
  const { port } = loginOf(host, settings);
  const ssh = [
    settings.sshPath,
    ...sshOptionArgs(settings, connection, host),
    ...(port !== undefined ? ["-p", String(port)] : []),
  ];
  return [
    request.rsyncPath,
    "--archive",
    "--secluded-args",
    "--itemize-changes",
    "--stats",
    "--no-human-readable",
    ...(request.delete ? ["--delete"] : []),
    ...(request.checksum ? ["--checksum"] : []),
    ...(request.compress ? ["--compress"] : []),
    ...(request.dryRun ? ["--dry-run"] : []),
    // rsync counts KiB/s; the option is Kbit/s, as for copy and slurp.
    ...(request.bandwidthLimit !== undefined
      ? [`--bwlimit=${Math.max(1, Math.round(request.bandwidthLimit / 8))}`]
      : []),
    ...request.exclude.map((pattern) => `--exclude=${pattern}`),
    "-e",
    ssh.map(rsyncWord).join(" "),
    "--",
    ...sources.map(localArg),
    remoteSpec(host, settings, destination),
  ];
}

/**
 * `argv` (an rsync command line of {@linkcode rsyncArgv}) with its ssh run through the lifeline
 * script at `script` (see `_scp_lifeline.ts`, whose environment says which ssh to run).
 */
export function withRsyncLifeline(
  argv: readonly string[],
  script: string,
  sshPath: string,
): string[] {
  const at = argv.indexOf("-e") + 1;
  const ssh = rsyncWord(sshPath);
  if (at === 0 || (argv[at] !== ssh && !argv[at].startsWith(`${ssh} `))) return [...argv];
  return [
    ...argv.slice(0, at),
    `${rsyncWord(script)}${argv[at].slice(ssh.length)}`,
    ...argv.slice(at + 1),
  ];
}

/**
 * One word of rsync's `-e` as rsync splits it: at spaces, with '…' or "…" keeping spaces (and no
 * backslash escapes).
 */
function rsyncWord(word: string): string {
  if (word !== "" && !/[\s'"]/.test(word)) return word;
  if (!word.includes("'")) return `'${word}'`;
  if (!word.includes('"')) return `"${word}"`;
  throw new CallerTypeError(
    `Cannot pass ssh argument ${JSON.stringify(word)} to rsync: it holds both kinds of quote`,
  );
}

/** `[user@]host:path`, with an IPv6 address in brackets. */
function remoteSpec(host: Host, settings: Settings, path: string): string {
  const { user } = loginOf(host, settings);
  const name = host.host.includes(":") ? `[${host.host}]` : host.host;
  return `${user !== undefined ? `${user}@` : ""}${name}:${path}`;
}

/** What a sync did, read from rsync's output. */
export interface RsyncReport {
  /** The itemized changes, one per line (`>f+++++++++ a.txt`, `*deleting old.txt`). */
  readonly changes: string[];
  /** Regular files transferred (or that would be, with `dryRun`). */
  readonly files: number;
  /** Bytes sent over the connection. */
  readonly bytes: number;
}

/** Reads rsync's `--itemize-changes --stats` output. */
export function readRsyncOutput(stdout: string): RsyncReport {
  const lines = stdout.split("\n");
  const stats = lines.findIndex((line) => line.startsWith("Number of files:"));
  const changes = (stats === -1 ? lines : lines.slice(0, stats))
    .map((line) => line.trimEnd())
    .filter((line) => /^(?:[<>ch.*][fdLDS]|\*deleting)/.test(line));
  const number = (label: string) => {
    const line = lines.find((l) => l.startsWith(label));
    const digits = line?.slice(label.length).match(/[\d,.]+/)?.[0].replace(/[,.]/g, "");
    return digits === undefined ? 0 : Number(digits);
  };
  return {
    changes,
    files: number("Number of regular files transferred:"),
    bytes: number("Total bytes sent:"),
  };
}
