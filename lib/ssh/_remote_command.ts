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

/**
 * The remote stop: SIGTERM to the login shell's process group, SIGKILL two seconds later. The
 * watcher ignores SIGTERM itself, so that it lives to send the SIGKILL.
 */
const STOP_GROUP = "kill -0 $$ && { trap '' TERM; kill -TERM -$$; sleep 2; kill -KILL -$$; }";

/**
 * The command line sent to the host, which runs `command` with `inputBytes` bytes of stdin (the
 * rest of stdin is the lifeline) and exits with its status. Without input, the command runs in
 * the login shell itself and the watcher is one background subshell that reads with a builtin:
 * one extra process on the host.
 */
export function withLifeline(command: string, inputBytes: number): string {
  const watcher = `{ while read -r _; do :; done; ${STOP_GROUP}; } <&3 >/dev/null 2>&1 &`;
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
