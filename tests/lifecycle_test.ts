/**
 * The lifetime of every process and connection, tested as a user meets it: Ctrl-C at a real
 * terminal, a closed terminal, a controller killed outright, connection reuse, concurrent calls
 * on one pool. Each test looks at both sides by process listing: the local ssh and the remote
 * command (the test sshd runs on this machine).
 */

import { failed, ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./fixture/assert.ts";
import {
  CALL_SCRIPT_PERMISSIONS,
  callScriptArgv,
  cleanCliEnv,
  cliArgv,
  denoArgv,
  denoRun,
  ROOT,
  runArgv,
  runCallScript,
  underFileLimit,
} from "./fixture/deno_run.ts";
import {
  listProcesses,
  processesMatching,
  remoteProcesses,
  timeUntil,
  tracedSleep,
  uniqueMarker,
  uniqueSleep,
} from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withScript, withTempDir, withTempFile } from "./fixture/temp_dir.ts";
import { onTerminal } from "./fixture/terminal.ts";
import { call, callStream, copy, ParallaxError, Pool, slurp } from "../mod.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";

Deno.test("Ctrl-C at a real terminal: every host cancelled and stopped remotely, summary, exit 3", async () => {
  await using sshd = await startSshd({ aliases: 8 });
  const job = tracedSleep(30);
  await using terminal = onTerminal(
    cliArgv(["call", "-x", `-F ${sshd.configPath}`, "-H", "h[001-008]", job.command]),
    cleanCliEnv({ NO_COLOR: "1" }),
  );
  await timeUntil(async () => (await job.remote()) === 8);
  await terminal.type("\x03");
  const { code, screen } = await terminal.finished();
  assertEquals(code, 3, screen);
  assertEquals(screen.match(/\[FAILURE\] h00\d Interrupted/g)?.length, 8, screen);
  assertEquals(screen.includes("exit status 255"), false, "ssh saw the Ctrl-C itself");
  assertStringIncludes(screen, "interrupted: 0 of 8 hosts finished");
  assertEquals(await job.local(), 0, "a local ssh is left");
  const ms = await timeUntil(async () => (await job.remote()) === 0, 10_000);
  console.log(`  remote commands gone ${ms} ms after the CLI exited`);
});

Deno.test("Ctrl-C at a real terminal in a library script: hosts stopped, then the script exits 130", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const job = tracedSleep(30);
  await using terminal = onTerminal(callScriptArgv({
    hosts: sshd.aliases,
    command: job.command,
    options: { sshExtra: sshd.sshExtra },
  }));
  await timeUntil(async () => (await job.remote()) === 4);
  await terminal.type("\x03");
  const { code, screen } = await terminal.finished();
  assertEquals(code, 130, screen);
  assertEquals(screen.includes("RESULT"), false, "the script carried on after the Ctrl-C");
  assertEquals(await job.local(), 0);
  await timeUntil(async () => (await job.remote()) === 0, 10_000);
});

Deno.test("closing the terminal (SIGHUP) stops every host, local and remote", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const job = tracedSleep(30);
  const terminal = onTerminal(
    cliArgv(["call", "-x", `-F ${sshd.configPath}`, "-H", "h[001-004]", job.command]),
    cleanCliEnv(),
  );
  await timeUntil(async () => (await job.remote()) === 4);
  terminal.hangUp();
  await terminal.finished();
  const ms = await timeUntil(async () => {
    const cli = (await listProcesses()).some((p) =>
      p.args.includes(`${ROOT}/cli.ts`) && p.args.includes(job.marker)
    );
    return (await job.gone()) && !cli;
  }, 10_000);
  console.log(`  everything gone ${ms} ms after the terminal closed`);
});

for (const reuse of [false, true]) {
  Deno.test(`a SIGKILLed controller leaves nothing running${reuse ? " (held pool, connection reuse)" : ""}`, async () => {
    await using sshd = await startSshd({ aliases: 8 });
    const job = tracedSleep(30);
    const argv = callScriptArgv({
      hosts: sshd.aliases,
      command: job.command,
      options: { sshExtra: [...sshd.sshExtra, "-o", `SetEnv=M=${job.marker}`] },
      pool: reuse,
    }, [...CALL_SCRIPT_PERMISSIONS, "--allow-write=/tmp"]);
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    })
      .spawn();
    await timeUntil(async () => (await job.remote()) === 8);
    child.kill("SIGKILL");
    await child.status;
    const remote = await timeUntil(async () => (await job.remote()) === 0, 10_000);
    // Every local ssh of the script (sessions, masters and their holds) carries the marker.
    const local = await timeUntil(async () => (await job.local()) === 0, 10_000);
    console.log(`  after SIGKILL: remote commands gone in ${remote} ms, local ssh in ${local} ms`);
  });
}

for (const action of ["exit", "throw"] as const) {
  Deno.test(`${action === "exit" ? "Deno.exit()" : "an uncaught exception"} during a call leaves nothing running`, async () => {
    await using sshd = await startSshd({ aliases: 3 });
    const job = tracedSleep(30);
    const run = await runCallScript({
      hosts: sshd.aliases,
      command: job.command,
      options: { sshExtra: sshd.sshExtra },
      during: { afterMs: 1_500, action },
    });
    assertEquals(run.code, action === "exit" ? 7 : 1);
    await timeUntil(job.gone, 10_000);
  });
}

Deno.test("reuse is invisible: a timeout through a master is kind timeout, on time, partial output kept, stopped remotely", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  await using pool = new Pool();
  await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, pool });
  const sleep = uniqueSleep(21);
  const started = Date.now();
  const results = await call(sshd.aliases.slice(0, 2), `echo partial; ${sleep}`, {
    sshExtra: sshd.sshExtra,
    pool,
    timeout: 2,
  });
  const elapsed = Date.now() - started;
  for (const result of results.values()) {
    assertEquals([failed(result).kind, failed(result).stdout], ["timeout", "partial\n"]);
  }
  assert(elapsed < 6_000, `the timeout took ${elapsed} ms`);
  await timeUntil(async () => (await remoteProcesses(sleep)).length === 0, 5_000);
  const after = await call(sshd.aliases, "echo fine", { sshExtra: sshd.sshExtra, pool });
  for (const result of after.values()) assertEquals(ok(result).stdout, "fine\n");
});

Deno.test("reuse is invisible: an abort through a master arrives at once", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await using pool = new Pool();
  await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, pool });
  const sleep = uniqueSleep(22);
  const controller = new AbortController();
  const calling = call(sshd.aliases, sleep, {
    sshExtra: sshd.sshExtra,
    pool,
    signal: controller.signal,
  });
  await timeUntil(async () => (await remoteProcesses(sleep)).length === 2);
  const aborted = Date.now();
  controller.abort();
  const results = await calling;
  const ms = Date.now() - aborted;
  for (const result of results.values()) assertEquals(failed(result).kind, "cancelled");
  assert(ms < 3_000, `the abort took ${ms} ms`);
  await timeUntil(async () => (await remoteProcesses(sleep)).length === 0, 5_000);
});

Deno.test("reuse never shares a master between identities: a wrong key is refused after its address connected", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await using pool = new Pool();
  // h001 and wrongkey both go to 127.0.0.1 with the same user and port; only the key differs.
  assertEquals(
    ok((await call(["h001"], "true", { sshExtra: sshd.sshExtra, pool })).get("h001")).exitCode,
    0,
  );
  const wrong = await call([sshd.wrongKey], "true", { sshExtra: sshd.sshExtra, pool });
  assertEquals(failed(wrong.get(sshd.wrongKey)).kind, "auth");
});

Deno.test("reuse heals: a control folder removed behind the pool's back is made again", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await using pool = new Pool();
  await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, pool });
  const folders = [...Deno.readDirSync("/tmp")].filter((e) => e.name.startsWith("plx-"));
  for (const folder of folders) Deno.removeSync(`/tmp/${folder.name}`, { recursive: true });
  for (let round = 0; round < 2; round++) {
    const results = await call(sshd.aliases, "echo again", { sshExtra: sshd.sshExtra, pool });
    for (const result of results.values()) assertEquals(ok(result).stdout, "again\n");
  }
});

Deno.test("close() ends every master under the README's permissions (write to /tmp, no read)", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const marker = uniqueMarker();
  const source = `import { call, Pool } from "${ROOT}/mod.ts";
const pool = new Pool();
const extra = ${JSON.stringify([...sshd.sshExtra, "-o", `SetEnv=M=${marker}`])};
for (let i = 0; i < 2; i++) await call(${
    JSON.stringify(sshd.aliases)
  }, "true", { sshExtra: extra, pool });
await pool.close();
console.log("closed");
`;
  await withScript(source, async (script) => {
    const run = await denoRun(
      ["--allow-run=ssh", `--allow-read=${ROOT},${script},${sshd.dir}`, "--allow-write=/tmp"],
      script,
    );
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.stderr, "", "no warning: reuse works under these permissions");
    await timeUntil(async () => (await processesMatching(marker)).length === 0, 3_000);
  });
});

Deno.test("control sockets honour TMPDIR; without a writable folder reuse is off, and the first call says so once", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (tmp) => {
    const source = `import { call, Pool } from "${ROOT}/mod.ts";
const pool = new Pool();
for (let i = 0; i < 2; i++) {
  const r = await call(["h001"], "echo hi", { sshExtra: ${JSON.stringify(sshd.sshExtra)}, pool });
  console.log(r.get("h001").stdout.trim());
  const readable = Deno.permissions.querySync({ name: "read", path: ${JSON.stringify(tmp)} });
  if (i === 0 && readable.state === "granted") {
    console.log("folders", [...Deno.readDirSync(${JSON.stringify(tmp)})].length);
  }
}
await pool.close();
`;
    await withScript(source, async (script) => {
      const honoured = await denoRun(
        ["--allow-run=ssh", "--allow-read", `--allow-write=${tmp}`, "--allow-env=TMPDIR"],
        script,
        [],
        { env: { TMPDIR: tmp } },
      );
      assertEquals(honoured.code, 0, honoured.stderr);
      assertStringIncludes(honoured.stdout, "folders 1");
      const without = await denoRun(
        ["--allow-run=ssh", `--allow-read=${ROOT},${script},${sshd.dir}`],
        script,
      );
      assertEquals(without.code, 0, without.stderr);
      assertEquals(without.stdout.split("\n").filter((l) => l === "hi").length, 2);
      assertEquals(without.stderr.match(/connection reuse is off/g)?.length, 1, without.stderr);
    });
  }, { dir: "/tmp", prefix: "tmpdir-" });
});

Deno.test("a pool bounds its processes across concurrent calls", async () => {
  await using sshd = await startSshd({ aliases: 12 });
  await using pool = new Pool({ limit: 4 });
  // Each remote command prints when it started and ended: its run lies inside its ssh's, so no
  // more than the pool's limit may overlap (a process listing can catch one exiting and the next
  // starting in the same scan).
  const stamped = 'echo "S $(date +%s%N)"; sleep 0.6; echo "E $(date +%s%N)"';
  const calls = [0, 1, 2].map((i) =>
    call(sshd.aliases.slice(i * 4, i * 4 + 4), stamped, { sshExtra: sshd.sshExtra, pool, limit: 4 })
  );
  const events: [bigint, number][] = [];
  for (const map of await Promise.all(calls)) {
    for (const result of map.values()) {
      for (const line of ok(result).stdout.trim().split("\n")) {
        const [kind, ns] = line.split(" ");
        events.push([BigInt(ns), kind === "S" ? 1 : -1]);
      }
    }
  }
  events.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let running = 0;
  let peak = 0;
  for (const [, delta] of events) peak = Math.max(peak, running += delta);
  assert(peak <= 4, `peak ${peak} remote commands at once on a pool of limit 4`);
  assert(peak >= 2, `peak ${peak}: the calls never ran in parallel`);
});

Deno.test("4 concurrent calls on one pool under ulimit -n 256: no Too many open files", async () => {
  await using sshd = await startSshd({ aliases: 240 });
  const source = `import { call, ParallaxError, Pool } from "${ROOT}/mod.ts";
const hosts = ${JSON.stringify(sshd.aliases)};
await using pool = new Pool({ limit: 256, reuse: false });
const maps = await Promise.all([0, 1, 2, 3].map((i) =>
  call(hosts.slice(i * 60, i * 60 + 60), "echo ok", { sshExtra: ${
    JSON.stringify(sshd.sshExtra)
  }, pool, limit: 60, timeout: 300, connectTimeout: 60 })
));
const bad = maps.flatMap((m) => [...m.values()]).filter((r) => r instanceof ParallaxError || r.stdout !== "ok\\n");
console.log("BAD", bad.length, bad.slice(0, 2).map((r) => r instanceof ParallaxError ? r.message : r.stdout));
`;
  await withScript(source, async (script) => {
    const run = await runArgv(underFileLimit(256, denoArgv(["--allow-all"], script)));
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(run.stdout, "BAD 0 ");
  });
});

Deno.test("timeouts up to 30 days work; below 1 ms or above 30 days is a RangeError", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const results = await call(["h001"], "sleep 1; echo slept", {
    sshExtra: sshd.sshExtra,
    timeout: 2_200_000,
  });
  assertEquals(ok(results.get("h001")).stdout, "slept\n");
  assertEquals(resolveSettings({ timeout: 30 * 24 * 3600 }, 60).timeoutMs, 2_592_000_000);
  await assertRejects(() => call(["h001"], "true", { timeout: 0.0004 }), RangeError, "0.001");
  await assertRejects(
    () => call(["h001"], "true", { timeout: 31 * 24 * 3600 }),
    RangeError,
    "30 days",
  );
});

Deno.test("streaming with inline: false reports the right kind at once, however much stderr came first", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const started = Date.now();
  const events = callStream(["h001"], "head -c 300000 /dev/zero | tr '\\0' x >&2; exit 3", {
    sshExtra: sshd.sshExtra,
    inline: false,
    timeout: 30,
  });
  let stderrBytes = 0;
  let exitCode: number | undefined;
  for await (const event of events) {
    if (event.type === "output") stderrBytes += event.data.byteLength;
    else exitCode = ok(event.result).exitCode;
  }
  assertEquals(stderrBytes, 300_000);
  assertEquals(exitCode, 3);
  assert(Date.now() - started < 10_000, "the result came late");
});

Deno.test("scp never talks to a host that was not listed: ambiguous users and hosts are refused", async () => {
  await withTempFile(async (file) => {
    for (const hosts of [["h002:x@h001"], ["a/b@h001"], ["a@b@h001"]]) {
      await assertRejects(() => copy(hosts, file, "x"), TypeError, "Cannot");
    }
    await assertRejects(
      () => copy(["h001"], file, "x", { user: "refused:x" }),
      TypeError,
      "split user",
    );
    await assertRejects(
      () => slurp(["h001"], "/etc/hostname", "x", { user: "a/b" }),
      TypeError,
      "split user",
    );
  });
});

Deno.test("one host's bad local path is that host's local error; the others run", async () => {
  await using sshd = await startSshd({ aliases: 3, unprivileged: false });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/source`, "data\n");
    await Deno.mkdir(`${dir}/in`);
    await Deno.writeTextFile(`${dir}/in/h002`, "a file where h002's folder goes");
    const results = await slurp(sshd.aliases, `${dir}/source`, "copy", {
      sshExtra: sshd.sshExtra,
      localdir: `${dir}/in`,
    });
    assertEquals(failed(results.get("h002")).kind, "local");
    for (const host of ["h001", "h003"]) {
      assertEquals(await Deno.readTextFile(ok(results.get(host)).path), "data\n");
    }
    // A key longer than a file name may be, in UTF-8: its folder name is cut, not refused.
    const long = `${"é".repeat(150)}@h001`;
    const named = await call([long], "echo hi", { sshExtra: sshd.sshExtra, outdir: `${dir}/out` });
    const result = named.get(long)!;
    assert(!(result instanceof ParallaxError && result.kind === "local"), String(result));
  });
});

/** Hosts in the burst below. */
const BURST = 192;

Deno.test("an abort during a burst of starts keeps the queued hosts from starting at all", async () => {
  // Fault injection: an "ssh" that starts at once (logs its start, prints a line, then sleeps),
  // so the first output comes while the worker still has most of the hosts to start (enough of
  // them that the burst outlasts the abort's way back to the worker, even on a busy machine).
  await withTempDir(async (dir) => {
    const sleep = uniqueSleep(30);
    const fake = `${dir}/ssh`;
    await Deno.writeTextFile(
      fake,
      // Its last argument is the remote command; the one before, after "--", the host.
      `#!/bin/sh\nfor a; do [ "$p" = -- ] && h=$a; p=$a; done\necho "$h" >> ${dir}/started\necho up\nexec ${sleep}\n`,
    );
    await Deno.chmod(fake, 0o755);
    const hosts = Array.from({ length: BURST }, (_, i) => `burst${i}`);
    const controller = new AbortController();
    const results = new Map<string, unknown>();
    for await (
      const event of callStream(hosts, "true", {
        sshPath: fake,
        limit: BURST,
        stopRemote: false,
        signal: controller.signal,
      })
    ) {
      if (event.type === "output") controller.abort();
      else results.set(event.host, event.result);
    }
    const ran = new Set((await Deno.readTextFile(`${dir}/started`)).trim().split("\n"));
    const started = ran.size;
    assert([...ran].every((host) => host.startsWith("burst")), [...ran].join(" "));
    assertEquals(results.size, BURST);
    for (const result of results.values()) {
      assertEquals(failed(result as ParallaxError).kind, "cancelled");
    }
    // Without a turn between spawns, the worker starts them all before it hears of the abort.
    assert(started < BURST, `${started} of ${BURST} started after the abort`);
    const notStarted = [...results.values()].filter((r) =>
      (r as ParallaxError).message.includes("before it")
    );
    // A host reported as never started never ran (one started may have been killed before its
    // fake ssh logged itself, under load: it counts as started, not the other way round).
    assert(
      notStarted.length <= BURST - started,
      `${notStarted.length} not started, ${started} ran`,
    );
    for (const [host, result] of results) {
      if (notStarted.includes(result)) assert(!ran.has(host), `${host} ran, reported not started`);
    }
    // Never started: no attempt counted, no time taken.
    for (const result of notStarted) {
      assertEquals((result as ParallaxError).attempts, 0);
      assertEquals((result as ParallaxError).durationMs, undefined);
    }
    await timeUntil(async () => (await remoteProcesses(sleep)).length === 0, 5_000);
  });
});

for (const op of ["copy", "slurp"] as const) {
  Deno.test(`a SIGKILLed controller: ${op}'s scp and its ssh are gone within 5 s`, async () => {
    await using sshd = await startSshd({ aliases: 2 });
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o755);
      const marker = uniqueMarker();
      const file = `${dir}/${marker}`;
      await Deno.writeFile(file, new Uint8Array(4_000_000), { mode: 0o644 });
      // Where the test account may write, one file per host.
      await Deno.mkdir(`${dir}/in`, { mode: 0o777 });
      await Deno.chmod(`${dir}/in`, 0o777);
      const transfer = op === "copy"
        ? `copy(${JSON.stringify(sshd.aliases)}, ${JSON.stringify(file)}, (host) => ${
          JSON.stringify(`${dir}/in/`)
        } + host, options)`
        : `slurp(${JSON.stringify(sshd.aliases)}, ${JSON.stringify(file)}, "got", {
          ...options, localdir: ${JSON.stringify(`${dir}/local`)} })`;
      const source = `import { copy, slurp } from "${ROOT}/mod.ts";
const options = {
  sshExtra: ${JSON.stringify([...sshd.sshExtra, "-o", `SetEnv=M=${marker}`])},
  bandwidthLimit: 200,
};
await ${transfer};
`;
      await withScript(source, async (script) => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "--quiet", "--allow-all", script],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        const scps = () => processesMatching(marker);
        await timeUntil(async () => (await scps()).length >= 4, 20_000);
        child.kill("SIGKILL");
        await child.status;
        const ms = await timeUntil(async () => (await scps()).length === 0, 5_000);
        console.log(`  after SIGKILL: ${op}'s scp and ssh gone in ${ms} ms`);
      });
    });
  });
}

Deno.test("a SIGKILLed controller that its parent has not reaped yet (a zombie): copy's scp and ssh are gone within 5 s all the same", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    const marker = uniqueMarker();
    const file = `${dir}/${marker}`;
    await Deno.writeFile(file, new Uint8Array(4_000_000), { mode: 0o644 });
    await Deno.mkdir(`${dir}/in`, { mode: 0o777 });
    await Deno.chmod(`${dir}/in`, 0o777);
    const source = `import { copy } from "${ROOT}/mod.ts";
await copy(${JSON.stringify(sshd.aliases)}, ${JSON.stringify(file)}, ${
      JSON.stringify(`${dir}/in/copied`)
    }, { sshExtra: ${
      JSON.stringify([...sshd.sshExtra, "-o", `SetEnv=M=${marker}`])
    }, bandwidthLimit: 200 });
`;
    await withScript(source, async (script) => {
      // The controller's parent becomes a 'sleep' that never waits for it: once killed, the
      // controller stays a zombie until the sleep ends.
      const parent = new Deno.Command("sh", {
        args: [
          "-c",
          `"$0" run --quiet --allow-all "$1" </dev/null >/dev/null 2>&1 & echo $!; exec sleep 25`,
          Deno.execPath(),
          script,
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = parent.stdout.getReader();
      const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
      reader.releaseLock();
      try {
        const scps = () => processesMatching(marker);
        await timeUntil(async () => (await scps()).length >= 2, 20_000);
        Deno.kill(pid, "SIGKILL");
        const ms = await timeUntil(async () => (await scps()).length === 0, 5_000);
        const state = await new Deno.Command("ps", {
          args: ["-o", "stat=", "-p", String(pid)],
          stdout: "piped",
        }).output();
        assertStringIncludes(
          new TextDecoder().decode(state.stdout),
          "Z",
          "the controller is a zombie",
        );
        console.log(`  after SIGKILL (unreaped): scp and ssh gone in ${ms} ms`);
      } finally {
        parent.kill("SIGKILL");
        await parent.stdout.cancel().catch(() => {});
        await parent.status;
      }
    });
  });
});
