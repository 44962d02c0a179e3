/**
 * Reads pssh-format host files.
 *
 * @module
 */

import { expandHosts, type Groups } from "./groups.ts";
import { type Host, parseHostEntry } from "./parse.ts";
import { CallerRangeError, CallerTypeError } from "../caller_error.ts";

/**
 * Reads a pssh-format host file: one `[user@]host[:port] [user]` per line, `#` starting a comment,
 * blank lines ignored. A user in the second field applies when the first field names none.
 * The first field may be a comma-separated list, and host ranges (`web[01-20]`, see
 * {@linkcode expandHosts}) expand in place.
 *
 * @param path The file to read.
 * @param options `groups`: the groups `@name` and set operations in a line's first field read
 * (see `readGroups`).
 * @returns The hosts in file order, ready to pass to {@linkcode call}.
 * @throws {TypeError} For a malformed line or range, with the file name and line number.
 * @throws {Error} When the file cannot be read, naming the file (and the permission to grant).
 *
 * @example Reading a host file
 * ```ts
 * import { readHostFile } from "@parallax/parallax";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "# web tier\nweb1\nadmin@web2:2222\nweb3 deploy\n");
 * const hosts = await readHostFile(path);
 * console.log(hosts.map((h) => h.key)); // ["web1", "admin@web2:2222", "deploy@web3"]
 * await Deno.remove(path);
 * ```
 */
export async function readHostFile(
  path: string | URL,
  options?: { groups?: Groups },
): Promise<Host[]> {
  return parseHostFileText(await readHostFileText(path), String(path), options ?? {});
}

/**
 * The text of a host file.
 *
 * @throws {Error} When the file cannot be read, naming the file (and the permission to grant).
 */
export async function readHostFileText(path: string | URL): Promise<string> {
  // Queried, never prompted for.
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new Deno.errors.NotCapable(
      `Cannot read host file '${path}': read access is not granted; run with --allow-read=${path}`,
    );
  }
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotCapable
      ? `read access is not granted; run with --allow-read=${path}`
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(`Cannot read host file '${path}': ${reason}`, { cause: error });
  }
}

/**
 * Parses the text of a pssh-format host file; `name` appears in error messages. With
 * `duplicates: "keep"`, a host listed twice is returned twice instead of refused; with `groups`,
 * `@name` and set operations may be used in the first field.
 *
 * @throws {TypeError} For a malformed line or a host listed twice.
 */
export function parseHostFileText(
  text: string,
  name: string,
  options: { duplicates?: "refuse" | "keep"; groups?: Groups } = {},
): Host[] {
  const hosts: Host[] = [];
  const lines = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const where = `${name}:${index + 1}`;
    const fields = line.replace(/\s*,\s*/g, ",").split(/\s+/);
    if (fields.length > 2) {
      throw new CallerTypeError(`${where}: expected '[user@]host[:port] [user]', got '${line}'`);
    }
    let expanded: Host[];
    try {
      expanded = expandHosts(fields[0], options.groups).map((entry) => {
        const host = parseHostEntry(entry);
        return fields.length === 2 && host.user === undefined
          ? parseHostEntry({ host: host.host, port: host.port, user: fields[1] })
          : host;
      });
    } catch (error) {
      const Class = error instanceof RangeError ? CallerRangeError : CallerTypeError;
      throw new Class(`${where}: ${(error as Error).message}`);
    }
    for (const host of expanded) {
      const previous = lines.get(host.key);
      if (previous !== undefined && options.duplicates !== "keep") {
        throw new CallerTypeError(
          `${where}: host '${host.key}' is already listed on line ${previous}`,
        );
      }
      lines.set(host.key, index + 1);
      hosts.push(host);
    }
  });
  return hosts;
}
