/**
 * `parallax call|copy|slurp|sync|hosts|persist`: the command line over the library.
 *
 * @module
 */

import { isCallerError } from "../caller_error.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { gatewayMessage } from "../driver/_gateway_protocol.ts";
import { lastSignal } from "../driver/_signals.ts";
import { serveGateway } from "../gateway/serve.ts";
import { persistentPool, stopPersistentMasters } from "../ssh/_masters.ts";
import { Pool } from "../engine/pool.ts";
import type { Host } from "../hosts/parse.ts";
import { expandHosts, splitHosts } from "../hosts/groups.ts";
import { namesLogin, withPlaceholders } from "./_placeholders.ts";
import { resolveSettings } from "../settings/_settings.ts";
import { loginsOf } from "../ssh/_ssh_config.ts";
import { compactHosts } from "../hosts/range.ts";
import { call } from "../ops/call.ts";
import { copy } from "../ops/copy.ts";
import { slurp } from "../ops/slurp.ts";
import { sync } from "../ops/sync.ts";
import { ParallaxError } from "../parallax_error.ts";
import { readShared } from "../runtime/_bytes.ts";
import { canReadEnv, missingRunPermission } from "../runtime/_permissions.ts";
import { shellWord } from "../runtime/_shell_quote.ts";
import { DEFAULT_GATEWAY_COMMAND } from "../settings/_gateway_settings.ts";
import type { BatchStart, CommonOptions } from "../settings/options.ts";
import { parseArgs, type ParsedArgs, UsageError } from "./_args.ts";
import {
  type CliRun,
  type Command,
  emptyRun,
  FLAGS,
  flagsFor,
  helpText,
  persistSeconds,
} from "./_flags.ts";
import { readGatewaysFile } from "./_gateways_file.ts";
import { resolveHosts } from "./_hosts.ts";
import { createReporter, type ReportStyle } from "./_report.ts";
import { type AnyResult, exitStatus, inCliWords, type Row, toRow } from "./_rows.ts";
import { Terminal } from "./_terminal.ts";

const COMMANDS: readonly Command[] = ["call", "copy", "slurp", "sync", "hosts", "persist"];

/** Ctrl-C at a password prompt: the exit status of a process ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

/** Ctrl-C typed at a password prompt (the terminal is raw there, so no SIGINT comes). */
class Interrupted extends Error {}

/** The exit status of a process whose stdout reader went away (as SIGPIPE would end it). */
const EXIT_BROKEN_PIPE = 141;

/** What `-I` runs when no command is given: the login shell, reading its script from stdin. */
const STDIN_SCRIPT = 'exec "${SHELL:-/bin/sh}" -s';

/**
 * Runs the CLI with `argv` (without the program name) and resolves with the exit status.
 * Writes to stdout and stderr; reads stdin only for `--send-input` and `--askpass`.
 */
export async function main(argv: readonly string[]): Promise<number> {
  // parallax on a gateway, started by a controller (see the `gateways` option).
  // The folder after `gateway` is the lifeline's (see `withStdinLifeline`): staging goes there.
  if (argv[0] === "gateway" && argv.length <= 2) {
    return await serveGateway(undefined, undefined, argv[1]);
  }
  let command: Command | undefined;
  try {
    return await run(argv, (c) => command = c);
  } catch (error) {
    const hint = `Try 'parallax ${command ? `${command} ` : ""}--help' for more information.`;
    if (error instanceof Interrupted) return EXIT_INTERRUPTED;
    if (error instanceof UsageError || isCallerError(error)) {
      printError(`${inCliWords((error as Error).message)}\n${hint}`);
      return 2;
    }
    // Not the user's mistake: parallax's own (or the system's), said as such, exit 1.
    const message = error instanceof Error ? error.message : String(error);
    printError(
      error instanceof TypeError || error instanceof RangeError
        ? `internal error: ${error.name}: ${message} (please report it)`
        : message,
    );
    return 1;
  }
}

async function run(argv: readonly string[], named: (command: Command) => void): Promise<number> {
  // Flags before the command name, then the command's own: for call, flags end at the first
  // word that is not one (pssh); copy and slurp take flags among their operands (pscp).
  const head = parseArgs(argv, FLAGS, { stopAtOperand: true });
  const [name, ...rest] = head.positionals;
  const command = COMMANDS.find((c) => c === name);
  if (command !== undefined) named(command);
  const tail = command === undefined
    ? { flags: new Map(), positionals: [] }
    // The command's own flags first (a name may mean another thing to it), then every other,
    // so that a flag of another command is named as such.
    : parseArgs(rest, [...flagsFor(command), ...FLAGS], { stopAtOperand: command === "call" });
  const cli = emptyRun();
  for (const parsed of [head, tail]) applyFlags(cli, parsed, command);
  if (cli.version) {
    writeStdout(`parallax ${denoJson.version}\n`);
    return 0;
  }
  if (cli.help) {
    writeStdout(`${helpText(command ?? "main")}\n`);
    return 0;
  }
  if (name === undefined) {
    throw new UsageError("missing command: call, copy, slurp, sync, hosts or persist");
  }
  if (command === undefined) throw new UsageError(`unknown command '${name}'`);
  const operands = tail.positionals;
  if (command === "persist") return await persistCommand(cli, operands);
  if (command === "hosts") return await hostsCommand(cli, operands);
  cli.persist ??= persistFromEnv();
  checkOperands(command, operands, cli);
  if (cli.output !== "status" && (cli.inline !== "none" || cli.print)) {
    throw new UsageError(`--${cli.output} cannot be used with -i, --inline-stdout or -P`);
  }
  if (cli.batchPause !== undefined && cli.batch === undefined) {
    throw new UsageError("--batch-pause needs --batch (the pause comes between batches)");
  }
  if (
    (cli.gatewayCommand !== undefined || cli.gatewayLimit !== undefined ||
      cli.leafSshExtra.length > 0) && !cli.gatewaysFile
  ) {
    throw new UsageError(
      "--gateway-command, --gateway-limit and --leaf-ssh-args need --gateways FILE",
    );
  }
  const gateways = cli.gatewaysFile === undefined
    ? undefined
    : await readGatewaysFile(cli.gatewaysFile);
  const hosts = await resolveHosts(cli, printError, Object.values(gateways ?? {}).flat());
  if (command === "sync") {
    checkSyncExcludes(cli.excludeFiles, hosts);
    // Said once, before anything runs, rather than as every gateway host's error.
    const behind = new Set(Object.values(gateways ?? {}).flat());
    const routed = hosts.filter((host) => behind.has(host.key) || behind.has(host.host));
    if (routed.length > 0) {
      throw new UsageError(
        `sync cannot run through a gateway yet (${routed.length} of the hosts are behind one): ` +
          "sync the gateway, then run parallax there",
      );
    }
  }
  if (cli.sudoAsk) cli.sudo ??= true;
  // Found before any prompt: a password asked for nothing is worse than a clear refusal.
  const missing = missingPermissionFor(command, cli);
  if (missing !== null) throw new UsageError(missing);
  const asks = [
    ...(cli.askpass ? ["Password: "] : []),
    ...(cli.sudoAsk ? ["sudo password: "] : []),
  ];
  if (asks.length > 0 && cli.sendInput && !Deno.stdin.isTerminal()) {
    throw new UsageError(
      `${
        cli.askpass ? "-A" : "--sudo-ask"
      } reads the password from stdin when it is not a terminal; it cannot go with -I`,
    );
  }
  if (cli.failedHosts !== undefined) {
    // Checked before any host is contacted: a long run must not end with its list lost.
    const problem = await writeFailedHosts(cli.failedHosts, [], []);
    if (problem !== null) throw new UsageError(problem);
  }
  const passwords = await readPasswords(asks);
  const password = cli.askpass ? passwords.shift() : undefined;
  const sudoPassword = cli.sudoAsk ? passwords.shift() : undefined;
  const input = cli.sendInput ? await readStdin() : undefined;
  return await execute(command, operands, hosts, gateways, cli, {
    password,
    sudoPassword,
    input,
  });
}

/**
 * sync's `--exclude` is rsync's file pattern: one that names hosts of the run was meant to leave
 * hosts out (as for the other commands), and is refused rather than sync those hosts.
 */
function checkSyncExcludes(patterns: readonly string[], hosts: readonly Host[]): void {
  const names = new Set(hosts.flatMap((host) => [host.key, host.host]));
  for (const pattern of patterns) {
    let named: string[];
    try {
      named = expandHosts(pattern);
    } catch {
      continue;
    }
    if (named.some((name) => names.has(name))) {
      throw new UsageError(
        `sync's --exclude is an rsync file pattern, and '${pattern}' names hosts of this run: ` +
          "to leave hosts out, use --exclude-hosts",
      );
    }
  }
}

/** What a flag of the run needs that this process was not granted, or null. */
function missingPermissionFor(command: Command, cli: CliRun): string | null {
  if (
    cli.persist !== undefined &&
    Deno.permissions.querySync({ name: "sys", kind: "uid" }).state !== "granted"
  ) {
    return "--persist needs --allow-sys=uid (its connections live in a per-user folder): run " +
      "with it, or reinstall with 'deno task install'";
  }
  if (command === "sync" && missingRunPermission("rsync") !== null) {
    return "sync needs --allow-run=rsync: run with it, or reinstall with 'deno task install'";
  }
  if (cli.askpass && Deno.build.standalone) {
    return "-A needs the deno CLI to run its password helper, which a compiled binary cannot: " +
      "use ssh keys, or install parallax with 'deno task install'";
  }
  if (cli.askpass && Deno.permissions.querySync({ name: "net" }).state !== "granted") {
    return "-A needs --allow-net (Deno counts the private Unix socket that carries the password " +
      "as network access): run with --allow-net, or reinstall with 'deno task install'";
  }
  return null;
}

/**
 * `parallax hosts EXPR…`: the hosts a run would have, printed one per line, folded, counted or
 * split into balanced parts.
 */
async function hostsCommand(cli: CliRun, operands: readonly string[]): Promise<number> {
  // The operands continue the -H lists: one expression, read left to right.
  if (operands.length > 0) cli.hostLists.push(operands.join(","));
  const hosts = (await resolveHosts(cli, printError, [], { allowEmpty: true })).map((h) => h.key);
  const { show } = cli;
  const lines = show === "lines"
    ? hosts
    : show === "fold"
    ? (hosts.length === 0 ? [] : [compactHosts(hosts)])
    : show === "count"
    ? [String(hosts.length)]
    : splitHosts(hosts, show.split);
  writeStdout(lines.map((line) => `${line}\n`).join(""));
  return 0;
}

/**
 * `parallax persist --stop`: ends this user's kept connections, and with `--gateways` those each
 * gateway kept for its hosts (`persist --stop` run there through the gateway command).
 */
async function persistCommand(cli: CliRun, operands: readonly string[]): Promise<number> {
  if (!cli.stop || operands.length > 0) {
    throw new UsageError("persist takes --stop and nothing else");
  }
  if (cli.gatewayCommand !== undefined && !cli.gatewaysFile) {
    throw new UsageError("--gateway-command needs --gateways FILE");
  }
  const gateways = cli.gatewaysFile === undefined
    ? []
    : Object.keys(await readGatewaysFile(cli.gatewaysFile));
  const stopped = await stopPersistentMasters();
  writeStdout(`parallax: ${stopped} kept connection${stopped === 1 ? "" : "s"} ended\n`);
  if (gateways.length === 0) return 0;
  const argv = [...(cli.gatewayCommand ?? DEFAULT_GATEWAY_COMMAND), "persist", "--stop"];
  // The gateways log in as their own entries say, as when they serve a run.
  const results = await call(gateways, argv.map(shellWord).join(" "), {
    ...(cli.sshExtra.length > 0 ? { sshExtra: cli.sshExtra } : {}),
    ...(cli.sshOptions !== undefined ? { sshOptions: cli.sshOptions } : {}),
    ...(cli.connectTimeout !== undefined ? { connectTimeout: cli.connectTimeout } : {}),
    inline: true,
  });
  let status = 0;
  for (const [gateway, result] of results) {
    if (result instanceof ParallaxError || result.exitCode !== 0) {
      const why = result instanceof ParallaxError
        ? result.message.slice(gateway.length + 2)
        : `parallax there did not stop them (exit ${result.exitCode})${
          gatewayMessage(result.stderr) === "" ? "" : `: ${gatewayMessage(result.stderr)}`
        }`;
      printError(
        `on gateway ${gateway}: ${why}; its kept connections end by themselves when their time is up`,
      );
      status = 1;
    } else {
      const said = result.stdout.trim().replace(/^parallax: /, "");
      writeStdout(`on gateway ${gateway}: ${said}\n`);
    }
  }
  return status;
}

/** `PARALLAX_PERSIST`, where it may be read: seconds, or unset. */
function persistFromEnv(): number | undefined {
  const text = canReadEnv("PARALLAX_PERSIST")
    ? Deno.env.get("PARALLAX_PERSIST")?.trim()
    : undefined;
  return text === undefined || text === "" ? undefined : persistSeconds(text, "PARALLAX_PERSIST");
}

async function execute(
  command: Exclude<Command, "persist">,
  operands: readonly string[],
  hosts: Host[],
  gateways: Record<string, string[]> | undefined,
  cli: CliRun,
  given: { password?: string; sudoPassword?: string; input?: Uint8Array },
): Promise<number> {
  // sync --dry-run lists under each host what would change (its result's stdout).
  const inline = command === "sync" && cli.dryRun && cli.inline === "none" ? "stdout" : cli.inline;
  const style: ReportStyle = { mode: cli.output, inline, color: useColor() };
  const controller = new AbortController();
  let stdoutLost = false;
  const progress = style.mode !== "json" && Deno.stdout.isTerminal() && Deno.stderr.isTerminal();
  using terminal = new Terminal(hosts.length, progress, () => {
    stdoutLost = true;
    controller.abort();
  });
  const reporter = createReporter(style, (data) => terminal.out(data));
  const rows: Row[] = [];
  const onResult = (result: AnyResult) => {
    const row = toRow(result);
    rows.push(row);
    terminal.count(row.ok);
    reporter.row(row);
  };
  // A pool only for --reuse or --persist: one call per run, so masters pay off only when asked.
  const kept = cli.persist === undefined ? null : persistentPool(cli.persist);
  if (typeof kept === "string") throw new Error(kept);
  await using pool = kept ??
    (cli.reuse ? new Pool({ reuse: true, limit: Number.MAX_SAFE_INTEGER }) : null);
  const options = {
    ...commonOptions(cli),
    onBatch: ({ number, of, pauseMs }: BatchStart) => terminal.batch(number, of, pauseMs),
    ...(gateways !== undefined ? { gateways } : {}),
    signal: controller.signal,
    exitOnSignal: false,
    ...(pool !== null ? { pool } : {}),
    ...(given.password !== undefined ? { password: given.password } : {}),
  };
  const transfer = {
    recursive: cli.recursive,
    preserve: cli.preserve,
    compress: cli.compress,
    ...(cli.bandwidthLimit !== undefined ? { bandwidthLimit: cli.bandwidthLimit } : {}),
  };
  let results: Map<string, AnyResult>;
  // {host}, {user}, {port}, {n}: each host's own (see `_placeholders.ts`); the user and port
  // from ssh's configuration where neither the host's entry nor -l gives them.
  const texts = command === "call"
    ? [operands.join(" ")]
    : command === "slurp"
    ? [operands[0]]
    : [operands.at(-1)!];
  const logins = texts.some(namesLogin)
    ? await loginsOf(hosts, resolveSettings(commonOptions(cli), 0))
    : new Map<string, { user?: string; port?: number }>();
  const defaults = (host: Host) => logins.get(host.key) ?? {};
  if (command === "call") {
    const line = operands.length > 0
      ? withPlaceholders(operands.join(" "), "command", defaults)
      : STDIN_SCRIPT;
    results = await call(hosts, line, {
      ...options,
      // Output is held only where the report shows it (-i, --json, --gather): with -P or -o
      // alone, memory stays flat however much the hosts print.
      inline: style.mode !== "status" || style.inline !== "none",
      ...(given.input !== undefined ? { input: given.input } : {}),
      ...(cli.sudo !== undefined ? { sudo: cli.sudo } : {}),
      ...(given.sudoPassword !== undefined ? { sudoPassword: given.sudoPassword } : {}),
      ...(Object.keys(cli.env).length > 0 ? { env: cli.env } : {}),
      ...(cli.cwd !== undefined ? { cwd: cli.cwd } : {}),
      printOut: cli.print,
      onResult,
    });
  } else if (command === "copy") {
    const dst = withPlaceholders(operands.at(-1)!, "path", defaults);
    results = await copy(hosts, operands.slice(0, -1), dst, {
      ...options,
      ...transfer,
      ...(cli.skipLinks ? { links: "skip" as const } : {}),
      onResult,
    });
  } else if (command === "sync") {
    const dst = withPlaceholders(operands.at(-1)!, "path", defaults);
    results = await sync(hosts, operands.slice(0, -1), dst, {
      ...options,
      delete: cli.delete,
      checksum: cli.checksum,
      exclude: cli.excludeFiles,
      dryRun: cli.dryRun,
      compress: cli.compress,
      ...(cli.bandwidthLimit !== undefined ? { bandwidthLimit: cli.bandwidthLimit } : {}),
      onResult,
    });
  } else {
    const src = withPlaceholders(operands[0], "path", defaults);
    results = await slurp(hosts, src, operands[1], {
      ...options,
      ...transfer,
      ...(cli.localdir !== undefined ? { localdir: cli.localdir } : {}),
      onResult,
    });
  }
  // Every host is reported once, even one the library could not report as it finished.
  const reported = new Set(rows.map((row) => row.host));
  for (const [host, result] of results) if (!reported.has(host)) onResult(result);
  terminal.stopProgress();
  reporter.finish(rows);
  const unwritten = cli.failedHosts === undefined
    ? null
    : await writeFailedHosts(cli.failedHosts, [...results.keys()], rows);
  if (unwritten !== null) terminal.error(unwritten);
  if (stdoutLost) return EXIT_BROKEN_PIPE;
  // At a terminal, the last line says how the run went (not with --json: its lines are data).
  const recap = () => {
    if (style.mode !== "json" && Deno.stderr.isTerminal()) terminal.recap(rows);
  };
  if (lastSignal() !== null) {
    const stopped = rows.filter((row) => row.kind === "cancelled").map((row) => row.host);
    terminal.error(
      `interrupted: ${rows.length - stopped.length} of ${rows.length} hosts finished` +
        (stopped.length > 0 ? `; not finished: ${compactHosts(stopped)}` : ""),
    );
    recap();
    return 3;
  }
  recap();
  return exitStatus(rows) || (unwritten === null ? 0 : 1);
}

/**
 * Writes the hosts that did not succeed (failed, interrupted or skipped) to `path`, in input
 * order, one per line as a host file; the reason it could not, or null.
 */
async function writeFailedHosts(
  path: string,
  order: readonly string[],
  rows: readonly Row[],
): Promise<string | null> {
  const failedHosts = new Set(rows.filter((row) => !row.ok).map((row) => row.host));
  const lines = order.filter((host) => failedHosts.has(host)).map((host) => `${host}\n`);
  try {
    await Deno.writeTextFile(path, lines.join(""));
    return null;
  } catch (error) {
    return `cannot write --failed-hosts file '${path}': ${(error as Error).message}`;
  }
}

function applyFlags(cli: CliRun, parsed: ParsedArgs, command: Command | undefined): void {
  const known = command === undefined ? FLAGS : [...flagsFor(command), ...FLAGS];
  for (const [long, values] of parsed.flags) {
    const flag = known.find((f) => f.long === long)!;
    if (command !== undefined && flag.commands.length > 0 && !flag.commands.includes(command)) {
      throw new UsageError(`option --${long} does not apply to 'parallax ${command}'`);
    }
    for (const value of values === true ? [true as const] : values) flag.apply(cli, value);
  }
}

function checkOperands(command: Command, operands: readonly string[], cli: CliRun): void {
  if (command === "call" && operands.length === 0 && !cli.sendInput) {
    throw new UsageError("missing COMMAND (or -I with a script on stdin)");
  }
  if (command === "copy" && operands.length < 2) throw new UsageError("copy needs SRC... DST");
  if (command === "slurp" && operands.length !== 2) throw new UsageError("slurp needs SRC DST");
  if (command === "sync" && operands.length < 2) throw new UsageError("sync needs SRC... DST");
}

/** The options every command shares; unset flags stay unset, so PARALLAX_* defaults apply. */
function commonOptions(cli: CliRun): CommonOptions {
  return {
    ...(cli.user !== undefined ? { user: cli.user } : {}),
    ...(cli.limit !== undefined ? { limit: cli.limit } : {}),
    ...(cli.timeout !== undefined ? { timeout: cli.timeout } : {}),
    ...(cli.connectTimeout !== undefined ? { connectTimeout: cli.connectTimeout } : {}),
    ...(cli.outdir !== undefined ? { outdir: cli.outdir } : {}),
    ...(cli.errdir !== undefined ? { errdir: cli.errdir } : {}),
    ...(cli.sshExtra.length > 0 ? { sshExtra: cli.sshExtra } : {}),
    ...(cli.sshOptions !== undefined ? { sshOptions: cli.sshOptions } : {}),
    ...(cli.batch !== undefined ? { batch: cli.batch } : {}),
    ...(cli.batchPause !== undefined ? { batchPause: cli.batchPause } : {}),
    ...(cli.maxFailures !== undefined ? { maxFailures: cli.maxFailures } : {}),
    ...(cli.retries !== undefined ? { retries: cli.retries } : {}),
    ...(cli.gatewayCommand !== undefined ? { gatewayCommand: cli.gatewayCommand } : {}),
    ...(cli.gatewayLimit !== undefined ? { gatewayLimit: cli.gatewayLimit } : {}),
    ...(cli.leafSshExtra.length > 0 ? { leafSshExtra: cli.leafSshExtra } : {}),
    ...(cli.verbose ? { verbose: true } : {}),
    ...(cli.quiet ? { quiet: true } : {}),
  };
}

/**
 * Reads one password per prompt: each from the terminal without echo, else successive lines of
 * stdin (the first line for the first prompt, and so on).
 */
async function readPasswords(prompts: readonly string[]): Promise<string[]> {
  if (prompts.length === 0) return [];
  if (!Deno.stdin.isTerminal()) {
    const lines = new TextDecoder().decode(await readStdin()).split("\n")
      .map((line) => line.replace(/\r$/, ""));
    if (lines.length < prompts.length || lines.slice(0, prompts.length).includes("")) {
      const lines = prompts.length === 1 ? "a line" : `${prompts.length} lines, one per password`;
      throw new UsageError(`no password on stdin (${lines} expected: -A, then --sudo-ask)`);
    }
    return lines.slice(0, prompts.length);
  }
  const passwords: string[] = [];
  for (const prompt of prompts) passwords.push(await readFromTerminal(prompt));
  return passwords;
}

/** Reads a line from the terminal without echo. */
async function readFromTerminal(prompt: string): Promise<string> {
  const encoder = new TextEncoder();
  Deno.stderr.writeSync(encoder.encode(prompt));
  Deno.stdin.setRaw(true);
  try {
    const bytes: number[] = [];
    const buffer = new Uint8Array(1);
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null || buffer[0] === 0x0d || buffer[0] === 0x0a) break;
      if (buffer[0] === 0x03) throw new Interrupted();
      if (buffer[0] === 0x7f) bytes.pop();
      else bytes.push(buffer[0]);
    }
    if (bytes.length === 0) throw new UsageError("no password given");
    return new TextDecoder().decode(Uint8Array.from(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
}

/** The input for every host, read once into memory the workers share. */
async function readStdin(): Promise<Uint8Array> {
  try {
    return await readShared(Deno.stdin.readable);
  } catch (error) {
    throw new Error(`cannot read standard input: ${(error as Error).message}`, { cause: error });
  }
}

function useColor(): boolean {
  if (!Deno.stdout.isTerminal()) return false;
  return canReadEnv("NO_COLOR") && (Deno.env.get("NO_COLOR") ?? "") === "";
}

function writeStdout(text: string): void {
  try {
    Deno.stdout.writeSync(new TextEncoder().encode(text));
  } catch {
    // stdout closed: nothing to show.
  }
}

function printError(message: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(`parallax: ${message}\n`));
  } catch {
    // stderr closed.
  }
}
