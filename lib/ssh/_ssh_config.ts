/**
 * ssh's configuration as `ssh -G` reads it for a host (no connection): its own `ConnectTimeout`,
 * and the user and port it logs in with.
 *
 * ssh_config's own `ConnectTimeout`: parallax's default (`connectTimeout`, 10 s) applies only
 * where neither the caller nor ssh's configuration sets one. ssh takes the first value it reads,
 * and `-o` comes first, so a host whose configuration sets one is given that value instead of
 * the default. Reading each host's configuration costs an `ssh -G` (no connection), so it is done
 * only when a configuration file ssh reads mentions `ConnectTimeout` at all.
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import { joinPath } from "../runtime/_path.ts";
import {
  canReadEnv,
  missingReadPermission,
  missingRunPermission,
} from "../runtime/_permissions.ts";
import type { Settings } from "../settings/_settings.ts";
import { loginOf } from "./_ssh_argv.ts";

/** How many `ssh -G` run at once. */
const AT_ONCE = 16;

/**
 * Fills `settings.configTimeouts` with the `ConnectTimeout` ssh's configuration gives each of
 * `hosts` (hosts it gives none are left out), unless the caller set `connectTimeout` or no
 * configuration file mentions it.
 */
export async function learnConfigTimeouts(
  settings: Settings,
  hosts: readonly Host[],
): Promise<void> {
  if (settings.connectTimeoutGiven || missingRunPermission(settings.sshPath) !== null) return;
  if (!configMentionsTimeout(settings)) return;
  const todo = hosts.filter((host) => !settings.configTimeouts.has(host.key));
  await eachHost(todo, async (host) => {
    const match = /^connecttimeout (\d+)$/m.exec(await configOf(host, settings) ?? "");
    if (match !== null) settings.configTimeouts.set(host.key, Number(match[1]));
  });
}

/**
 * The user and port each of `hosts` logs in as: its own, the call's, else what ssh's
 * configuration says (`ssh -G`); by key. Empty where ssh cannot be run or says nothing.
 */
export async function loginsOf(
  hosts: readonly Host[],
  settings: Settings,
): Promise<Map<string, { user?: string; port?: number }>> {
  const logins = new Map<string, { user?: string; port?: number }>();
  const todo: Host[] = [];
  for (const host of hosts) {
    const given = loginOf(host, settings);
    if (given.user !== undefined && given.port !== undefined) logins.set(host.key, given);
    else todo.push(host);
  }
  if (missingRunPermission(settings.sshPath) !== null) return logins;
  await eachHost(todo, async (host) => {
    const text = await configOf(host, settings) ?? "";
    const user = /^user (.+)$/m.exec(text)?.[1];
    const port = /^port (\d+)$/m.exec(text)?.[1];
    logins.set(host.key, {
      ...loginOf(host, settings),
      ...(user !== undefined && loginOf(host, settings).user === undefined ? { user } : {}),
      ...(port !== undefined && loginOf(host, settings).port === undefined
        ? { port: Number(port) }
        : {}),
    });
  });
  return logins;
}

/** Runs `work` for each host, {@linkcode AT_ONCE} at a time. */
async function eachHost(hosts: readonly Host[], work: (host: Host) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) await work(hosts[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, hosts.length) }, worker));
}

/** What `ssh -G` prints for `host` (its configuration, lower-case keys), or null. */
async function configOf(host: Host, settings: Settings): Promise<string | null> {
  const { user, port } = loginOf(host, settings);
  try {
    const { stdout, success } = await new Deno.Command(settings.sshPath, {
      args: [
        ...settings.sshExtra,
        ...settings.sshOptions.flatMap((option) => ["-o", option]),
        ...(user !== undefined ? ["-l", user] : []),
        ...(port !== undefined ? ["-p", String(port)] : []),
        "-G",
        "--",
        host.host,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout) : null;
  } catch {
    return null;
  }
}

/**
 * Whether a configuration file ssh reads for this call (`-F FILE`, else `~/.ssh/config`, and
 * `/etc/ssh/ssh_config` with the files they include) mentions `ConnectTimeout`. A file that
 * cannot be read mentions nothing.
 */
function configMentionsTimeout(settings: Settings): boolean {
  const files = configFiles(settings.sshExtra);
  const seen = new Set<string>();
  while (files.length > 0) {
    const file = files.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // Queried, never prompted for: a file this process may not read mentions nothing.
    if (missingReadPermission(file) !== null) continue;
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    if (/^\s*connecttimeout\b/im.test(text)) return true;
    for (const [, pattern] of text.matchAll(/^\s*include\s+(.+)$/gim)) {
      for (const path of pattern.trim().split(/\s+/)) files.push(...included(path, file));
    }
  }
  return false;
}

/** The configuration files ssh starts from, given its extra arguments. */
function configFiles(sshExtra: readonly string[]): string[] {
  const at = sshExtra.findIndex((arg) => arg === "-F" || (arg.startsWith("-F") && arg.length > 2));
  if (at !== -1) {
    const file = sshExtra[at] === "-F" ? sshExtra[at + 1] : sshExtra[at].slice(2);
    return file === undefined || file === "none" ? [] : [file];
  }
  const home = canReadEnv("HOME") ? Deno.env.get("HOME") : undefined;
  return [
    ...(home ? [joinPath(home, ".ssh", "config")] : []),
    "/etc/ssh/ssh_config",
  ];
}

/** The files an `Include` names (a `*` in its last part expands; relative to the file's folder). */
function included(path: string, from: string): string[] {
  const home = canReadEnv("HOME") ? Deno.env.get("HOME") : undefined;
  const full = path.startsWith("~/") && home
    ? joinPath(home, path.slice(2))
    : path.startsWith("/")
    ? path
    : joinPath(from.startsWith("/etc/ssh/") ? "/etc/ssh" : joinPath(home ?? "", ".ssh"), path);
  const slash = full.lastIndexOf("/");
  const folder = full.slice(0, slash);
  const name = full.slice(slash + 1);
  if (!name.includes("*")) return [full];
  if (missingReadPermission(folder) !== null) return [];
  const pattern = new RegExp(`^${name.split("*").map(escape).join(".*")}$`);
  try {
    return [...Deno.readDirSync(folder)].filter((entry) => pattern.test(entry.name))
      .map((entry) => joinPath(folder, entry.name)).sort();
  } catch {
    return [];
  }
}

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}
