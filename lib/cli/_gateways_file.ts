/**
 * `--gateways FILE`: which gateway serves which hosts, one `GATEWAYS: HOSTS` line each. Ranges
 * work on both sides; several gateways on one line share its hosts, split into even runs in
 * order (`gw[1-2]: web[1-64]`: gw1 serves web1–web32, gw2 web33–web64). Blank lines and `#`
 * comments are ignored.
 *
 * @module
 */

import { expandRange, splitHostList } from "../hosts/range.ts";
import { UsageError } from "./_args.ts";

/**
 * Reads a gateways file into the `gateways` option.
 *
 * @throws {UsageError} For an unreadable file or a malformed line, naming the line.
 */
export async function readGatewaysFile(path: string): Promise<Record<string, string[]>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`cannot read --gateways file '${path}': ${(error as Error).message}`);
  }
  return parseGatewaysText(text, path);
}

/**
 * Parses the text of a gateways file (`name` for messages).
 *
 * @throws {UsageError} For a malformed line.
 */
export function parseGatewaysText(text: string, name: string): Record<string, string[]> {
  const gateways: Record<string, string[]> = {};
  for (const [n, raw] of text.split("\n").entries()) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const where = `${name}:${n + 1}`;
    // The gateway part ends at the first colon followed by a blank or the end (a colon inside
    // it is a port: `gw1:2222: web1`).
    const match = /^(\S+?):(?:\s+(.*))?$/.exec(line);
    if (match === null || (match[2] ?? "").trim() === "") {
      throw new UsageError(
        `${where}: expected 'GATEWAY: HOSTS' (a colon, then a blank), got '${raw.trim()}'`,
      );
    }
    let names: string[];
    let hosts: string[];
    try {
      names = splitHostList(match[1]).flatMap(expandRange);
      hosts = splitHostList(match[2]).flatMap(expandRange);
    } catch (error) {
      throw new UsageError(`${where}: ${(error as Error).message}`);
    }
    names.forEach((gateway, i) => {
      const from = Math.floor((i * hosts.length) / names.length);
      const to = Math.floor(((i + 1) * hosts.length) / names.length);
      (gateways[gateway] ??= []).push(...hosts.slice(from, to));
    });
  }
  if (Object.keys(gateways).length === 0) {
    throw new UsageError(`--gateways file '${name}' names no gateway`);
  }
  return gateways;
}
