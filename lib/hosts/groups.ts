/**
 * Node groups and host sets, as ClusterShell's `nodeset` writes them: a groups file of
 * `name: hosts` lines, `@name` wherever hosts are read, and set operations applied left to right
 * (`,` or a space: union, `!`: difference, `&`: intersection, `^`: either but not both).
 *
 * @module
 */

import { CallerTypeError } from "../caller_error.ts";
import { compactHosts, expandRange } from "./range.ts";

/**
 * Each group's hosts, expanded, in the order the groups file gives them.
 *
 * @example Groups from a file's text
 * ```ts
 * import { expandHosts, type Groups, parseGroups } from "@parallax/parallax";
 *
 * const groups: Groups = parseGroups("web: web[1-3]\n", "inline");
 * console.log(expandHosts("@web!web2", groups)); // ["web1", "web3"]
 * ```
 */
export type Groups = ReadonlyMap<string, readonly string[]>;

/** A group's name: letters, digits, `_`, `-`, `.`, `:` and `/`, not starting with a sign. */
const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$/;

/**
 * Reads a groups file: `name: hosts` per line, hosts as in {@linkcode expandHosts} (ranges,
 * `@other` groups, set operations), `#` comments and blank lines ignored. A group may be named
 * before the line that defines it.
 *
 * @throws {TypeError} Naming the file and line: a malformed line, a group defined twice, an
 * unknown group, a cycle, a malformed range.
 *
 * @example Reading a groups file
 * ```ts
 * import { readGroups, expandHosts } from "@parallax/parallax";
 *
 * const file = await Deno.makeTempFile();
 * await Deno.writeTextFile(file, "web: web[01-04]\ndb: db1,db2\nall: @web,@db\n");
 * const groups = await readGroups(file);
 * console.log(expandHosts("@all!web02", groups)); // web01 web03 web04 db1 db2
 * await Deno.remove(file);
 * ```
 */
export async function readGroups(path: string | URL): Promise<Groups> {
  // Queried, never prompted for.
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new CallerTypeError(
      `Cannot read the groups file ${path}: read access is not granted; run with --allow-read=${path}`,
    );
  }
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new CallerTypeError(`Cannot read the groups file ${path}: ${(error as Error).message}`);
  }
  return parseGroups(text, String(path));
}

/**
 * Parses the text of a groups file (see {@linkcode readGroups}); `source` names it in errors.
 *
 * @throws {TypeError} Naming `source` and the line.
 *
 * @example Groups from text
 * ```ts
 * import { parseGroups } from "@parallax/parallax";
 *
 * const groups = parseGroups("web: web[1-2]\nedge: @web,lb1\n", "inline");
 * console.log(groups.get("edge")); // ["web1", "web2", "lb1"]
 * ```
 */
export function parseGroups(text: string, source: string): Groups {
  const lines = new Map<string, { expr: string; line: number }>();
  text.split("\n").forEach((raw, i) => {
    const body = raw.replace(/#.*$/, "").trim();
    if (body === "") return;
    const at = body.indexOf(":");
    const name = at === -1 ? "" : body.slice(0, at).trim();
    if (at === -1 || !GROUP_NAME.test(name)) {
      throw new CallerTypeError(
        `${source}:${i + 1}: expected 'name: hosts', a name of letters, digits, '_', '-' or '.'`,
      );
    }
    if (lines.has(name)) {
      throw new CallerTypeError(
        `${source}:${i + 1}: group '${name}' is defined again (first on line ${
          lines.get(name)!.line
        })`,
      );
    }
    lines.set(name, { expr: body.slice(at + 1).trim(), line: i + 1 });
  });
  const groups = new Map<string, readonly string[]>();
  const resolving: string[] = [];
  const resolve = (name: string): readonly string[] => {
    const done = groups.get(name);
    if (done !== undefined) return done;
    const { expr, line } = lines.get(name)!;
    resolving.push(name);
    try {
      const hosts = evaluate(expr, (ref) => {
        if (resolving.includes(ref)) {
          throw new CallerTypeError(
            `${source}:${line}: groups refer to each other in a cycle: ${
              [...resolving.slice(resolving.indexOf(ref)), ref].map((g) => `@${g}`).join(" → ")
            }`,
          );
        }
        if (!lines.has(ref)) {
          throw new CallerTypeError(`${source}:${line}: unknown group '@${ref}'`);
        }
        return resolve(ref);
      });
      groups.set(name, hosts);
      return hosts;
    } catch (error) {
      if (error instanceof CallerTypeError && error.message.startsWith(`${source}:`)) throw error;
      throw new CallerTypeError(`${source}:${line}: ${(error as Error).message}`);
    } finally {
      resolving.pop();
    }
  };
  for (const name of lines.keys()) resolve(name);
  // In the file's order.
  return new Map([...lines.keys()].map((name) => [name, groups.get(name)!]));
}

/**
 * Every host of every group, each once, in the file's order (the CLI's `-a`).
 *
 * @example
 * ```ts
 * import { allHosts, parseGroups } from "@parallax/parallax";
 * console.log(allHosts(parseGroups("a: h1,h2\nb: h2,h3\n", "inline"))); // ["h1", "h2", "h3"]
 * ```
 */
export function allHosts(groups: Groups): string[] {
  return [...new Set([...groups.values()].flat())];
}

/**
 * The hosts of a host expression: words separated by `,` or spaces (union), `!` (difference),
 * `&` (intersection) or `^` (symmetric difference), applied left to right as ClusterShell's
 * `nodeset` does. A word is a host entry whose numeric ranges expand in place
 * (`admin@web[01-20]:2222`; numbers keep a zero-padded lower bound's width; a bracket holding a
 * `:` is an IPv6 address, `[::1]:22`), or `@group` from `groups` (see {@linkcode readGroups}).
 * Hosts are compared as written; the result keeps the order of first appearance, each once.
 *
 * @throws {TypeError} For an unknown group (or `@` without `groups`), an operator with nothing
 * after it, a malformed range (`web[3-1]`, `web[a-c]`, an unclosed `[`).
 * @throws {RangeError} When one entry would expand to more than 100,000 hosts.
 *
 * @example Ranges, lists and set operations
 * ```ts
 * import { expandHosts, parseGroups } from "@parallax/parallax";
 *
 * console.log(expandHosts("web[01-03]")); // ["web01", "web02", "web03"]
 * console.log(expandHosts("rack[1-2]-n[1,3]")); // ["rack1-n1", "rack1-n3", "rack2-n1", "rack2-n3"]
 * console.log(expandHosts("[::1]:22")); // ["[::1]:22"]
 * const groups = parseGroups("web: web[1-4]\nrack1: web[1-2],db1\n", "inline");
 * console.log(expandHosts("@web!web3", groups)); // ["web1", "web2", "web4"]
 * console.log(expandHosts("@web&@rack1", groups)); // ["web1", "web2"]
 * ```
 */
export function expandHosts(expr: string, groups?: Groups): string[] {
  return evaluate(expr, (name) => {
    const hosts = groups?.get(name);
    if (hosts === undefined) {
      throw new CallerTypeError(
        groups === undefined
          ? `Cannot use '@${name}': no groups file (--groups FILE, PARALLAX_GROUPS, or ` +
            "~/.config/parallax/groups)"
          : `Cannot use '@${name}': no such group${nearGroup(name, groups)}`,
      );
    }
    return hosts;
  });
}

/**
 * `hosts` in `count` parts of sizes that differ by at most one, in order, each folded
 * (`web[01-03]`); fewer parts when there are fewer hosts.
 *
 * @example
 * ```ts
 * import { splitHosts } from "@parallax/parallax";
 * console.log(splitHosts(["w1", "w2", "w3", "w4", "w5"], 2)); // ["w[1-3]", "w[4-5]"]
 * ```
 */
export function splitHosts(hosts: readonly string[], count: number): string[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new CallerTypeError(`Cannot split into ${count} parts: expected an integer >= 1`);
  }
  const parts: string[] = [];
  const n = Math.min(count, hosts.length);
  for (let i = 0, at = 0; i < n; i++) {
    const size = Math.floor(hosts.length / n) + (i < hosts.length % n ? 1 : 0);
    parts.push(compactHosts(hosts.slice(at, at + size)));
    at += size;
  }
  return parts;
}

/** Whether a host list names a group (and so needs the groups file). */
export function namesGroup(expr: string): boolean {
  return tokens(expr).some(({ word }) => word.startsWith("@"));
}

type Operator = "," | "!" | "&" | "^";

/** The words of an expression, each with the operator before it (`,` for the first). */
function tokens(expr: string): { op: Operator; word: string }[] {
  const out: { op: Operator; word: string }[] = [];
  let op: Operator = ",";
  let word = "";
  let depth = 0;
  let pending = false;
  const push = () => {
    if (word !== "") {
      out.push({ op, word });
      op = ",";
      pending = false;
    }
    word = "";
  };
  for (const char of expr) {
    if (char === "[") depth++;
    else if (char === "]") depth = Math.max(0, depth - 1);
    if (depth === 0 && (char === "," || /\s/.test(char))) {
      push();
    } else if (depth === 0 && (char === "!" || char === "&" || char === "^")) {
      push();
      if (pending) {
        throw new CallerTypeError(`Cannot read '${expr}': '${op}' with no hosts after it`);
      }
      op = char;
      pending = true;
    } else {
      word += char;
    }
  }
  push();
  if (pending) throw new CallerTypeError(`Cannot read '${expr}': '${op}' with no hosts after it`);
  return out;
}

function evaluate(expr: string, group: (name: string) => readonly string[]): string[] {
  let result: string[] = [];
  for (const { op, word } of tokens(expr)) {
    const hosts = word.startsWith("@") ? group(groupName(word)) : expandRange(word);
    if (op === ",") {
      const have = new Set(result);
      result = [...result, ...hosts.filter((h) => !have.has(h) && (have.add(h), true))];
    } else if (op === "!") {
      const drop = new Set(hosts);
      result = result.filter((h) => !drop.has(h));
    } else if (op === "&") {
      const keep = new Set(hosts);
      result = result.filter((h) => keep.has(h));
    } else {
      const left = new Set(result);
      const right = new Set(hosts);
      result = [...result.filter((h) => !right.has(h)), ...[...right].filter((h) => !left.has(h))];
    }
  }
  return result;
}

function groupName(word: string): string {
  const name = word.slice(1);
  if (!GROUP_NAME.test(name)) throw new CallerTypeError(`Cannot read '${word}': not a group name`);
  return name;
}

function nearGroup(name: string, groups: Groups): string {
  const near = [...groups.keys()].find((g) => g.toLowerCase() === name.toLowerCase()) ??
    [...groups.keys()].find((g) => g.startsWith(name) || name.startsWith(g));
  return near === undefined ? "" : ` (did you mean '@${near}'?)`;
}
