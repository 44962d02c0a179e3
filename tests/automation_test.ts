import { assertEquals, assertRejects, assertThrows } from "./fixture/assert.ts";
import { ok } from "./fixture/outcomes.ts";
import { cli, CLI_PERMISSIONS } from "./fixture/deno_run.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { call, type CallLineEvent, callStream, Pool, sh } from "../mod.ts";

Deno.test("sh quotes each interpolated value as one word; arrays word by word; numbers as digits", () => {
  assertEquals(sh`echo ${"a b"}`, "echo 'a b'");
  assertEquals(sh`echo ${"it's"}`, `echo 'it'\\''s'`);
  assertEquals(sh`rm ${["x", "y z"]} -- ${3} ${10n}`, "rm 'x' 'y z' -- 3 10");
  assertEquals(sh`true`, "true");
  // deno-lint-ignore no-explicit-any
  const loose = sh as any;
  assertThrows(() => loose`echo ${null}`, TypeError, "value 1");
  assertThrows(() => loose`echo ${"a"} ${undefined}`, TypeError, "value 2");
  assertThrows(() => loose`echo ${{}}`, TypeError, "object");
  assertThrows(() => sh`echo ${Number.NaN}`, TypeError, "finite");
  assertThrows(() => sh`echo ${"a\0b"}`, TypeError, "NUL");
});

Deno.test("call() with sh: the remote shell reads every value back unchanged and runs none of it", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o777);
    const values = ["a b", `$(touch ${dir}/x)`, "it's", "`touch y`", "; echo no"];
    const results = await call(["h001"], sh`cd ${dir} && printf '%s|' ${values}`, {
      sshExtra: sshd.sshExtra,
    });
    assertEquals(ok(results.get("h001")).stdout, `${values.join("|")}|`);
    assertEquals([...Deno.readDirSync(dir)], [], "nothing was created");
  });
});

Deno.test("call() env and cwd: the command runs there with those variables, under sudo too; a missing folder is that host's nonzero exit", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const { password } = await sshd.sudoUsers();
  const env = { GREETING: "hello 'world' $(no)", EMPTY: "" };
  const command = 'printf "%s|%s|%s|" "$GREETING" "$EMPTY" "$(pwd)"; id -un';
  const plain = await call(["h001"], command, { sshExtra: sshd.sshExtra, env, cwd: "/usr" });
  assertEquals(ok(plain.get("h001")).stdout, `hello 'world' $(no)||/usr|parallaxtest\n`);
  const sudo = await call(["h001"], command, {
    sshExtra: sshd.sshExtra,
    env,
    cwd: "/var",
    sudo: true,
    sudoPassword: password,
  });
  assertEquals(ok(sudo.get("h001")).stdout, `hello 'world' $(no)||/var|root\n`);
  const missing = await call(["h001"], "echo ran", {
    sshExtra: sshd.sshExtra,
    cwd: "/no/such/folder",
  });
  const result = ok(missing.get("h001"));
  assertEquals(result.stdout, "", "the command did not run");
  assertEquals(result.exitCode !== 0, true);
  assertEquals(result.stderr.includes("/no/such/folder"), true, result.stderr);
});

Deno.test("call() refuses a malformed env name or cwd before any host is contacted", async () => {
  await assertRejects(() => call(["h"], "true", { env: { "A-B": "x" } }), TypeError, "A-B");
  await assertRejects(() => call(["h"], "true", { env: { A: "x\0" } }), TypeError, "NUL");
  await assertRejects(() => call(["h"], "true", { cwd: "" }), TypeError, "cwd");
});

Deno.test("an unknown option is a TypeError naming the nearest known one; a per-host function that throws says so", async () => {
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => call(["h"], "true", { timeOut: 5 } as any),
    TypeError,
    "Unknown option 'timeOut' for call(): did you mean 'timeout'?",
  );
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => call(["h"], "true", { zzzzzzzz: 1 } as any),
    TypeError,
    "Unknown option 'zzzzzzzz' for call()",
  );
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => callStream(["h"], "true", { line: true } as any).next(),
    TypeError,
    "Unknown option 'line' for callStream(): did you mean 'lines'?",
  );
  // deno-lint-ignore no-explicit-any
  assertThrows(() => new Pool({ limt: 1 } as any), TypeError, "did you mean 'limit'?");
  const results = await call(["h1", "h2"], (host) => {
    if (host.host === "h2") throw new RangeError("boom");
    return "true";
  }, { sshPath: "/nonexistent/ssh" });
  const error = results.get("h2") as Error & { kind: string };
  assertEquals(error.kind, "local");
  assertEquals(error.message, "h2: your per-host function threw for this host: RangeError: boom");
});

Deno.test("callStream({ lines: true }) yields whole lines per host and stream, a split character whole, the last unterminated line at the end", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const events: CallLineEvent[] = [];
  const command = `printf 'x\\303'; sleep 0.3; printf '\\251y\\nsecond\\n\\377\\nlast'; ` +
    `echo "err $PARALLAX_NODENUM" >&2`;
  for await (
    const event of callStream(sshd.aliases, command, {
      sshExtra: sshd.sshExtra,
      lines: true,
    })
  ) events.push(event);
  // No output chunks in this mode (the type says so too).
  assertEquals(events.filter((e) => !["line", "result"].includes(e.type)).length, 0);
  for (const [n, host] of sshd.aliases.entries()) {
    const mine = events.filter((e) => e.host === host);
    const lines = (stream: string) =>
      mine.flatMap((e) => e.type === "line" && e.stream === stream ? [e.line] : []);
    assertEquals(lines("stdout"), ["x\u00e9y", "second", "\ufffd", "last"]);
    assertEquals(lines("stderr"), [`err ${n}`]);
    assertEquals(mine.at(-1)?.type, "result", "the result comes after the host's lines");
  }
});

Deno.test("CLI --env NAME=VALUE (repeatable) and --cwd DIR reach the remote command; --env without = is a usage error", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const base = ["call", "-x", `-F ${sshd.configPath}`, "-H", "h001", "-i"];
  const run = await cli([
    ...base,
    "--env",
    "A=x y",
    "--env",
    "B=",
    "--cwd",
    "/usr",
    'echo "$A|$B|$(pwd)"',
  ]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.stdout.includes("x y||/usr\n"), true, run.stdout);
  const bad = await cli([...base, "--env", "novalue", "true"]);
  assertEquals(bad.code, 2);
  assertEquals(bad.stderr.includes("--env needs NAME=VALUE"), true, bad.stderr);
});

Deno.test("a throwing onResult reaches the caller once every host has ended; parallax's own observers still hear each result", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const seen: string[] = [];
  let error: unknown = null;
  try {
    for await (
      const event of callStream(sshd.aliases, "true", {
        sshExtra: sshd.sshExtra,
        onResult: () => {
          throw new Error("hook failed");
        },
      })
    ) {
      if (event.type === "result") seen.push(event.host);
    }
  } catch (caught) {
    error = caught;
  }
  assertEquals(seen.sort(), sshd.aliases, "every result still came out of the stream");
  assertEquals((error as Error).message, "hook failed");
});

Deno.test("CLI: an optional-value flag followed by a word is a usage error that suggests --flag=VALUE, whatever the word", async () => {
  const run = await cli(["call", "-H", "h1", "--persist", "300", "uptime"]);
  assertEquals(run.code, 2);
  assertEquals(run.stderr.includes("write --persist=300"), true, run.stderr);
  // Whether the word is a user of this machine or not: never run as the command.
  for (const user of ["root", "deploy-not-a-local-user"]) {
    const sudo = await cli(["call", "-H", "h1", "--sudo", user, "./restart.sh"]);
    assertEquals(sudo.code, 2, sudo.stderr);
    assertEquals(sudo.stderr.includes(`write --sudo=${user}`), true, sudo.stderr);
  }
});

Deno.test("CLI: --batch-pause without --batch is a usage error; --exclude is linear (100,000 hosts minus 99,999 at once)", async () => {
  const pause = await cli(["call", "-H", "h1", "--batch-pause", "5", "true"]);
  assertEquals(pause.code, 2);
  assertEquals(pause.stderr.includes("--batch-pause needs --batch"), true, pause.stderr);
  // Every host but the last excluded: what is left is one host, which does not exist.
  const started = performance.now();
  const run = await cli([
    "call",
    "-H",
    "n[000001-100000].invalid",
    "--exclude",
    "n[000001-099999].invalid",
    "-x",
    "-oConnectTimeout=1",
    "true",
  ]);
  const took = performance.now() - started;
  assertEquals(run.stdout.includes("n100000.invalid"), true, run.stdout + run.stderr);
  assertEquals(run.stdout.includes("n099999.invalid"), false);
  console.log(`  100,000 hosts minus 99,999: ${Math.round(took)} ms in all (the run included)`);
});

Deno.test("CLI: a flag whose permission is missing is refused before anything runs, naming it (exit 2)", async () => {
  const narrow = CLI_PERMISSIONS.filter((flag) => !flag.startsWith("--allow-sys"));
  const persist = await cli(["call", "-H", "nohost.invalid", "--persist=5", "true"], {
    flags: narrow,
  });
  assertEquals(persist.code, 2, persist.stderr);
  assertEquals(persist.stderr.includes("--persist needs --allow-sys=uid"), true, persist.stderr);
  const noEnv = CLI_PERMISSIONS.filter((flag) => !flag.startsWith("--allow-env"));
  const group = await cli(["hosts", "@web"], { flags: noEnv });
  assertEquals(group.code, 2, group.stderr);
  assertEquals(group.stderr.includes("--allow-env=PARALLAX_GROUPS,HOME"), true, group.stderr);
});
