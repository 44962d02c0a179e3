/**
 * The CLI's host list: `-h` files, `-H` lists (commas or spaces, ranges), else the file named by
 * `PARALLAX_HOSTS`; `--exclude` removes hosts; a host given twice runs once, with a warning.
 *
 * @module
 */

import { parseHostFileText } from "../hosts/file.ts";
import { type Host, parseHostEntry } from "../hosts/parse.ts";
import { expandHosts, splitHostList } from "../hosts/range.ts";
import { canReadEnv } from "../runtime/_permissions.ts";
import { UsageError } from "./_args.ts";
import type { CliRun } from "./_flags.ts";

/**
 * The hosts of a run, in order, each once.
 *
 * @throws {UsageError} For no hosts, an unreadable host file or a malformed host.
 */
export async function resolveHosts(run: CliRun, warn: (message: string) => void): Promise<Host[]> {
  let files = run.hostFiles;
  if (files.length === 0 && run.hostLists.length === 0) {
    const fromEnv = canReadEnv("PARALLAX_HOSTS") ? Deno.env.get("PARALLAX_HOSTS") : undefined;
    if (fromEnv === undefined || fromEnv === "") {
      throw new UsageError(
        "no hosts: give -h FILE or -H HOSTS, or set PARALLAX_HOSTS to a host file",
      );
    }
    files = [fromEnv];
  }
  const hosts: Host[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotCapable
        ? `read access is not granted; run with --allow-read=${file}`
        : (error as Error).message;
      throw new UsageError(`Cannot read host file '${file}': ${reason}`);
    }
    hosts.push(...parseHostFileText(text, file, { duplicates: "keep" }));
  }
  for (const list of run.hostLists) hosts.push(...parseList(list));
  const excluded = new Set(run.exclude.flatMap(parseList).map((host) => host.key));
  const seen = new Set<string>();
  const repeated = new Set<string>();
  const kept = hosts.filter((host) => {
    if (excluded.has(host.key)) return false;
    if (seen.has(host.key)) {
      repeated.add(host.key);
      return false;
    }
    seen.add(host.key);
    return true;
  });
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
