/**
 * The CLI's host list: `-h` files, `-H` lists (commas or spaces, ranges), else the file named by
 * `PARALLAX_HOSTS`, else every host of the `--gateways` file; `--exclude` removes hosts; a host
 * given twice runs once, with a warning.
 *
 * @module
 */

import { parseHostFileText, readHostFileText } from "../hosts/file.ts";
import { type Host, parseHostEntry } from "../hosts/parse.ts";
import { expandHosts, splitHostList } from "../hosts/range.ts";
import { canReadEnv } from "../runtime/_permissions.ts";
import { UsageError } from "./_args.ts";
import type { CliRun } from "./_flags.ts";

/**
 * The hosts of a run, in order, each once.
 *
 * @param gatewayHosts Every host the `--gateways` file lists: the run's hosts when no `-h`, `-H`
 * or `PARALLAX_HOSTS` names any.
 * @throws {UsageError} For no hosts, an unreadable host file or a malformed host.
 */
export async function resolveHosts(
  run: CliRun,
  warn: (message: string) => void,
  gatewayHosts: readonly string[] = [],
): Promise<Host[]> {
  let files = run.hostFiles;
  let named = files.length > 0 || run.hostLists.length > 0;
  if (!named) {
    // PARALLAX_HOSTS stands for -h: it picks the hosts, and a gateways file only routes them.
    const fromEnv = canReadEnv("PARALLAX_HOSTS") ? Deno.env.get("PARALLAX_HOSTS") : undefined;
    if (fromEnv !== undefined && fromEnv !== "") {
      files = [fromEnv];
      named = true;
    } else if (gatewayHosts.length === 0) {
      throw new UsageError(
        "no hosts: give -h FILE, -H HOSTS or --gateways FILE, or set PARALLAX_HOSTS to a host file",
      );
    }
  }
  const hosts: Host[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readHostFileText(file);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    hosts.push(...parseHostFileText(text, file, { duplicates: "keep" }));
  }
  for (const list of run.hostLists) hosts.push(...parseList(list));
  if (!named) hosts.push(...gatewayHosts.map(parseHostEntry));
  // An excluded name without user or port leaves that host out however it was written
  // (`--exclude web1` drops `admin@web1:2222` too); one with them, only that entry.
  const excluded = run.exclude.flatMap(parseList);
  // Looked up by key and by bare name: linear in hosts and excludes (100,000 of each is quick).
  const byKey = new Map<string, Host>();
  const byName = new Map<string, Host>();
  for (const x of excluded) {
    if (!byKey.has(x.key)) byKey.set(x.key, x);
    if (x.user === undefined && x.port === undefined && !byName.has(x.host)) byName.set(x.host, x);
  }
  const used = new Set<Host>();
  const isExcluded = (host: Host) => {
    const match = byKey.get(host.key) ?? byName.get(host.host);
    if (match !== undefined) used.add(match);
    return match !== undefined;
  };
  const seen = new Set<string>();
  const repeated = new Set<string>();
  const kept = hosts.filter((host) => {
    if (isExcluded(host)) return false;
    if (seen.has(host.key)) {
      repeated.add(host.key);
      return false;
    }
    seen.add(host.key);
    return true;
  });
  const unused = excluded.filter((x) => !used.has(x)).map((x) => x.key);
  if (unused.length > 0) warn(`--exclude matched no host: ${unused.join(" ")}`);
  if (repeated.size > 0) {
    warn(`hosts given more than once run once: ${[...repeated].join(" ")}`);
  }
  if (kept.length === 0) {
    throw new UsageError(
      hosts.length === 0
        ? "no hosts: the host lists given are empty"
        : "no hosts left after --exclude",
    );
  }
  return kept;
}

function parseList(text: string): Host[] {
  return splitHostList(text).flatMap(expandHosts).map(parseHostEntry);
}
