/**
 * The CLI's flags and help texts.
 *
 * @module
 */

import type { FlagSpec } from "./args.ts";

/** The three commands. */
export type Command = "call" | "copy" | "slurp";

/** Every flag, in help order. */
export const FLAGS: readonly FlagSpec[] = [
  { long: "hosts", short: "h", value: true, repeat: true },
  { long: "host", short: "H", value: true, repeat: true },
  { long: "user", short: "l", value: true },
  { long: "par", short: "p", value: true },
  { long: "timeout", short: "t", value: true },
  { long: "connect-timeout", value: true },
  { long: "outdir", short: "o", value: true },
  { long: "errdir", short: "e", value: true },
  { long: "extra-args", short: "x", value: true, repeat: true },
  { long: "extra-arg", short: "X", value: true, repeat: true },
  { long: "option", short: "O", value: true, repeat: true },
  { long: "inline", short: "i", value: false },
  { long: "inline-stdout", value: false },
  { long: "send-input", short: "I", value: false },
  { long: "print", short: "P", value: false },
  { long: "verbose", short: "v", value: false },
  { long: "quiet", short: "q", value: false },
  { long: "recursive", short: "r", value: false },
  { long: "localdir", short: "L", value: true },
  { long: "preserve", value: false },
  { long: "compress", value: false },
  { long: "bwlimit", value: true },
  { long: "reuse", value: false },
  { long: "askpass", short: "A", value: false },
  { long: "json", value: false },
  { long: "gather", value: false },
  { long: "help", value: false },
  { long: "version", value: false },
];

/** Flags that only some commands take. */
export const COMMAND_ONLY: Readonly<Record<string, readonly Command[]>> = {
  "inline": ["call"],
  "inline-stdout": ["call"],
  "send-input": ["call"],
  "print": ["call"],
  "recursive": ["copy", "slurp"],
  "preserve": ["copy", "slurp"],
  "compress": ["copy", "slurp"],
  "bwlimit": ["copy", "slurp"],
  "localdir": ["slurp"],
};

const COMMON = `Hosts:
  -h, --hosts FILE        host file: [user@]host[:port] [user] per line (repeatable)
  -H, --host "HOSTS"      hosts, whitespace-separated, ranges allowed: web[01-20] (repeatable)
                          (default: the host file named by PARALLAX_HOSTS)
Connection:
  -l, --user USER         login user for hosts that name none (PARALLAX_USER)
  -p, --par N             at most N at once (PARALLAX_PAR; default 32)
  -t, --timeout SECONDS   per-host timeout, 0 for none (default 60)
      --connect-timeout S ssh ConnectTimeout (default 10)
  -x, --extra-args ARGS   extra ssh arguments, split like a shell would (repeatable)
  -X, --extra-arg ARG     one extra ssh argument (repeatable)
  -O, --option OPT        ssh option, as ssh -o OPT (repeatable; PARALLAX_OPTIONS)
      --reuse             run through OpenSSH ControlMasters, closed before exit
  -A, --askpass           ask for a password once (from the terminal, or stdin's first line)
                          and use it for every host that asks for one
Output:
  -o, --outdir DIR        one stdout file per host in DIR (PARALLAX_OUTDIR)
  -e, --errdir DIR        one stderr file per host in DIR
      --json              one JSON object per host per line, as each host finishes
      --gather            print each distinct output once under its hosts (like clush -b)
  -v, --verbose           one diagnostic line per host on stderr (PARALLAX_VERBOSE)
  -q, --quiet             ssh prints errors only
      --help              this help
      --version           the version`;

const TEXTS: Record<Command | "main", string> = {
  main: `Usage: parallax <call|copy|slurp> [flags] ...

  parallax call  [flags] COMMAND...      run COMMAND on every host
  parallax copy  [flags] SRC... DST      copy local files to DST on every host
  parallax slurp [flags] SRC DST         copy remote SRC to LOCALDIR/<host>/DST

Run 'parallax <command> --help' for the flags of one command.

Exit status: 0 all succeeded, 1 miscellaneous error, 2 usage error, 3 a host was killed, timed
out or interrupted, 4 an ssh (or scp) error on some host, 5 a remote command exited nonzero.`,
  call: `Usage: parallax call [flags] COMMAND...

Runs COMMAND on every host over ssh.

  -i, --inline            print each host's stdout and stderr under its status line
      --inline-stdout     print each host's stdout only under its status line
  -I, --send-input        read stdin once and send it to every host
  -P, --print             print output as it arrives, as "host: line"
${COMMON}`,
  copy: `Usage: parallax copy [flags] SRC... DST

Copies local files (and folders with -r) to DST on every host, with scp in SFTP mode.

  -r, --recursive         copy folders
      --preserve          keep modification times and modes
      --compress          compress (slower on fast links)
      --bwlimit KBITS     bandwidth limit per host, Kbit/s
${COMMON}`,
  slurp: `Usage: parallax slurp [flags] SRC DST

Copies remote SRC from every host to LOCALDIR/<host>/DST (DST must be relative).

  -L, --localdir DIR      where the host folders go (default: the current folder)
  -r, --recursive         copy folders
      --preserve          keep modification times and modes
      --compress          compress (slower on fast links)
      --bwlimit KBITS     bandwidth limit per host, Kbit/s
${COMMON}`,
};

/** The help text of a command, or of the CLI. */
export function helpText(command: Command | "main"): string {
  return TEXTS[command];
}
