/**
 * Builds scp command lines for one host: pure functions of the host, the paths and the settings.
 *
 * scp runs in SFTP mode (`-s`): remote paths travel as SFTP requests and are never read by a
 * remote shell, so spaces, quotes and `$(...)` arrive literally. An scp too old for `-s` fails
 * loudly rather than falling back to the legacy protocol, which would hand paths to a shell.
 *
 * @module
 */

import type { Host } from "./hosts.ts";
import { isAbsolutePath } from "./path.ts";
import type { Settings } from "./settings.ts";
import { sshOptionArgs } from "./ssh_argv.ts";

/** The transfer settings on top of the common {@linkcode Settings}. */
export interface TransferSettings {
  readonly recursive: boolean;
  readonly preserve: boolean;
  readonly compress: boolean;
  readonly bandwidthLimit?: number;
  readonly scpPath: string;
}

/**
 * Checks that scp will read every host as a host: scp takes `a/b:path` for a local path, so a host
 * with `/` in it would turn a copy into a local write.
 *
 * @throws {TypeError} Naming the first host that contains `/`.
 */
export function checkScpHosts(hosts: readonly Host[]): void {
  const bad = hosts.find((host) => host.host.includes("/"));
  if (bad !== undefined) {
    throw new TypeError(
      `Cannot copy with host '${bad.key}': scp would read a host with '/' as a local path`,
    );
  }
}

/** `scp -s [flags] [-o …] [-P port] -- SRC... [user@]host:DST`. */
export function scpUploadArgv(
  host: Host,
  sources: readonly string[],
  destination: string,
  settings: Settings,
  transfer: TransferSettings,
): string[] {
  return [
    ...scpPrefix(host, settings, transfer),
    ...sources.map(localArg),
    remoteSpec(host, settings, destination),
  ];
}

/**
 * `scp -s [flags] [-o …] [-P port] -- [user@]host:SRC LOCAL`. The remote source has its glob
 * characters escaped: in SFTP mode scp expands globs in remote sources, and parallax copies the
 * path it is given, literally.
 */
export function scpDownloadArgv(
  host: Host,
  source: string,
  localPath: string,
  settings: Settings,
  transfer: TransferSettings,
): string[] {
  return [
    ...scpPrefix(host, settings, transfer),
    remoteSpec(host, settings, escapeGlob(source)),
    localArg(localPath),
  ];
}

/**
 * A local path as scp must see it: scp reads `a:b` as host `a`, path `b`, unless a `/` comes
 * before the colon, so relative paths get a leading `./`.
 */
export function localArg(path: string): string {
  return isAbsolutePath(path) || path.startsWith("./") ? path : `./${path}`;
}

/** Escapes the characters that SFTP globbing reads: `\`, `*`, `?`, `[` and `]`. */
export function escapeGlob(path: string): string {
  return path.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

function scpPrefix(host: Host, settings: Settings, transfer: TransferSettings): string[] {
  const port = host.port ?? settings.port;
  return [
    transfer.scpPath,
    "-s",
    ...(transfer.recursive ? ["-r"] : []),
    ...(transfer.preserve ? ["-p"] : []),
    ...(transfer.compress ? ["-C"] : []),
    ...(transfer.bandwidthLimit !== undefined ? ["-l", String(transfer.bandwidthLimit)] : []),
    ...sshOptionArgs(settings),
    ...(port !== undefined ? ["-P", String(port)] : []),
    "--",
  ];
}

/** `[user@]host:path`, with an IPv6 address in brackets. */
function remoteSpec(host: Host, settings: Settings, path: string): string {
  const user = host.user ?? settings.user;
  const name = host.host.includes(":") ? `[${host.host}]` : host.host;
  return `${user !== undefined ? `${user}@` : ""}${name}:${path}`;
}
