/**
 * Permission checks, always by query: parallax never leaves a script waiting on Deno's
 * interactive prompt.
 *
 * @module
 */

/** Whether the environment variable may be read without prompting. */
export function canReadEnv(variable: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable }).state === "granted";
}

/**
 * Why `program` cannot be run, or null when it can: names the flag that grants it.
 */
export function missingRunPermission(program: string): string | null {
  const { state } = Deno.permissions.querySync({ name: "run", command: program });
  if (state === "granted") return null;
  return `run access to "${program}" is not granted; run with --allow-run=${program}`;
}

/** Why `path` cannot be written, or null when it can: names the flag that grants it. */
export function missingWritePermission(path: string): string | null {
  const { state } = Deno.permissions.querySync({ name: "write", path });
  if (state === "granted") return null;
  return `write access to "${path}" is not granted; run with --allow-write=${path}`;
}

/** Why the file at `url` cannot be read, or null when it can: names the flag that grants it. */
export function missingReadPermission(url: URL, grant: string): string | null {
  if (url.protocol !== "file:" || Deno.build.standalone) return null;
  const { state } = Deno.permissions.querySync({ name: "read", path: url });
  if (state === "granted") return null;
  return `read access to "${url.pathname}" is not granted; run with --allow-read=${grant}`;
}
