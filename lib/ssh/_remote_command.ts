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
 * The watcher reads stdin only after the input, which a command that does not read it can hold
 * up for as long as it runs. Until the input is through, a guard looks once a second for the ssh
 * session's process (the login shell's parent): sshd ends it when the connection goes (a stop,
 * a dead ssh), and the guard then stops the group the same way. (A controller killed outright
 * while such a command holds up its input leaves its ssh waiting for the command to end: its
 * ssh's stdin ends, but that end waits behind the input.)
 *
 * Needs a POSIX shell as the login shell (sh, bash, dash, zsh, ksh), and `head -c` and `ps -p`
 * with input, which every current Linux, BSD, macOS and BusyBox has.
 *
 * @module
 */

import { SUDO_GROUP, SUDO_SESSION, type SudoRequest, withSudo } from "./_sudo.ts";

/**
 * The remote stop, if the command still runs: SIGTERM to the process group `group`, SIGKILL two
 * seconds later (after `beforeKill`, a command ending in `;`). The watcher ignores SIGTERM itself,
 * so that it lives to send the SIGKILL.
 */
function stopGroup(group: string, beforeKill = ""): string {
  return `kill -0 $$ && { trap '' TERM; kill -TERM -${group}; sleep 2; ${beforeKill}kill -KILL -${group}; }`;
}

/**
 * The command line sent to the host, which runs `command` with `inputBytes` bytes of stdin (the
 * rest of stdin is the lifeline) and exits with its status. Without input, the command runs in
 * the login shell itself and the watcher is one background subshell, orphaned at once, that
 * reads with a builtin: one extra process on the host. With input, `head -c` passes it on while the guard watches the
 * session (a `sleep 1` a second, only until the input is through).
 *
 * @param group The process group to stop, as a shell word: the login shell's (`$$`), or the one
 * a wrapper passes in (see `_sudo.ts`).
 * @param session The ssh session's process, as a shell word: the login shell's parent
 * (`$PPID`), or the one a wrapper passes in.
 */
export function withLifeline(
  command: string,
  inputBytes: number,
  group = "$$",
  session = "$PPID",
): string {
  const watcher = `{ while read -r _; do :; done; ${stopGroup(group)}; } <&3 >/dev/null 2>&1 &`;
  // Everything before the command is on its first line, so that the shell numbers the command's
  // lines as the caller wrote them (`sh: 1: nosuchcmd: not found`, as with plain ssh), and the
  // command ends the script as written (its syntax errors read as with plain ssh). The watcher
  // is started from a subshell that ends at once: it is no job of the command's shell, so that
  // `wait`, `$!` and `jobs` there see only the command's own.
  if (inputBytes === 0) return `exec 3<&0; (${watcher}); exec </dev/null 3<&-; ${command}`;
  // A process another user owns answers `kill -0` with a refusal: `ps` tells it from a gone one.
  const sessionLives = `{ kill -0 ${session} || ps -p ${session}; } >/dev/null 2>&1`;
  const guard = `{ while kill -0 $h; do ${sessionLives} || { ${
    stopGroup(group)
  }; exit; }; sleep 1; done; } </dev/null >/dev/null 2>&1 &`;
  return `exec 3<&0; { head -c ${inputBytes} <&3 & h=$!; ${guard} wait $h; exec >&-; ${watcher} } | ( ${command}\n) 3<&-`;
}

/**
 * `command` with the whole of stdin (not only an input of known length) and the same lifeline:
 * stdin reaches the command through a private FIFO, fed by a background reader; when stdin ends
 * and the command still runs, its process group is stopped (SIGTERM, then SIGKILL two seconds
 * later). For a program that reads its own control stream on stdin (parallax on a gateway) and
 * must still be stopped if it never gets to reading it (a start that hangs). The FIFO's private
 * folder (`mktemp -d`, 0700) is given to the command as its last argument, for what it must not
 * leave behind (a relay's staged files): the folder is removed once stdin has ended and the
 * command is stopped, however the controller ended (SIGKILL included). Needs `mktemp -d` and
 * `mkfifo`.
 */
export function withStdinLifeline(command: string): string {
  return [
    "exec 3<&0",
    'd=$(mktemp -d) && mkfifo "$d/in" || exit 125',
    // The FIFO opens once both ends do; it is unlinked then.
    // The folder goes before the SIGKILL, which ends this reader too (it is of the group).
    `{ rm -f "$d/in"; cat <&3; ${
      stopGroup("$$", 'rm -rf "$d"; ')
    }; rm -rf "$d"; } >"$d/in" 2>/dev/null &`,
    `exec ${command} "$d" <"$d/in" 3<&-`,
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
  return withSudo(
    stopRemote ? withLifeline(command, inputBytes, SUDO_GROUP, SUDO_SESSION) : command,
    sudo,
  );
}
