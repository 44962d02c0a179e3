/**
 * Warm hosts: a held pool's repeat calls run on one ssh session per host (no local process), and
 * give what a new ssh gives. Each case runs warm and cold (`warm: false`) on the same pool and
 * compares every byte.
 */

import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { callScriptArgv, ROOT } from "./fixture/deno_run.ts";
import { onTerminal } from "./fixture/terminal.ts";
import { listProcesses, timeUntil, tracedSleep } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withScript } from "./fixture/temp_dir.ts";
import { call, type CallOptions, type CallResult, ParallaxError, Pool } from "../mod.ts";

/** One host's result of `command`, with `warm` as asked (retried until a warm session is up). */
async function one(
  host: string,
  command: string,
  options: CallOptions,
  warm: boolean,
): Promise<CallResult | ParallaxError> {
  for (let attempt = 0;; attempt++) {
    const result = (await call([host], command, { ...options, warm })).get(host)!;
    if (!warm || result instanceof ParallaxError || result.warm || attempt === 5) return result;
    // Its warm session is still opening (or ended with the last command): wait for it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await call([host], "true", options);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function summary(result: CallResult | ParallaxError) {
  if (result instanceof ParallaxError) return { kind: result.kind };
  return {
    exitCode: result.exitCode,
    stdout: [...result.stdoutBytes].join(","),
    stderr: [...result.stderrBytes].join(","),
  };
}

Deno.test("a warm host gives byte for byte what a new ssh gives", async () => {
  await using lab = await warmLab(2);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  const cases: [string, CallOptions?][] = [
    ["echo out; echo err >&2; exit 3"],
    // Signals as a new ssh's command gets them (none ignored that a new ssh's shell has not).
    ["grep -E '^SigIgn' /proc/$$/status; sleep 3 & p=$!; sleep 0.3; kill -INT $p; wait $p; echo $?"],
    ["-x"],
    // `wait`, `$!` and `jobs` see only the command's own processes (not parallax's watcher).
    ['sleep 0.2 & wait; echo waited; echo "[$!]" | tr -d 0-9; jobs'],
    ["echo 'unterminated"],
    ["printf '\\000\\377\\n\\r\\033[31mbinary'"],
    ["printf 'no newline'; printf 'on stderr either' >&2"],
    ["exit 255"],
    ["nosuchcommand"],
    ['echo $0 "$PARALLAX_HOST" "$PARALLAX_NODENUM"; env | grep -v \'^SSH_\' | sort'],
    ['pwd; echo "$A|$B"', { cwd: "/tmp", env: { A: "it's", B: "$(touch /tmp/no)" } }],
    ["pwd", { cwd: "/no/such/folder" }],
    ["cat; echo read to the end"],
    ["head -c 3000000 /dev/zero | tr '\\0' x; echo; head -c 100000 /dev/zero >&2"],
    // A background child that holds stdout: its output is the command's, as with ssh.
    ["(sleep 0.5; echo late; echo late-err >&2) & echo early"],
    // One that lets go of it: the command ends at once.
    ["(sleep 0.4 >/dev/null 2>&1 &); echo daemon"],
  ];
  for (const [command, extra] of cases) {
    const warm = await one(host, command, { ...options, ...extra }, true);
    const cold = await one(host, command, { ...options, ...extra }, false);
    assert(!(warm instanceof ParallaxError) && warm.warm, `${command}: ran warm`);
    assert(!(cold instanceof ParallaxError) && !cold.warm, `${command}: ran cold`);
    assertEquals(summary(warm), summary(cold), command);
    assertEquals(warm.toJSON().warm, true);
  }
});

Deno.test("warm: a command whose own shell a signal ends exits 128 + n, and stderr has only what it printed", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  // A new ssh reports these as kind ssh (sshd says the shell died by a signal): the one known
  // difference. What must hold: nothing of the warm session's own shell reaches the command's
  // stderr (a shell reports its foreground child's death by a signal: "Killed").
  await one(host, "true", options, true);
  for (
    const [command, code, stderr] of [
      ["echo before >&2; kill -9 $$", 137, "before\n"],
      ["kill -TERM 0; echo after", 143, ""],
    ] as const
  ) {
    const warm = await one(host, command, options, true);
    assert(!(warm instanceof ParallaxError) && warm.warm, `${command}: ran warm`);
    assertEquals([warm.exitCode, warm.stderr, warm.stdout], [code, stderr, ""], command);
  }
  const next = await one(host, "echo next", options, true);
  assert(!(next instanceof ParallaxError) && next.warm && next.stdout === "next\n", "still warm");
});

Deno.test("warm: a timeout stops the command on the host, and the host runs cold after it", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  assert((await one(host, "true", options, true)) instanceof ParallaxError === false);
  const sleep = tracedSleep();
  const timedOut = await one(host, sleep.sleep, { ...options, timeout: 1 }, true);
  assert(timedOut instanceof ParallaxError, "a timeout is an error");
  assertEquals(timedOut.kind, "timeout");
  assertEquals([timedOut.warm, timedOut.toJSON().warm], [true, true], "the error says it ran warm");
  await timeUntil(async () => (await sleep.remote()) === 0, 8_000);
  const next = (await call([host], "echo next", options)).get(host)!;
  assert(!(next instanceof ParallaxError), "the next call runs");
  assertEquals([next.stdout, next.warm], ["next\n", false]);
  // A call's error on the cold path says so too, in its record as well.
  const cold = (await call([host], sleep.sleep, { ...options, timeout: 1, warm: false })).get(
    host,
  )!;
  assert(cold instanceof ParallaxError, "a cold timeout is an error");
  assertEquals([cold.kind, cold.warm, cold.toJSON().warm], ["timeout", false, false]);
  await timeUntil(async () => (await sleep.remote()) === 0, 8_000);
});

Deno.test("warm: a session that breaks fails only the command in flight, as ssh", async () => {
  await using lab = await warmLab(2);
  const { sshd, options } = lab;
  const [host, other] = sshd.aliases;
  const sleep = tracedSleep(5);
  await one(host, "true", options, true);
  await one(other, "true", options, true);
  const running = call([host, other], `${sleep.sleep}; echo done`, { ...options, timeout: 0 });
  await timeUntil(async () => (await sleep.remote()) === 2, 8_000);
  // The host's session goes (as when sshd restarts): its runner and its command are killed.
  const sleeps = (await listProcesses()).filter(({ args }) => args === sleep.sleep);
  const group = pgidOf(sleeps[0].pid);
  Deno.kill(ppidOf(group), "SIGKILL");
  Deno.kill(-group, "SIGKILL");
  const results = await running;
  const broken = [...results.values()].filter((r) => r instanceof ParallaxError);
  assertEquals(broken.length, 1, "only one host failed");
  assertEquals((broken[0] as ParallaxError).kind, "ssh");
  assertEquals((broken[0] as ParallaxError).attempts, 1, "not retried: the command had started");
  const fine = [...results.values()].find((r) => !(r instanceof ParallaxError)) as CallResult;
  assertEquals([fine.stdout, fine.warm], ["done\n", true]);
  const after = await call([host, other], "echo again", options);
  for (const result of after.values()) {
    assert(!(result instanceof ParallaxError), "both hosts run the next call");
    assertEquals(result.stdout, "again\n");
  }
});

Deno.test("warm: a SIGKILLed controller's command is stopped on the host; a closed pool leaves nothing", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const sleep = tracedSleep();
  const script = `
    import { call, Pool } from "${ROOT}/mod.ts";
    const pool = new Pool();
    const options = { pool, sshExtra: ${JSON.stringify(sshd.sshExtra)}, timeout: 0 };
    for (let i = 0; i < 20; i++) {
      const r = (await call(["${sshd.aliases[0]}"], "true", options)).get("${sshd.aliases[0]}");
      if (r.warm) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    console.log("warm");
    await call(["${sshd.aliases[0]}"], "${sleep.sleep}", options);
  `;
  await withScript(script, async (path) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertStringIncludes(new TextDecoder().decode(value), "warm");
    await timeUntil(async () => (await sleep.remote()) === 1, 8_000);
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const ms = await timeUntil(async () => (await sleep.remote()) === 0, 10_000);
    assert(ms < 10_000);
  });
  // Nothing of the session is left on either side: no runner, no lifeline, no ssh.
  await timeUntil(async () => (await sessionLeftovers()).length === 0, 10_000);
  const pool = new Pool();
  await one(sshd.aliases[0], "true", { pool, sshExtra: sshd.sshExtra }, true);
  await pool.close();
  await timeUntil(async () => (await sessionLeftovers()).length === 0, 10_000);
});

/** A test sshd with `aliases` hosts and a held pool on it (a call's options included). */
async function warmLab(aliases: number) {
  const sshd = await startSshd({ aliases });
  const pool = new Pool();
  const options: CallOptions = { pool, sshExtra: sshd.sshExtra, timeout: 20 };
  return {
    sshd,
    pool,
    options,
    async [Symbol.asyncDispose]() {
      await pool.close();
      await sshd[Symbol.asyncDispose]();
    },
  };
}

/** The names of `/tmp/tmp.*` folders now (warm sessions keep theirs there on this host). */
function tmpFolders(): Set<string> {
  return new Set(
    [...Deno.readDirSync("/tmp")].filter((e) => e.isDirectory && e.name.startsWith("tmp."))
      .map((e) => e.name),
  );
}

Deno.test("warm: a session's folder on the host is gone after it ends, a SIGKILLed command's too", async () => {
  const before = tmpFolders();
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  // A command that ignores SIGTERM is SIGKILLed 2 s after its timeout; the runner then goes on
  // (and once made the session's `g` again after the lifeline had removed the folder).
  for (let i = 0; i < 3; i++) {
    await one(host, "true", options, true);
    const warm = await one(host, "trap '' TERM; sleep 30", { ...options, timeout: 1 }, true);
    assert(warm instanceof ParallaxError && warm.kind === "timeout" && warm.warm, "timed out warm");
  }
  await lab.pool.close();
  const left = () => [...tmpFolders()].filter((name) => !before.has(name));
  await timeUntil(() => Promise.resolve(left().length === 0), 8_000).catch(() => {});
  assertEquals(left(), [], "the sessions' folders are removed");
});

Deno.test("warm: a command that removes the session's folder gets its own result; the host runs cold, then warm again", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  const mine = `find /tmp -maxdepth 1 -name 'tmp.*' -user "$(id -u)" -newer ${sshd.configPath}`;
  const command = `${mine} -exec rm -rf {} + ; echo removed`;
  const warm = await one(host, command, options, true);
  assert(!(warm instanceof ParallaxError) && warm.warm, "ran warm");
  assertEquals([warm.exitCode, warm.stdout, warm.stderr], [0, "removed\n", ""]);
  // Without its folder the session could not stop a later command: it is not used again.
  const next = (await call([host], "echo next", options)).get(host)!;
  assert(!(next instanceof ParallaxError), "the next call runs");
  assertEquals([next.stdout, next.warm], ["next\n", false]);
  const again = await one(host, "echo again", options, true);
  assert(
    !(again instanceof ParallaxError) && again.warm && again.stdout === "again\n",
    "warm again",
  );
});

Deno.test("warm: a call cancelled before its command was sent reports it never started", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  const dir = await Deno.makeTempDir({ prefix: "plx-warm-cancel-" });
  const runners = async () => (await listProcesses()).filter(({ args }) => args === "sh");
  try {
    await one(host, "true", options, true);
    // The session's runner, stopped: its ping goes unanswered, and the call is cancelled then.
    const [runner, ...others] = await runners();
    assert(runner !== undefined && others.length === 0, "one runner");
    Deno.kill(runner.pid, "SIGSTOP");
    const controller = new AbortController();
    const marker = `${dir}/ran`;
    const running = call([host], `touch ${marker}`, { ...options, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 500));
    controller.abort();
    const result = (await running).get(host)!;
    Deno.kill(runner.pid, "SIGCONT");
    assert(result instanceof ParallaxError, "cancelled");
    // Never started: no attempt, no time, not warm; and it never ran.
    assertEquals(
      [result.kind, result.attempts, result.durationMs, result.warm],
      ["cancelled", 0, undefined, false],
    );
    await timeUntil(async () => (await runners()).length === 0, 8_000);
    assert(!(await Deno.stat(marker).then(() => true, () => false)), "it never ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * What is left of warm sessions, on either side: runners (`sh`), lifelines (the opening
 * script's subshell), local ssh sessions and masters of a pool.
 */
async function sessionLeftovers(): Promise<string[]> {
  return (await listProcesses()).filter(({ args }) =>
    args === "sh" || args.includes("mkfifo") || /ssh .*ControlPath=.*plx-/.test(args) ||
    /ssh: .*plx-.*\[mux\]/.test(args)
  ).map(({ pid, args }) => `${pid} ${args}`);
}

function statOf(pid: number): string[] {
  const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function ppidOf(pid: number): number {
  return Number(statOf(pid)[1]);
}

function pgidOf(pid: number): number {
  return Number(statOf(pid)[2]);
}

Deno.test("warm: a session gone while idle is found out before the command: it runs once, cold", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  await one(host, "true", options, true);
  // The session's local ssh is killed, and the call follows at once.
  const sessions = (await listProcesses()).filter(({ args }) =>
    /^\S*ssh .*ControlMaster=no/.test(args) && args.includes("mkfifo")
  );
  assertEquals(sessions.length, 1, "one warm session");
  Deno.kill(sessions[0].pid, "SIGKILL");
  const marker = `/tmp/parallax-warm-${crypto.randomUUID()}`;
  const result = (await call([host], `echo x >> ${marker}; cat ${marker}`, options)).get(host)!;
  assert(!(result instanceof ParallaxError), `the call runs: ${result}`);
  assertEquals([result.stdout, result.warm, result.attempts], ["x\n", false, 1]);
  await Deno.remove(marker).catch(() => {});
});

for (const how of ["Ctrl-C", "closing the terminal"]) {
  Deno.test(`warm: ${how} at a real terminal stops every warm host's command, local and remote`, async () => {
    await using sshd = await startSshd({ aliases: 3 });
    const job = tracedSleep(30);
    await using terminal = onTerminal(callScriptArgv({
      hosts: sshd.aliases,
      command: job.sleep,
      options: { sshExtra: sshd.sshExtra },
      pool: true,
      warm: true,
      // The README's grant for connection reuse.
    }, ["--allow-run=ssh", `--allow-read=${ROOT}`, "--allow-write=/tmp"]));
    await terminal.waitFor("WARM");
    await timeUntil(async () => (await job.remote()) === 3);
    if (how === "Ctrl-C") await terminal.type("\x03");
    else terminal.hangUp();
    const { code, screen } = await terminal.finished();
    if (how === "Ctrl-C") assertEquals(code, 130, screen);
    assertEquals(screen.includes("RESULT"), false, "the script carried on after the signal");
    await timeUntil(async () => (await job.remote()) === 0, 10_000);
    // The warm sessions and the masters go too.
    await timeUntil(async () => (await sessionLeftovers()).length === 0, 10_000);
  });
}

Deno.test("warm: calls at once on one pool never share a session; limit holds warm and cold together", async () => {
  await using lab = await warmLab(4);
  const { sshd, options } = lab;
  const hosts = sshd.aliases;
  for (const host of hosts) await one(host, "true", options, true);
  // Two calls at once over the same warm hosts: a busy host takes a new ssh, none fails.
  const [a, b] = await Promise.all([
    call(hosts, "sleep 0.3; echo a", { ...options, limit: 1 }),
    call([...hosts].reverse(), "sleep 0.3; echo b", options),
  ]);
  for (const [results, word] of [[a, "a\n"], [b, "b\n"]] as const) {
    for (const result of results.values()) {
      assert(!(result instanceof ParallaxError), `no host failed: ${result}`);
      assertEquals(result.stdout, word);
    }
  }
  // Two warm hosts and two cold ones (a new pool's), limit 2: never more than 2 at once.
  await using fresh = new Pool();
  const freshOptions: CallOptions = { pool: fresh, sshExtra: sshd.sshExtra, timeout: 20 };
  await one(hosts[0], "true", freshOptions, true);
  await one(hosts[1], "true", freshOptions, true);
  const spans = await call(hosts, "date +%s.%N; sleep 1; date +%s.%N", {
    ...freshOptions,
    limit: 2,
  });
  const intervals = [...spans.values()].map((r) => {
    assert(!(r instanceof ParallaxError), `${r}`);
    return r.stdout.trim().split("\n").map(Number);
  });
  assertEquals(
    [...spans.values()].filter((r) => !(r instanceof ParallaxError) && r.warm).length,
    2,
  );
  for (const [start] of intervals) {
    const running = intervals.filter(([from, to]) => from <= start + 0.05 && to > start + 0.05);
    assert(running.length <= 2, `at most 2 at once: ${JSON.stringify(intervals)}`);
  }
});

Deno.test("warm: output left behind by a command's escaped child never lands in a later command", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  // GNU timeout puts itself in a process group of its own, out of the command's.
  const first = await one(
    host,
    "timeout 10 sh -c 'sleep 0.5; echo LATE-OUT; echo LATE-ERR >&2' & echo early",
    options,
    true,
  );
  assert(!(first instanceof ParallaxError) && first.warm);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const command of ["echo second", "echo third >&2"]) {
    const next = (await call([host], command, options)).get(host)!;
    assert(!(next instanceof ParallaxError), `${next}`);
    assertEquals(
      [next.stdout, next.stderr],
      command.endsWith(">&2") ? ["", "third\n"] : ["second\n", ""],
    );
  }
});

Deno.test("warm: what a warm session cannot carry exactly takes a new ssh, and says so", async () => {
  await using lab = await warmLab(1);
  const { sshd, options } = lab;
  const host = sshd.aliases[0];
  await one(host, "true", options, true);
  const long = `: ${"x".repeat(120 * 1024)}; echo long`;
  const cases: [string, CallOptions][] = [
    [long, {}],
    ["cat", { input: "given\n" }],
    ["echo printed", { printOut: true }],
    ["echo kept running", { stopRemote: false }],
  ];
  for (const [command, extra] of cases) {
    const result = (await call([host], command, { ...options, ...extra })).get(host)!;
    assert(!(result instanceof ParallaxError), `${command.slice(0, 40)}: ${result}`);
    assertEquals(result.warm, false, command.slice(0, 40));
  }
  // And the host is still warm for what it can carry.
  const after = await one(host, "echo warm", options, true);
  assert(!(after instanceof ParallaxError) && after.warm && after.stdout === "warm\n");
});
