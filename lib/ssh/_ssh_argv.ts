/**
 * Builds the ssh command line for one host: a pure function of the host and the settings.
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import type { Settings } from "../settings/_settings.ts";

/** The variables sent to every host with `SendEnv`, as the Python original does. */
export const SENT_ENV = ["PARALLAX_HOST", "PARALLAX_NODENUM"] as const;

/**
 * The ssh options parallax always adds, after the caller's (OpenSSH keeps the first value it sees
 * for an option, so the caller's `sshOptions` win).
 */
export function defaultSshOptions(settings: Settings, host?: Host): string[] {
  return [
    ...(settings.password === undefined
      ? ["BatchMode=yes"]
      : ["BatchMode=no", "NumberOfPasswordPrompts=1"]),
    // ssh_config's own where it sets one (see `_ssh_config.ts`), else parallax's.
    `ConnectTimeout=${(host && settings.configTimeouts.get(host.key)) ?? settings.connectTimeout}`,
    `SendEnv=${SENT_ENV.join(" ")}`,
    ...(settings.quiet ? ["LogLevel=ERROR"] : []),
  ];
}

/**
 * The options part of an ssh or scp command line: extra arguments, the caller's `-o` options,
 * parallax's own, then `connection` (the connection-reuse options of one host, if any).
 */
export function sshOptionArgs(
  settings: Settings,
  connection: readonly string[] = [],
  host?: Host,
): string[] {
  return [
    ...settings.sshExtra,
    ...[...settings.sshOptions, ...defaultSshOptions(settings, host), ...connection]
      .flatMap((o) => ["-o", o]),
  ];
}

/** The login user and port of a host: its own, else the call's. */
export function loginOf(host: Host, settings: Settings): { user?: string; port?: number } {
  const user = host.user ?? settings.user;
  const port = host.port ?? settings.port;
  return { ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) };
}

/**
 * `ssh [extra] [-o …] [-l user] [-p port] -- host command`. The host comes after `--`, so even a
 * host that slipped past validation can never be read as an option.
 */
export function sshArgv(
  host: Host,
  command: string,
  settings: Settings,
  connection: readonly string[] = [],
): string[] {
  const { user, port } = loginOf(host, settings);
  return [
    settings.sshPath,
    ...sshOptionArgs(settings, connection, host),
    ...(user !== undefined ? ["-l", user] : []),
    ...(port !== undefined ? ["-p", String(port)] : []),
    "--",
    host.host,
    command,
  ];
}
