/**
 * Host lists: the forms callers write them in, and the checks that keep a host string from ever
 * being read by ssh as an option.
 *
 * @module
 */

import { CallerTypeError } from "../caller_error.ts";

/**
 * One host entry: `"[user@]host[:port]"`, a `[host, port?, user?]` tuple or an object.
 *
 * @example The ways to write a host
 * ```ts
 * import { call, type HostEntry } from "@parallax/parallax";
 *
 * const hosts: HostEntry[] = ["web1", ["web2", 2222], { host: "db1", user: "pg" }];
 * await call(hosts, "uptime");
 * ```
 */
export type HostEntry =
  | string
  | readonly [host: string]
  | readonly [host: string, port: number | string | undefined]
  | readonly [host: string, port: number | string | undefined, user: string | undefined]
  | { readonly host: string; readonly port?: number | string; readonly user?: string };

/**
 * A host list: entries, or one string of entries separated by whitespace.
 *
 * @example Hosts as a string or a list
 * ```ts
 * import { call, type HostsInput } from "@parallax/parallax";
 *
 * const fleet: HostsInput = "web1 web2 admin@db1:2222";
 * await call(fleet, "uptime");
 * ```
 */
export type HostsInput = string | readonly HostEntry[];

/**
 * A parsed host.
 *
 * @example A parsed host
 * ```ts
 * import { type Host, parseHosts } from "@parallax/parallax";
 *
 * const [host]: Host[] = parseHosts(["admin@web1:2222"]);
 * console.log(host.key, host.host, host.user, host.port); // admin@web1:2222 web1 admin 2222
 * ```
 */
export interface Host {
  /** The key of this host in result maps: a string entry as written, else `[user@]host[:port]`. */
  readonly key: string;
  /** The name or address given to ssh (an IPv6 address without its brackets). */
  readonly host: string;
  /** The port, when the entry names one. */
  readonly port?: number;
  /** The user, when the entry names one. */
  readonly user?: string;
}

/**
 * Parses a host list into {@linkcode Host}s, in input order.
 *
 * @param input An array of entries, or one whitespace-separated string of `[user@]host[:port]`.
 * @returns One {@linkcode Host} per entry.
 * @throws {TypeError} For an empty host, a port outside 1–65535, a host or user that starts with
 * `-`, whitespace or control characters inside a host, or the same entry twice.
 *
 * @example Parsing every form
 * ```ts
 * import { parseHosts } from "@parallax/parallax";
 *
 * const hosts = parseHosts(["admin@web1:2222", "[::1]:22", ["db1", 5432, "pg"], { host: "cache" }]);
 * console.log(hosts.map((h) => h.key)); // ["admin@web1:2222", "[::1]:22", "pg@db1:5432", "cache"]
 * ```
 */
export function parseHosts(input: HostsInput): Host[] {
  const entries: readonly HostEntry[] = typeof input === "string"
    ? input.split(/\s+/).filter((word) => word !== "")
    : input;
  if (!Array.isArray(entries)) {
    throw new CallerTypeError(
      `Cannot parse hosts: expected an array or a string, got ${typeof input}`,
    );
  }
  const seen = new Set<string>();
  return entries.map((entry) => {
    const host = parseHostEntry(entry);
    if (seen.has(host.key)) {
      throw new CallerTypeError(`Cannot use host '${host.key}' twice in one host list`);
    }
    seen.add(host.key);
    return host;
  });
}

/**
 * Parses one host entry.
 *
 * @throws {TypeError} As {@linkcode parseHosts} does.
 */
export function parseHostEntry(entry: HostEntry): Host {
  if (typeof entry === "string") return parseHostString(entry);
  if (Array.isArray(entry)) {
    const [host, port, user] = entry as Extract<HostEntry, readonly unknown[]>;
    return fromParts(host, port, user, describe(entry));
  }
  if (entry !== null && typeof entry === "object" && "host" in entry) {
    return fromParts(entry.host, entry.port, entry.user, describe(entry));
  }
  throw new CallerTypeError(
    `Cannot parse host ${describe(entry)}: expected a string, tuple or object`,
  );
}

/** Parses `[user@]host[:port]`, with IPv6 addresses as `[::1]:22` (or bare, without a port). */
function parseHostString(text: string): Host {
  const quoted = `'${printable(text)}'`;
  checkCharacters(text, quoted);
  let rest = text;
  let user: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === "") {
      throw new CallerTypeError(`Cannot parse host ${quoted}: empty user before '@'`);
    }
    if (rest.includes("@")) {
      throw new CallerTypeError(`Cannot parse host ${quoted}: more than one '@'`);
    }
  }
  let host = rest;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1];
    port = bracketed[2];
  } else if (rest.startsWith("[")) {
    throw new CallerTypeError(`Cannot parse host ${quoted}: unclosed '['`);
  } else if (rest.indexOf(":") === rest.lastIndexOf(":") && rest.includes(":")) {
    const colon = rest.indexOf(":");
    host = rest.slice(0, colon);
    port = rest.slice(colon + 1);
  }
  const parsed = fromParts(host, port, user, quoted);
  return { ...parsed, key: text };
}

function fromParts(host: unknown, port: unknown, user: unknown, quoted: string): Host {
  if (typeof host !== "string") {
    throw new CallerTypeError(`Cannot parse host ${quoted}: the host must be a string`);
  }
  checkName(host, "host", quoted);
  if (host.includes("@")) {
    throw new CallerTypeError(`Cannot parse host ${quoted}: '@' inside the host`);
  }
  const result: { key: string; host: string; port?: number; user?: string } = { key: "", host };
  if (port !== undefined && port !== null) result.port = parsePort(port, quoted);
  if (user !== undefined && user !== null) {
    if (typeof user !== "string") {
      throw new CallerTypeError(`Cannot parse host ${quoted}: the user must be a string`);
    }
    checkName(user, "user", quoted);
    if (user.includes("@")) {
      throw new CallerTypeError(`Cannot parse host ${quoted}: '@' inside the user`);
    }
    result.user = user;
  }
  const shown = host.includes(":") && result.port !== undefined ? `[${host}]` : host;
  result.key = `${result.user !== undefined ? `${result.user}@` : ""}${shown}${
    result.port !== undefined ? `:${result.port}` : ""
  }`;
  return result;
}

/**
 * Checks a host or user name: not empty, no leading `-`, no whitespace or control characters.
 *
 * @throws {TypeError} Naming `quoted` and what is wrong.
 */
export function checkName(name: string, what: "host" | "user", quoted: string): void {
  if (name === "") throw new CallerTypeError(`Cannot parse host ${quoted}: empty ${what}`);
  checkCharacters(name, quoted);
  if (name.startsWith("-")) {
    throw new CallerTypeError(
      `Cannot parse host ${quoted}: a ${what} that starts with '-' would be read as an ssh option`,
    );
  }
}

function checkCharacters(text: string, quoted: string): void {
  // deno-lint-ignore no-control-regex
  if (/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(text)) {
    throw new CallerTypeError(
      `Cannot parse host ${quoted}: whitespace or control characters inside a host`,
    );
  }
}

/**
 * Parses a port given as a number or a string of digits.
 *
 * @throws {TypeError} Unless it is an integer in 1–65535.
 */
export function parsePort(port: unknown, quoted: string): number {
  const value = typeof port === "number"
    ? port
    : typeof port === "string" && /^[0-9]{1,5}$/.test(port)
    ? Number(port)
    : NaN;
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new CallerTypeError(
      `Cannot parse host ${quoted}: port '${printable(String(port))}' is not in 1-65535`,
    );
  }
  return value;
}

/** Shows a value in an error message, with control characters escaped and length capped. */
function describe(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return printable(text);
}

function printable(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  // deno-lint-ignore no-control-regex
  return short.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}
