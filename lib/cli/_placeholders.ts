/**
 * The CLI's per-host placeholders: `{host}`, `{user}`, `{port}` and `{n}` (the host's position in
 * the list, as `PARALLAX_NODENUM`) in a command, copy's DST, slurp's SRC and sync's DST. In a
 * command each value is quoted for the place it lands (bare, inside '…' or inside "…"), so that
 * a value is always one word of the shell's and never code. `{{host}` is a literal `{host}`; any
 * other brace is left as written (`awk '{print $1}'`, `docker ps --format '{{.Names}}'`).
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import type { PerHost } from "../hosts/per_host.ts";
import { shellWord } from "../runtime/_shell_quote.ts";

type Name = "host" | "user" | "port" | "n";

/** `{{name}` (an escaped placeholder) or `{name}`. */
const PLACEHOLDER = /\{(\{?)(host|user|port|n)\}/g;

/** Where a placeholder's value lands: a shell command line, or a path given as it is. */
export type Landing = "command" | "path";

/**
 * `text` for each host, or `text` itself when it holds no placeholder. `login` gives the user and
 * port a host logs in with (its entry's, `-l`, `PARALLAX_USER`, else ssh's configuration); where
 * it knows none, `{user}` and `{port}` are empty.
 */
export function withPlaceholders(
  text: string,
  landing: Landing,
  login: (host: Host) => { user?: string; port?: number } = () => ({}),
): PerHost<string> {
  if (!hasPlaceholder(text)) return text;
  return (host: Host, index: number) => {
    const { user, port } = login(host);
    const values: Record<Name, string> = {
      host: host.host,
      user: host.user ?? user ?? "",
      port: String(host.port ?? port ?? ""),
      n: String(index),
    };
    return substitute(
      text,
      (name, at) => landing === "path" ? values[name] : quoteFor(quoteAt(text, at), values[name]),
    );
  };
}

/** Whether `text` holds `{user}` or `{port}` (which may need ssh's configuration to fill). */
export function namesLogin(text: string): boolean {
  return [...text.matchAll(PLACEHOLDER)].some((m) =>
    m[1] === "" && (m[2] === "user" || m[2] === "port")
  );
}

/** Whether `text` holds a placeholder to substitute (an escaped one is kept as text). */
export function hasPlaceholder(text: string): boolean {
  return [...text.matchAll(PLACEHOLDER)].some((match) => match[1] === "");
}

function substitute(text: string, value: (name: Name, at: number) => string): string {
  return text.replace(
    PLACEHOLDER,
    (whole, escaped: string, name: Name, at: number) =>
      escaped === "" ? value(name, at) : whole.slice(1),
  );
}

/** The shell's quoting at offset `at` of `line`: none, inside '…', or inside "…". */
function quoteAt(line: string, at: number): "none" | "single" | "double" {
  let state: "none" | "single" | "double" = "none";
  for (let i = 0; i < at; i++) {
    const char = line[i];
    if (state === "single") {
      if (char === "'") state = "none";
    } else if (char === "\\") {
      i++;
    } else if (char === "'" && state === "none") {
      state = "single";
    } else if (char === '"') {
      state = state === "double" ? "none" : "double";
    }
  }
  return state;
}

function quoteFor(state: "none" | "single" | "double", value: string): string {
  if (state === "single") return value.replaceAll("'", `'\\''`);
  if (state === "double") return value.replace(/["\\$`]/g, (c) => `\\${c}`);
  return value === "" ? "''" : shellWord(value);
}
