/**
 * Builds the ssh command line for one host: a pure function of the host and the settings.
 *
 * @module
 */

import type { Host } from "./hosts.ts";
import type { Settings } from "./settings.ts";

/** The variables sent to every host with `SendEnv`, as the Python original does. */
export const SENT_ENV = ["PARALLAX_HOST", "PARALLAX_NODENUM"] as const;

/**
 * The ssh options parallax always adds, after the caller's (OpenSSH keeps the first value it sees
 * for an option, so the caller's `sshOptions` win).
 */
export function defaultSshOptions(settings: Settings): string[] {
  return [
    ...(settings.password === undefined
      ? ["BatchMode=yes"]
      : ["BatchMode=no", "NumberOfPasswordPrompts=1"]),
    `ConnectTimeout=${settings.connectTimeout}`,
    `SendEnv=${SENT_ENV.join(" ")}`,
    ...(settings.quiet ? ["LogLevel=ERROR"] : []),
    ...(settings.controlOptions ?? []),
  ];
}

/**
 * The options part of an ssh or scp command line: extra arguments, the caller's `-o` options,
 * then parallax's own.
 */
export function sshOptionArgs(settings: Settings): string[] {
  return [
    ...settings.sshExtra,
    ...[...settings.sshOptions, ...defaultSshOptions(settings)].flatMap((o) => ["-o", o]),
  ];
}

/**
 * `ssh [extra] [-o …] [-l user] [-p port] -- host command`. The host comes after `--`, so even a
 * host that slipped past validation can never be read as an option.
 */
export function sshArgv(host: Host, command: string, settings: Settings): string[] {
  const user = host.user ?? settings.user;
  const port = host.port ?? settings.port;
  return [
    settings.sshPath,
    ...sshOptionArgs(settings),
    ...(user !== undefined ? ["-l", user] : []),
    ...(port !== undefined ? ["-p", String(port)] : []),
    "--",
    host.host,
    command,
  ];
}
