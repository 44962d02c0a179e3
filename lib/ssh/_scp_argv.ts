/**
 * Builds scp command lines for one host: pure functions of the host, the paths and the settings.
 *
 * scp runs in SFTP mode (`-s`): remote paths travel as SFTP requests and are never read by a
 * remote shell, so spaces, quotes and `$(...)` arrive literally. An scp too old for `-s` fails
 * loudly rather than falling back to the legacy protocol, which would hand paths to a shell.
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import { isAbsolutePath } from "../runtime/_path.ts";
import type { Settings } from "../settings/_settings.ts";
import type { TransferSettings } from "../settings/_transfer_settings.ts";
import { loginOf, sshOptionArgs } from "./_ssh_argv.ts";
import { CallerTypeError } from "../caller_error.ts";

/**
 * Checks that scp will read every `[user@]host:path` it is given as exactly that user and host.
 * scp splits its operands itself: a `/` before the first `:` makes the whole operand a local
 * path (a local copy), a `:` in the user ends the host early (another host), an `@` in the user
 * moves the split, and a host that starts with `[` is read as a bracketed address.
 *
 * @throws {TypeError} Naming the first host or user that scp would read differently.
 */
export function checkScpHosts(hosts: readonly Host[], settings: Settings): void {
  for (const host of hosts) {
    const { user } = loginOf(host, settings);
    const problem = host.host.includes("/")
      ? "scp would read a host with '/' as a local path"
      : host.host.includes("@") || (host.host.startsWith("[") && !host.host.includes(":"))
      ? `scp would not read host '${host.host}' as a host`
      : user !== undefined && /[:/@[\]]/.test(user)
      ? `scp would split user '${user}' differently (':', '/', '@', '[' or ']' in a user)`
      : null;
    if (problem !== null) {
      throw new CallerTypeError(`Cannot copy with host '${host.key}': ${problem}`);
    }
  }
}

/** Where a transfer's scp goes: the host, the call's settings, its connection-reuse options. */
export interface ScpTarget {
  readonly host: Host;
  readonly settings: Settings;
  readonly transfer: TransferSettings;
  readonly connection?: readonly string[];
}

/** `scp -s [flags] [-o …] [-P port] -- SRC... [user@]host:DST`. */
export function scpUploadArgv(
  target: ScpTarget,
  sources: readonly string[],
  destination: string,
): string[] {
  return [
    ...scpPrefix(target),
    ...sources.map(localArg),
    remoteSpec(target.host, target.settings, destination),
  ];
}

/**
 * `scp -s [flags] [-o …] [-P port] -- [user@]host:SRC LOCAL`. The remote source has its glob
 * characters escaped: in SFTP mode scp expands globs in remote sources, and parallax copies the
 * path it is given, literally.
 */
export function scpDownloadArgv(target: ScpTarget, source: string, localPath: string): string[] {
  return [
    ...scpPrefix(target),
    remoteSpec(target.host, target.settings, escapeGlob(source)),
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

function scpPrefix({ host, settings, transfer, connection = [] }: ScpTarget): string[] {
  const { port } = loginOf(host, settings);
  return [
    transfer.scpPath,
    "-s",
    ...(transfer.recursive ? ["-r"] : []),
    ...(transfer.preserve ? ["-p"] : []),
    ...(transfer.compress ? ["-C"] : []),
    ...(transfer.bandwidthLimit !== undefined ? ["-l", String(transfer.bandwidthLimit)] : []),
    ...sshOptionArgs(settings, connection, host),
    ...(port !== undefined ? ["-P", String(port)] : []),
    "--",
  ];
}

/** `[user@]host:path`, with an IPv6 address in brackets. */
function remoteSpec(host: Host, settings: Settings, path: string): string {
  const { user } = loginOf(host, settings);
  const name = host.host.includes(":") ? `[${host.host}]` : host.host;
  return `${user !== undefined ? `${user}@` : ""}${name}:${path}`;
}
