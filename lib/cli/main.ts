/**
 * `parallax call|copy|slurp`: the command line over the library.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { call } from "../call.ts";
import { copy } from "../copy.ts";
import { readHostFile } from "../host_file.ts";
import { expandHosts } from "../host_range.ts";
import { type Host, parseHosts } from "../hosts.ts";
import type { CommonOptions } from "../options.ts";
import { canReadEnv } from "../permissions.ts";
import { Pool } from "../pool.ts";
import { slurp } from "../slurp.ts";
import { parseArgs, type ParsedArgs, shellWords, UsageError } from "./args.ts";
import { exitStatus, type HostOutcome, toOutcome } from "./outcome.ts";
import { Progress } from "./progress.ts";
import { createReporter, type ReportStyle, writeStdout } from "./report.ts";
import { type Command, COMMAND_ONLY, FLAGS, helpText } from "./usage.ts";

const COMMANDS: readonly Command[] = ["call", "copy", "slurp"];

/**
 * Runs the CLI with `argv` (without the program name) and resolves with the exit status.
 * Writes to stdout and stderr; reads stdin only for `--send-input`.
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
      printError(`${error.message}\nTry 'parallax --help' for more information.`);
      return 2;
    }
    printError(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  const { flags, positionals } = args;
  if (flags.has("version")) {
    writeStdout(`parallax ${denoJson.version}\n`);
    return 0;
  }
  const [name, ...operands] = positionals;
  const command = COMMANDS.find((c) => c === name);
  if (flags.has("help")) {
    writeStdout(`${helpText(command ?? "main")}\n`);
    return 0;
  }
  if (name === undefined) throw new UsageError("missing command: call, copy or slurp");
  if (command === undefined) throw new UsageError(`unknown command '${name}'`);
  for (const [flag, commands] of Object.entries(COMMAND_ONLY)) {
    if (flags.has(flag) && !commands.includes(command)) {
      throw new UsageError(`option --${flag} does not apply to 'parallax ${command}'`);
    }
  }
  checkOperands(command, operands);
  if (flags.has("json") && flags.has("gather")) {
    throw new UsageError("--json and --gather cannot be used together");
  }
  const hosts = await resolveHosts(args);
  if (flags.has("askpass") && flags.has("send-input") && !Deno.stdin.isTerminal()) {
    throw new UsageError(
      "-A reads the password from stdin when it is not a terminal; it cannot go with -I",
    );
  }
  const password = flags.has("askpass") ? await readPassword() : undefined;
  const input = flags.has("send-input") ? await readStdin() : undefined;

  const style: ReportStyle = {
    mode: flags.has("json") ? "json" : flags.has("gather") ? "gather" : "status",
    inline: flags.has("inline") ? "both" : flags.has("inline-stdout") ? "stdout" : "none",
    color: useColor(),
  };
  const progress = new Progress(hosts.length, style.mode !== "json" && Deno.stderr.isTerminal());
  const reporter = createReporter(style, (text) => progress.around(() => writeStdout(text)));
  const outcomes: HostOutcome[] = [];
  const onResult = (result: Parameters<typeof toOutcome>[0]) => {
    const outcome = toOutcome(result);
    outcomes.push(outcome);
    progress.count(outcome.ok);
    reporter.result(outcome);
  };

  const controller = new AbortController();
  // One call per run: masters only pay off with --reuse when more calls follow (none yet), so
  // the CLI reuses connections only when asked.
  const pool = new Pool({ reuse: flags.has("reuse") });
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    // First signal: kill what runs, start nothing more. A second: terminate the workers now.
    if (interrupts === 1) controller.abort();
    else pool[Symbol.dispose]();
  };
  let results = new Map<string, Parameters<typeof toOutcome>[0]>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  try {
    const options = {
      ...commonOptions(flags),
      signal: controller.signal,
      pool,
      ...(password !== undefined ? { password } : {}),
    };
    const transfer = {
      recursive: flags.has("recursive"),
      preserve: flags.has("preserve"),
      compress: flags.has("compress"),
      bandwidthLimit: optionalInteger(flags, "bwlimit", 1),
    };
    if (command === "call") {
      results = await call(hosts, operands.join(" "), {
        ...options,
        inline: true,
        input,
        printOut: flags.has("print"),
        onResult,
      });
    } else if (command === "copy") {
      results = await copy(hosts, operands.slice(0, -1), operands.at(-1)!, {
        ...options,
        ...transfer,
        onResult,
      });
    } else {
      const localdir = value(flags, "localdir");
      results = await slurp(hosts, operands[0], operands[1], {
        ...options,
        ...transfer,
        ...(localdir !== undefined ? { localdir } : {}),
        onResult,
      });
    }
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    progress.stop();
    await pool.close();
  }
  // Every host is reported once, even one the library could not report as it finished.
  const reported = new Set(outcomes.map((o) => o.host));
  for (const [host, result] of results) if (!reported.has(host)) onResult(result);
  reporter.finish(outcomes);
  if (interrupts > 0) {
    const stopped = outcomes.filter((o) => o.error?.kind === "cancelled").map((o) => o.host);
    printError(
      `interrupted: ${outcomes.length - stopped.length} of ${outcomes.length} hosts finished` +
        (stopped.length > 0 ? `; not finished: ${stopped.join(" ")}` : ""),
    );
  }
  return exitStatus(outcomes);
}

function checkOperands(command: Command, operands: readonly string[]): void {
  if (command === "call" && operands.length === 0) throw new UsageError("missing COMMAND");
  if (command === "copy" && operands.length < 2) throw new UsageError("copy needs SRC... DST");
  if (command === "slurp" && operands.length !== 2) throw new UsageError("slurp needs SRC DST");
}

/** Hosts from -h files and -H strings (ranges expanded), else from the PARALLAX_HOSTS file. */
async function resolveHosts({ flags }: ParsedArgs): Promise<Host[]> {
  const entries: (string | Host)[] = [];
  let files = values(flags, "hosts");
  const strings = values(flags, "host");
  if (files.length === 0 && strings.length === 0) {
    const fromEnv = canReadEnv("PARALLAX_HOSTS") ? Deno.env.get("PARALLAX_HOSTS") : undefined;
    if (fromEnv === undefined || fromEnv === "") {
      throw new UsageError(
        "no hosts: give -h FILE or -H HOSTS, or set PARALLAX_HOSTS to a host file",
      );
    }
    files = [fromEnv];
  }
  for (const file of files) {
    try {
      entries.push(...await readHostFile(file));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  for (const text of strings) {
    for (const word of text.split(/\s+/).filter((w) => w !== "")) {
      entries.push(...expandHosts(word));
    }
  }
  const hosts = parseHosts(entries);
  if (hosts.length === 0) throw new UsageError("no hosts: the host lists given are empty");
  return hosts;
}

/** The options every command shares; unset flags stay unset, so PARALLAX_* defaults apply. */
function commonOptions(flags: ParsedArgs["flags"]): CommonOptions {
  const options: CommonOptions = {};
  const user = value(flags, "user");
  if (user !== undefined) options.user = user;
  const limit = optionalInteger(flags, "par", 1);
  if (limit !== undefined) options.limit = limit;
  const timeout = value(flags, "timeout");
  if (timeout !== undefined) {
    const seconds = Number(timeout);
    if (timeout.trim() === "" || !Number.isFinite(seconds) || seconds < 0) {
      throw new UsageError(`invalid --timeout '${timeout}': expected seconds >= 0`);
    }
    options.timeout = seconds;
  }
  const connectTimeout = optionalInteger(flags, "connect-timeout", 1);
  if (connectTimeout !== undefined) options.connectTimeout = connectTimeout;
  const outdir = value(flags, "outdir");
  if (outdir !== undefined) options.outdir = outdir;
  const errdir = value(flags, "errdir");
  if (errdir !== undefined) options.errdir = errdir;
  const extra = [...values(flags, "extra-args").flatMap(shellWords), ...values(flags, "extra-arg")];
  if (extra.length > 0) options.sshExtra = extra;
  if (flags.has("option")) options.sshOptions = values(flags, "option");
  if (flags.has("verbose")) options.verbose = true;
  if (flags.has("quiet")) options.quiet = true;
  return options;
}

function values(flags: ParsedArgs["flags"], name: string): string[] {
  const found = flags.get(name);
  return Array.isArray(found) ? found : [];
}

function value(flags: ParsedArgs["flags"], name: string): string | undefined {
  return values(flags, name).at(-1);
}

function optionalInteger(
  flags: ParsedArgs["flags"],
  name: string,
  min: number,
): number | undefined {
  const text = value(flags, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min) {
    throw new UsageError(`invalid --${name} '${text}': expected an integer >= ${min}`);
  }
  return Number(text);
}

/** Reads a password: from the terminal without echo, else the first line of stdin. */
async function readPassword(): Promise<string> {
  const encoder = new TextEncoder();
  if (Deno.stdin.isTerminal()) {
    Deno.stderr.writeSync(encoder.encode("Password: "));
    Deno.stdin.setRaw(true);
    try {
      let password = "";
      const buffer = new Uint8Array(1);
      while (true) {
        const n = await Deno.stdin.read(buffer);
        if (n === null || buffer[0] === 0x0d || buffer[0] === 0x0a) break;
        if (buffer[0] === 0x03) throw new UsageError("no password given");
        if (buffer[0] === 0x7f) password = password.slice(0, -1);
        else password += String.fromCharCode(buffer[0]);
      }
      return new TextDecoder().decode(Uint8Array.from(password, (c) => c.charCodeAt(0)));
    } finally {
      Deno.stdin.setRaw(false);
      Deno.stderr.writeSync(encoder.encode("\n"));
    }
  }
  const text = new TextDecoder().decode(await readStdin());
  const line = text.split("\n")[0].replace(/\r$/, "");
  if (line === "") throw new UsageError("-A: no password on stdin");
  return line;
}

async function readStdin(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

function useColor(): boolean {
  if (!Deno.stdout.isTerminal()) return false;
  return canReadEnv("NO_COLOR") && (Deno.env.get("NO_COLOR") ?? "") === "";
}

function printError(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`parallax: ${message}\n`));
}
