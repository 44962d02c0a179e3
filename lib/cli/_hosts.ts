/**
 * The CLI's host list: `-h` files, `-H` lists (commas or spaces, ranges), else the file named by
 * `PARALLAX_HOSTS`, else every host of the `--gateways` file; `--exclude` removes hosts; a host
 * given twice runs once, with a warning.
 *
 * @module
 */

import { parseHostFileText, readHostFileText } from "../hosts/file.ts";
import { allHosts, expandHosts, type Groups, namesGroup, readGroups } from "../hosts/groups.ts";
import { type Host, parseHostEntry } from "../hosts/parse.ts";
import { joinPath } from "../runtime/_path.ts";
import { canReadEnv, missingReadPermission } from "../runtime/_permissions.ts";
import { UsageError } from "./_args.ts";
import type { CliRun } from "./_flags.ts";

/** A host file's line that names a group (`@web`, `db1,@web`, `@all!web3`). */
const NAMES_GROUP = /(?:^|[\s,!&^])@/m;

/**
 * The hosts of a run, in order, each once.
 *
 * @param gatewayHosts Every host the `--gateways` file lists: the run's hosts when no `-h`, `-H`
 * or `PARALLAX_HOSTS` names any.
 * @param options `allowEmpty`: an empty list is no error (`parallax hosts`).
 * @throws {UsageError} For no hosts, an unreadable host file or a malformed host.
 */
export async function resolveHosts(
  run: CliRun,
  warn: (message: string) => void,
  gatewayHosts: readonly string[] = [],
  options: { allowEmpty?: boolean } = {},
): Promise<Host[]> {
  let files = run.hostFiles;
  let fromEnv = false;
  let named = files.length > 0 || run.hostLists.length > 0 || run.allGroups;
  if (!named) {
    // PARALLAX_HOSTS stands for -h: it picks the hosts, and a gateways file only routes them.
    const path = canReadEnv("PARALLAX_HOSTS") ? Deno.env.get("PARALLAX_HOSTS") : undefined;
    if (path !== undefined && path !== "") {
      files = [path];
      fromEnv = true;
      named = true;
    } else if (gatewayHosts.length === 0) {
      throw new UsageError(
        "no hosts: give -h FILE, -H HOSTS, -g GROUP or --gateways FILE, or set PARALLAX_HOSTS " +
          "to a host file",
      );
    }
  }
  const texts: [string, string][] = [];
  for (const file of files) {
    try {
      texts.push([file, await readHostFileText(file)]);
    } catch (error) {
      const message = (error as Error).message;
      throw new UsageError(fromEnv ? `PARALLAX_HOSTS names a file: ${message}` : message);
    }
  }
  // All -H and -g lists are one expression: set operations apply across them, left to right.
  const lists = run.hostLists.join(",");
  const needed = run.allGroups || namesGroup(lists) || run.exclude.some(namesGroup) ||
    texts.some(([, text]) => NAMES_GROUP.test(text));
  const groups = await loadGroups(run, needed);
  const hosts: Host[] = [];
  for (const [file, text] of texts) {
    hosts.push(...parseHostFileText(text, file, { duplicates: "keep", groups }));
  }
  if (run.allGroups) {
    if (groups === undefined) throw new UsageError(`-a needs a groups file: ${GROUPS_HINT}`);
    hosts.push(...allHosts(groups).map(parseHostEntry));
  }
  if (lists !== "") hosts.push(...parseList(lists, groups));
  if (!named) hosts.push(...gatewayHosts.map(parseHostEntry));
  // An excluded name without user or port leaves that host out however it was written
  // (`--exclude web1` drops `admin@web1:2222` too); one with them, only that entry.
  const excluded = run.exclude.flatMap((list) => parseList(list, groups));
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
  if (kept.length === 0 && !options.allowEmpty) {
    throw new UsageError(
      hosts.length === 0
        ? "no hosts: the host lists given are empty"
        : "no hosts left after --exclude",
    );
  }
  return kept;
}

function parseList(text: string, groups: Groups | undefined): Host[] {
  return expandHosts(text, groups).map(parseHostEntry);
}

/** Where groups files are looked for, for messages. */
const GROUPS_HINT = "give --groups FILE, set PARALLAX_GROUPS, or write ~/.config/parallax/groups";

/**
 * The groups file of a run: `--groups FILE`, else the file `PARALLAX_GROUPS` names, else
 * `~/.config/parallax/groups`. Read when the run names a group (`needed`) or names the file; a
 * default file that does not exist is no groups (a group named then is an unknown group).
 *
 * @throws {UsageError} For a file named but unreadable, naming where it was named.
 */
export async function loadGroups(run: CliRun, needed: boolean): Promise<Groups | undefined> {
  const fromEnv = canReadEnv("PARALLAX_GROUPS") ? Deno.env.get("PARALLAX_GROUPS") : undefined;
  const named = run.groupsFile ?? (fromEnv === "" ? undefined : fromEnv);
  if (named !== undefined) {
    try {
      return await readGroups(named);
    } catch (error) {
      const message = (error as Error).message;
      if (!(error instanceof TypeError) || !message.startsWith("Cannot read the groups file")) {
        throw error;
      }
      throw new UsageError(
        run.groupsFile === undefined ? `PARALLAX_GROUPS names a file: ${message}` : message,
      );
    }
  }
  if (!needed) return undefined;
  if (!canReadEnv("HOME") && !canReadEnv("PARALLAX_GROUPS")) {
    throw new UsageError(
      "a group is named, and the groups file cannot be looked for: give --groups FILE, or " +
        "grant --allow-env=PARALLAX_GROUPS,HOME (reinstall with 'deno task install')",
    );
  }
  const home = canReadEnv("HOME") ? Deno.env.get("HOME") : undefined;
  if (home === undefined || home === "") return undefined;
  const path = joinPath(home, ".config", "parallax", "groups");
  if (missingReadPermission(path) !== null) return undefined;
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new UsageError(`cannot read the groups file ${path}: ${(error as Error).message}`);
  }
  return await readGroups(path);
}
