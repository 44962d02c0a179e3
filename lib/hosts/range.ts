/**
 * Host ranges as ClusterShell and pdsh write them: `web[01-20]`, `node[1-5,9]`,
 * `rack[1-2]-n[1-3]`, and back again.
 *
 * @module
 */

import { CallerRangeError, CallerTypeError } from "../caller_error.ts";

/** Most hosts one pattern may expand to. */
export const MAX_RANGE_HOSTS = 100_000;

/** A bracketed part of a pattern: a range, or an IPv6 address when it holds a `:`. */
const BRACKETS = /\[([^\][]*)\]/g;

/**
 * Expands the numeric ranges in one host entry, in order (the first range varies slowest).
 * A bracket that holds a `:` is an IPv6 address (`[::1]:22`) and is kept as it is. Numbers keep
 * the width of a zero-padded lower bound: `web[08-10]` gives `web08`, `web09`, `web10`. (The
 * public `expandHosts` reads whole expressions: lists, groups, set operations.)
 *
 * @param pattern A host entry such as `admin@web[01-20]:2222`.
 * @returns The hosts, or `[pattern]` when it has no range.
 * @throws {TypeError} For a malformed range (`web[3-1]`, `web[1-]`, `web[a-c]`, an unclosed `[`).
 * @throws {RangeError} When the pattern would expand to more than 100,000 hosts.
 */
export function expandRange(pattern: string): string[] {
  if (/[[\]]/.test(pattern.replace(BRACKETS, ""))) {
    throw new CallerTypeError(`Cannot expand '${pattern}': unbalanced '[' or ']'`);
  }
  const pieces: string[][] = [];
  let last = 0;
  let total = 1;
  for (const match of pattern.matchAll(BRACKETS)) {
    const body = match[1];
    if (body.includes(":")) continue;
    pieces.push([pattern.slice(last, match.index)]);
    const values = rangeValues(body, pattern);
    total *= values.length;
    if (total > MAX_RANGE_HOSTS) {
      throw new CallerRangeError(
        `Cannot expand '${pattern}': more than ${MAX_RANGE_HOSTS.toLocaleString("en")} hosts`,
      );
    }
    pieces.push(values);
    last = match.index + match[0].length;
  }
  pieces.push([pattern.slice(last)]);
  return pieces.reduce<string[]>(
    (hosts, choices) => hosts.flatMap((host) => choices.map((choice) => host + choice)),
    [""],
  );
}

function rangeValues(body: string, pattern: string): string[] {
  const values: string[] = [];
  for (const part of body.split(",")) {
    // `low-high`, or `low-high/step` (every step-th number, as ClusterShell writes it).
    const match = /^\s*(\d+)(?:\s*-\s*(\d+)(?:\s*\/\s*(\d+))?)?\s*$/.exec(part);
    if (match === null) {
      throw new CallerTypeError(`Cannot expand '${pattern}': malformed range '[${body}]'`);
    }
    const [, low, high = low, stepText = "1"] = match;
    const from = Number(low);
    const to = Number(high);
    const step = Number(stepText);
    if (step < 1) {
      throw new CallerTypeError(`Cannot expand '${pattern}': step 0 in '${part.trim()}'`);
    }
    if (to < from) {
      throw new CallerTypeError(
        `Cannot expand '${pattern}': range '${part.trim()}' runs backwards`,
      );
    }
    if (to - from + 1 > MAX_RANGE_HOSTS) {
      throw new CallerRangeError(
        `Cannot expand '${pattern}': more than ${MAX_RANGE_HOSTS.toLocaleString("en")} hosts`,
      );
    }
    const width = isPadded(low) ? low.length : 0;
    for (let n = from; n <= to; n += step) values.push(String(n).padStart(width, "0"));
  }
  return values;
}

/**
 * Folds host names back into the compact range form: `h001 h002 h003 h005 web` →
 * `h[001-003,005],web`. Names are grouped by what surrounds their last number (and its width when
 * zero-padded); groups keep the order of their first member.
 *
 * @example
 * ```ts
 * import { compactHosts } from "@parallax/parallax";
 * console.log(compactHosts(["h001", "h002", "h003", "h005", "db"])); // "h[001-003,005],db"
 * ```
 */
export function compactHosts(names: readonly string[]): string {
  const unique = [...new Set(names)];
  const split = unique.map((name) => {
    const match = name.includes("[") ? null : /^(.*?)(\d+)(\D*)$/.exec(name);
    return match === null ? null : { prefix: match[1], digits: match[2], suffix: match[3] };
  });
  // Zero-padded widths per prefix/suffix: "10" joins "01"-"09" when width 2 is padded there.
  const padded = new Set<string>();
  for (const part of split) {
    if (part !== null && isPadded(part.digits)) {
      padded.add(`${part.prefix}\u0000${part.suffix}\u0000${part.digits.length}`);
    }
  }
  const groups = new Map<string, { prefix: string; suffix: string; numbers: string[] }>();
  unique.forEach((name, i) => {
    const part = split[i];
    if (part === null) {
      groups.set(`=${name}`, { prefix: name, suffix: "", numbers: [] });
      return;
    }
    const base = `${part.prefix}\u0000${part.suffix}`;
    const width = padded.has(`${base}\u0000${part.digits.length}`) ? part.digits.length : 0;
    const key = `${base}\u0000${width}`;
    if (!groups.has(key)) {
      groups.set(key, { prefix: part.prefix, suffix: part.suffix, numbers: [] });
    }
    groups.get(key)!.numbers.push(part.digits);
  });
  return [...groups.values()].map(({ prefix, suffix, numbers }) => {
    if (numbers.length === 0) return prefix;
    if (numbers.length === 1) return `${prefix}${numbers[0]}${suffix}`;
    return `${prefix}[${runs(numbers)}]${suffix}`;
  }).join(",");
}

function isPadded(digits: string): boolean {
  return digits.length > 1 && digits.startsWith("0");
}

/** `["01","02","03","05"]` → `"01-03,05"`, sorted numerically. */
function runs(numbers: string[]): string {
  const sorted = [...numbers].sort((a, b) => Number(a) - Number(b));
  const parts: string[] = [];
  let start = 0;
  for (let i = 1; i <= sorted.length; i++) {
    if (i < sorted.length && Number(sorted[i]) === Number(sorted[i - 1]) + 1) continue;
    parts.push(i - 1 === start ? sorted[start] : `${sorted[start]}-${sorted[i - 1]}`);
    start = i;
  }
  return parts.join(",");
}

/**
 * Splits a host list at commas and whitespace outside brackets: `h[1,3],db1 web` →
 * `["h[1,3]", "db1", "web"]`.
 */
export function splitHostList(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let depth = 0;
  for (const char of text) {
    if (char === "[") depth++;
    else if (char === "]") depth = Math.max(0, depth - 1);
    if (depth === 0 && (char === "," || /\s/.test(char))) {
      if (word !== "") words.push(word);
      word = "";
    } else {
      word += char;
    }
  }
  if (word !== "") words.push(word);
  return words;
}
