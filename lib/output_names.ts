/**
 * File and folder names derived from host keys, safe inside one folder.
 *
 * @module
 */

/** Longest name kept from a host key, in UTF-16 units (well under NAME_MAX with suffixes). */
const MAX_NAME = 200;

/**
 * One name per key, in order: `/`, `\`, NUL and other control characters become `_`, a leading
 * `.` gets a `_` before it (so neither `.`, `..` nor a hidden file can result), and long keys are
 * cut. Two keys that map to one name (ignoring case, for case-insensitive file systems) get
 * `name`, `name.1`, `name.2`, … so no two share a file.
 *
 * @example
 * ```ts ignore
 * safeNames(["web1", "../x", "a/b", "a_b"]); // ["web1", "_.._x", "a_b", "a_b.1"]
 * ```
 */
export function safeNames(keys: readonly string[]): string[] {
  const used = new Set<string>();
  return keys.map((key) => {
    // deno-lint-ignore no-control-regex
    let name = key.replace(/[/\\\u0000-\u001f\u007f]/g, "_").slice(0, MAX_NAME);
    if (name === "" || name.startsWith(".")) name = `_${name}`;
    let candidate = name;
    for (let n = 1; used.has(candidate.toLowerCase()); n++) candidate = `${name}.${n}`;
    used.add(candidate.toLowerCase());
    return candidate;
  });
}
