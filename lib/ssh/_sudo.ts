/**
 * The remote side of `sudo`: the caller's command run as another user through sudo, with the
 * password given on stdin (never in an argv, an environment or a file), and a refusal told apart
 * from the command's own failure.
 *
 * How the password travels: parallax writes it twice, one line each, before the call's input.
 * The login shell reads the first line itself (a builtin, so into no process's argv) and first
 * asks sudo whether a password is needed at all (`sudo -n`). If not, it drops the second line and
 * runs the command. If so, it checks the password with sudo on a pipe that holds that one line
 * (so a wrong password fails at once, never waits for another try), and then runs the command
 * with `sudo -S -k`, which reads exactly the second line from stdin and leaves the rest (the
 * input, then the lifeline) to the command. Each refusal prints a marker line that no command
 * can predict and exits: the host's error is then kind `auth`.
 *
 * The command runs as `sh -c` under sudo (so sudo must allow the user to run `sh`), with the
 * login shell's process group as `$1`, so that the lifeline watcher (see `_remote_command.ts`),
 * running as the sudo user, stops the command's whole group; `PARALLAX_HOST` and
 * `PARALLAX_NODENUM`, which sudo's clean environment drops, are set again.
 *
 * @module
 */

import { shellQuote } from "../runtime/_shell_quote.ts";

/** Who the command runs as, and how sudo gets its password. */
export interface SudoRequest {
  /** The user to run as (`root` for `sudo: true`). */
  readonly user: string;
  /** The password, or undefined when sudo must need none. */
  readonly password?: string;
  /** The marker a refusal is printed with; different for every call. */
  readonly marker: string;
}

/** The process group the lifeline watcher stops, seen from the command under sudo. */
export const SUDO_GROUP = "$1";

/** The ssh session's process (the login shell's parent), seen from the command under sudo. */
export const SUDO_SESSION = "$4";

/** A new marker for a call's refusals. */
export function sudoMarker(): string {
  return `parallax-sudo-refused-${crypto.randomUUID()}:`;
}

/**
 * The command line for the host: `inner` (a shell script that reads the group to stop as `$1`
 * and the ssh session's process as `$4`) run through sudo as `request.user`.
 */
export function withSudo(inner: string, request: SudoRequest): string {
  const target = `-H -u ${shellQuote(request.user)} --`;
  // sudo resets the environment: the host's name and number travel as arguments.
  // On the first line with `inner`, so that the command's lines keep their numbers.
  const script = `[ -n "$2" ] && export PARALLAX_HOST="$2"; ` +
    `[ -n "$3" ] && export PARALLAX_NODENUM="$3"; ${inner}`;
  const run = (flags: string) =>
    `exec sudo ${flags} ${target} sh -c ${
      shellQuote(script)
    } sh "$$" "\${PARALLAX_HOST-}" "\${PARALLAX_NODENUM-}" "$PPID"`;
  const needsNoPassword = `e=$(sudo -n ${target} sh -c : 2>&1 </dev/null)`;
  const refuse = `printf '%s %s\\n' ${shellQuote(request.marker)} "$e" >&2; exit 1`;
  if (request.password === undefined) {
    return [`if ${needsNoPassword}; then ${run("-n")}; fi`, refuse].join("\n");
  }
  const passwordWorks = `e=$(printf '%s\\n' "$p" | sudo -S -k -p '' ${target} sh -c : 2>&1)`;
  return [
    "IFS= read -r p",
    `if ${needsNoPassword}; then IFS= read -r p; ${run("-n")}; fi`,
    `if ${passwordWorks}; then ${run("-S -k -p ''")}; fi`,
    refuse,
  ].join("\n");
}

/** The bytes sudo's password takes at the start of stdin (see the module's description). */
export function sudoInputPrefix(request: SudoRequest): Uint8Array {
  return request.password === undefined
    ? new Uint8Array()
    : new TextEncoder().encode(`${request.password}\n${request.password}\n`);
}

/** What sudo said when it refused: the error's reason, and sudo's own lines. */
export interface SudoRefusal {
  readonly reason: string;
  readonly said: string;
}

/** Lines sudo prints on the way to its verdict, which say nothing the verdict does not. */
const NOISE = /^(?:Sorry, try again\.|sudo: no password was provided)$/;

/** sudo's refusal in a host's stderr, or null when sudo ran the command. */
export function sudoRefusal(stderr: string, request: SudoRequest): SudoRefusal | null {
  // The refusal is the last the host printed: the command never ran.
  const at = stderr.lastIndexOf(request.marker);
  if (at === -1 || (at > 0 && stderr[at - 1] !== "\n")) return null;
  const lines = stderr.slice(at + request.marker.length).split("\n").map((line) => line.trim())
    .filter((line) => line !== "");
  const verdict = lines.filter((line) => !NOISE.test(line));
  const hint = request.password === undefined && lines.some((l) => /password is required/.test(l))
    ? " (sudo wants a password, or this user may not use sudo at all: give sudoPassword; " +
      "CLI: --sudo-ask)"
    : "";
  return {
    reason: `sudo refused to run the command as ${request.user}: ${
      (verdict.length > 0 ? verdict : lines).join("; ") || "no reason given"
    }${hint}`,
    said: lines.length > 0 ? `${lines.join("\n")}\n` : "",
  };
}
