/**
 * The remote side of a call's lifetime: the caller's command wrapped so that it stops when its
 * controller goes away.
 *
 * ssh's stdin is a lifeline. parallax writes the input (if any) and then holds stdin open until
 * the host's job ends. On the host, a watcher passes exactly the input's bytes to the command,
 * then waits for the end of stdin. That end comes when parallax stops the job (timeout, cancel,
 * Ctrl-C), when its ssh dies, and when the controller itself dies (SIGKILL, OOM, power): the
 * kernel closes the pipe, ssh sends EOF, sshd closes the session. If the command is still running
 * then, the watcher stops its process group (sshd makes the login shell a session leader, so
 * `$$` is the group): SIGTERM, then SIGKILL two seconds later. If the command has finished, the
 * watcher does nothing (background processes the command started are left alone, as with plain
 * ssh).
 *
 * Needs a POSIX shell as the login shell (sh, bash, dash, zsh, ksh) and `head -c`, which every
 * current Linux, BSD, macOS and BusyBox has.
 *
 * @module
 */

import { SUDO_GROUP, type SudoRequest, withSudo } from "./_sudo.ts";

/**
 * The remote stop, if the command still runs: SIGTERM to the process group `group`, SIGKILL two
 * seconds later. The watcher ignores SIGTERM itself, so that it lives to send the SIGKILL.
 */
function stopGroup(group: string): string {
  return `kill -0 $$ && { trap '' TERM; kill -TERM -${group}; sleep 2; kill -KILL -${group}; }`;
}

/**
 * The command line sent to the host, which runs `command` with `inputBytes` bytes of stdin (the
 * rest of stdin is the lifeline) and exits with its status. Without input, the command runs in
 * the login shell itself and the watcher is one background subshell that reads with a builtin:
 * one extra process on the host.
 *
 * @param group The process group to stop, as a shell word: the login shell's (`$$`), or the one
 * a wrapper passes in (see `_sudo.ts`).
 */
export function withLifeline(command: string, inputBytes: number, group = "$$"): string {
  const watcher = `{ while read -r _; do :; done; ${stopGroup(group)}; } <&3 >/dev/null 2>&1 &`;
  if (inputBytes === 0) {
    return ["exec 3<&0", watcher, "{", command, "} </dev/null 3<&-"].join("\n");
  }
  return [
    "exec 3<&0",
    `{ head -c ${inputBytes}; exec >&-; ${watcher} } <&3 | (`,
    command,
    ") 3<&-",
  ].join("\n");
}

/**
 * `command` with the whole of stdin (not only an input of known length) and the same lifeline:
 * stdin reaches the command through a private FIFO, fed by a background reader; when stdin ends
 * and the command still runs, its process group is stopped (SIGTERM, then SIGKILL two seconds
 * later). For a program that reads its own control stream on stdin (parallax on a gateway) and
 * must still be stopped if it never gets to reading it (a start that hangs). Needs `mktemp -d`
 * and `mkfifo`.
 */
export function withStdinLifeline(command: string): string {
  return [
    "exec 3<&0",
    'd=$(mktemp -d) && mkfifo "$d/in" || exit 125',
    // The FIFO opens once both ends do; it is unlinked then, so nothing is left behind.
    `{ rm -rf "$d"; cat <&3; ${stopGroup("$$")}; } >"$d/in" 2>/dev/null &`,
    `exec ${command} <"$d/in" 3<&-`,
  ].join("\n");
}

/**
 * The command line a call sends: `command` as given, with the lifeline when `stopRemote`, run
 * through sudo when `sudo` is given.
 */
export function remoteCommandLine(
  command: string,
  inputBytes: number,
  stopRemote: boolean,
  sudo: SudoRequest | null,
): string {
  if (sudo === null) return stopRemote ? withLifeline(command, inputBytes) : command;
  return withSudo(stopRemote ? withLifeline(command, inputBytes, SUDO_GROUP) : command, sudo);
}
