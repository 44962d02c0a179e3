/**
 * A lifeline for scp, which has no remote command to watch: scp runs its ssh through a small
 * script (`scp -S`) that starts ssh in its place and watches this process beside it. When this
 * process is gone (SIGKILL, OOM), the watcher stops the job's process group (scp and its ssh run
 * in a session of their own); when ssh ends first, the watcher ends within a second. The script lives in the run's private folder; scp
 * starts it, so it needs no run permission of its own.
 *
 * @module
 */

import { shellQuote } from "../runtime/_shell_quote.ts";

/** The script's text: ssh in its place, and a watcher of `controllerPid` beside it. */
export function scpSshScript(sshPath: string, controllerPid: number): string {
  const watcher = [
    `while kill -0 ${controllerPid} && kill -0 $$; do sleep 1; done`,
    // ssh still runs, so this process is gone: the job's whole process group (scp, which may
    // sleep in its bandwidth limit, its ssh and this watcher) is stopped.
    "kill -0 $$ && kill -TERM 0",
  ].join("; ");
  return [
    "#!/bin/sh",
    `( ${watcher} ) </dev/null >/dev/null 2>&1 &`,
    `exec ${shellQuote(sshPath)} "$@"`,
    "",
  ].join("\n");
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
