import { failed, ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./fixture/assert.ts";
import { processesMatching, timeUntil, uniqueMarker } from "./fixture/processes.ts";
import { type Sshd, startSshd } from "./fixture/sshd.ts";
import { withTempDir, withTempFile } from "./fixture/temp_dir.ts";
import { Pool } from "../mod.ts";
import { call, WARM } from "./fixture/warm_switch.ts";

Deno.test("call() returns each host's stdout, stderr and exit code, keyed in input order", async () => {
  await using sshd = await startSshd({ unprivileged: true, aliases: 4 });
  const hosts = [...sshd.aliases].reverse();
  const results = await call(hosts, "echo out-$PARALLAX_HOST; echo err >&2; exit 3", {
    sshExtra: sshd.sshExtra,
  });
  assertEquals([...results.keys()], hosts);
  for (const host of hosts) {
    const result = ok(results.get(host));
    assertEquals(result.host, host);
    assertEquals(result.exitCode, 3);
    assertEquals(result.stdout, `out-${host}\n`);
    assertEquals(result.stderr, "err\n");
    assertEquals(new TextDecoder().decode(result.stdoutBytes), `out-${host}\n`);
    assert(result.durationMs > 0);
  }
});

Deno.test("call() keys string entries as written and tuples as [user@]host[:port]", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const results = await call(
    [`${sshd.user}@h001:${sshd.port}`, ["h002", sshd.port, sshd.user], { host: "h001" }],
    "echo $PARALLAX_NODENUM",
    { sshExtra: sshd.sshExtra },
  );
  assertEquals([...results.keys()], [
    `${sshd.user}@h001:${sshd.port}`,
    `${sshd.user}@h002:${sshd.port}`,
    "h001",
  ]);
  assertEquals([...results.values()].map((r) => ok(r).stdout), ["0\n", "1\n", "2\n"]);
});

Deno.test("call() sends PARALLAX_HOST and PARALLAX_NODENUM to every host", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  const results = await call(sshd.aliases, 'echo "$PARALLAX_HOST/$PARALLAX_NODENUM"', {
    sshExtra: sshd.sshExtra,
  });
  assertEquals(
    [...results.values()].map((r) => ok(r).stdout),
    ["h001/0\n", "h002/1\n", "h003/2\n"],
  );
});

Deno.test("call() reports a refused connection as kind connect, others intact", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const results = await call([sshd.refused, ...sshd.aliases], "echo fine", {
    sshExtra: sshd.sshExtra,
  });
  const error = failed(results.get(sshd.refused));
  assertEquals(error.kind, "connect");
  assertEquals(error.host, sshd.refused);
  assertEquals(error.exitCode, undefined, "no command exited: there is no exit code");
  assertStringIncludes(error.message, "Connection refused");
  assertEquals(error.stderr, "", "ssh's own words are in its log, not in the host's stderr");
  for (const alias of sshd.aliases) assertEquals(ok(results.get(alias)).stdout, "fine\n");
});

Deno.test("call() reports a listener that never answers as kind connect", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const results = await call([sshd.silent, "h001"], "true", {
    sshExtra: sshd.sshExtra,
    connectTimeout: 1,
  });
  const error = failed(results.get(sshd.silent));
  assertEquals(error.kind, "connect");
  assertStringIncludes(error.message, "timed out");
  assertEquals(ok(results.get("h001")).exitCode, 0);
});

for (
  const [what, hostOf, kind, part] of [
    ["an unresolvable name", () => "no-such-host.invalid", "connect", "resolve"],
    ["a refused key", (sshd: Sshd) => sshd.wrongKey, "auth", "Permission denied"],
    [
      "a changed host key",
      (sshd: Sshd) => sshd.badHostKey,
      "hostkey",
      "Host key verification failed",
    ],
  ] as const
) {
  Deno.test(`call() reports ${what} as kind ${kind}`, async () => {
    await using sshd = await startSshd({ aliases: 1 });
    const host = hostOf(sshd);
    const results = await call([host], "true", { sshExtra: sshd.sshExtra });
    const error = failed(results.get(host));
    assertEquals(error.kind, kind);
    assertStringIncludes(error.message, part);
  });
}

Deno.test("call() kills a host that runs past its timeout and keeps its partial output", async () => {
  await using sshd = await startSshd({ unprivileged: true, aliases: 2 });
  const marker = uniqueMarker();
  const results = await call(
    sshd.aliases,
    `echo partial; echo warn >&2; if [ "$PARALLAX_HOST" = h001 ]; then sleep 30; fi # ${marker}`,
    { sshExtra: sshd.sshExtra, timeout: 1.5 },
  );
  const error = failed(results.get("h001"));
  assertEquals(error.kind, "timeout");
  assertEquals(error.stdout, "partial\n");
  assertEquals(error.stderr, "warn\n");
  assertStringIncludes(error.message, "timed out after");
  assertEquals(ok(results.get("h002")).stdout, "partial\n");
  assertEquals(await processesMatching(marker), []);
});

Deno.test("call() with an aborted signal kills running jobs and never starts queued ones", async () => {
  await using sshd = await startSshd({ aliases: 6 });
  const marker = uniqueMarker();
  const controller = new AbortController();
  const calling = call(sshd.aliases, `echo started; sleep 30 # ${marker}`, {
    sshExtra: sshd.sshExtra,
    limit: 2,
    printOut: false,
    signal: controller.signal,
  });
  // A running job is its local ssh, or on a warm host (the fixture switch) its remote shell.
  const programs = WARM ? ["sh"] : ["ssh", "scp"];
  await timeUntil(async () => (await processesMatching(marker, programs)).length === 2);
  controller.abort();
  const results = await calling;
  assertEquals(results.size, 6);
  for (const result of results.values()) assertEquals(failed(result).kind, "cancelled");
  const messages = [...results.values()].map((r) => failed(r).message);
  assertEquals(messages.filter((m) => m.includes("before it started")).length, 4);
  await timeUntil(async () => (await processesMatching(marker, programs)).length === 0, 5_000);
});

Deno.test("call() with a signal aborted beforehand contacts no host", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const results = await call(sshd.aliases, "true", {
    sshExtra: sshd.sshExtra,
    signal: AbortSignal.abort(),
  });
  for (const result of results.values()) {
    assertStringIncludes(failed(result).message, "cancelled before it started");
  }
});

Deno.test("call() never runs more than limit ssh processes at once", async () => {
  // As root: the remote commands write into this process's temporary folder.
  await using sshd = await startSshd({ aliases: 8, unprivileged: false });
  await withTempDir(async (dir) => {
    const results = await call(
      sshd.aliases,
      `echo "S $(date +%s%N)" > ${dir}/$PARALLAX_HOST; sleep 0.4; echo "E $(date +%s%N)" >> ${dir}/$PARALLAX_HOST`,
      { sshExtra: sshd.sshExtra, limit: 3 },
    );
    for (const result of results.values()) assertEquals(ok(result).exitCode, 0);
    const events: [number, number][] = [];
    for (const alias of sshd.aliases) {
      for (const line of (await Deno.readTextFile(`${dir}/${alias}`)).trim().split("\n")) {
        const [kind, ns] = line.split(" ");
        events.push([Number(BigInt(ns) / 1000n), kind === "S" ? 1 : -1]);
      }
    }
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    let peak = 0;
    for (const [, delta] of events) peak = Math.max(peak, running += delta);
    assert(peak <= 3, `peak concurrency ${peak} exceeds the limit 3`);
    assert(peak >= 2, `peak concurrency ${peak}: the hosts never ran in parallel`);
  });
});

Deno.test("call() feeds input to every host's stdin, as text or bytes", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  const text = await call(sshd.aliases, "cat; echo", { sshExtra: sshd.sshExtra, input: "héllo" });
  for (const result of text.values()) assertEquals(ok(result).stdout, "héllo\n");
  const bytes = Uint8Array.from([0, 1, 2, 255, 10]);
  const binary = await call(sshd.aliases, "cat", { sshExtra: sshd.sshExtra, input: bytes });
  for (const result of binary.values()) assertEquals(ok(result).stdoutBytes, bytes);
  const none = await call(["h001"], "cat; echo done", { sshExtra: sshd.sshExtra });
  assertEquals(ok(none.get("h001")).stdout, "done\n");
  // Large bytes go to each ssh a piece at a time, as it takes them (the hosts start reading late):
  // every byte arrives in order, and the caller's buffer is left as it was.
  const large = new Uint8Array(1_500_003).map((_, i) => (i * 31 + (i >> 12)) % 256);
  const copy = large.slice();
  const fed = await call(sshd.aliases, "sleep 0.5; cat", { sshExtra: sshd.sshExtra, input: large });
  for (const result of fed.values()) assertEquals(ok(result).stdoutBytes, copy);
  assertEquals(large, copy, "the caller's input changed");
  // Large text is encoded a piece at a time: every character arrives whole.
  const long = "héllo €😀 漢字\n".repeat(100_000);
  const typed = await call(sshd.aliases, "cat", { sshExtra: sshd.sshExtra, input: long });
  for (const result of typed.values()) assertEquals(ok(result).stdout, long);
});

Deno.test("call() writes one outdir and errdir file per host, none outside the folder", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (base) => {
    const outdir = `${base}/deep/out`;
    const errdir = `${base}/err`;
    const hosts = ["h001", "h002", "../escape", "a/b", "a_b"];
    const results = await call(hosts, "echo out-$PARALLAX_HOST; echo err-$PARALLAX_HOST >&2", {
      sshExtra: sshd.sshExtra,
      outdir,
      errdir,
      inline: false,
    });
    const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names(outdir), ["_.._escape", "a_b", "a_b.1", "h001", "h002"]);
    assertEquals(names(errdir), ["_.._escape", "a_b", "a_b.1", "h001", "h002"]);
    assertEquals(names(base), ["deep", "err"]);
    assertEquals(await Deno.readTextFile(`${outdir}/h001`), "out-h001\n");
    // A host that never got to run its command has an empty errdir file: ssh's own words are
    // in its error (they are not the host's output).
    assertEquals(await Deno.readTextFile(`${errdir}/a_b.1`), "");
    assertStringIncludes(failed(results.get("a/b")).message, "resolve");
    assertEquals(await Deno.readTextFile(`${errdir}/h002`), "err-h002\n");
    const h002 = ok(results.get("h002"));
    assertEquals([h002.stdout, h002.outFile, h002.errFile], [
      "",
      `${outdir}/h002`,
      `${errdir}/h002`,
    ]);
    assertEquals(
      failed(results.get("../escape")).kind,
      "connect",
      failed(results.get("../escape")).message,
    );
    assertStringIncludes(failed(results.get("../escape")).message, "resolve");
  });
});

Deno.test("call() replaces a symlink planted in outdir instead of writing through it", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (base) => {
    await Deno.mkdir(`${base}/out`);
    await Deno.writeTextFile(`${base}/victim`, "untouched\n");
    await Deno.symlink(`${base}/victim`, `${base}/out/h001`);
    const results = await call(["h001"], "echo written", {
      sshExtra: sshd.sshExtra,
      outdir: `${base}/out`,
    });
    assertEquals(ok(results.get("h001")).stdout, "written\n");
    assertEquals(await Deno.readTextFile(`${base}/victim`), "untouched\n");
    assertEquals(await Deno.readTextFile(`${base}/out/h001`), "written\n");
    assertEquals(Deno.lstatSync(`${base}/out/h001`).isSymlink, false);
  });
});

Deno.test("call() reports an outdir it cannot create as kind local for every host", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempFile(async (file) => {
    const results = await call(sshd.aliases, "true", {
      sshExtra: sshd.sshExtra,
      outdir: `${file}/sub`,
    });
    for (const result of results.values()) {
      assertEquals(failed(result).kind, "local");
      assertStringIncludes(failed(result).message, "cannot create output folder");
    }
  });
});

Deno.test("call() runs 200 hosts in one call with every result present", async () => {
  await using sshd = await startSshd({ aliases: 200 });
  const results = await call(sshd.aliases, "echo $PARALLAX_NODENUM", {
    sshExtra: sshd.sshExtra,
    limit: 32,
  });
  assertEquals(results.size, 200);
  sshd.aliases.forEach((alias, i) => assertEquals(ok(results.get(alias)).stdout, `${i}\n`));
});

Deno.test("call() keeps 5 MB of output from one host byte for byte, inline and in outdir", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const command = "seq 1 800000";
  const local = await new Deno.Command("sh", { args: ["-c", command] }).output();
  assert(local.stdout.byteLength > 5_000_000);
  const results = await call(sshd.aliases, command, { sshExtra: sshd.sshExtra });
  for (const result of results.values()) {
    assertEquals(ok(result).stdoutBytes.byteLength, local.stdout.byteLength);
    assertEquals(ok(result).stdoutBytes, local.stdout);
  }
  // Written to files only (inline off): the same bytes, and nothing held in the results.
  await withTempDir(async (outdir) => {
    const written = await call(sshd.aliases, command, {
      sshExtra: sshd.sshExtra,
      outdir,
      inline: false,
    });
    for (const [host, result] of written) {
      assertEquals(ok(result).stdoutBytes.byteLength, 0);
      assertEquals(await Deno.readFile(`${outdir}/${host}`), local.stdout);
    }
  });
});

Deno.test("call() reports a missing ssh program as kind spawn", async () => {
  const results = await call(["web1", "web2"], "true", { sshPath: "/nonexistent/ssh" });
  for (const result of results.values()) {
    assertEquals(failed(result).kind, "spawn");
    assertStringIncludes(failed(result).message, "program not found");
  }
});

Deno.test("call() refuses bad input before contacting any host", async () => {
  await assertRejects(() => call(["web1", "-oProxyCommand=x"], "true"), TypeError, "ssh option");
  await assertRejects(() => call(["web1", "web1"], "true"), TypeError, "'web1' twice");
  await assertRejects(() => call(["web1"], "  "), TypeError, "empty command");
  await assertRejects(() => call(["web1"], "true", { limit: 0 }), RangeError, "limit 0");
  assertEquals((await call([], "true")).size, 0);
});

Deno.test("call() reports a remote command's own exit status 255 as its exit code, with a pool too", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await using pool = new Pool();
  for (const [round, options] of [{}, { pool }, { pool }].entries()) {
    const results = await call(["h001"], "echo before; exit 255", {
      sshExtra: sshd.sshExtra,
      ...options,
    });
    const result = results.get("h001")!;
    // Through a master that this very call made, ssh cannot tell: never a connect error.
    if (result instanceof Error) {
      assertEquals([result.kind, result.stdout], ["ssh", "before\n"]);
      assertStringIncludes(result.message, "the command exited 255");
      assertEquals(round, 1, result.message);
      continue;
    }
    assertEquals([result.exitCode, result.stdout], [255, "before\n"]);
  }
});

Deno.test("call() names files .out and .err when outdir and errdir are one folder", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await call(["h001"], "echo o; echo e >&2", {
      sshExtra: sshd.sshExtra,
      outdir: dir,
      errdir: dir,
    });
    assertEquals(await Deno.readTextFile(`${dir}/h001.out`), "o\n");
    assertEquals(await Deno.readTextFile(`${dir}/h001.err`), "e\n");
  });
});
