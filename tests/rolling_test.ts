import { failed, ok, statusLines } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { cli, denoRun, ROOT } from "./fixture/deno_run.ts";
import { withScript, withTempDir } from "./fixture/temp_dir.ts";
import { call, type CallResult, copy, isOk, type ParallaxError, slurp } from "../mod.ts";

/** Each host prints when it started and ended (remote clock, ns). */
const STAMPED = 'echo "S $(date +%s%N)"; sleep 0.3; echo "E $(date +%s%N)"';

function span(result: CallResult | ParallaxError | undefined): { start: bigint; end: bigint } {
  const [start, end] = ok(result).stdout.trim().split("\n").map((l) => BigInt(l.split(" ")[1]));
  return { start, end };
}

Deno.test("batch runs the hosts batch after batch: numbers, percentages and lists", async () => {
  await using sshd = await startSshd({ aliases: 5 });
  const hosts = sshd.aliases;
  const check = async (batch: number | string | (number | string)[], groups: number[][]) => {
    const results = await call(hosts, STAMPED, { sshExtra: sshd.sshExtra, batch });
    for (let g = 1; g < groups.length; g++) {
      const previousEnd = groups[g - 1].map((i) => span(results.get(hosts[i])).end)
        .reduce((a, b) => (a > b ? a : b));
      for (const i of groups[g]) {
        assert(
          span(results.get(hosts[i])).start >= previousEnd,
          `batch ${g} started early (${batch})`,
        );
      }
    }
  };
  await check(2, [[0, 1], [2, 3], [4]]);
  await check("40%", [[0, 1], [2, 3], [4]]);
  await check([1, "50%"], [[0], [1, 2, 3], [4]]);
});

Deno.test("maxFailures stops starting hosts once exceeded: skipped hosts say why", async () => {
  await using sshd = await startSshd({ aliases: 6 });
  const hosts = sshd.aliases;
  // Host i exits 1 when it is listed in `bad`.
  const run = (bad: number[], options: Record<string, unknown>) =>
    call(hosts, `case $PARALLAX_NODENUM in ${bad.join("|")}) exit 1;; esac; true`, {
      sshExtra: sshd.sshExtra,
      ...options,
    });
  const failFast = await run([1], { batch: 2, maxFailures: 0 });
  assertEquals(ok(failFast.get(hosts[0])).exitCode, 0);
  assertEquals(ok(failFast.get(hosts[1])).exitCode, 1);
  for (const host of hosts.slice(2)) {
    assertEquals(failed(failFast.get(host)).kind, "skipped");
    assertStringIncludes(failed(failFast.get(host)).message, "more than maxFailures 0");
  }
  const share = await run([1, 2, 3], { batch: 2, maxFailures: "50%" });
  assertEquals([0, 1, 2, 3].map((i) => ok(share.get(hosts[i])).exitCode), [0, 1, 1, 1]);
  for (const host of hosts.slice(4)) {
    assertStringIncludes(failed(share.get(host)).message, "2 of 2 hosts of a batch failed");
  }
  const queue = await run([0], { limit: 1, maxFailures: 0 });
  assertEquals(ok(queue.get(hosts[0])).exitCode, 1);
  for (const host of hosts.slice(1)) assertEquals(failed(queue.get(host)).kind, "skipped");
  const fine = await run([0], { batch: "50%", maxFailures: 1 });
  for (const host of hosts.slice(1)) assertEquals(ok(fine.get(host)).exitCode, 0);
});

/**
 * An ssh that refuses (as a closed port would: "Connection refused", exit 255) the first attempts
 * of some hosts, then runs the real ssh; it logs each attempt's time (ns) per host. Fault
 * injection only: every attempt that gets through talks to the real sshd.
 */
async function flakySsh(dir: string, fails: Record<string, number>): Promise<string> {
  const path = `${dir}/ssh`;
  const cases = Object.entries(fails).map(([host, n]) => `${host}) fails=${n};;`).join(" ");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
fails=0; case "$PARALLAX_HOST" in ${cases} esac
log="${dir}/$PARALLAX_HOST.attempts"
date +%s%N >> "$log"
if [ "$(wc -l < "$log")" -le "$fails" ]; then
  # ssh writes its own words to the log that -E names, as the real one does.
  sshlog=/dev/stderr; prev=
  for arg in "$@"; do [ "$prev" = -E ] && sshlog=$arg; prev=$arg; done
  echo "ssh: connect to host $PARALLAX_HOST port 22: Connection refused" >> "$sshlog"; exit 255
fi
exec ssh "$@"
`,
    { mode: 0o755 },
  );
  return path;
}

async function attemptTimes(dir: string, host: string): Promise<number[]> {
  const text = await Deno.readTextFile(`${dir}/${host}.attempts`);
  return text.trim().split("\n").map((ns) => Number(BigInt(ns) / 1_000_000n));
}

Deno.test("retries: a host that cannot connect is tried again after 1 s, 2 s…; attempts are told", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  await withTempDir(async (dir) => {
    const [a, b, c] = sshd.aliases;
    const sshPath = await flakySsh(dir, { [a]: 2, [b]: 3 });
    const results = await call(sshd.aliases, "echo ran", {
      sshExtra: sshd.sshExtra,
      sshPath,
      retries: 2,
    });
    const first = ok(results.get(a));
    assertEquals([first.stdout, first.attempts], ["ran\n", 3]);
    assertEquals(first.toJSON().attempts, 3);
    const times = await attemptTimes(dir, a);
    assert(times[1] - times[0] >= 950, `first pause ${times[1] - times[0]} ms`);
    assert(times[2] - times[1] >= 1950, `second pause ${times[2] - times[1]} ms`);
    const gaveUp = failed(results.get(b));
    assertEquals([gaveUp.kind, gaveUp.attempts, gaveUp.toJSON().attempts], ["connect", 3, 3]);
    assertEquals(ok(results.get(c)).attempts, 1);
  });
});

Deno.test("retries: never for a failure other than connect, and a real closed port is retried", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const base = { sshExtra: sshd.sshExtra, retries: 3 };
  const [a] = sshd.aliases;
  const auth = failed((await call([sshd.wrongKey], "true", base)).get(sshd.wrongKey));
  assertEquals([auth.kind, auth.attempts], ["auth", 1]);
  const exited = ok((await call([a], "exit 3", base)).get(a));
  assertEquals([exited.exitCode, exited.attempts], [3, 1]);
  const late = failed((await call([a], "sleep 5", { ...base, timeout: 0.5 })).get(a));
  assertEquals([late.kind, late.attempts], ["timeout", 1]);
  const refused = failed(
    (await call([sshd.refused], "true", { ...base, retries: 1 })).get(sshd.refused),
  );
  assertEquals([refused.kind, refused.attempts], ["connect", 2]);
});

Deno.test("retries: a host waiting for its retry is cancelled or skipped at once, and says so", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const started = Date.now();
  const results = await call([sshd.refused], "true", {
    sshExtra: sshd.sshExtra,
    retries: 5,
    signal: AbortSignal.timeout(1_500),
  });
  const cancelled = failed(results.get(sshd.refused));
  assertEquals([cancelled.kind, cancelled.attempts], ["cancelled", 2]);
  assertStringIncludes(cancelled.message, "cancelled before it was tried again (attempt 2 failed");
  assert(Date.now() - started < 2_500, `took ${Date.now() - started} ms`);

  // maxFailures 0: the first exit 1 stops the run; the host waiting to retry is skipped.
  const [a] = sshd.aliases;
  const mixed = await call([sshd.refused, a], "sleep 0.5; exit 1", {
    sshExtra: sshd.sshExtra,
    retries: 5,
    maxFailures: 0,
  });
  const skipped = failed(mixed.get(sshd.refused));
  assertEquals(skipped.kind, "skipped");
  assertStringIncludes(skipped.message, "not tried again: 1 host failed, more than maxFailures 0");
  assertEquals(ok(mixed.get(a)).exitCode, 1);
});

Deno.test("per-host values: a function gives each host its command, destination or source", async () => {
  await using sshd = await startSshd({ aliases: 3, unprivileged: false });
  const hosts = sshd.aliases;
  const base = { sshExtra: sshd.sshExtra };
  const calls: number[] = [];
  const results = await call(hosts, (host, index) => {
    calls.push(index);
    if (index === 2) throw new Error("no command for this one");
    return `echo ${host.host}-${index}`;
  }, base);
  assertEquals(calls, [0, 1, 2], "called once per host");
  assertEquals(ok(results.get(hosts[0])).stdout, `${hosts[0]}-0\n`);
  assertEquals(ok(results.get(hosts[1])).stdout, `${hosts[1]}-1\n`);
  const thrown = failed(results.get(hosts[2]));
  assertEquals(thrown.kind, "local");
  assertStringIncludes(thrown.message, "no command for this one");
  const empty = failed((await call([hosts[0]], () => " ", base)).get(hosts[0]));
  assertEquals(empty.kind, "local");
  assertStringIncludes(empty.message, "empty command");

  await withTempDir(async (dir) => {
    const file = `${dir}/payload`;
    await Deno.writeTextFile(file, "payload");
    const copied = await copy(hosts, file, (host) => `${dir}/to-${host.host}`, base);
    for (const host of hosts) {
      assertEquals(ok(copied.get(host)).path, `${dir}/to-${host}`);
      assertEquals(await Deno.readTextFile(`${dir}/to-${host}`), "payload");
    }
    for (const host of hosts) await Deno.writeTextFile(`${dir}/from-${host}`, `I am ${host}`);
    const localdir = `${dir}/slurped`;
    const slurped = await slurp(hosts, (host) => `${dir}/from-${host.host}`, "mine", {
      ...base,
      localdir,
    });
    for (const host of hosts) {
      assertEquals(await Deno.readTextFile(ok(slurped.get(host)).path), `I am ${host}`);
    }
  });
});

/** The README's rolling-restart script, importing this checkout instead of the package. */
async function readmeRollingScript(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const block = /```ts\n(\/\/ rolling_restart\.ts[\s\S]*?)```/.exec(readme);
  if (block === null) throw new Error("README.md has no rolling_restart.ts block");
  return block[1].replace('"@parallax/parallax"', JSON.stringify(`${ROOT}/mod.ts`));
}

Deno.test("the README's rolling restart runs as documented: batches of 8, stops after 2 failures in a batch", async () => {
  await using sshd = await startSshd({ aliases: 16, addresses: 16 });
  const source = await readmeRollingScript();
  await withScript(source, (script) =>
    withTempDir(async (state) => {
      const hostFile = `${state}/web.txt`;
      await Deno.writeTextFile(
        hostFile,
        Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 1}:${sshd.port}\n`).join(""),
      );
      const env = {
        PARALLAX_USER: sshd.user,
        PARALLAX_OPTIONS: [
          `IdentityFile=${sshd.dir}/id_ed25519`,
          "IdentitiesOnly=yes",
          `UserKnownHostsFile=${sshd.dir}/known_hosts`,
          "GlobalKnownHostsFile=/dev/null",
          "StrictHostKeyChecking=yes",
          "CheckHostIP=no",
          "LogLevel=ERROR",
        ].join(";"),
      };
      const restart = `touch ${state}/restarted-$PARALLAX_NODENUM`;
      const health = `test ! -e ${state}/sick-$PARALLAX_NODENUM`;
      const run = () =>
        denoRun(
          ["--allow-run=ssh", "--allow-read", "--allow-env=PARALLAX_USER,PARALLAX_OPTIONS"],
          script,
          [hostFile, restart, health],
          { env },
        );
      const restarted = async () =>
        (await Array.fromAsync(Deno.readDir(state))).map((e) => e.name)
          .filter((name) => name.startsWith("restarted-")).length;

      // Two of the first batch stay sick: the second batch never starts.
      await Deno.writeTextFile(`${state}/sick-2`, "");
      await Deno.writeTextFile(`${state}/sick-5`, "");
      const stopped = await run();
      assertEquals(stopped.code, 1, stopped.stderr);
      assertStringIncludes(stopped.stdout, "6 of 16 hosts restarted and healthy");
      assertEquals(
        stopped.stderr.match(/: never started: 2 of 8 hosts of a batch failed.*\(skipped\)/g)
          ?.length,
        8,
        stopped.stderr,
      );
      assertEquals(stopped.stderr.match(/: unhealthy/g)?.length, 2, stopped.stderr);
      assertEquals(await restarted(), 8);

      // One sick host in a batch is tolerated: every batch runs.
      await Deno.remove(`${state}/sick-5`);
      const tolerated = await run();
      assertEquals(tolerated.code, 1, tolerated.stderr);
      assertStringIncludes(tolerated.stdout, "15 of 16 hosts restarted and healthy");
      assertEquals(await restarted(), 16);
    }, { mode: 0o777 }));
});

Deno.test("CLI: skipped hosts in every output mode, --failed-hosts reruns exactly those, --retries", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const config = ["-x", `-F ${sshd.configPath}`];
  const hosts = [...config, "-H", "h[001-004]"];
  const rolling = ["--batch", "2", "--max-failures", "0"];
  const command = "case $PARALLAX_NODENUM in 1) exit 1;; esac; echo fine";
  await withTempDir(async (dir) => {
    const file = `${dir}/failed.txt`;
    const status = await cli(["call", ...hosts, ...rolling, "--failed-hosts", file, command]);
    assertEquals(status.code, 4, status.stdout);
    const lines = statusLines(status.stdout).sort((a, b) => a.host.localeCompare(b.host));
    assertEquals(lines.map((l) => [l.host, l.status]), [
      ["h001", "SUCCESS"],
      ["h002", "FAILURE"],
      ["h003", "FAILURE"],
      ["h004", "FAILURE"],
    ]);
    for (const line of lines.slice(2)) {
      assertStringIncludes(line.rest, "skipped: never started: 1 host failed");
    }
    assertEquals(await Deno.readTextFile(file), "h002\nh003\nh004\n");

    const json = await cli(["call", ...hosts, ...rolling, "--json", command]);
    // One record per host as each finishes: h001 and h002 run at once, in either order.
    const records = json.stdout.trim().split("\n").map((line) => JSON.parse(line))
      .sort((a, b) => a.host.localeCompare(b.host));
    assertEquals(records.map((r) => [r.host, r.kind, r.attempts]), [
      ["h001", null, 1],
      ["h002", null, 1],
      ["h003", "skipped", 0],
      ["h004", "skipped", 0],
    ]);
    const gather = await cli(["call", ...hosts, ...rolling, "--gather", command]);
    assertStringIncludes(gather.stdout, "h[003-004] (2) skipped: never started");

    const rerun = await cli(["call", ...config, "-h", file, "echo again"]);
    assertEquals(rerun.code, 0, rerun.stderr);
    assertEquals(statusLines(rerun.stdout).map((l) => l.host).sort(), ["h002", "h003", "h004"]);
    await cli(["call", ...config, "-h", file, "--failed-hosts", file, "true"]);
    assertEquals(await Deno.readTextFile(file), "", "no host failed: the file is emptied");
  });
  const retried = await cli([
    "call",
    ...config,
    "-H",
    "refused",
    "--retries",
    "1",
    "--json",
    "true",
  ]);
  assertEquals(retried.code, 4);
  assertEquals(JSON.parse(retried.stdout).attempts, 2);
  assertEquals(JSON.parse(retried.stdout).kind, "connect");
});

Deno.test("a per-host function that throws counts against maxFailures; the failure is told before the hosts it skips", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const hosts = sshd.aliases;
  const asked: number[] = [];
  const order: string[] = [];
  const results = await call(hosts, (_host, index) => {
    asked.push(index);
    if (index === 0) throw new Error("no command");
    return "true";
  }, {
    sshExtra: sshd.sshExtra,
    batch: 2,
    maxFailures: 0,
    onResult: (result) => order.push(`${result.host}:${isOk(result) ? "ok" : "failed"}`),
  });
  assertEquals(failed(results.get(hosts[0])).kind, "local");
  for (const host of hosts.slice(1)) assertEquals(failed(results.get(host)).kind, "skipped");
  assertEquals(asked, [0], "asked for hosts that never started");
  assertEquals(order[0], `${hosts[0]}:failed`);

  const queue: string[] = [];
  await call(hosts, "exit 1", {
    sshExtra: sshd.sshExtra,
    limit: 1,
    maxFailures: 0,
    onResult: (result) => queue.push(result.host),
  });
  assertEquals(queue[0], hosts[0], "the failing host comes first");
});

Deno.test("halt: the running host finishes, the rest are skipped with the signal's reason", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const halt = new AbortController();
  const results = await call(sshd.aliases, "sleep 0.5; echo done", {
    sshExtra: sshd.sshExtra,
    limit: 1,
    halt: halt.signal,
    onResult: () => halt.abort("the canary failed its checks"),
  });
  const [first, ...rest] = sshd.aliases;
  assertEquals(ok(results.get(first)).stdout, "done\n");
  for (const alias of rest) {
    const error = failed(results.get(alias));
    assertEquals(error.kind, "skipped");
    assertStringIncludes(error.message, "never started: the canary failed its checks");
  }
});
