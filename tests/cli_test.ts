import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cleanCliEnv, cli, cliArgv, ROOT, type ScriptRun, spawnCli } from "./fixture/deno_run.ts";
import { statusLines } from "./fixture/outcomes.ts";
import { processesMatching, timeUntil, uniqueMarker } from "./fixture/processes.ts";
import { type Sshd, startSshd } from "./fixture/sshd.ts";
import { withTempDir, withTempFile } from "./fixture/temp_dir.ts";
import { onTerminal } from "./fixture/terminal.ts";

const F = (sshd: Sshd) => ["-x", `-F ${sshd.configPath}`];

/** Runs `parallax call` on `hosts` (-H) through the test sshd's ssh_config, then `args`. */
const callOn = (sshd: Sshd, hosts: string, ...args: string[]) =>
  cli(["call", ...F(sshd), "-H", hosts, ...args]);

Deno.test("parallax call prints pssh status lines, with -i the output under each", async () => {
  await using sshd = await startSshd({ unprivileged: true, aliases: 4 });
  const run = await callOn(sshd, "h00[1-4]", "-i", "echo out-$PARALLAX_HOST; echo err >&2");
  assertEquals(run.code, 0, run.stderr);
  const lines = statusLines(run.stdout);
  assertEquals(lines.map((l) => l.n), [1, 2, 3, 4]);
  assertEquals(lines.map((l) => l.host).sort(), ["h001", "h002", "h003", "h004"]);
  for (const alias of sshd.aliases) {
    assertStringIncludes(run.stdout, `[SUCCESS] ${alias}\nout-${alias}\nStderr: err\n`);
  }
  assertEquals(run.stdout.includes("\x1b["), false, "no colours on a pipe");
});

Deno.test("parallax call --inline-stdout prints stdout only; without -i no output", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const inline = await callOn(sshd, "h001 h002", "--inline-stdout", "echo o; echo e >&2");
  assertEquals(inline.code, 0, inline.stderr);
  assertStringIncludes(inline.stdout, "[SUCCESS] h001\no\n");
  assertEquals(inline.stdout.includes("Stderr"), false);
  const bare = await callOn(sshd, "h001", "echo o");
  assertEquals(statusLines(bare.stdout).length, 1);
  assertEquals(bare.stdout.split("\n").filter((l) => l !== "").length, 1);
});

Deno.test("parallax call --json writes one object per host per line", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const run = await callOn(sshd, "h001 h002 refused", "--json", "echo hi; exit 3");
  assertEquals(run.code, 4, run.stderr);
  const records = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assertEquals(records.length, 3);
  const byHost = Object.fromEntries(records.map((r) => [r.host, r]));
  assertEquals(byHost.h001.status, "failure");
  assertEquals(byHost.h001.exitCode, 3);
  assertEquals(byHost.h001.kind, null);
  assertEquals(byHost.h001.stdout, "hi\n");
  assert(typeof byHost.h001.durationMs === "number");
  assertEquals(byHost.refused.kind, "connect");
  assertEquals(byHost.refused.exitCode, null, "no command exited");
  assertStringIncludes(byHost.refused.message, "Connection refused");
});

Deno.test("parallax call --gather prints each distinct output once under its host range", async () => {
  await using sshd = await startSshd({ unprivileged: true, aliases: 6 });
  const run = await callOn(
    sshd,
    "h00[1-6]",
    "--gather",
    'if [ "$PARALLAX_HOST" = h006 ]; then echo odd; else echo same; fi',
  );
  assertEquals(run.code, 0, run.stderr);
  assertStringIncludes(run.stdout, "h[001-005] (5)\n---------------\nsame\n");
  assertStringIncludes(run.stdout, "h006 (1)\n---------------\nodd\n");
  assert(run.stdout.indexOf("same") < run.stdout.indexOf("odd"), "largest group first");
});

Deno.test("parallax exit status: 0 ok, 5 nonzero, 4 ssh error, 3 timeout, 2 usage, 1 other", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const hosts = "h001 h002";
  assertEquals((await callOn(sshd, hosts, "true")).code, 0);
  assertEquals((await callOn(sshd, hosts, "exit 7")).code, 5);
  assertEquals((await callOn(sshd, "h001 refused", "exit 7")).code, 4);
  const timeout = await callOn(sshd, "h001 refused", "-t", "1", "sleep 20");
  assertEquals(timeout.code, 3);
  assertStringIncludes(timeout.stdout, "[FAILURE] h001 Timed out, killed");
  assertEquals((await callOn(sshd, hosts, "-p", "x", "true")).code, 2);
  const missing = await cli(["copy", ...F(sshd), "-H", hosts, "/nonexistent/file", "/tmp/x"]);
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.stderr, "parallax: Cannot copy '/nonexistent/file'");
});

Deno.test("parallax reads -h host files and -H ranges, else PARALLAX_HOSTS; flags win", async () => {
  await using sshd = await startSshd({ aliases: 5 });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.txt`, "# web\nh00[1-2]\n");
    await Deno.writeTextFile(`${dir}/b.txt`, "h003\n");
    await Deno.writeTextFile(`${dir}/env.txt`, "h005\n");
    const hostsOf = (run: ScriptRun) => statusLines(run.stdout).map((l) => l.host).sort();
    const both = await cli([
      "call",
      ...F(sshd),
      "-h",
      `${dir}/a.txt`,
      "-h",
      `${dir}/b.txt`,
      "-H",
      "h004",
      "true",
    ], {
      env: { PARALLAX_HOSTS: `${dir}/env.txt` },
    });
    assertEquals(hostsOf(both), ["h001", "h002", "h003", "h004"]);
    const fromEnv = await cli(["call", ...F(sshd), "true"], {
      env: { PARALLAX_HOSTS: `${dir}/env.txt` },
    });
    assertEquals(hostsOf(fromEnv), ["h005"]);
  });
});

Deno.test("parallax env defaults PARALLAX_USER/OPTIONS/OUTDIR/VERBOSE, and flags win over them", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    const env = {
      PARALLAX_USER: "no-such-user-parallax",
      PARALLAX_OPTIONS: "SetEnv=PARALLAX_X=from-env",
      PARALLAX_OUTDIR: `${dir}/env-out`,
      PARALLAX_VERBOSE: "1",
      PARALLAX_PAR: "3",
    };
    const fromEnv = await cli(["call", ...F(sshd), "-H", "h001", "echo $PARALLAX_X"], { env });
    assertEquals(fromEnv.code, 4);
    assertStringIncludes(fromEnv.stdout, "[FAILURE] h001 auth:");
    assertStringIncludes(fromEnv.stderr, "parallax: h001: auth error");
    assertStringIncludes(fromEnv.stderr, "-l no-such-user-parallax");

    const flags = await cli([
      "call",
      ...F(sshd),
      "-H",
      "h001",
      "-l",
      sshd.user,
      "-O",
      "SetEnv=PARALLAX_X=from-flag",
      "-o",
      `${dir}/flag-out`,
      "-i",
      "echo $PARALLAX_X",
    ], { env });
    assertEquals(flags.code, 0, flags.stdout + flags.stderr);
    assertStringIncludes(flags.stdout, "from-flag\n");
    assertEquals(await Deno.readTextFile(`${dir}/flag-out/h001`), "from-flag\n");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["env-out", "flag-out"]);
    assertEquals(
      await Deno.readTextFile(`${dir}/env-out/h001`),
      "",
      "the env outdir got the failed run",
    );
  });
});

Deno.test("parallax call -I sends stdin to every host; -P prints lines as they arrive", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const input = await cli(["call", ...F(sshd), "-H", "h001 h002", "-I", "-i", "wc -c"], {
    stdin: "12345",
  });
  assertEquals(input.code, 0, input.stderr);
  assertEquals(input.stdout.split("\n").filter((l) => l.trim() === "5").length, 2);
  const print = await callOn(sshd, "h001 h002", "-P", "printf 'a\\nb\\n'");
  for (const alias of ["h001", "h002"]) {
    assertStringIncludes(print.stdout, `${alias}: a\n${alias}: b\n`);
  }
});

Deno.test("parallax call -o and -e write a file per host; -X, -O and -q reach ssh", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const run = await cli([
      "call",
      "-X",
      "-F",
      "-X",
      sshd.configPath,
      "-H",
      "h001 h002",
      "-o",
      `${dir}/out`,
      "-e",
      `${dir}/err`,
      "-O",
      "SetEnv=PARALLAX_X=opt",
      "-q",
      "-v",
      "echo $PARALLAX_X; echo e >&2",
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/out/h002`), "opt\n");
    assertEquals(await Deno.readTextFile(`${dir}/err/h001`), "e\n");
    assertStringIncludes(run.stderr, "LogLevel=ERROR");
  });
});

Deno.test("parallax copy -r and slurp -L move files; copy of a folder without -r is a usage error", async () => {
  // As root: the remote side writes into this process's temporary folder.
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/sub/f`, "f\n");
    await Deno.mkdir(`${dir}/dest`);
    const noR = await cli(["copy", ...F(sshd), "-H", "h001", `${dir}/tree`, `${dir}/dest`]);
    assertEquals(noR.code, 2);
    assertStringIncludes(noR.stderr, "is a folder");
    const copied = await cli([
      "copy",
      ...F(sshd),
      "-H",
      "h001 h002",
      "-r",
      `${dir}/tree`,
      `${dir}/dest`,
    ]);
    assertEquals(copied.code, 0, copied.stdout + copied.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/dest/tree/sub/f`), "f\n");
    const slurped = await cli([
      "slurp",
      ...F(sshd),
      "-H",
      "h00[1-2]",
      "-L",
      `${dir}/in`,
      `${dir}/tree/sub/f`,
      "got",
    ]);
    assertEquals(slurped.code, 0, slurped.stdout + slurped.stderr);
    for (const alias of ["h001", "h002"]) {
      assertEquals(await Deno.readTextFile(`${dir}/in/${alias}/got`), "f\n");
    }
    assertStringIncludes(slurped.stdout, `[SUCCESS] h001 ${dir}/in/h001/got`);
  });
});

Deno.test("parallax usage errors print one line and the hint, exit 2, contact no host", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    const touched = `${dir}/touched`;
    const cases: [string[], string][] = [
      [
        ["call", ...F(sshd), "-H", "h001", "--frobnicate", `touch ${touched}`],
        "unknown option --frobnicate",
      ],
      [["call", ...F(sshd), "-H", "h001", "-Z", `touch ${touched}`], "unknown option -Z"],
      [[...F(sshd), "-H", "h001"], "missing command"],
      [["launch", "-H", "h001", `touch ${touched}`], "unknown command 'launch'"],
      [["call", ...F(sshd), "-H", "h001"], "missing COMMAND"],
      [["call", ...F(sshd), `touch ${touched}`], "no hosts"],
      [
        ["call", ...F(sshd), "-h", `${dir}/missing.txt`, `touch ${touched}`],
        "Cannot read host file",
      ],
      [["call", ...F(sshd), "-H", "h[5-1]", `touch ${touched}`], "runs backwards"],
      [["call", ...F(sshd), "-H", "h[1-1000000]", `touch ${touched}`], "more than 100,000"],
      [["call", ...F(sshd), "-H", "-oProxyCommand=x", `touch ${touched}`], "ssh option"],
      [["call", ...F(sshd), "-H", "h001", "-p", "0", `touch ${touched}`], "invalid --par '0'"],
      [["call", ...F(sshd), "-H", "h001", "-t", "soon", `touch ${touched}`], "invalid --timeout"],
      [
        ["call", ...F(sshd), "-H", "h001", "-L", dir, `touch ${touched}`],
        "does not apply to 'parallax call'",
      ],
      [
        ["call", ...F(sshd), "-H", "h001", "--json", "--gather", `touch ${touched}`],
        "cannot be used together",
      ],
      [["slurp", ...F(sshd), "-H", "h001", "/etc/hostname", "/abs"], "relative"],
      [["call", "-x", "-F 'unclosed", "-H", "h001", `touch ${touched}`], "unclosed"],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      assertEquals(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      const lines = run.stderr.trim().split("\n");
      assertEquals(lines.length, 2, run.stderr);
      assertStringIncludes(lines[0], `parallax: `);
      assertStringIncludes(lines[0], message);
      const command = ["call", "copy", "slurp"].includes(args[0]) ? `${args[0]} ` : "";
      assertEquals(lines[1], `Try 'parallax ${command}--help' for more information.`);
      assertEquals(run.stdout, "");
    }
    const files = [...Deno.readDirSync(dir)].map((e) => e.name);
    assertEquals(files.includes("touched"), false, "a host was contacted");
  });
});

Deno.test("parallax --help, <command> --help and --version", async () => {
  const help = await cli(["--help"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "Usage: parallax <call|copy|slurp|sync|hosts|persist>");
  assertStringIncludes(help.stdout, "Exit status:");
  const callHelp = await cli(["call", "--help"]);
  assertStringIncludes(callHelp.stdout, "-I, --send-input");
  assertStringIncludes((await cli(["slurp", "--help"])).stdout, "-L, --localdir");
  const version = await cli(["--version"]);
  const { version: expected } = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  assertEquals(version.stdout, `parallax ${expected}\n`);
});

Deno.test("Ctrl-C stops everything: ssh killed, queued hosts never started, summary, exit 3", async () => {
  await using sshd = await startSshd({ aliases: 6 });
  for (const signals of [1, 2]) {
    const marker = uniqueMarker();
    const child = spawnCli([
      "call",
      ...F(sshd),
      "-H",
      "h00[1-6]",
      "-p",
      "2",
      `sleep 30 # ${marker}`,
    ]);
    await timeUntil(async () => (await processesMatching(marker)).length >= 2);
    for (let i = 0; i < signals; i++) child.kill("SIGINT");
    const { code, stdout, stderr } = await child.finished();
    assertEquals(code, 3, stderr);
    const lines = statusLines(stdout);
    assertEquals(lines.length, 6, stdout);
    for (const line of lines) assertEquals(line.rest, " Interrupted");
    assertStringIncludes(stderr, "interrupted: 0 of 6 hosts finished; not finished:");
    assertEquals(await processesMatching(marker), [], `${signals} SIGINT(s) left ssh running`);
  }
});

Deno.test("colours and the progress line only on a terminal, never with NO_COLOR or --json", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const inTerminal = async (args: string[], env: Record<string, string> = {}) =>
    (await onTerminal(cliArgv(args), cleanCliEnv(env)).finished()).screen;
  const hosts = [...F(sshd), "-H", "h001 h002"];
  const colored = await inTerminal(["call", ...hosts, "sleep 0.6"]);
  assertStringIncludes(colored, "\x1b[32m[SUCCESS]\x1b[0m");
  assertStringIncludes(colored, "[0/2] ");
  const plain = await inTerminal(["call", ...hosts, "true"], { NO_COLOR: "1" });
  assertEquals(plain.includes("\x1b[32m"), false);
  assertStringIncludes(plain, "[SUCCESS] h001");
  const gather = await inTerminal(["call", ...hosts, "--gather", "sleep 0.6; echo g"]);
  assertStringIncludes(gather, "h[001-002] (2)");
  // The output, then the recap last: no progress line drawn again after the end.
  assert(
    /\ng\n2 ok in \d+\.\d s$/.test(gather.replaceAll("\r", "").trimEnd()),
    `the progress line was drawn again after the end: ${JSON.stringify(gather)}`,
  );
  const json = await inTerminal(["call", ...hosts, "--json", "sleep 0.6"]);
  assertEquals(json.includes("[0/2]"), false);
  assertEquals(json.includes("\x1b["), false);
});

Deno.test("parallax --connect-timeout, --preserve, --compress and --bwlimit reach ssh and scp", async () => {
  await using sshd = await startSshd({ aliases: 1, unprivileged: false });
  const silent = await callOn(sshd, "silent", "--connect-timeout", "1", "true");
  assertEquals(silent.code, 4);
  assertStringIncludes(silent.stdout, "[FAILURE] silent connect:");
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "f\n");
    const mtime = new Date("2002-03-04T05:06:07Z");
    await Deno.utime(`${dir}/f`, mtime, mtime);
    const run = await cli([
      "copy",
      ...F(sshd),
      "-H",
      "h001",
      "-v",
      "--preserve",
      "--compress",
      "--bwlimit",
      "80000",
      `${dir}/f`,
      `${dir}/g`,
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertEquals((await Deno.stat(`${dir}/g`)).mtime?.getTime(), mtime.getTime());
    assertStringIncludes(run.stderr, "[scp -s -p -C -l 80000 -F ");
  });
});

Deno.test("parallax reports every host when the call is refused before any host is contacted", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempFile(async (file) => {
    const run = await callOn(sshd, "h001 h002", "-o", `${file}/out`, "true");
    assertEquals(run.code, 4, run.stderr);
    const lines = statusLines(run.stdout);
    assertEquals(lines.map((l) => l.host).sort(), ["h001", "h002"]);
    for (const line of lines) assertStringIncludes(line.rest, "cannot create output folder");
  });
});

Deno.test("CLI exit status 1, not 2, for what is not a usage error: an unreadable stdin is named, an internal error says so", async () => {
  // stdin is a folder: reading it fails (EISDIR) before any host is contacted.
  const argv = cliArgv(["call", "-H", "nohost.invalid", "--send-input", "cat"]);
  const folder = await new Deno.Command("sh", {
    args: ["-c", 'exec "$@" < /', "sh", ...argv],
    env: cleanCliEnv(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(folder.stderr);
  assertEquals(folder.code, 1, said);
  assertStringIncludes(said, "cannot read standard input");
  assert(!said.includes("Try 'parallax"), "no usage hint for a system error");
  // A TypeError from inside parallax (injected) is an internal error, exit 1, with its message.
  const script = `
    import { main } from "${ROOT}/lib/cli/main.ts";
    Object.defineProperty(Deno.stdout, "isTerminal", {
      value: () => { throw new TypeError("injected fault"); },
    });
    Deno.exit(await main(["call", "-H", "nohost.invalid", "--send-input", "cat"]));
  `;
  const internal = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    env: cleanCliEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const told = new TextDecoder().decode(internal.stderr);
  assertEquals(internal.code, 1, told);
  assertStringIncludes(told, "internal error: TypeError: injected fault (please report it)");
});
