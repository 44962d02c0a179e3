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

/**
 * Why `path` cannot be read, or null when it can: names the flag that grants it (`grant`, or the
 * path itself). Files of a `deno compile` binary and remote modules need no read access.
 */
export function missingReadPermission(path: string | URL, grant?: string): string | null {
  if (path instanceof URL && (path.protocol !== "file:" || Deno.build.standalone)) return null;
  const { state } = Deno.permissions.querySync({ name: "read", path });
  if (state === "granted") return null;
  const shown = path instanceof URL ? path.pathname : path;
  return `read access to "${shown}" is not granted; run with --allow-read=${grant ?? shown}`;
}
