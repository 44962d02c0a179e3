/**
 * A lifeline for scp, which has no remote command to watch: scp runs its ssh through a small
 * script shipped with parallax (`_scp_ssh.sh`, given to `scp -S`) that starts ssh in its place
 * and watches this process beside it. When this process is gone (SIGKILL, OOM), the watcher
 * stops the job's process group (scp and its ssh run in a session of their own); when ssh ends
 * first, the watcher ends within a second. The script is parallax's own file, never one in a
 * folder another user could re-create: where parallax is not a local checkout (a compiled
 * binary, a remote import), or the file is writable by others, there is no lifeline.
 *
 * @module
 */

import { missingReadPermission } from "../runtime/_permissions.ts";

const SCRIPT = new URL("./_scp_ssh.sh", import.meta.url);

/**
 * The script's path, when it may be used: a local file of parallax's, executable, a regular
 * file (not a link), not writable by all. Null otherwise.
 */
export function scpLifelineScript(): string | null {
  if (SCRIPT.protocol !== "file:" || Deno.build.standalone) return null;
  const path = decodeURIComponent(SCRIPT.pathname);
  if (missingReadPermission(path) !== null) return null;
  try {
    const info = Deno.lstatSync(path);
    const mode = info.mode ?? 0;
    // Whoever may change parallax's own modules may change this script too; but one that all
    // may write is not run.
    if (!info.isFile || info.isSymlink || (mode & 0o002) !== 0 || (mode & 0o100) === 0) {
      return null;
    }
  } catch {
    return null;
  }
  return path;
}

/** The variables the script reads: this process (the controller) and the ssh to run. */
export function scpLifelineEnv(sshPath: string): Record<string, string> {
  return { PARALLAX_CONTROLLER: String(Deno.pid), PARALLAX_SSH: sshPath };
}

/**
 * `argv` (an scp command line) with its ssh run through the script at `path`: `-S path` just
 * before the `--` that ends scp's options.
 */
export function withScpLifeline(argv: readonly string[], path: string): string[] {
  const end = argv.indexOf("--");
  const at = end === -1 ? 1 : end;
  return [...argv.slice(0, at), "-S", path, ...argv.slice(at)];
}
