import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./fixture/assert.ts";
import {
  cleanCliEnv,
  cli,
  cliArgv,
  denoArgv,
  ROOT,
  spawnArgv,
  spawnCli,
} from "./fixture/deno_run.ts";
import { type Lab, startLab } from "./fixture/lab.ts";
import { failed, ok, statusLines } from "./fixture/outcomes.ts";
import {
  listProcesses,
  processesMatching,
  remoteProcesses,
  timeUntil,
  tracedSleep,
  uniqueSleep,
} from "./fixture/processes.ts";
import { assertSlowLoopHoldsBack } from "./fixture/slow_loop.ts";
import { startSshd } from "./fixture/sshd.ts";
import { onTerminal } from "./fixture/terminal.ts";
import { withScript, withTempDir, withTempFile } from "./fixture/temp_dir.ts";
import { call, type CallEvent, callStream, copy, gatewayCommandFor, Pool, slurp } from "../mod.ts";
import { PROTOCOL_VERSION } from "../lib/driver/_gateway_protocol.ts";
import { engineOf } from "../lib/engine/_engine.ts";

/**
 * `-F` of one ssh_config that includes both of these (ssh reads only one `-F`); it lives in the
 * folder of `a`'s (the lab's), which goes with the lab.
 */
async function bothConfigs(a: readonly string[], b: readonly string[]): Promise<string[]> {
  const path = `${a[1].replace(/\/[^/]*$/, "")}/both-${crypto.randomUUID()}.conf`;
  await Deno.writeTextFile(path, `Include ${a[1]}\nInclude ${b[1]}\n`);
  return ["-F", path];
}

/** The options that run the lab's leaves through its gateways. */
function through(lab: Lab) {
  return { sshExtra: lab.sshExtra, gateways: lab.topology, gatewayCommand: lab.gatewayCommand };
}

/** The CLI flags that reach the lab's gateways as `file` lists them. */
function reachFlags(lab: Lab, file: string): string[] {
  return [
    "-x",
    lab.sshExtra.join(" "),
    "--gateways",
    file,
    "--gateway-command",
    lab.gatewayCommand.join(" "),
  ];
}

/** The CLI flags that run every leaf of the lab through the gateways of `file`. */
function gatewayFlags(lab: Lab, file: string): string[] {
  return [...reachFlags(lab, file), "-H", lab.allLeaves.join(",")];
}

/** gw1's hosts were lost after they started (they may have run); gw2's finished. */
function assertGw1Lost(lab: Lab, results: Map<string, unknown>): void {
  for (const leaf of lab.leaves.get("gw1")!) {
    const error = failed(results.get(leaf));
    assertEquals(error.kind, "gateway");
    assertStringIncludes(error.message, "may have run");
  }
  for (const leaf of lab.leaves.get("gw2")!) {
    assertEquals(ok(results.get(leaf) as { exitCode: number }).exitCode, 0);
  }
}

/** parallax processes serving as gateways of `lab` (this checkout's cli.ts with `gateway`). */
async function gatewayProcesses(lab: Lab): Promise<string[]> {
  const labDir = lab.sshExtra[1].replace(/\/[^/]*$/, "");
  const mine = async (pid: number) =>
    (await Deno.readTextFile(`/proc/${pid}/environ`).catch(() => "")).includes(labDir);
  const found: string[] = [];
  for (const { pid, args } of await listProcesses()) {
    if (args.includes(`${ROOT}/cli.ts gateway`) && await mine(pid)) found.push(`${pid} ${args}`);
  }
  return found;
}

Deno.test("through gateways: same keys and order, byte-exact output, via; a leaf is unreachable directly", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 3 });
  await using direct = await startSshd({ aliases: 1, prefix: "d" });
  const [first] = lab.allLeaves;
  const alone = await call([first], "true", { connectTimeout: 2 });
  assertEquals(failed(alone.get(first)).kind, "connect");

  // Interleave the leaves of both gateways with a direct host.
  const [a1, a2, a3] = lab.leaves.get("gw1")!;
  const [b1, b2, b3] = lab.leaves.get("gw2")!;
  const hosts = [b2, a1, "d001", b1, a3, b3, a2];
  const command = `printf 'out %s\\n\\377\\000' "$(hostname -I)"; printf 'err\\n' >&2; exit 3`;
  const results = await call(hosts, command, {
    sshExtra: await bothConfigs(lab.sshExtra, direct.sshExtra),
    gateways: lab.topology,
    gatewayCommand: lab.gatewayCommand,
  });
  assertEquals([...results.keys()], hosts);
  for (const host of hosts) {
    const result = ok(results.get(host));
    assertEquals(result.exitCode, 3);
    if (host === "d001") {
      assertEquals(result.via, undefined);
      continue;
    }
    const expected = new Uint8Array([
      ...new TextEncoder().encode(`out ${host} \n`),
      0xff,
      0x00,
    ]);
    assertEquals(result.stdoutBytes, expected, host);
    assertEquals(result.stderr, "err\n");
    assertEquals(result.via, lab.leaves.get("gw1")!.includes(host) ? "gw1" : "gw2");
    assertEquals(result.toJSON().via, result.via);
  }
});

Deno.test("through gateways: input reaches every leaf; callStream yields output as it comes; per-host commands", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const options = through(lab);
  // Larger than one piece of stdin: the controller sends it on to each gateway as ssh takes it.
  const input = new Uint8Array(600_000).map((_, i) => (i * 7) % 256);
  const summed = await call(lab.allLeaves, "cksum", { ...options, input });
  const expected = ok(summed.get(lab.allLeaves[0])).stdout;
  for (const leaf of lab.allLeaves) assertEquals(ok(summed.get(leaf)).stdout, expected);

  const events: CallEvent[] = [];
  for await (const event of callStream(lab.allLeaves, "echo one; sleep 0.3; echo two", options)) {
    events.push(event);
  }
  for (const leaf of lab.allLeaves) {
    const mine = events.filter((e) => e.host === leaf);
    assertEquals(mine.at(-1)?.type, "result");
    const said = mine.flatMap((e) => e.type === "output" ? [new TextDecoder().decode(e.data)] : []);
    assertEquals(said.join(""), "one\ntwo\n");
  }

  const perHost = await call(lab.allLeaves, (_host, i) => `echo leaf ${i}`, options);
  lab.allLeaves.forEach((leaf, i) => assertEquals(ok(perHost.get(leaf)).stdout, `leaf ${i}\n`));
  // The call's user is its hosts' (here overridden by the gateway's PARALLAX_OPTIONS), never the
  // gateways' login, which comes from their own entry or ssh_config.
  const asUser = await call(lab.allLeaves, "id -un", { ...options, user: "nosuchuser" });
  for (const leaf of lab.allLeaves) assertEquals(ok(asUser.get(leaf)).stdout, `${lab.leafUser}\n`);
  // PARALLAX_NODENUM is the host's position in the caller's list, behind a gateway too.
  const nodes = await call(lab.allLeaves, "echo $PARALLAX_NODENUM", options);
  lab.allLeaves.forEach((leaf, i) => assertEquals(ok(nodes.get(leaf)).stdout, `${i}\n`));
  // The connections to the gateways run on the main thread: no Web Worker starts for them.
  await using pool = new Pool();
  const pooled = await call(lab.allLeaves, "echo pooled", { ...options, pool });
  for (const leaf of lab.allLeaves) assertEquals(ok(pooled.get(leaf)).stdout, "pooled\n");
  assertEquals(engineOf(pool).liveWorkers, 0);
});

Deno.test("through gateways, a callStream() loop slower than the leaves holds them back (past the silence limit) and misses no byte", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 1 });
  const options = through(lab);
  // Longer than a side's silence limit (10 s): held back is not silent.
  await assertSlowLoopHoldsBack(lab.allLeaves[0], options, 12_000);
});

Deno.test("a gateway that cannot be reached (unless a retry reaches it) or cannot start parallax fails its hosts (kind gateway); the others' results stand", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  await using sshd = await startSshd({ aliases: 1 });
  const options = { sshExtra: lab.sshExtra, gatewayCommand: lab.gatewayCommand };
  const [c1, c2] = lab.leaves.get("gw2")!;
  const unreachable = await call(lab.allLeaves, "echo hi", {
    ...options,
    sshExtra: await bothConfigs(lab.sshExtra, sshd.sshExtra),
    gateways: { refused: lab.leaves.get("gw1")!, gw2: [c1, c2] },
  });
  for (const leaf of lab.leaves.get("gw1")!) {
    const error = failed(unreachable.get(leaf));
    assertEquals(error.kind, "gateway");
    assertEquals(error.via, "refused");
    assertStringIncludes(error.message, "cannot reach gateway refused");
    assertStringIncludes(error.message, "Connection refused");
  }
  for (const leaf of [c1, c2]) assertEquals(ok(unreachable.get(leaf)).stdout, "hi\n");

  // With `retries`, a gateway that could not be reached is tried again (nothing ran there): an
  // ssh that refuses the first connection it is asked for (fault injection), then is real ssh.
  await withTempDir(async (dir) => {
    const fakeSsh = `${dir}/ssh`;
    await Deno.writeTextFile(
      fakeSsh,
      `#!/bin/sh\necho "$*" >> ${dir}/calls\nif mkdir ${dir}/refused 2>/dev/null; then\n` +
        // ssh writes its own words to the log that -E names, as the real one does.
        `  log=/dev/stderr; prev=; for a in "$@"; do [ "$prev" = -E ] && log=$a; prev=$a; done\n` +
        `  echo "ssh: connect to host gw port 22: Connection refused" >> "$log"; exit 255\nfi\n` +
        `exec ssh "$@"\n`,
    );
    await Deno.chmod(fakeSsh, 0o755);
    const flaky = { ...options, gateways: lab.topology, sshPath: fakeSsh };
    const once = await call(lab.allLeaves, "echo hi", flaky);
    const refused = lab.allLeaves.filter((leaf) => once.get(leaf) instanceof Error);
    assertEquals(refused.length, 2, "one gateway's two hosts fail without retries");
    assertStringIncludes(failed(once.get(refused[0])).message, "Connection refused");
    await Deno.remove(`${dir}/refused`);
    const retried = await call(lab.allLeaves, "echo hi", { ...flaky, retries: 1 });
    for (const leaf of lab.allLeaves) assertEquals(ok(retried.get(leaf)).stdout, "hi\n");
    // Two gateways, then two more and the retry of the one refused.
    const calls = (await Deno.readTextFile(`${dir}/calls`)).match(/ -- gw\d /g);
    assertEquals(calls?.length, 5);
  });

  const noParallax = await call(lab.allLeaves, "echo hi", {
    ...options,
    gateways: lab.topology,
    gatewayCommand: ["/nonexistent/deno"],
  });
  for (const leaf of lab.allLeaves) {
    const error = failed(noParallax.get(leaf));
    assertEquals(error.kind, "gateway");
    assertStringIncludes(error.message, "did not start parallax (exit 127)");
    assertStringIncludes(error.message, "/nonexistent/deno");
  }

  // A gateway that speaks another version of the protocol.
  const hello = '{"event":"hello","protocol":"parallax-gateway","version":99,"parallax":"9.0.0"}';
  const otherVersion = await call(lab.allLeaves, "echo hi", {
    ...options,
    gateways: lab.topology,
    gatewayCommand: ["sh", "-c", `echo '${hello}'; cat >/dev/null`, "sh"],
  });
  for (const leaf of lab.allLeaves) {
    const error = failed(otherVersion.get(leaf));
    assertEquals(error.kind, "gateway");
    assertStringIncludes(
      error.message,
      `protocol version 99 (parallax 9.0.0), this controller ${PROTOCOL_VERSION}`,
    );
  }
});

Deno.test("through gateways, a timeout and an abort stop the leaves' commands; nothing is left on either side", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const options = through(lab);
  const timed = tracedSleep();
  const results = await call(lab.allLeaves, timed.command, { ...options, timeout: 1.5 });
  for (const leaf of lab.allLeaves) {
    const error = failed(results.get(leaf));
    assertEquals(error.kind, "timeout");
    assertEquals(error.via, lab.leaves.get("gw1")!.includes(leaf) ? "gw1" : "gw2");
  }
  await timeUntil(timed.gone);

  // An abort keeps what each host printed before it, as without gateways: the gateways are told
  // to cancel, and report their hosts.
  const aborted = tracedSleep();
  const controller = new AbortController();
  const running = call(lab.allLeaves, `echo start; echo e1 >&2; ${aborted.command}`, {
    ...options,
    signal: controller.signal,
  });
  await timeUntil(async () => (await aborted.remote()) === lab.allLeaves.length);
  controller.abort();
  for (const result of (await running).values()) {
    const error = failed(result);
    assertEquals([error.kind, error.stdout, error.stderr], ["cancelled", "start\n", "e1\n"]);
    assertStringIncludes(error.message, "its command was stopped on the host");
    assert(error.durationMs !== undefined && error.durationMs > 0, "durationMs");
  }
  await timeUntil(aborted.gone);
  await timeUntil(async () => (await gatewayProcesses(lab)).length === 0);

  // One host at a time on each gateway: an abort stops the first, and the second never started.
  const queued = tracedSleep();
  const stopper = new AbortController();
  const calling = call(lab.allLeaves, queued.command, {
    ...options,
    gatewayLimit: 1,
    signal: stopper.signal,
  });
  await timeUntil(async () => (await queued.remote()) === 2);
  stopper.abort();
  const stopped = await calling;
  for (const [first, second] of lab.leaves.values()) {
    const ran = failed(stopped.get(first));
    const waited = failed(stopped.get(second));
    assertEquals([ran.kind, ran.attempts, waited.kind, waited.attempts], [
      "cancelled",
      1,
      "cancelled",
      0,
    ]);
    assertStringIncludes(ran.message, "its command was stopped on the host");
    assertStringIncludes(waited.message, "cancelled before it started (through gateway");
  }
  await timeUntil(queued.gone);
});

Deno.test("a SIGKILLed controller, or a broken gateway connection, stops the leaves' commands within 15 s", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const sleep = tracedSleep();
  const script = `
    import { call } from "${ROOT}/mod.ts";
    await call(${JSON.stringify(lab.allLeaves)}, ${JSON.stringify(sleep.command)}, {
      sshExtra: ${JSON.stringify(lab.sshExtra)},
      gateways: ${JSON.stringify(lab.topology)},
      gatewayCommand: ${JSON.stringify(lab.gatewayCommand)},
    });`;
  await withScript(script, async (path) => {
    const controller = spawnArgv(denoArgv(["--allow-all"], path));
    await timeUntil(async () => (await sleep.remote()) === lab.allLeaves.length, 30_000);
    controller.kill("SIGKILL");
    await controller.finished();
    await timeUntil(sleep.gone, 15_000);
    await timeUntil(async () => (await gatewayProcesses(lab)).length === 0, 15_000);
  });

  // The controller's ssh to gw1 dies while each gateway runs one host at a time: gw1's first
  // leaf may have run, its second never started (each error says which); gw2's finish.
  const broken = tracedSleep(4);
  const running = call(lab.allLeaves, broken.command, {
    sshExtra: lab.sshExtra,
    gateways: lab.topology,
    gatewayCommand: lab.gatewayCommand,
    gatewayLimit: 1,
  });
  await timeUntil(async () => (await broken.remote()) === 2, 30_000);
  const toGw1 = (await listProcesses()).filter(({ args }) =>
    args.split(" ")[0].endsWith("ssh") && args.includes(lab.sshExtra[1]) &&
    args.includes(" -- gw1 ")
  );
  assertEquals(toGw1.length, 1);
  Deno.kill(toGw1[0].pid, "SIGKILL");
  const results = await running;
  const [first, second] = lab.leaves.get("gw1")!.map((leaf) => failed(results.get(leaf)));
  assertEquals([first.kind, first.attempts, second.kind, second.attempts], [
    "gateway",
    1,
    "gateway",
    0,
  ]);
  assertStringIncludes(first.message, "the command may have run");
  assertStringIncludes(second.message, "never started: gateway gw1 did not start it before its");
  for (const leaf of lab.leaves.get("gw2")!) assertEquals(ok(results.get(leaf)).exitCode, 0);
  await timeUntil(broken.gone, 15_000);
});

Deno.test("a cut link to a gateway: both sides give up within 15 s, its leaves' commands stop, the other gateway's hosts finish", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const job = tracedSleep(20);
  const running = call(lab.allLeaves, job.command, {
    sshExtra: lab.sshExtra,
    gateways: lab.topology,
    gatewayCommand: lab.gatewayCommand,
    timeout: 0,
  });
  await timeUntil(async () => (await job.remote()) === 4, 30_000);
  await lab.cut("gw1");
  // gw1 hears no heartbeat and stops its hosts; gw2's run on.
  await timeUntil(async () => (await job.remote()) === 2 && (await job.local()) === 2, 15_000);
  const results = await running;
  assertGw1Lost(lab, results);
  await timeUntil(job.gone);
  await lab.cut("gw1", false);
});

Deno.test("a problem of the gateway's own machine says it happened on the gateway", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 1 });
  // parallax on the gateway without --allow-run: it starts, but cannot run ssh there.
  const [env, options, deno, run] = lab.gatewayCommand;
  const results = await call(lab.allLeaves, "true", {
    ...through(lab),
    gatewayCommand: [env, options, deno, run, "--allow-read", "--allow-env", `${ROOT}/cli.ts`],
  });
  const error = failed(results.get(lab.allLeaves[0]));
  assertEquals([error.kind, error.via], ["spawn", "gw1"]);
  assertStringIncludes(error.message, "on gateway gw1: cannot start 'ssh'");
});

Deno.test("a gateway that says hello and then nothing is given up after 10 s of silence", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 2 });
  const hello = JSON.stringify({
    event: "hello",
    protocol: "parallax-gateway",
    version: PROTOCOL_VERSION,
    parallax: "0.1.0",
  });
  const started = Date.now();
  const results = await call(lab.allLeaves, "true", {
    sshExtra: lab.sshExtra,
    gateways: lab.topology,
    gatewayCommand: ["sh", "-c", `echo '${hello}'; cat >/dev/null`, "sh"],
  });
  for (const leaf of lab.allLeaves) {
    const error = failed(results.get(leaf));
    assertEquals(error.kind, "gateway");
    assertStringIncludes(
      error.message,
      "never started: gateway gw1 did not start it before it fell silent for",
    );
  }
  assert(Date.now() - started < 30_000, `given up after ${Date.now() - started} ms`);
});

Deno.test("a gateway that hangs before it starts parallax is stopped there when the call ends", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 1 });
  const hung = uniqueSleep(300);
  const controller = new AbortController();
  const running = call(lab.allLeaves, "true", {
    sshExtra: lab.sshExtra,
    gateways: lab.topology,
    gatewayCommand: ["sh", "-c", `exec ${hung}`, "sh"],
    signal: controller.signal,
  });
  await timeUntil(async () => (await remoteProcesses(hung)).length === 1, 30_000);
  controller.abort();
  assertEquals(failed((await running).get(lab.allLeaves[0])).kind, "cancelled");
  await timeUntil(async () => (await remoteProcesses(hung)).length === 0, 15_000);
});

Deno.test("maxFailures holds across gateways: the first failure halts the others", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const results = await call(lab.allLeaves, "exit 1", {
    sshExtra: lab.sshExtra,
    gateways: lab.topology,
    gatewayCommand: lab.gatewayCommand,
    limit: 1,
    gatewayLimit: 1,
    maxFailures: 0,
    // A connection that fails under the suite's load is tried again, not counted as the failure.
    retries: 2,
  });
  // One gateway at a time (which goes first is not fixed), one host at a time on it: its first
  // host fails, and every other host is skipped.
  const ran = lab.allLeaves.filter((leaf) => !(results.get(leaf) instanceof Error));
  const said = [...results].map(([leaf, r]) => `${leaf}: ${r instanceof Error ? r.message : "ok"}`);
  assertEquals(ran.length, 1, `ran: ${ran}\n${said.join("\n")}`);
  const [first] = ran;
  assert([...lab.leaves.values()].some((leaves) => leaves[0] === first), `${first} ran first`);
  assertEquals(ok(results.get(first)).exitCode, 1);
  for (const leaf of lab.allLeaves.filter((leaf) => leaf !== first)) {
    const error = failed(results.get(leaf));
    assertEquals(error.kind, "skipped", leaf);
    assertStringIncludes(error.message, "1 host failed, more than maxFailures 0");
  }
});

Deno.test("relay copy sends each file once per gateway; slurp brings files back through the gateways", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 3 });
  const options = through(lab);
  await withTempDir(async (dir) => {
    const size = 4_000_000;
    const data = crypto.getRandomValues(new Uint8Array(65536));
    const big = new Uint8Array(size).map((_, i) => data[i % data.length] ^ (i >> 16));
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeFile(`${dir}/tree/big.bin`, big);
    await Deno.writeTextFile(`${dir}/tree/sub/small.txt`, "small\n");
    const target = `/tmp/parallax-relay-test-${crypto.randomUUID()}`;
    const before = await lab.sentToGateways();
    const copied = await copy(lab.allLeaves, `${dir}/tree`, target, options);
    const sent = (await lab.sentToGateways()) - before;
    for (const leaf of lab.allLeaves) {
      const result = ok(copied.get(leaf));
      assertEquals(result.path, target);
      assert(result.via === "gw1" || result.via === "gw2");
    }
    assert(sent <= 1.02 * lab.gateways.length * size, `controller sent ${sent} bytes`);
    try {
      // Every leaf shares this machine's file system: slurp each leaf's copy back.
      const localdir = `${dir}/back`;
      const fetched = await slurp(lab.allLeaves, `${target}`, "tree", { ...options, localdir });
      for (const leaf of lab.allLeaves) {
        const result = ok(fetched.get(leaf));
        assertEquals(result.path, `${localdir}/${leaf}/tree`);
        assertEquals(await Deno.readFile(`${result.path}/big.bin`), big);
        assertEquals(await Deno.readTextFile(`${result.path}/sub/small.txt`), "small\n");
      }
      const missing = await slurp(lab.allLeaves, "/nonexistent/file", "f", {
        ...options,
        localdir,
      });
      for (const leaf of lab.allLeaves) assertEquals(failed(missing.get(leaf)).kind, "transfer");
    } finally {
      await Deno.remove(target, { recursive: true });
    }
    // No staging left on the gateways (they share /tmp with this machine).
    assertEquals(stagedOnGateways(), []);
  });
});

/**
 * The relay staging folders on the gateways (which share this machine's /tmp): in the folder of
 * each gateway's lifeline (`/tmp/tmp.*`), or in /tmp itself.
 */
function stagedOnGateways(): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/tmp")) {
    if (entry.name.startsWith("parallax-relay-")) found.push(`/tmp/${entry.name}`);
    if (!entry.isDirectory || !entry.name.startsWith("tmp.")) continue;
    try {
      for (const inner of Deno.readDirSync(`/tmp/${entry.name}`)) {
        if (inner.name.startsWith("parallax-relay-")) {
          found.push(`/tmp/${entry.name}/${inner.name}`);
        }
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

Deno.test("a relay copy's staging on the gateway is removed after a SIGKILLed controller", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 2 });
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(2_000_000));
    const target = `/tmp/parallax-relay-kill-${crypto.randomUUID()}`;
    const script = `
      import { copy } from "${ROOT}/mod.ts";
      await copy(${JSON.stringify(lab.allLeaves)}, ${JSON.stringify(`${dir}/big.bin`)}, ${
      JSON.stringify(target)
    }, {
        sshExtra: ${JSON.stringify(lab.sshExtra)},
        gateways: ${JSON.stringify(lab.topology)},
        gatewayCommand: ${JSON.stringify(lab.gatewayCommand)},
        bandwidthLimit: 200,
      });`;
    await withScript(script, async (path) => {
      const controller = spawnArgv(denoArgv(["--allow-all"], path));
      // The gateway has staged the file and its scp to the leaves are running.
      await timeUntil(
        async () =>
          stagedOnGateways().length === 1 && (await processesMatching(target)).length >= 2,
        30_000,
      );
      controller.kill("SIGKILL");
      await controller.finished();
      const ms = await timeUntil(() => Promise.resolve(stagedOnGateways().length === 0), 15_000);
      console.log(`  staging gone ${ms} ms after the SIGKILL`);
      await timeUntil(async () => (await processesMatching(target)).length === 0, 15_000);
    });
    await Deno.remove(target).catch(() => {});
  });
});

Deno.test("through gateways, batches run in turn and maxFailures stops later batches and each gateway's queue", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const options = through(lab);
  const [a1, a2] = lab.leaves.get("gw1")!;
  const [b1, b2] = lab.leaves.get("gw2")!;
  // The first host fails; its batch (a1, a2) finishes, the next one (gw2's) never starts.
  const failFirst = (_host: unknown, i: number) => i === 0 ? "exit 1" : "echo ran";
  // A connection that fails under the suite's load is tried again, not counted as the failure.
  const retries = 2;
  const batched = await call([a1, a2, b1, b2], failFirst, {
    ...options,
    batch: 2,
    maxFailures: 0,
    retries,
  });
  assertEquals(ok(batched.get(a1)).exitCode, 1);
  assertEquals(ok(batched.get(a2)).stdout, "ran\n");
  for (const leaf of [b1, b2]) {
    const error = failed(batched.get(leaf));
    assertEquals([error.kind, error.via], ["skipped", "gw2"]);
    assertStringIncludes(error.message, "never started: 1 host failed, more than maxFailures 0");
  }
  // Without batches, each gateway stops starting its own hosts at the budget: one at a time on
  // gw1, whose first host fails, so its second is skipped there.
  const unbatched = await call([a1, a2, b1, b2], failFirst, {
    ...options,
    maxFailures: 0,
    gatewayLimit: 1,
    retries,
  });
  assertEquals(ok(unbatched.get(a1)).exitCode, 1);
  const skipped = failed(unbatched.get(a2));
  assertEquals(skipped.kind, "skipped");
  assertEquals(skipped.via, "gw1");
  // gw2 runs at the same time: a host it starts before it hears of gw1's failure runs (the
  // budget can be exceeded only so), one it would start after is skipped there.
  for (const leaf of [b1, b2]) {
    const result = unbatched.get(leaf);
    if (result instanceof Error) {
      assertEquals([failed(result).kind, failed(result).via], ["skipped", "gw2"]);
    } else assertEquals(ok(result).stdout, "ran\n");
  }
  // A halt aborted before the call: nothing starts, through gateways or not.
  const halted = await call([a1, b1], "true", { ...options, halt: AbortSignal.abort("frozen") });
  for (const leaf of [a1, b1]) {
    assertStringIncludes(failed(halted.get(leaf)).message, "never started: frozen");
    assertEquals(failed(halted.get(leaf)).via, leaf === a1 ? "gw1" : "gw2");
  }
});

Deno.test("gateways: malformed options are refused before anything runs", async () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ gateways: ["gw1"] }, "expected an object"],
    [{ gateways: { gw1: ["a"], gw2: ["a"] } }, "under both 'gw1' and 'gw2'"],
    [{ gateways: { "-oProxyCommand=x": ["a"] } }, "-oProxyCommand=x"],
    [{ gateways: { gw1: ["a"] }, gatewayCommand: [] }, "gatewayCommand"],
    [{ gateways: { gw1: ["a"] }, gatewayLimit: 0 }, "gatewayLimit"],
    [{ gateways: { gw1: ["a"] }, password: "x" }, "Cannot use password with gateways"],
  ];
  for (const [options, message] of bad) {
    await assertRejects(() => call(["a", "b"], "true", options), Error, message);
  }
});

Deno.test("CLI: --gateways FILE splits a line's hosts among its gateways; status lines and --json say via", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const leaves = lab.allLeaves;
  await withTempFile(async (file) => {
    // One line for both gateways: the first half of the hosts to gw1, the rest to gw2, which
    // is how the lab connects them.
    await Deno.writeTextFile(file, `# the lab\n\ngw[1-2]: ${leaves.join(",")}\n`);
    const common = [...gatewayFlags(lab, file), "--gateway-limit", "1"];
    const status = await cli(["call", ...common, "-i", "hostname -I"], { env: cleanCliEnv() });
    assertEquals(status.code, 0, status.stderr);
    const lines = statusLines(status.stdout);
    assertEquals(lines.map((l) => l.host).sort(), [...leaves].sort());
    for (const line of lines) {
      const via = lab.leaves.get("gw1")!.includes(line.host) ? "gw1" : "gw2";
      assertEquals(line.rest, ` via ${via}`);
    }
    assertStringIncludes(status.stdout, `${leaves[0]} \n`);
    const json = await cli(["call", ...common, "--json", "exit 2"], { env: cleanCliEnv() });
    assertEquals(json.code, 5, json.stderr);
    const records = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(records.length, leaves.length);
    for (const record of records) {
      assertEquals(record.exitCode, 2);
      assertEquals(record.via, lab.leaves.get("gw1")!.includes(record.host) ? "gw1" : "gw2");
    }
    // Without -h, -H or PARALLAX_HOSTS, the hosts are every one the file lists.
    const all = await cli(["call", ...reachFlags(lab, file), "--json", "true"], {
      env: cleanCliEnv(),
    });
    assertEquals(all.code, 0, all.stderr);
    const hostsOf = (stdout: string) =>
      stdout.trim().split("\n").map((l) => JSON.parse(l).host).sort();
    assertEquals(hostsOf(all.stdout), [...leaves].sort());
    // PARALLAX_HOSTS stands for -h: it picks the hosts, and the file only routes them.
    await withTempFile(async (hostFile) => {
      await Deno.writeTextFile(hostFile, `${leaves[0]}\n`);
      const picked = await cli(["call", ...reachFlags(lab, file), "--json", "true"], {
        env: cleanCliEnv({ PARALLAX_HOSTS: hostFile }),
      });
      assertEquals(picked.code, 0, picked.stderr);
      assertEquals(hostsOf(picked.stdout), [leaves[0]]);
    });
  }, { suffix: ".gateways" });
  await withTempFile(async (file) => {
    await Deno.writeTextFile(file, "gw1 web1\n");
    const bad = await cli(["call", "--gateways", file, "-H", "web1", "true"]);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, ":1: expected 'GATEWAY: HOSTS'");
  });
});

/** The OpenSSH masters running now (`ssh: SOCKET [mux]`), as "pid socket". */
async function masters(): Promise<string[]> {
  return (await listProcesses()).flatMap(({ pid, args }) => {
    const match = /^ssh: (\S+) \[mux\]/.exec(args);
    return match === null ? [] : [`${pid} ${match[1]}`];
  });
}

Deno.test("a held pool reuses its connections to the gateways, an abort through them still stops the leaves, and close() leaves nothing", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const before = await masters();
  const pool = new Pool();
  const options = { ...through(lab), pool };
  const first = await call(lab.allLeaves, "echo $PARALLAX_NODENUM", options);
  const kept = (await masters()).filter((m) => !before.includes(m));
  assertEquals(kept.length, 2, `one master per gateway: ${kept.join(", ")}`);
  const second = await call(lab.allLeaves, "echo $PARALLAX_NODENUM", options);
  for (const leaf of lab.allLeaves) {
    assertEquals(ok(second.get(leaf)).stdout, ok(first.get(leaf)).stdout);
  }
  assertEquals((await masters()).filter((m) => !before.includes(m)), kept, "the same masters");

  // Through the kept connections, an abort reaches the leaves as through fresh ones.
  const job = tracedSleep();
  const controller = new AbortController();
  const running = call(lab.allLeaves, job.command, { ...options, signal: controller.signal });
  await timeUntil(async () => (await job.remote()) === lab.allLeaves.length);
  controller.abort();
  for (const result of (await running).values()) assertEquals(failed(result).kind, "cancelled");
  await timeUntil(job.gone, 15_000);
  await timeUntil(async () => (await gatewayProcesses(lab)).length === 0, 15_000);

  await pool.close();
  await timeUntil(async () => (await masters()).every((m) => before.includes(m)), 5_000);
});

Deno.test("CLI --persist through gateways keeps the gateways' connections and theirs to the leaves; persist --stop --gateways ends both", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  await withTempFile(async (file) => {
    const gateways = Object.entries(lab.topology).map(([g, hosts]) => `${g}: ${hosts.join(" ")}`);
    await Deno.writeTextFile(file, gateways.join("\n") + "\n");
    const before = await masters();
    const args = [
      "call",
      ...gatewayFlags(lab, file),
      "--persist=30",
      "--json",
      "echo $PARALLAX_NODENUM",
    ];
    const first = await cli(args, { env: cleanCliEnv() });
    assertEquals(first.code, 0, first.stderr);
    const kept = (await masters()).filter((m) => !before.includes(m));
    const onGateways = kept.filter((m) => m.includes("/gateway-tmp/"));
    assertEquals(onGateways.length, lab.allLeaves.length, `a master per leaf: ${kept.join(", ")}`);
    assertEquals(kept.length - onGateways.length, 2, `a master per gateway: ${kept.join(", ")}`);
    const second = await cli(args, { env: cleanCliEnv() });
    assertEquals(second.code, 0, second.stderr);
    const values = (text: string) =>
      text.trim().split("\n").map((l) => JSON.parse(l)).map((r) => `${r.host}=${r.stdout}`).sort();
    assertEquals(values(second.stdout), values(first.stdout));
    assertEquals((await masters()).filter((m) => !before.includes(m)), kept, "the same masters");

    // A run through the kept connections, stopped by SIGTERM: every leaf's command stops, and
    // the connections stay kept.
    const job = tracedSleep();
    const running = spawnCli(["call", ...gatewayFlags(lab, file), "--persist=30", job.command]);
    await timeUntil(async () => (await job.remote()) === lab.allLeaves.length, 30_000);
    running.kill("SIGTERM");
    const interrupted = await running.finished();
    assertEquals(interrupted.code, 3, interrupted.stderr);
    await timeUntil(job.gone, 15_000);
    assertEquals((await masters()).filter((m) => !before.includes(m)), kept, "still kept");

    const stop = await cli(["persist", "--stop", ...reachFlags(lab, file)], { env: cleanCliEnv() });
    assertEquals(stop.code, 0, stop.stderr);
    // The lab's gateways share one file system (and so one folder of kept connections): the
    // first to stop ends all four.
    const ended = [...stop.stdout.matchAll(/^on gateway (gw\d): (\d+) kept connections? ended$/gm)];
    assertEquals(ended.map((m) => m[1]).sort(), ["gw1", "gw2"], stop.stdout);
    assertEquals(ended.reduce((sum, m) => sum + Number(m[2]), 0), 4, stop.stdout);
    await timeUntil(async () => (await masters()).every((m) => before.includes(m)), 5_000);
  }, { suffix: ".gateways" });
});

Deno.test("CLI through gateways: Ctrl-C at a real terminal, and closing it, stop every leaf's command", async () => {
  await using lab = await startLab({ gateways: 2, leaves: 2 });
  const gateways = Object.entries(lab.topology).map(([g, hosts]) => `${g}: ${hosts.join(" ")}`);
  await withTempFile(async (file) => {
    await Deno.writeTextFile(file, gateways.join("\n") + "\n");
    for (const how of ["Ctrl-C", "hang up"]) {
      const job = tracedSleep(30);
      const terminal = onTerminal(
        cliArgv(["call", ...gatewayFlags(lab, file), job.command]),
        cleanCliEnv({ NO_COLOR: "1" }),
      );
      await timeUntil(async () => (await job.remote()) === lab.allLeaves.length, 30_000);
      if (how === "Ctrl-C") {
        await terminal.type("\x03");
        const { code, screen } = await terminal.finished();
        assertEquals(code, 3, screen);
        assertEquals(screen.match(/\[FAILURE\] \S+ via gw\d Interrupted/g)?.length, 4, screen);
      } else {
        terminal.hangUp();
        await terminal.finished();
      }
      await timeUntil(job.gone, 15_000);
      await timeUntil(async () => (await gatewayProcesses(lab)).length === 0, 15_000);
    }
  });
});

Deno.test("a gateway says hello, then refuses a request it does not understand", async () => {
  const { serveGateway } = await import("../lib/gateway/serve.ts");
  const valid = {
    protocol: "parallax-gateway",
    version: PROTOCOL_VERSION,
    op: "call",
    hosts: ["web1"],
    commands: ["true"],
    nodes: [0],
    stream: false,
    payloadBytes: 0,
    options: {
      timeout: 1,
      connectTimeout: 1,
      limit: 1,
      retries: 0,
      quiet: false,
      inline: true,
      stopRemote: true,
      recursive: false,
      preserve: false,
      compress: false,
    },
  };
  const cases: [string, string][] = [
    ["not json\n", "request is not JSON"],
    ["", "no request line"],
    [
      `${JSON.stringify({ ...valid, version: 1 })}\n`,
      `protocol version 1 asked, this gateway speaks ${PROTOCOL_VERSION}`,
    ],
    [`${JSON.stringify({ ...valid, op: "format" })}\n`, 'unknown op "format"'],
    [`${JSON.stringify({ ...valid, hosts: [] })}\n`, "names no host"],
    [
      `${JSON.stringify({ ...valid, commands: ["a", "b"] })}\n`,
      "commands: expected one, or one per host",
    ],
    [`${JSON.stringify({ ...valid, payloadBytes: 5 })}\nab`, "announced 5 bytes after it, 2 came"],
    [
      `${JSON.stringify({ ...valid, options: { ...valid.options, persist: 0 } })}\n`,
      "persist: expected a number of seconds, at least 1",
    ],
  ];
  for (const [request, part] of cases) {
    const chunks: Uint8Array[] = [];
    const code = await serveGateway(
      ReadableStream.from([new TextEncoder().encode(request)]),
      new WritableStream({ write: (chunk) => void chunks.push(chunk) }),
    );
    const events = chunks.map((c) => new TextDecoder().decode(c)).join("").trim().split("\n")
      .map((l) => JSON.parse(l));
    assertEquals(code, 2);
    assertEquals(events[0].event, "hello");
    assertEquals(events[0].version, PROTOCOL_VERSION);
    assertEquals(events[1].event, "refused");
    assertStringIncludes(events[1].reason, part);
  }
});

Deno.test("leafSshExtra reaches the gateways' own ssh to their hosts", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 2 });
  const marker = `parallax-leaf-${crypto.randomUUID()}`;
  const running = call(lab.allLeaves, "sleep 2; echo done", {
    ...through(lab),
    leafSshExtra: ["-o", `SetEnv=M=${marker}`],
  });
  // The gateway's ssh to each leaf carries the argument (the lab runs on this machine).
  await timeUntil(async () => (await processesMatching(marker)).length === 2, 30_000);
  const results = await running;
  for (const leaf of lab.allLeaves) assertEquals(ok(results.get(leaf)).stdout, "done\n");
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => call(lab.allLeaves, "true", { ...through(lab), leafSshExtra: "-F x" as any }),
    TypeError,
    "leafSshExtra",
  );
});

Deno.test("gatewayCommandFor(): a checkout on the gateway, run with the default command's permissions, serves calls and copies", async () => {
  await using lab = await startLab({ gateways: 1, leaves: 2 });
  // The lab's gateways need its ssh settings and TMPDIR (the `env …` part of its command).
  const gatewayCommand = [
    ...lab.gatewayCommand.slice(0, 3),
    ...gatewayCommandFor(`${ROOT}/cli.ts`, Deno.execPath()),
  ];
  assertEquals(lab.gatewayCommand[0], "env");
  const options = { sshExtra: lab.sshExtra, gateways: lab.topology, gatewayCommand };
  const called = await call(lab.allLeaves, "echo hi", options);
  for (const leaf of lab.allLeaves) assertEquals(ok(called.get(leaf)).stdout, "hi\n");
  await withTempFile(async (file) => {
    await Deno.writeTextFile(file, "payload\n");
    const target = `/tmp/parallax-recipe-${crypto.randomUUID()}`;
    const copied = await copy(lab.allLeaves, file, target, options);
    for (const leaf of lab.allLeaves) ok(copied.get(leaf));
    assertEquals(await Deno.readTextFile(target), "payload\n");
    await Deno.remove(target);
  });
  assertEquals(gatewayCommandFor("/usr/local/bin/parallax"), ["/usr/local/bin/parallax"]);
  assertThrows(() => gatewayCommandFor("cli.ts"), TypeError, "absolute path");
});
