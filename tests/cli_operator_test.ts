/**
 * The CLI as an operator with pssh habits meets it: option parsing that stops at the command,
 * `-I` scripts, host lists, output modes that keep bytes, a terminal's progress line, `| head`,
 * help, and connections kept across runs.
 */

import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cleanCliEnv, cliArgv } from "./fixture/deno_run.ts";
import { remoteProcesses, timeUntil, uniqueSleep } from "./fixture/processes.ts";
import { type Sshd, startSshd } from "./fixture/sshd.ts";
import { onTerminal } from "./fixture/terminal.ts";
import { prepareTransfer } from "../lib/ops/_transfer.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";

const F = (sshd: Sshd) => ["-x", `-F ${sshd.configPath}`];

/** Runs the CLI; stdout as bytes too, for the byte-exact checks. */
async function run(args: string[], stdin?: string) {
  const argv = cliArgv(args);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: cleanCliEnv(),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  return { code, bytes: stdout, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("parallax call: flags end at the first word of the command, as in pssh; -- still works", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const listing = await run(["call", ...F(sshd), "-H", "h001", "-i", "ls", "-ld", "/"]);
  assertEquals(listing.code, 0, listing.stderr);
  assertStringIncludes(listing.stdout, "\ndr");
  const echo = await run(["call", ...F(sshd), "-H", "h001", "-i", "echo", "-p", "-o", "x"]);
  assertStringIncludes(echo.stdout, "\n-p -o x\n");
  const dashed = await run(["call", ...F(sshd), "-H", "h001", "-i", "--", "echo", "-t", "5"]);
  assertStringIncludes(dashed.stdout, "\n-t 5\n");
});

Deno.test("parallax call -I without a command runs stdin as a script in each host's shell", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const result = await run(
    ["call", ...F(sshd), "-H", "h001,h002", "-I", "-i"],
    'x=scripted\necho "$x on $PARALLAX_NODENUM"\n',
  );
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stdout, "scripted on 0\n");
  assertStringIncludes(result.stdout, "scripted on 1\n");
});

Deno.test("copy and slurp have no default timeout, call keeps 60 s; help says so", async () => {
  assertEquals(prepareTransfer(["h1"], {}).settings.timeoutMs, 0);
  assertEquals(prepareTransfer(["h1"], { timeout: 5 }).settings.timeoutMs, 5_000);
  assertEquals(resolveSettings({}, 60).timeoutMs, 60_000);
  const help = await run(["copy", "--help"]);
  assertStringIncludes(help.stdout, "No timeout unless -t is given");
});

Deno.test("host lists: commas and ranges, --exclude, a host in a file and a list runs once with a warning; -H lists are one union", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "h002\n");
  const result = await run([
    "call",
    ...F(sshd),
    "-h",
    file,
    "-H",
    "h[001-003],h004",
    "-H",
    "h002",
    "-H",
    `${sshd.user}@h003`,
    "--exclude",
    "h003,nowhere",
    "--json",
    "true",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const hosts = result.stdout.trim().split("\n").map((line) => JSON.parse(line).host).sort();
  assertEquals(hosts, ["h001", "h002", "h004"]);
  assertEquals(result.stderr.match(/more than once/g)?.length, 1, result.stderr);
  assertStringIncludes(result.stderr, "more than once run once: h002\n");
  assertStringIncludes(result.stderr, "--exclude matched no host: nowhere");
  await Deno.remove(file);
});

Deno.test("--json refuses -i, -P and --gather; records keep bytes as base64 and say exitCode null", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  for (const flag of ["-i", "-P", "--gather"]) {
    const refused = await run(["call", ...F(sshd), "-H", "h001", "--json", flag, "true"]);
    assertEquals(refused.code, 2, `${flag}: ${refused.stderr}`);
  }
  const bytes = await run(["call", ...F(sshd), "-H", "h001", "--json", "printf 'a\\377\\n'"]);
  const record = JSON.parse(bytes.stdout);
  assertEquals(record.stdoutBase64, btoa("a\xff\n"));
  assertEquals(record.kind, null);
  const timeout = await run(["call", ...F(sshd), "-H", "h001", "--json", "-t", "0.5", "sleep 5"]);
  const timedOut = JSON.parse(timeout.stdout);
  assertEquals([timedOut.kind, timedOut.exitCode, timedOut.status], ["timeout", null, "failure"]);
});

Deno.test("-i and --gather write output bytes exactly; ssh's message for a failed host appears once", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const inline = await run(["call", ...F(sshd), "-H", "h001", "-i", "printf 'x\\377y\\n'"]);
  assert(inline.bytes.join(",").includes([0x78, 0xff, 0x79, 0x0a].join(",")), inline.stdout);
  const gather = await run([
    "call",
    ...F(sshd),
    "-H",
    "h001,h002",
    "--gather",
    "printf 'x\\377y\\n'",
  ]);
  assert(gather.bytes.join(",").includes([0x78, 0xff, 0x79, 0x0a].join(",")), gather.stdout);
  for (const mode of ["-i", "--gather", "--json"]) {
    const refused = await run(["call", ...F(sshd), "-H", `h001,${sshd.refused}`, mode, "true"]);
    const said = refused.stdout + refused.stderr;
    assertEquals(said.match(/Connection refused/g)?.length, 1, `${mode}: ${said}`);
  }
});

Deno.test("output piped to head ends quietly: exit 141, no Broken pipe message, hosts stopped", async () => {
  await using sshd = await startSshd({ aliases: 6 });
  const sleep = uniqueSleep(20);
  const line = cliArgv([
    "call",
    ...F(sshd),
    "-H",
    "h[001-006]",
    "-p",
    "6",
    "-i",
    `case $PARALLAX_NODENUM in 0|1) echo early;; *) ${sleep};; esac`,
  ]).map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const output = await new Deno.Command("bash", {
    args: ["-c", `${line} 2>/tmp/parallax-head-stderr | head -2; echo "status \${PIPESTATUS[0]}"`],
    env: cleanCliEnv(),
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = await Deno.readTextFile("/tmp/parallax-head-stderr");
  await Deno.remove("/tmp/parallax-head-stderr");
  assertStringIncludes(stdout, "status 141");
  assertEquals(stderr.includes("Broken pipe"), false, stderr);
  await timeUntil(async () => (await remoteProcesses(sleep)).length === 0, 10_000);
});

Deno.test("the progress line: only when stdout and stderr are a terminal, erased before -v lines", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  await using piped = onTerminal([
    "sh",
    "-c",
    `${
      cliArgv(["call", ...F(sshd), "-H", "h[001-003]", "sleep 0.6"]).map((a) => `'${a}'`).join(" ")
    } | cat`,
  ], cleanCliEnv({ NO_COLOR: "1" }));
  const { screen: pipedScreen } = await piped.finished();
  assertEquals(
    /\[\d\/3/.test(pipedScreen),
    false,
    `progress drawn with stdout piped: ${pipedScreen}`,
  );
  await using verbose = onTerminal(
    cliArgv(["call", ...F(sshd), "-H", "h[001-003]", "-v", "sleep 0.6"]),
    cleanCliEnv({ NO_COLOR: "1" }),
  );
  const { screen } = await verbose.finished();
  assertStringIncludes(screen, "[0/3]");
  // Every progress drawing ends before anything else starts: the next thing after "N.N s" is
  // the sequence that erases it, or the end.
  assertEquals(
    // deno-lint-ignore no-control-regex
    /\d\.\d s[^\r\x1b]/.test(screen),
    false,
    `a line was written over the progress: ${screen}`,
  );
});

Deno.test("help an operator can use: subcommands with examples, every flag with defaults, --", async () => {
  const main = await run(["--help"]);
  for (const command of ["call", "copy", "slurp", "persist"]) {
    assertStringIncludes(main.stdout, `parallax ${command}`);
  }
  assertStringIncludes(main.stdout, "e.g. parallax call");
  const call = await run(["call", "--help"]);
  for (
    const flag of ["--hosts", "--host", "--exclude", "--par", "--timeout", "--persist", "--json"]
  ) {
    assertStringIncludes(call.stdout, flag);
  }
  assertStringIncludes(call.stdout, "default: 60 for call");
  assertStringIncludes(call.stdout, "Examples:");
  assertStringIncludes(call.stdout, " -- ");
});

Deno.test("--persist keeps connections for the next run (same results, no handshake); persist --stop ends them", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const args = [
    "call",
    ...F(sshd),
    "-H",
    "h[001-004]",
    "--persist=30",
    "--json",
    "echo $PARALLAX_NODENUM",
  ];
  const first = await run(args);
  assertEquals(first.code, 0, first.stderr);
  const masters = async () =>
    (await new Deno.Command("ps", { args: ["-eo", "pid=,args="] }).output()).stdout;
  const kept = (text: string) => text.match(/\d+ ssh: \S*parallax-\d+\/\w+ \[mux\]/g) ?? [];
  const listing = new TextDecoder().decode(await masters());
  assertEquals(kept(listing).length, 4, listing);
  const second = await run(args);
  const values = (text: string) =>
    text.trim().split("\n").map((l) => JSON.parse(l)).map((r) => `${r.host}=${r.stdout}`).sort();
  assertEquals(values(second.stdout), values(first.stdout));
  // The second run went through the same masters: none was replaced.
  assertEquals(kept(new TextDecoder().decode(await masters())), kept(listing));
  // persist --stop does not cut off a run in progress: its connections end when it does.
  const sleep = uniqueSleep(3);
  const slow = run([...args.slice(0, -1), `${sleep}; echo $PARALLAX_NODENUM`]);
  await timeUntil(async () => (await remoteProcesses(sleep)).length === 4, 10_000);
  const stopped = await run(["persist", "--stop"]);
  assertEquals(stopped.code, 0, stopped.stderr);
  assertStringIncludes(stopped.stdout, "4 kept connections ended");
  const finished = await slow;
  assertEquals(finished.code, 0, finished.stderr);
  assertEquals(values(finished.stdout), values(first.stdout));
  await timeUntil(async () => !/\[mux\]/.test(new TextDecoder().decode(await masters())), 5_000);
});

Deno.test("at a terminal: the progress line shows the batch and the pause's countdown, and the last line is a recap; none on a pipe or with --json", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const [a, b, c, d] = sshd.aliases;
  const args = [
    "call",
    ...F(sshd),
    "-H",
    `${a},${b},${c},${d},nohost.invalid`,
    "--batch",
    "2",
    "--batch-pause",
    "2",
    "--",
    `[ "$PARALLAX_HOST" = ${d} ] && exit 3; true`,
  ];
  const session = onTerminal(cliArgv(args), cleanCliEnv());
  await session.waitFor("batch 2/3 in 2 s");
  const { code, screen } = await session.finished();
  // A connect error outranks an exit 3 (pssh's exit status 4).
  assertEquals(code, 4, screen);
  assertStringIncludes(screen, "batch 3/3");
  const lines = screen.replace(/\r/g, "").trim().split("\n");
  assert(
    /^3 ok, 1 exited nonzero, 1 connect in \d+\.\d s$/.test(lines.at(-1)!.split("\x1b[K").at(-1)!),
    JSON.stringify(lines.at(-1)),
  );
  // On pipes, and with --json at a terminal: no recap, no progress line.
  const piped = await new Deno.Command(cliArgv(args)[0], {
    args: cliArgv(args).slice(1),
    env: cleanCliEnv(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const pipedErr = new TextDecoder().decode(piped.stderr);
  assert(!/ in \d+\.\d s\n?$/.test(pipedErr), pipedErr);
  assert(!pipedErr.includes("batch 2/3"), pipedErr);
  const json = onTerminal(cliArgv(["call", "--json", ...args.slice(1)]), cleanCliEnv());
  const shown = (await json.finished()).screen;
  assert(!shown.includes(" ok, "), shown);
  assert(!shown.includes("batch 2/3"), shown);
});

Deno.test("ssh_config's own ConnectTimeout holds where it sets one; parallax's default elsewhere; --connect-timeout over both", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  // A server that accepts and never speaks: only ConnectTimeout ends the wait.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  const config = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(
      config,
      `Host hang1\n  HostName 127.0.0.1\n  Port ${silent.addr.port}\n  ConnectTimeout 2\n` +
        `Include ${sshd.configPath}\n`,
    );
    const started = Date.now();
    const result = await run([
      "call",
      "-x",
      `-F ${config}`,
      "-v",
      "-H",
      `hang1,${sshd.aliases[0]}`,
      "true",
    ]);
    const seconds = (Date.now() - started) / 1000;
    assertEquals(result.code, 4, result.stderr);
    assertStringIncludes(result.stderr, "-o ConnectTimeout=2");
    assertStringIncludes(result.stderr, "-o ConnectTimeout=10");
    assert(seconds < 8, `the config's 2 s held: ${seconds} s`);
    // -v shows one line per host, the command as given, not the wrapper; the host once.
    const lines = result.stderr.split("\n").filter((l) =>
      l.startsWith(`parallax: ${sshd.aliases[0]}:`)
    );
    assertEquals(lines.length, 1, result.stderr);
    assert(lines[0].endsWith(" true]"), lines[0]);
    const given = await run([
      "call",
      "-x",
      `-F ${config}`,
      "-v",
      "--connect-timeout",
      "5",
      "-H",
      "hang1",
      "true",
    ]);
    assertStringIncludes(given.stderr, "-o ConnectTimeout=5");
    assert(!given.stderr.includes("hang1: connect error: hang1:"), given.stderr);
  } finally {
    silent.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
    await Deno.remove(config);
  }
});

Deno.test("remote error lines keep the user's line numbers, with and without input", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const plain = await run(["call", ...F(sshd), "-H", "h001", "-i", "nosuchcmd1"]);
  assertStringIncludes(plain.stdout, ": 1: nosuchcmd1: not found");
  const second = await run(["call", ...F(sshd), "-H", "h001", "-i", "true\nnosuchcmd2"]);
  assertStringIncludes(second.stdout, ": 2: nosuchcmd2: not found");
  const input = await run([
    "call",
    ...F(sshd),
    "-H",
    "h001",
    "-I",
    "-i",
    "cat >/dev/null; nosuchcmd3",
  ], "data\n");
  assertStringIncludes(input.stdout, ": 1: nosuchcmd3: not found");
});
