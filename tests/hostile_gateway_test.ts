/**
 * Gateways that lie, flood or stall, as fake gateway programs (fault injection) behind the real
 * test sshd: the controller stays whole, each gateway's hosts fail with kind `gateway` (or
 * `timeout`), and the other hosts of the call are untouched.
 */

import { failed, ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { denoRun, ROOT } from "./fixture/deno_run.ts";
import { call, type CallOptions, slurp } from "../mod.ts";
import { parseEvent, PROTOCOL_VERSION, ProtocolError } from "../lib/driver/_gateway_protocol.ts";

const HELLO = JSON.stringify({
  event: "hello",
  protocol: "parallax-gateway",
  version: PROTOCOL_VERSION,
  parallax: "0.1.0",
});

/** A record of a host's end, with fields to spoil. */
function record(fields: Record<string, unknown>): string {
  return JSON.stringify({
    event: "result",
    index: 0,
    record: {
      kind: null,
      reason: null,
      exitCode: 0,
      stdout: "",
      stderr: "",
      attempts: 1,
      durationMs: 1,
      ...fields,
    },
  });
}

/**
 * Runs `script` (sh, after the hello line) as the gateway program of h001 for two leaves, and
 * h002 directly beside them; returns the results.
 */
async function throughFake(
  dir: string,
  sshExtra: string[],
  script: string,
  options: CallOptions = {},
) {
  const path = `${dir}/gateway-${crypto.randomUUID()}.sh`;
  await Deno.writeTextFile(path, `printf '%s\\n' '${HELLO}'\n${script}\n`, { mode: 0o755 });
  await Deno.chmod(dir, 0o755);
  return await call(["leafA", "leafB", "h002"], "echo direct", {
    sshExtra,
    gateways: { h001: ["leafA", "leafB"] },
    gatewayCommand: ["sh", path],
    ...options,
  });
}

Deno.test("a gateway that sends an endless line fails its own hosts (kind gateway); the direct host and this process are fine", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const results = await throughFake(
      dir,
      sshd.sshExtra,
      "head -c 20000000 /dev/zero | tr '\\0' a; cat >/dev/null",
      { inline: false },
    );
    for (const leaf of ["leafA", "leafB"]) {
      const error = failed(results.get(leaf));
      assertEquals(error.kind, "gateway", error.message);
      assertStringIncludes(error.message, "a line longer than 4 MiB");
    }
    assertEquals(ok(results.get("h002")).exitCode, 0);
  });
});

Deno.test("a gateway's records are checked: an unknown kind, a text exit code or a negative time fails its hosts (kind gateway)", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const spoiled: [Record<string, unknown>, string][] = [
      [{ kind: "pwned", reason: "x" }, 'kind: "pwned" is not a kind'],
      [{ exitCode: "0; rm -rf /" }, "exitCode: expected an exit status"],
      [{ exitCode: 256 }, "exitCode: expected an exit status"],
      [{ durationMs: -5 }, "durationMs: expected a number >= 0"],
      [{ kind: "ssh", reason: { toString: "x" } }, "reason: expected a string"],
      [{ stdout: "not base64!" }, "stdout: expected base64"],
    ];
    for (const [fields, said] of spoiled) {
      const line = record(fields);
      const results = await throughFake(
        dir,
        sshd.sshExtra,
        `printf '%s\\n' '${line}'; cat >/dev/null`,
      );
      for (const leaf of ["leafA", "leafB"]) {
        const error = failed(results.get(leaf));
        assertEquals(error.kind, "gateway", error.message);
        assertStringIncludes(error.message, said);
      }
      assertEquals(ok(results.get("h002")).stdout, "direct\n");
    }
  });
});

Deno.test("a gateway's text reaches the caller on one line without control characters", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const forged = "\u001b[2J\u001b[1;1H\r[SUCCESS] leafA\nexit 0";
    const line = record({ kind: "ssh", reason: forged, exitCode: null });
    const end = JSON.stringify({ event: "end" });
    const results = await throughFake(
      dir,
      sshd.sshExtra,
      `printf '%s\\n%s\\n' '${line}' '${end}'`,
    );
    const error = failed(results.get("leafA"));
    assertEquals(error.kind, "ssh");
    // deno-lint-ignore no-control-regex
    assert(!/[\u0000-\u001f\u007f]/.test(error.message), JSON.stringify(error.message));
    assertStringIncludes(error.message, "?[2J?[1;1H?[SUCCESS] leafA / exit 0");
  });
});

Deno.test("the call's timeout holds through a gateway that keeps sending heartbeats or endless output", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const started = (i: number) => JSON.stringify({ event: "started", index: i });
    const output = JSON.stringify({ event: "output", index: 0, stream: "stdout", data: "YQ==" });
    const alive = JSON.stringify({ event: "alive" });
    const script = `printf '%s\\n%s\\n' '${started(0)}' '${started(1)}'
( while :; do printf '%s\\n' '${output}'; done ) &
while :; do printf '%s\\n' '${alive}'; sleep 1; done`;
    const begun = Date.now();
    const results = await throughFake(dir, sshd.sshExtra, script, { timeout: 2 });
    const took = Date.now() - begun;
    for (const leaf of ["leafA", "leafB"]) {
      const error = failed(results.get(leaf));
      assertEquals(error.kind, "timeout", error.message);
      assertStringIncludes(error.message, "through gateway h001");
    }
    assertEquals(ok(results.get("h002")).stdout, "direct\n");
    // The timeout, the gateway's grace to report, and a heartbeat's period: not 90 s.
    assert(took < 30_000, `the call took ${took} ms`);
  });
});

Deno.test("parseEvent() refuses what a hostile gateway may send: other hosts, paths out of the folder, bad base64, unknown kinds", () => {
  const refused: [Record<string, unknown>, string][] = [
    [{ event: "output", index: 2, stream: "stdout", data: "" }, "index 2 names no host"],
    [{ event: "output", index: -1, stream: "stdout", data: "" }, "index: expected a number"],
    [{ event: "output", index: 0, stream: "stdin", data: "" }, "stream: expected stdout"],
    [{ event: "output", index: 0, stream: "stdout", data: "@@@" }, "data: expected base64"],
    [{ event: "file", index: 0, path: "../x", type: "file", mode: 420, mtimeMs: null }, "path"],
    [{ event: "file", index: 0, path: "/etc/x", type: "file", mode: 420, mtimeMs: null }, "path"],
    [{ event: "file", index: 0, path: "a", type: "link", mode: 420, mtimeMs: null }, "type"],
    [{ event: "file", index: 0, path: "a", type: "file", mode: 420, mtimeMs: "x" }, "mtimeMs"],
    [{ event: "result", index: 0, record: { kind: "root" } }, "is not a kind"],
    [{ event: "result", index: 0, record: [] }, "record: expected an object"],
    [{ event: "pwn" }, "unknown event"],
  ];
  for (const [event, said] of refused) {
    let error: unknown = null;
    try {
      parseEvent(JSON.stringify(event), 2);
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof ProtocolError, `${JSON.stringify(event)} was accepted`);
    assertStringIncludes((error as Error).message, said);
  }
  const fine = parseEvent(record({ exitCode: 255, stdout: "aGk=" }), 1);
  assertEquals(fine.event, "result");
});

Deno.test("slurp through a gateway: a host that fails leaves no partial file; one that succeeds has its file in place", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    const file = (i: number) =>
      JSON.stringify({
        event: "file",
        index: i,
        path: "got",
        type: "file",
        mode: 0o4777,
        mtimeMs: null,
      });
    const data = (i: number) => JSON.stringify({ event: "data", index: i, data: "aGk=" });
    const lines = [
      file(0),
      data(0),
      record({ kind: "transfer", reason: "scp failed", exitCode: 1 }),
      file(1),
      data(1),
      JSON.stringify({ ...JSON.parse(record({})), index: 1 }),
      JSON.stringify({ event: "end" }),
    ];
    const path = `${dir}/gateway.sh`;
    await Deno.writeTextFile(
      path,
      `printf '%s\\n' '${HELLO}'\n${lines.map((l) => `printf '%s\\n' '${l}'`).join("\n")}\n`,
      { mode: 0o755 },
    );
    const localdir = `${dir}/local`;
    const results = await slurp(["leafA", "leafB"], "/remote/file", "got", {
      sshExtra: sshd.sshExtra,
      gateways: { h001: ["leafA", "leafB"] },
      gatewayCommand: ["sh", path],
      localdir,
    });
    assertEquals(failed(results.get("leafA")).kind, "transfer");
    assertEquals([...Deno.readDirSync(localdir)].map((e) => e.name), ["leafB"]);
    assertEquals(Deno.readTextFileSync(`${localdir}/leafB/got`), "hi");
    assertEquals([...Deno.readDirSync(`${localdir}/leafB`)].map((e) => e.name), ["got"]);
    // Not the 4777 the gateway said: without preserve, a new file's mode (umask 022 here).
    assertEquals(Deno.statSync(`${localdir}/leafB/got`).mode! & 0o7777, 0o644);
  });
});

Deno.test("a relayed copy needs no local scp: under --allow-run=ssh alone it runs through the gateway", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${dir}/file.txt`, "data\n");
    // A gateway that takes the request and reports the copy done.
    const path = `${dir}/gateway.sh`;
    const lines = [record({}), JSON.stringify({ event: "end" })];
    await Deno.writeTextFile(
      path,
      `printf '%s\\n' '${HELLO}'\n${lines.map((l) => `printf '%s\\n' '${l}'`).join("\n")}\n`,
      { mode: 0o755 },
    );
    const script = `${dir}/script.ts`;
    await Deno.writeTextFile(
      script,
      `import { copy } from "${ROOT}/mod.ts";
const results = await copy(["leafA"], ${JSON.stringify(`${dir}/file.txt`)}, "/tmp/x", {
  sshExtra: ${JSON.stringify(sshd.sshExtra)},
  gateways: { h001: ["leafA"] },
  gatewayCommand: ["sh", ${JSON.stringify(path)}],
});
console.log(JSON.stringify(results.get("leafA")));
`,
    );
    const run = await denoRun(
      ["--allow-run=ssh", `--allow-read=${ROOT},${dir}`, "--allow-write=/tmp"],
      script,
    );
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(run.stdout, '"status":"success"');
  });
});

Deno.test("a gateway program that prints ssh's words and exits before its hello is not retried as unreachable", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o777);
    const path = `${dir}/gateway.sh`;
    await Deno.writeTextFile(
      path,
      `echo ran >> ${dir}/count\necho "ssh: connect to host gw port 22: Connection refused" >&2\nexit 255\n`,
      { mode: 0o755 },
    );
    const results = await call(["leafA"], "true", {
      sshExtra: sshd.sshExtra,
      gateways: { h001: ["leafA"] },
      gatewayCommand: ["sh", path],
      retries: 2,
    });
    const error = failed(results.get("leafA"));
    assertEquals(error.kind, "gateway");
    assertStringIncludes(error.message, "did not start parallax (exit 255)");
    assertEquals(Deno.readTextFileSync(`${dir}/count`), "ran\n", "the gateway's program ran once");
  });
});
