import { failed, ok, parseResultLine } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import {
  CALL_SCRIPT_PERMISSIONS,
  callScriptArgv,
  denoArgv,
  ROOT,
  runArgv,
  runCallScript,
  spawnArgv,
  spawnCli,
  underFileLimit,
} from "./fixture/deno_run.ts";
import {
  processesMatching,
  remoteProcesses,
  timeUntil,
  tracedSleep,
  uniqueMarker,
  uniqueSleep,
} from "./fixture/processes.ts";
import { combinedConfig, serveLoopback, startSshd } from "./fixture/sshd.ts";
import { withScript, withTempDir } from "./fixture/temp_dir.ts";
import { ParallaxError, Pool } from "../mod.ts";
import { call, WARM } from "./fixture/warm_switch.ts";

Deno.test("an sshd killed mid-call fails its hosts; the other server's results are intact", async () => {
  await using victim = await startSshd({ aliases: 3, prefix: "v" });
  await using healthy = await startSshd({ aliases: 3, prefix: "h" });
  const config = await combinedConfig([victim, healthy]);
  try {
    const marker = uniqueMarker();
    const hosts = [...victim.aliases, ...healthy.aliases];
    const calling = call(hosts, `sleep 2; echo done # ${marker}`, { sshExtra: ["-F", config] });
    // A running host is its local ssh, or on a warm host (the fixture switch) its remote shell.
    const programs = WARM ? ["sh"] : ["ssh", "scp"];
    await timeUntil(async () => (await processesMatching(marker, programs)).length === 6);
    await new Promise((resolve) => setTimeout(resolve, 800));
    await victim.kill();
    const results = await calling;
    assertEquals(results.size, 6);
    for (const alias of victim.aliases) assert(failed(results.get(alias)).kind !== "timeout");
    for (const alias of healthy.aliases) assertEquals(ok(results.get(alias)).stdout, "done\n");
    await timeUntil(async () => (await processesMatching(marker, programs)).length === 0, 5_000);
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("a host that answers very slowly times out, and nothing is left running", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  // A proxy that passes each piece of the conversation on half a second late.
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      for await (const chunk of from.readable) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const writer = to.writable.getWriter();
        await writer.write(chunk);
        writer.releaseLock();
      }
    } catch {
      // closed
    }
  };
  const proxy = serveLoopback(async (conn) => {
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: sshd.port });
    pump(conn, upstream);
    pump(upstream, conn);
    return [upstream];
  });
  try {
    const marker = uniqueMarker();
    const results = await call([`h001:${proxy.port}`], `echo hi # ${marker}`, {
      sshExtra: [...sshd.sshExtra, "-o", "HostKeyAlias=[127.0.0.1]:" + sshd.port],
      timeout: 2,
    });
    assertEquals(failed(results.get(`h001:${proxy.port}`)).kind, "timeout");
    assertEquals(await processesMatching(marker), []);
  } finally {
    await proxy.close();
  }
});

for (
  const [signal, exitOnSignal] of [
    ["SIGINT", true],
    ["SIGTERM", true],
    ["SIGHUP", true],
    ["SIGINT", false],
  ] as const
) {
  const name = exitOnSignal
    ? `${signal} to a script running call(): hosts stopped, then the script ends as the signal would`
    : `${signal} with exitOnSignal: false: call() returns its cancelled hosts, the script goes on`;
  Deno.test(name, async () => {
    await using sshd = await startSshd({ aliases: 3 });
    const job = tracedSleep();
    const child = spawnArgv(callScriptArgv({
      hosts: sshd.aliases,
      command: job.command,
      options: { sshExtra: sshd.sshExtra, limit: 2, exitOnSignal },
    }));
    await timeUntil(async () => (await job.remote()) === 2);
    child.kill(signal);
    const { code, stdout, stderr } = await child.finished();
    if (exitOnSignal) {
      assertEquals(code, { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }[signal], stderr);
      assertEquals(stdout.includes("RESULT"), false, "the script carried on after the call");
    } else {
      assertEquals(code, 0, stderr);
      const result = parseResultLine(stdout);
      for (const alias of sshd.aliases) assertEquals(result[alias].kind, "cancelled");
    }
    assertEquals(await processesMatching(job.marker), [], "no ssh left");
    await timeUntil(async () => (await job.remote()) === 0, 10_000);
  });
}

Deno.test("SIGTERM to the CLI: ssh killed, summary printed, exit 3", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  const marker = uniqueMarker();
  const child = spawnCli(
    ["call", "-x", `-F ${sshd.configPath}`, "-H", sshd.aliases.join(" "), `sleep 30 # ${marker}`],
    { flags: ["--allow-all"] },
  );
  await timeUntil(async () => (await processesMatching(marker)).length === 3);
  child.kill("SIGTERM");
  const output = await child.finished();
  assertEquals(output.code, 3);
  assertStringIncludes(output.stderr, "interrupted: 0 of 3 hosts finished");
  assertEquals(await processesMatching(marker), []);
});

Deno.test("a timed-out or cancelled host's remote command is stopped, not left running", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const timedOut = uniqueSleep();
  const results = await call(sshd.aliases, timedOut, { sshExtra: sshd.sshExtra, timeout: 1 });
  for (const result of results.values()) assertEquals(failed(result).kind, "timeout");
  await timeUntil(async () => (await remoteProcesses(timedOut)).length === 0, 10_000);

  const cancelled = uniqueSleep();
  const controller = new AbortController();
  const calling = call(sshd.aliases, cancelled, {
    sshExtra: sshd.sshExtra,
    signal: controller.signal,
  });
  await timeUntil(async () => (await remoteProcesses(cancelled)).length === 2);
  controller.abort();
  for (const result of (await calling).values()) assertEquals(failed(result).kind, "cancelled");
  await timeUntil(async () => (await remoteProcesses(cancelled)).length === 0, 10_000);

  // A command that never reads an input larger than a pipe holds: the input waits in the pipe,
  // and the command is stopped all the same.
  const unread = uniqueSleep();
  const input = new Uint8Array(1_000_000);
  const held = await call(sshd.aliases, unread, { sshExtra: sshd.sshExtra, timeout: 1, input });
  for (const result of held.values()) assertEquals(failed(result).kind, "timeout");
  await timeUntil(async () => (await remoteProcesses(unread)).length === 0, 10_000);

  const left = uniqueSleep();
  const without = await call(["h001"], left, {
    sshExtra: sshd.sshExtra,
    timeout: 1,
    stopRemote: false,
  });
  assertEquals(failed(without.get("h001")).kind, "timeout");
  assertEquals(
    (await remoteProcesses(left)).length,
    1,
    "with stopRemote: false the command runs on",
  );
  await new Deno.Command("pkill", { args: ["-f", left] }).output();
});

// 300 first contacts cost ~90 ms of ssh CPU each here (post-quantum key exchange), on 2 cores.
Deno.test("300 hosts at limit 128: every result present, nothing left running", async () => {
  await using sshd = await startSshd({ aliases: 300, addresses: 16, unprivileged: true });
  const marker = uniqueMarker();
  const results = await call(sshd.aliases, `echo $PARALLAX_NODENUM # ${marker}`, {
    sshExtra: sshd.sshExtra,
    limit: 128,
    timeout: 600,
    connectTimeout: 120,
  });
  assertEquals(results.size, 300);
  const failures = [...results.values()].filter((r) => r instanceof ParallaxError);
  assertEquals(failures.length, 0, String(failures[0]));
  sshd.aliases.forEach((alias, i) => assertEquals(ok(results.get(alias)).stdout, `${i}\n`));
  assertEquals(await processesMatching(marker), []);
});

Deno.test("under a low open-file limit the engine lowers the limit and says so, every result present", async () => {
  await using sshd = await startSshd({ aliases: 120, unprivileged: true });
  const { code, stdout, stderr } = await runArgv(underFileLimit(
    256,
    callScriptArgv({
      hosts: sshd.aliases,
      command: "echo ok",
      options: { sshExtra: sshd.sshExtra, limit: 100, timeout: 120 },
    }, ["--allow-all"]),
  ));
  assertEquals(code, 0, stderr);
  assertStringIncludes(stderr, "parallax: limit 100 lowered to");
  const result = parseResultLine(stdout);
  assertEquals(Object.keys(result).length, 120);
  for (const alias of sshd.aliases) {
    assertEquals(result[alias].stdout, "ok\n", JSON.stringify(result[alias]));
  }
  assertEquals(await processesMatching(sshd.configPath), []);
});

Deno.test("outdir on a full or read-only file system: an error for the affected hosts, no crash", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (mount) => {
    const mounted = await runArgv(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount]);
    assertEquals(mounted.code, 0, `mounting a tmpfs needs root: ${mounted.stderr}`);
    try {
      // One at a time, the small output first: then only h001 finds the disk full.
      const results = await call(
        ["h002", "h001"],
        'if [ "$PARALLAX_HOST" = h001 ]; then head -c 2000000 /dev/zero; else echo small; fi',
        { sshExtra: sshd.sshExtra, outdir: mount, limit: 1 },
      );
      const full = failed(results.get("h001"));
      assertEquals(full.kind, "local");
      assertStringIncludes(full.message, "No space left");
      assertEquals(ok(results.get("h002")).stdout, "small\n");

      assertEquals((await runArgv(["mount", "-o", "remount,ro", mount])).code, 0);
      const readOnly = await call(sshd.aliases, "echo hi", {
        sshExtra: sshd.sshExtra,
        outdir: mount,
      });
      for (const result of readOnly.values()) {
        assertEquals(failed(result).kind, "local");
        assertStringIncludes(failed(result).message, "Read-only file system");
      }
      assertEquals(await processesMatching(sshd.configPath), []);
    } finally {
      await runArgv(["umount", mount]);
    }
  });
});

Deno.test("a library script exits by itself after a signal-free call; no worker left", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const run = await runCallScript(
    { hosts: ["h001"], command: "true", options: { sshExtra: sshd.sshExtra } },
    CALL_SCRIPT_PERMISSIONS,
    { deadlineMs: 20_000 },
  );
  assertEquals(run.code, 0, run.stderr);
});

Deno.test("handleSignals: false leaves SIGINT to the caller: the call goes on unless the caller aborts", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const marker = uniqueMarker();
  const source = `import { call } from "${ROOT}/mod.ts";
const controller = new AbortController();
Deno.addSignalListener("SIGINT", () => console.log("HANDLED"));
const results = await call(${JSON.stringify(sshd.aliases)}, "sleep 1.5; echo done # ${marker}", {
  sshExtra: ${JSON.stringify(sshd.sshExtra)}, signal: controller.signal, handleSignals: false,
});
console.log("KINDS " + [...results.values()].map((r) => "kind" in r ? r.kind : "ok").join(","));
Deno.exit(0);
`;
  await withScript(source, async (script) => {
    const child = spawnArgv(denoArgv(["--allow-all"], script));
    await timeUntil(async () => (await processesMatching(marker)).length === 2);
    child.kill("SIGINT");
    const { code, stdout, stderr } = await child.finished();
    assertEquals(code, 0, stderr);
    assertStringIncludes(stdout, "HANDLED\n");
    assertStringIncludes(stdout, "KINDS ok,ok\n", "the library did not cancel the call");
    assertEquals(await processesMatching(marker), []);
  });
});

Deno.test("no descriptor leaks when a job's stderr file cannot be made (30 calls on one pool)", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    // errdir/h001 is a folder with something in it: the stderr file cannot be made, while the
    // stdout file can (and is opened first).
    await Deno.mkdir(`${dir}/err/h001/x`, { recursive: true });
    await using pool = new Pool({ size: 1 });
    const once = async () => {
      const results = await call(["h001"], "true", {
        sshExtra: sshd.sshExtra,
        outdir: `${dir}/out`,
        errdir: `${dir}/err`,
        pool,
      });
      assertEquals(failed(results.get("h001")).kind, "local");
    };
    const open = () => [...Deno.readDirSync("/proc/self/fd")].length;
    await once();
    const before = open();
    for (let i = 0; i < 30; i++) await once();
    const after = open();
    assert(after <= before + 2, `open descriptors went from ${before} to ${after}`);
  });
});
