/**
 * Every flag of the CLI, declared once: its names, the commands it applies to, its help line and
 * what it does to the run (`apply`). The help texts are made from this table.
 *
 * @module
 */

import { type FlagSpec, shellWords, UsageError } from "./_args.ts";

/**
 * The commands: four that run on hosts, `hosts` that prints a host list, and `persist` for the
 * kept connections.
 */
export type Command = "call" | "copy" | "slurp" | "sync" | "hosts" | "persist";

/** What the flags of one command line ask for. */
export interface CliRun {
  hostFiles: string[];
  hostLists: string[];
  exclude: string[];
  /** `--groups FILE`: where `@name` is looked up. */
  groupsFile?: string;
  /** `-a`: every host of every group. */
  allGroups: boolean;
  /** `sync`: rsync's `--delete`, `--checksum`, `--exclude` patterns and `--dry-run`. */
  delete: boolean;
  checksum: boolean;
  excludeFiles: string[];
  dryRun: boolean;
  /** `parallax hosts`: how the list is printed. */
  show: "lines" | "fold" | "count" | { split: number };
  user?: string;
  limit?: number;
  timeout?: number;
  connectTimeout?: number;
  outdir?: string;
  errdir?: string;
  sshExtra: string[];
  sshOptions?: string[];
  inline: "none" | "stdout" | "both";
  sendInput: boolean;
  print: boolean;
  verbose: boolean;
  quiet: boolean;
  recursive: boolean;
  localdir?: string;
  preserve: boolean;
  compress: boolean;
  /** `copy --skip-links`: leave symbolic links out. */
  skipLinks: boolean;
  bandwidthLimit?: number;
  reuse: boolean;
  batch?: (number | string)[];
  batchPause?: number;
  maxFailures?: number | string;
  retries?: number;
  /** `--env NAME=VALUE`: variables for the remote command. */
  env: Record<string, string>;
  /** `--cwd DIR`: the remote working folder. */
  cwd?: string;
  /** `--sudo`: true for root, or the user to run as. */
  sudo?: true | string;
  sudoAsk: boolean;
  /** Where `--failed-hosts` writes the hosts that failed or were skipped. */
  failedHosts?: string;
  /** `--gateways`: the file that says which gateway serves which hosts. */
  gatewaysFile?: string;
  gatewayCommand?: string[];
  gatewayLimit?: number;
  /** `--leaf-ssh-args`: ssh arguments for the gateways' own connections to their hosts. */
  leafSshExtra: string[];
  /** Seconds to keep connections after the run (`--persist`), or undefined. */
  persist?: number;
  stop: boolean;
  askpass: boolean;
  output: "status" | "json" | "gather";
  help: boolean;
  version: boolean;
}

/** A fresh run: nothing asked for yet. */
export function emptyRun(): CliRun {
  return {
    hostFiles: [],
    hostLists: [],
    exclude: [],
    allGroups: false,
    show: "lines",
    delete: false,
    checksum: false,
    excludeFiles: [],
    dryRun: false,
    leafSshExtra: [],
    env: {},
    sshExtra: [],
    inline: "none",
    sendInput: false,
    print: false,
    verbose: false,
    quiet: false,
    recursive: false,
    preserve: false,
    compress: false,
    skipLinks: false,
    reuse: false,
    stop: false,
    askpass: false,
    sudoAsk: false,
    output: "status",
    help: false,
    version: false,
  };
}

/** One flag: how it is written, where it applies, its help, and what it does. */
export interface Flag extends FlagSpec {
  /** The commands that take it; empty for the global flags (`--help`, `--version`). */
  readonly commands: readonly Command[];
  /** The value's name in the help (`FILE`, `N`), for flags that take one. */
  readonly meta?: string;
  readonly help: string;
  /** The help section. */
  readonly group:
    | "Hosts"
    | "Connection"
    | "Gateways"
    | "Rolling"
    | "Output"
    | "Command"
    | "General";
  /** Applies one occurrence (`true` for a switch). */
  apply(run: CliRun, value: string | true): void;
}

const ALL: readonly Command[] = ["call", "copy", "slurp", "sync"];
/** Flags that choose hosts: the commands that run on hosts, and `hosts`. */
const CHOOSING: readonly Command[] = [...ALL, "hosts"];
/** Where `--exclude` leaves hosts out (sync's `--exclude` is rsync's: `--exclude-hosts` there). */
const EXCLUDING: readonly Command[] = CHOOSING.filter((c) => c !== "sync");
/** Flags `persist --stop` takes as well: how to reach the gateways whose kept connections end. */
const WITH_PERSIST: readonly Command[] = [...ALL, "persist"];

/** Seconds `--persist` keeps connections when it names none. */
export const DEFAULT_PERSIST_SECONDS = 60;
const TRANSFER: readonly Command[] = ["copy", "slurp"];
/** Transfer flags sync takes too. */
const ON_THE_WIRE: readonly Command[] = ["copy", "slurp", "sync"];

/** Every flag, in help order. */
export const FLAGS: readonly Flag[] = [
  {
    long: "hosts",
    short: "h",
    value: true,
    repeat: true,
    meta: "FILE",
    commands: CHOOSING,
    group: "Hosts",
    help: "host file: [user@]host[:port] [user] per line, lists, ranges and @groups allowed\n" +
      "(repeatable; default: the file named by PARALLAX_HOSTS)",
    apply: (run, v) => run.hostFiles.push(String(v)),
  },
  {
    long: "host",
    short: "H",
    value: true,
    repeat: true,
    meta: "HOSTS",
    commands: CHOOSING,
    group: "Hosts",
    help: "hosts separated by commas or spaces, ranges and @groups allowed, set operations\n" +
      "left to right: 'web[01-20],db1', '@web!web07', '@web&@rack1' (repeatable)",
    apply: (run, v) => run.hostLists.push(String(v)),
  },
  {
    long: "group",
    short: "g",
    value: true,
    repeat: true,
    meta: "NAMES",
    commands: CHOOSING,
    group: "Hosts",
    help: "the hosts of these groups, comma-separated: -g web is -H @web (repeatable)",
    apply: (run, v) =>
      run.hostLists.push(
        String(v).split(",").map((name) => name.trim()).filter((name) => name !== "")
          .map((name) => name.startsWith("@") ? name : `@${name}`).join(","),
      ),
  },
  {
    long: "all",
    short: "a",
    value: false,
    commands: CHOOSING,
    group: "Hosts",
    help: "every host of every group",
    apply: (run) => run.allGroups = true,
  },
  {
    long: "exclude",
    value: true,
    repeat: true,
    meta: "HOSTS",
    commands: EXCLUDING,
    group: "Hosts",
    help: "leave these hosts out (same forms as -H; repeatable)",
    apply: (run, v) => run.exclude.push(String(v)),
  },
  {
    long: "exclude-hosts",
    value: true,
    repeat: true,
    meta: "HOSTS",
    commands: ["sync"],
    group: "Hosts",
    help: "leave these hosts out (as --exclude does for the others; sync's --exclude is\n" +
      "rsync's file patterns)",
    apply: (run, v) => run.exclude.push(String(v)),
  },
  {
    long: "exclude",
    value: true,
    repeat: true,
    meta: "PATTERN",
    commands: ["sync"],
    group: "Command",
    help: "leave out files that match the rsync PATTERN (repeatable)",
    apply: (run, v) => run.excludeFiles.push(String(v)),
  },
  {
    long: "delete",
    value: false,
    commands: ["sync"],
    group: "Command",
    help: "delete files on the hosts that the sources do not have",
    apply: (run) => run.delete = true,
  },
  {
    long: "checksum",
    value: false,
    commands: ["sync"],
    group: "Command",
    help: "compare files by checksum, not by size and time",
    apply: (run) => run.checksum = true,
  },
  {
    long: "dry-run",
    short: "n",
    value: false,
    commands: ["sync"],
    group: "Command",
    help: "change nothing: list under each host what would change",
    apply: (run) => run.dryRun = true,
  },
  {
    long: "groups",
    value: true,
    meta: "FILE",
    commands: CHOOSING,
    group: "Hosts",
    help: "groups file: lines 'name: hosts' (ranges, @other groups, set operations), # comments\n" +
      "(default: PARALLAX_GROUPS, else ~/.config/parallax/groups)",
    apply: (run, v) => run.groupsFile = String(v),
  },
  {
    long: "fold",
    value: false,
    commands: ["hosts"],
    group: "Command",
    help: "print the hosts folded on one line: web[01-04,07],db1 (with --split: each part)",
    apply: (run) => run.show = typeof run.show === "object" ? run.show : shown(run, "fold"),
  },
  {
    long: "count",
    value: false,
    commands: ["hosts"],
    group: "Command",
    help: "print how many hosts",
    apply: (run) => run.show = shown(run, "count"),
  },
  {
    long: "split",
    value: true,
    meta: "N",
    commands: ["hosts"],
    group: "Command",
    help: "print the hosts in N parts of balanced sizes, one folded part per line",
    apply: (run, v) =>
      run.show = shown(run, { split: integer("split", String(v), 1) }, run.show === "fold"),
  },
  {
    long: "user",
    short: "l",
    value: true,
    meta: "USER",
    commands: ALL,
    group: "Connection",
    help: "login user for hosts that name none (default: PARALLAX_USER, else ssh's)",
    apply: (run, v) => run.user = String(v),
  },
  {
    long: "par",
    short: "p",
    value: true,
    meta: "N",
    commands: ALL,
    group: "Connection",
    help: "at most N hosts at once (default: PARALLAX_PAR, else 32)",
    apply: (run, v) => run.limit = integer("par", String(v), 1),
  },
  {
    long: "timeout",
    short: "t",
    value: true,
    meta: "SECONDS",
    commands: ALL,
    group: "Connection",
    help: "per-host timeout, 0 for none (default: 60 for call; none for copy, slurp, sync)",
    apply: (run, v) => run.timeout = seconds("timeout", String(v)),
  },
  {
    long: "connect-timeout",
    value: true,
    meta: "SECONDS",
    commands: ALL,
    group: "Connection",
    help: "ssh ConnectTimeout (default: ssh_config's, else 10)",
    apply: (run, v) => run.connectTimeout = integer("connect-timeout", String(v), 1),
  },
  {
    long: "extra-args",
    short: "x",
    value: true,
    repeat: true,
    meta: "ARGS",
    commands: WITH_PERSIST,
    group: "Connection",
    help: "extra ssh arguments, split as a shell would: -x '-F my_config' (repeatable)",
    apply: (run, v) => run.sshExtra.push(...shellWords(String(v))),
  },
  {
    long: "extra-arg",
    short: "X",
    value: true,
    repeat: true,
    meta: "ARG",
    commands: WITH_PERSIST,
    group: "Connection",
    help: "one extra ssh argument (repeatable)",
    apply: (run, v) => run.sshExtra.push(String(v)),
  },
  {
    long: "option",
    short: "O",
    value: true,
    repeat: true,
    meta: "OPT",
    commands: WITH_PERSIST,
    group: "Connection",
    help: "ssh option, as ssh -o OPT (repeatable; default: PARALLAX_OPTIONS)",
    apply: (run, v) => (run.sshOptions ??= []).push(String(v)),
  },
  {
    long: "gateways",
    value: true,
    meta: "FILE",
    commands: WITH_PERSIST,
    group: "Gateways",
    help: "reach hosts through gateways: lines 'GATEWAY: HOSTS' (see 'parallax --help')",
    apply: (run, v) => run.gatewaysFile = String(v),
  },
  {
    long: "gateway-command",
    value: true,
    meta: "CMD",
    commands: WITH_PERSIST,
    group: "Gateways",
    help: "what starts parallax on a gateway ('gateway' is appended)",
    apply: (run, v) => {
      run.gatewayCommand = shellWords(String(v));
      if (run.gatewayCommand.length === 0) {
        throw new UsageError(
          "--gateway-command needs a command, e.g. 'deno run -A /opt/parallax/cli.ts'",
        );
      }
    },
  },
  {
    long: "gateway-limit",
    value: true,
    meta: "N",
    commands: ALL,
    group: "Gateways",
    help: "at most N ssh processes at once on each gateway (default 32)",
    apply: (run, v) => run.gatewayLimit = integer("gateway-limit", String(v), 1),
  },
  {
    long: "leaf-ssh-args",
    value: true,
    repeat: true,
    meta: "ARGS",
    commands: ALL,
    group: "Gateways",
    help: "ssh arguments for the gateways' own connections to their hosts (repeatable)",
    apply: (run, v) => run.leafSshExtra.push(...shellWords(String(v))),
  },
  {
    long: "reuse",
    value: false,
    commands: ALL,
    group: "Connection",
    help: "run through OpenSSH ControlMasters, closed before exit",
    apply: (run) => run.reuse = true,
  },
  {
    long: "batch",
    value: true,
    meta: "SIZES",
    commands: ALL,
    group: "Rolling",
    help: "run the hosts in batches: N hosts, N% of them, or a list '1,5,20%' (the last repeats)",
    apply: (run, v) =>
      run.batch = String(v).split(",").map((size) =>
        /^\d+$/.test(size.trim()) ? Number(size) : size.trim()
      ),
  },
  {
    long: "batch-pause",
    value: true,
    meta: "SECONDS",
    commands: ALL,
    group: "Rolling",
    help: "wait between batches (default 0)",
    apply: (run, v) => run.batchPause = seconds("batch-pause", String(v)),
  },
  {
    long: "max-failures",
    value: true,
    meta: "N|N%",
    commands: ALL,
    group: "Rolling",
    help: "start no more hosts once more than N hosts failed in the run, or more than N% of a\n" +
      "batch; the rest are reported skipped",
    apply: (run, v) =>
      run.maxFailures = /^\d+$/.test(String(v).trim()) ? Number(v) : String(v).trim(),
  },
  {
    long: "retries",
    value: true,
    meta: "N",
    commands: ALL,
    group: "Rolling",
    help: "try a host up to N more times when it cannot connect (nothing ran there), after\n" +
      "1 s, 2 s, 4 s… (at most 30 s); never after any other failure (default 0)",
    apply: (run, v) => run.retries = integer("retries", String(v), 0),
  },
  {
    long: "persist",
    value: true,
    optionalValue: true,
    meta: "[=SECONDS]",
    commands: ALL,
    group: "Connection",
    help: "keep each host's connection SECONDS after the run (default 60; PARALLAX_PERSIST), so\n" +
      "the next parallax command to the same hosts starts at once; 'parallax persist --stop'\n" +
      "ends them",
    apply: (run, v) => run.persist = persistSeconds(String(v), "--persist"),
  },
  {
    long: "stop",
    value: false,
    commands: ["persist"],
    group: "Command",
    help: "end every kept connection of this user (one in use when its run ends); with\n" +
      "--gateways, on each gateway too",
    apply: (run) => run.stop = true,
  },
  {
    long: "askpass",
    short: "A",
    value: false,
    commands: ALL,
    group: "Connection",
    help: "ask for a password once (on the terminal without echo, else stdin's first line)\n" +
      "and use it for every host that asks for one",
    apply: (run) => run.askpass = true,
  },
  {
    long: "sudo",
    value: true,
    optionalValue: true,
    meta: "[=USER]",
    commands: ["call"],
    group: "Command",
    help: "run the command under sudo as USER (default root); sudo must need no password,\n" +
      "or give it with --sudo-ask; a host where sudo refuses fails with kind auth",
    apply: (run, v) => run.sudo = v === true || v === "" ? true : String(v),
  },
  {
    long: "env",
    value: true,
    repeat: true,
    meta: "NAME=VALUE",
    commands: ["call"],
    group: "Command",
    help: "set a variable for the remote command (repeatable; exported by the remote shell,\n" +
      "under --sudo too; the value shows in the host's process list: no secrets)",
    apply: (run, v) => {
      const text = String(v);
      const at = text.indexOf("=");
      if (at < 1) throw new UsageError(`--env needs NAME=VALUE, not '${text}'`);
      run.env[text.slice(0, at)] = text.slice(at + 1);
    },
  },
  {
    long: "cwd",
    value: true,
    meta: "DIR",
    commands: ["call"],
    group: "Command",
    help: "run the command in DIR on each host (a host without it fails, the command unrun)",
    apply: (run, v) => run.cwd = String(v),
  },
  {
    long: "sudo-ask",
    value: false,
    commands: ["call"],
    group: "Command",
    help: "ask sudo's password once (on the terminal without echo, else a line of stdin)\n" +
      "and give it to sudo on every host (implies --sudo)",
    apply: (run) => run.sudoAsk = true,
  },
  {
    long: "inline",
    short: "i",
    value: false,
    commands: ["call"],
    group: "Command",
    help: "print each host's stdout and stderr under its status line, bytes as received",
    apply: (run) => run.inline = "both",
  },
  {
    long: "inline-stdout",
    value: false,
    commands: ["call"],
    group: "Command",
    help: "print each host's stdout only under its status line",
    apply: (run) => run.inline = "stdout",
  },
  {
    long: "send-input",
    short: "I",
    value: false,
    commands: ["call"],
    group: "Command",
    help: "read stdin once and send it to every host; without COMMAND, stdin is a script\n" +
      "for each host's login shell",
    apply: (run) => run.sendInput = true,
  },
  {
    long: "print",
    short: "P",
    value: false,
    commands: ["call"],
    group: "Command",
    help: "print output as it arrives, as 'host: line'",
    apply: (run) => run.print = true,
  },
  {
    long: "recursive",
    short: "r",
    value: false,
    commands: TRANSFER,
    group: "Command",
    help: "copy folders",
    apply: (run) => run.recursive = true,
  },
  {
    long: "localdir",
    short: "L",
    value: true,
    meta: "DIR",
    commands: ["slurp"],
    group: "Command",
    help: "where the host folders go (default: the current folder)",
    apply: (run, v) => run.localdir = String(v),
  },
  {
    long: "preserve",
    value: false,
    commands: TRANSFER,
    group: "Command",
    help: "keep modification times and modes",
    apply: (run) => run.preserve = true,
  },
  {
    long: "skip-links",
    value: false,
    commands: ["copy"],
    group: "Command",
    help: "leave symbolic links out (by default a link to a file is sent as that file)",
    apply: (run) => run.skipLinks = true,
  },
  {
    long: "compress",
    value: false,
    commands: ON_THE_WIRE,
    group: "Command",
    help: "compress (slower on fast links)",
    apply: (run) => run.compress = true,
  },
  {
    long: "bwlimit",
    value: true,
    meta: "KBITS",
    commands: ON_THE_WIRE,
    group: "Command",
    help: "bandwidth limit per host, Kbit/s",
    apply: (run, v) => run.bandwidthLimit = integer("bwlimit", String(v), 1),
  },
  {
    long: "failed-hosts",
    value: true,
    meta: "FILE",
    commands: ALL,
    group: "Output",
    help: "write every host that failed, was interrupted or skipped to FILE, one per line, so\n" +
      "that 'parallax ... -h FILE' reruns exactly those (an empty FILE: none did)",
    apply: (run, v) => run.failedHosts = String(v),
  },
  {
    long: "outdir",
    short: "o",
    value: true,
    meta: "DIR",
    commands: ALL,
    group: "Output",
    help: "one stdout file per host in DIR (default: PARALLAX_OUTDIR)",
    apply: (run, v) => run.outdir = String(v),
  },
  {
    long: "errdir",
    short: "e",
    value: true,
    meta: "DIR",
    commands: ALL,
    group: "Output",
    help: "one stderr file per host in DIR",
    apply: (run, v) => run.errdir = String(v),
  },
  {
    long: "json",
    value: false,
    commands: ALL,
    group: "Output",
    help: "one JSON object per host per line, as each host finishes (not with -i, -P, --gather)",
    apply: (run) => run.output = run.output === "gather" ? conflict() : "json",
  },
  {
    long: "gather",
    value: false,
    commands: ALL,
    group: "Output",
    help: "print each distinct output once under its hosts, at the end (like clush -b)",
    apply: (run) => run.output = run.output === "json" ? conflict() : "gather",
  },
  {
    long: "verbose",
    short: "v",
    value: false,
    commands: ALL,
    group: "Output",
    help: "one diagnostic line per host on stderr (default: PARALLAX_VERBOSE)",
    apply: (run) => run.verbose = true,
  },
  {
    long: "quiet",
    short: "q",
    value: false,
    commands: ALL,
    group: "Output",
    help: "ssh prints errors only",
    apply: (run) => run.quiet = true,
  },
  {
    long: "help",
    value: false,
    commands: [],
    group: "General",
    help: "this help",
    apply: (run) => run.help = true,
  },
  {
    long: "version",
    value: false,
    commands: [],
    group: "General",
    help: "the version",
    apply: (run) => run.version = true,
  },
];

/** The flags `command` reads (its own, and the global ones). */
export function flagsFor(command: Command): Flag[] {
  return FLAGS.filter((flag) => flag.commands.length === 0 || flag.commands.includes(command));
}

/** One way of printing `parallax hosts`. */
function shown(run: CliRun, show: CliRun["show"], folded = false): CliRun["show"] {
  if (run.show !== "lines" && !folded) {
    throw new UsageError("give one of --fold, --count and --split");
  }
  return show;
}

function conflict(): never {
  throw new UsageError("--json and --gather cannot be used together");
}

/** Seconds from `--persist=S` or `PARALLAX_PERSIST` (empty: the default). */
export function persistSeconds(text: string, what: string): number {
  if (text === "") return DEFAULT_PERSIST_SECONDS;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 7 * 24 * 3600) {
    throw new UsageError(`invalid ${what} '${text}': expected seconds from 1 to 604800`);
  }
  return Number(text);
}

function seconds(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`invalid --${name} '${text}': expected seconds >= 0`);
  }
  return value;
}

function integer(name: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min) {
    throw new UsageError(`invalid --${name} '${text}': expected an integer >= ${min}`);
  }
  return Number(text);
}

const USAGE: Record<Command, string> = {
  call: "parallax call [flags] COMMAND...",
  copy: "parallax copy [flags] SRC... DST",
  slurp: "parallax slurp [flags] SRC DST",
  sync: "parallax sync [flags] SRC... DST",
  hosts: "parallax hosts [flags] EXPR...",
  persist: "parallax persist --stop [--gateways FILE]",
};

const BRIEF: Record<Command, string> = {
  call: "run COMMAND on every host",
  copy: "copy local files to DST on every host",
  slurp: "copy remote SRC to LOCALDIR/<host>/DST",
  sync: "rsync local SRC... to DST on every host",
  hosts: "print the hosts a list, a group or a set operation names",
  persist: "end the connections --persist kept",
};

const SUMMARY: Record<Command, string> = {
  call: "Runs COMMAND on every host over ssh. Flags come before COMMAND: everything from the\n" +
    "first word that is not a flag on is the command (use -- to start a command that begins\n" +
    "with '-'). {host}, {user}, {port} and {n} (the host's position) in COMMAND become each\n" +
    "host's own, quoted for where they land ({{host} is a literal {host}). The command also\n" +
    "sees PARALLAX_HOST and PARALLAX_NODENUM in its environment, sent with ssh's SendEnv:\n" +
    "the host's sshd must accept them ('AcceptEnv PARALLAX_*' in sshd_config).",
  copy: "Copies local files (folders with -r) to DST on every host, with scp in SFTP mode.\n" +
    "{host}, {user}, {port} and {n} in DST become each host's own.\n" +
    "No timeout unless -t is given.",
  slurp: "Copies remote SRC from every host to LOCALDIR/<host>/DST (DST must be relative).\n" +
    "{host}, {user}, {port} and {n} in SRC become each host's own.\n" +
    "No timeout unless -t is given.",
  sync: "Brings DST on every host up to date with local SRC... using rsync over parallax's ssh\n" +
    "command: archive mode (folders, links kept as links, modes, times). A SRC folder with a\n" +
    "trailing / sends what is inside it. {host}, {user}, {port} and {n} in DST become each\n" +
    "host's own. Needs rsync here and on the hosts. No timeout unless -t is given.",
  hosts: "Prints the hosts that EXPR names, one per line, as the other commands would run them\n" +
    "(without EXPR: those of -h, -H, -g, -a, else PARALLAX_HOSTS). EXPR as -H: lists, ranges,\n" +
    "@groups, and set operations applied left to right: ',' or a space union, '!' difference,\n" +
    "'&' intersection, '^' either but not both (ClusterShell's nodeset rules).",
  persist: "Ends the connections that --persist kept for this user.",
};

const EXAMPLES: Record<Command, string[]> = {
  call: [
    "parallax call -H 'web[01-04]' -i uptime",
    "parallax call -h hosts.txt -p 64 -t 30 df -h /",
    "parallax call -H web1,web2 --json -- -weird-command --flag",
    "parallax call -H db[1-3] -I < script.sh",
    "parallax call -h hosts.txt --batch 8 --max-failures 1 --sudo-ask systemctl restart app",
    "parallax call -h hosts.txt --retries 3 --failed-hosts failed.txt uptime",
  ],
  copy: [
    "parallax copy -H 'web[01-04]' app.conf /etc/app/app.conf",
    "parallax copy -h hosts.txt -r ./site /var/www",
  ],
  slurp: [
    "parallax slurp -H 'web[01-04]' -L logs /var/log/syslog syslog",
  ],
  sync: [
    "parallax sync -H 'web[01-04]' --delete ./site/ /var/www/site",
    "parallax sync -g web -n --exclude '*.log' ./app/ /srv/app/{host}",
  ],
  hosts: [
    "parallax hosts --groups groups.txt '@web!web07'",
    "parallax hosts --fold 'web[01-04]' web07 db1",
    "parallax hosts --split 4 -g web",
    "parallax hosts --count '@web&@rack1'",
  ],
  persist: [
    "parallax call --persist=300 -H 'web[01-64]' uptime   # keeps the connections 5 minutes",
    "parallax persist --stop",
    "parallax persist --stop --gateways gateways.txt   # and those each gateway kept",
  ],
};

const GATEWAYS =
  "Gateways: --gateways FILE reaches hosts through gateways, lines 'GATEWAY: HOSTS'\n" +
  "with ranges; several gateways on a line split its hosts ('gw[1-2]: web[1-64]'). parallax\n" +
  "runs itself on each gateway (--gateway-command, default: deno run … jsr:@parallax/parallax\n" +
  "@VERSION/cli; 'gateway' is appended) and the hosts from there, at most --gateway-limit at\n" +
  "once, with --leaf-ssh-args (paths on the gateway); hosts no line names run directly;\n" +
  "without -h, -H and PARALLAX_HOSTS, every host the file lists.";

const EXIT_STATUS =
  "Exit status: 0 all succeeded, 1 miscellaneous error, 2 usage error, 3 a host was\n" +
  "killed, timed out or interrupted, 4 an ssh (or scp) error on some host, sudo refusing, a\n" +
  "host skipped by --max-failures, or a gateway failing its hosts, 5 a remote command exited\n" +
  "nonzero.";

/** The help of one command, or of the CLI (`main`). */
export function helpText(command: Command | "main"): string {
  if (command === "main") {
    const lines = (["call", "copy", "slurp", "sync", "hosts", "persist"] as const).map((c) =>
      `  ${USAGE[c].padEnd(38)} ${BRIEF[c]}\n` +
      `      e.g. ${EXAMPLES[c][0]}`
    );
    return [
      "Usage: parallax <call|copy|slurp|sync|hosts|persist> [flags] ...",
      "",
      ...lines,
      "",
      "Run 'parallax <command> --help' for every flag of a command, with examples.",
      "",
      GATEWAYS,
      "",
      EXIT_STATUS,
    ].join("\n");
  }
  const groups = new Map<string, string[]>();
  for (const flag of FLAGS) {
    if (flag.commands.length > 0 && !flag.commands.includes(command)) continue;
    const names = `${flag.short ? `-${flag.short}, ` : "    "}--${flag.long}${
      flag.meta ? `${flag.meta.startsWith("[") ? "" : " "}${flag.meta}` : ""
    }`;
    const [first, ...rest] = flag.help.split("\n");
    const text = [`  ${names.padEnd(29)} ${first}`, ...rest.map((l) => `${" ".repeat(32)}${l}`)];
    const title = flag.group === "Command"
      ? command[0].toUpperCase() + command.slice(1)
      : flag.group;
    groups.set(title, [...(groups.get(title) ?? []), ...text]);
  }
  return [
    `Usage: ${USAGE[command]}`,
    "",
    SUMMARY[command],
    "",
    ...[...groups].flatMap(([title, lines]) => [`${title}:`, ...lines]),
    "",
    "Examples:",
    ...EXAMPLES[command].map((e) => `  ${e}`),
    "",
    command === "hosts" || command === "persist"
      ? "Exit status: 0 done, 1 miscellaneous error, 2 usage error."
      : EXIT_STATUS,
  ].join("\n");
}
