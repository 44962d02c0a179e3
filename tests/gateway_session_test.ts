/**
 * The gateway session as a state machine fed bytes: what a hostile gateway can send, and that
 * every host still gets exactly one end, from this side's facts. No ssh here: the session is
 * driven directly (the launcher and real gateways are tested in `gateway_test.ts` and
 * `hostile_gateway_test.ts`).
 */
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { GatewaySession, MAX_LINE_BYTES, type SessionRun } from "../lib/driver/_gateway_session.ts";
import { PROTOCOL, PROTOCOL_VERSION } from "../lib/driver/_gateway_protocol.ts";
import type { OutputFiles } from "../lib/driver/_output_files.ts";
import { parseHosts } from "../lib/hosts/parse.ts";
import { ParallaxError } from "../mod.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { ranEnd } from "./fixture/jobs.ts";

const encoder = new TextEncoder();
const HELLO = { event: "hello", protocol: PROTOCOL, version: PROTOCOL_VERSION, parallax: "0" };

/** A session for `count` hosts behind gateway `gw`, and each host's ends as they come. */
function session(
  count: number,
  options: { into?: string; files?: OutputFiles[]; keep?: boolean; retries?: number } = {},
) {
  const hosts = parseHosts(Array.from({ length: count }, (_, i) => `leaf${i}`));
  const ends = new Map<number, (string | ParallaxError)[]>();
  const output: [number, string, string][] = [];
  const run: SessionRun<string> = {
    hosts,
    files: options.files ?? hosts.map(() => ({})),
    plan: {
      keepOutput: options.keep ?? true,
      gateway: {
        ask: () => ({ op: "call", commands: ["true"], nodes: [], options: {}, payload: [] }),
        result: (host, _index, end) => `${host.key} exit ${end.exitCode}`,
        ...(options.into === undefined
          ? {}
          : { fetchInto: () => ({ folder: options.into!, dst: "got", preserve: false }) }),
      },
    },
    gateways: { limit: 32 },
    signal: new AbortController().signal,
    halt: new AbortController().signal,
    haltReason: () => "halted",
    settle(index, result) {
      ends.set(index, [...(ends.get(index) ?? []), result]);
    },
    started() {},
    output(index, stream, data) {
      output.push([index, stream, new TextDecoder().decode(data)]);
    },
    ended() {},
  };
  const gateway = new GatewaySession(run, "gw", hosts.map((_, i) => i), {
    timeoutMs: 5_000,
    connectTimeout: 10,
    retries: options.retries ?? 0,
  });
  let stopped = 0;
  gateway.stop = () => stopped++;
  const send = (...events: unknown[]) => {
    for (const event of events) {
      gateway.receive("stdout", encoder.encode(`${JSON.stringify(event)}\n`));
    }
  };
  /** The gateway's connection ends (ssh exited 0 after the gateway's last line). */
  const close = () => gateway.close(ranEnd(0), ["ssh", "gw"]);
  return { gateway, ends, output, send, close, stopped: () => stopped };
}

function record(fields: Record<string, unknown> = {}) {
  return {
    kind: null,
    reason: null,
    exitCode: 0,
    stdout: btoa("out"),
    stderr: "",
    attempts: 1,
    durationMs: 3,
    ...fields,
  };
}

/** Each host's only end; fails when a host has none or more than one. */
function onlyEnds(ends: Map<number, (string | ParallaxError)[]>, count: number) {
  return Array.from({ length: count }, (_, i) => {
    assertEquals(ends.get(i)?.length, 1, `host ${i} has exactly one end`);
    return ends.get(i)![0];
  });
}

function kindOf(end: string | ParallaxError): string {
  return end instanceof ParallaxError ? end.kind : "result";
}

Deno.test("a gateway that behaves: each host its result, once", () => {
  const s = session(2);
  s.send(
    HELLO,
    { event: "started", index: 0 },
    { event: "output", index: 0, stream: "stdout", data: btoa("hi\n") },
    { event: "result", index: 0, record: record() },
    { event: "result", index: 1, record: record({ exitCode: 3 }) },
    { event: "end" },
  );
  s.close();
  assertEquals(onlyEnds(s.ends, 2), ["leaf0 exit 0", "leaf1 exit 3"]);
  assertEquals(s.output, [[0, "stdout", "hi\n"]]);
});

Deno.test("hostile records: unknown kinds, a host it does not serve, bad base64, numbers as text: its hosts fail kind gateway, what came before is kept", () => {
  const cases: [string, unknown][] = [
    ["not a kind", { event: "result", index: 1, record: record({ kind: "pwned", reason: "x" }) }],
    ["index 7 names no host", { event: "result", index: 7, record: record() }],
    ["expected base64", { event: "output", index: 1, stream: "stdout", data: "%%%" }],
    ["exitCode", { event: "result", index: 1, record: record({ exitCode: "0; rm -rf /" }) }],
    ["durationMs", { event: "result", index: 1, record: record({ durationMs: -5 }) }],
    ["reason", {
      event: "result",
      index: 1,
      record: record({ kind: "ssh", reason: { toString: "x" } }),
    }],
    ["unknown event", { event: "pwned", index: 1 }],
    ["a second result", { event: "result", index: 0, record: record() }],
    ["after 'end'", { event: "end" }],
    ["a second 'hello'", HELLO],
  ];
  for (const [said, hostile] of cases) {
    const s = session(2);
    s.send(HELLO, { event: "result", index: 0, record: record() });
    if (said === "after 'end'") s.send({ event: "end" });
    s.send(hostile, { event: "result", index: 1, record: record() });
    s.close();
    const [first, second] = onlyEnds(s.ends, 2);
    assertEquals(first, "leaf0 exit 0", `${said}: the result before it is kept`);
    assert(second instanceof ParallaxError, said);
    assertEquals(second.kind, "gateway", said);
    assertStringIncludes(second.message, "broke the protocol", said);
    assertStringIncludes(second.message, said, said);
    assertEquals(s.stopped(), 1, `${said}: the gateway is stopped`);
  }
});

Deno.test("a gateway's text reaches no terminal raw: escape sequences and a forged line are shown on one line", () => {
  const s = session(1);
  s.send(HELLO, {
    event: "result",
    index: 0,
    record: record({
      kind: "ssh",
      reason: "\x1b[2J\x1b[31mboom\r\n[SUCCESS] leaf0",
      exitCode: 255,
    }),
  });
  s.close();
  const [end] = onlyEnds(s.ends, 1);
  assert(end instanceof ParallaxError);
  assertEquals(end.kind, "ssh");
  assertEquals(unsafe(end.message), [], JSON.stringify(end.message));
  // Protocol errors quote what the gateway sent: C1 controls, bidirectional overrides and line
  // separators included, none reaches the terminal.
  for (
    const hostile of [
      { ...HELLO, version: 4, parallax: "\x1b[31m[SUCCESS] forged\r\nline2\x1b[0m" },
      { event: "\u009b2J\u202e evil \u2028 next" },
    ]
  ) {
    const t = session(1);
    t.send(hostile);
    t.close();
    const [broken] = onlyEnds(t.ends, 1);
    assert(broken instanceof ParallaxError);
    assertStringIncludes(broken.message, "broke the protocol");
    assertEquals(unsafe(broken.message), [], JSON.stringify(broken.message));
  }
});

/** Characters that would act on a terminal rather than be shown. */
function unsafe(text: string): string[] {
  return [...text].filter((c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 ||
      code === 0x2029 || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
  });
}

Deno.test("a 1 GB line without a newline: the gateway is given up at the bound, its memory not held", () => {
  const s = session(2, { keep: false });
  s.send(HELLO, { event: "result", index: 0, record: record() });
  const chunk = new Uint8Array(2 ** 20).fill(65);
  let fed = 0;
  for (; fed < 2 ** 30; fed += chunk.byteLength) s.gateway.receive("stdout", chunk);
  s.close();
  const [first, second] = onlyEnds(s.ends, 2);
  assertEquals(first, "leaf0 exit 0");
  assert(second instanceof ParallaxError);
  assertEquals(second.kind, "gateway");
  assertStringIncludes(second.message, `longer than ${MAX_LINE_BYTES.other / 2 ** 20} MiB`);
  assertEquals(s.stopped(), 1);
});

Deno.test("slurp: '../' and absolute names are refused, a name outside the host's destination too, and nothing is written outside", async () => {
  await withTempDir(async (dir) => {
    const into = `${dir}/leaf0`;
    await Deno.mkdir(into);
    for (const path of ["got/../../escape", "/etc/escape", "other/escape", "got/./x", ""]) {
      const s = session(1, { into });
      s.send(HELLO, { event: "file", index: 0, path, type: "file", mode: 0o644, mtimeMs: null });
      s.close();
      const [end] = onlyEnds(s.ends, 1);
      assert(end instanceof ParallaxError, path);
      assertEquals(end.kind, "gateway", path);
      assertStringIncludes(end.message, "broke the protocol", path);
    }
    const left = [...Deno.readDirSync(dir)].map((entry) => entry.name);
    assertEquals(left, ["leaf0"]);
    assertEquals([...Deno.readDirSync(into)], []);
  });
});

Deno.test("slurp: data for a host whose file is not open breaks the protocol; a file of a failed host is removed", async () => {
  await withTempDir((dir) => {
    const s = session(2, { into: dir });
    const file = { event: "file", index: 0, path: "got", type: "file", mode: 0o4777, mtimeMs: 0 };
    s.send(HELLO, file, { event: "data", index: 0, data: btoa("part") });
    s.send({ event: "result", index: 0, record: record({ kind: "transfer", reason: "x" }) });
    s.send({ event: "data", index: 1, data: btoa("stray") });
    s.close();
    const [first, second] = onlyEnds(s.ends, 2);
    assertEquals(kindOf(first), "transfer");
    assertEquals(kindOf(second), "gateway");
    assertStringIncludes((second as ParallaxError).message, "'data' without its 'file'");
    assertEquals([...Deno.readDirSync(dir)], [], "no partial file is left");
    return Promise.resolve();
  });
});

Deno.test("output files through a gateway are made new: a planted link is replaced, never followed; a name that cannot be made is that host's local error, the other host goes on", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/leaf0.out/full`, { recursive: true });
    await Deno.writeTextFile(`${dir}/target`, "untouched");
    await Deno.symlink(`${dir}/target`, `${dir}/leaf1.out`);
    const files = [{ outFile: `${dir}/leaf0.out` }, { outFile: `${dir}/leaf1.out` }];
    const s = session(2, { files });
    s.send(
      HELLO,
      { event: "result", index: 0, record: record() },
      { event: "result", index: 1, record: record() },
    );
    s.close();
    const [first, second] = onlyEnds(s.ends, 2);
    assertEquals(kindOf(first), "local");
    assertStringIncludes((first as ParallaxError).message, "cannot write its output file");
    assertEquals(second, "leaf1 exit 0");
    assertEquals(await Deno.readTextFile(`${dir}/target`), "untouched");
    assert(!(await Deno.lstat(`${dir}/leaf1.out`)).isSymlink);
    assertEquals(await Deno.readTextFile(`${dir}/leaf1.out`), "out");
  });
});

Deno.test("a gateway that ends without results: a started host may have run, one never started did not", () => {
  const s = session(2);
  s.send(HELLO, { event: "started", index: 0 });
  s.close();
  const [first, second] = onlyEnds(s.ends, 2);
  assertStringIncludes((first as ParallaxError).message, "the command may have run");
  assertEquals((first as ParallaxError).attempts, 1);
  assertStringIncludes((second as ParallaxError).message, "never started");
  assertEquals((second as ParallaxError).attempts, 0);
});

Deno.test("a host's timeout holds through a gateway that sends only heartbeats; a late result is not its end", () => {
  const s = session(1);
  s.send(HELLO, { event: "started", index: 0 });
  // Past the timeout and its slack: the host ends here.
  const later = Date.now() + 60_000;
  const realNow = Date.now;
  Date.now = () => later;
  try {
    s.send({ event: "alive" });
    assertEquals(s.gateway.overdue(1_000), "kept running after its hosts' timeouts");
  } finally {
    Date.now = realNow;
  }
  s.send({ event: "result", index: 0, record: record() });
  s.close();
  const [end] = onlyEnds(s.ends, 1);
  assertEquals(kindOf(end), "timeout");
});

Deno.test("a gateway cannot keep a host's time running: a host started more often than its retries allow breaks the protocol; a gateway that only sends heartbeats is given up from its hello", () => {
  const s = session(1, { retries: 1 });
  s.send(HELLO, { event: "started", index: 0 }, { event: "started", index: 0 });
  assertEquals(s.stopped(), 0, "a retry is a second start");
  s.send({ event: "started", index: 0 });
  s.close();
  const [end] = onlyEnds(s.ends, 1);
  assertStringIncludes(
    (end as ParallaxError).message,
    "'started' 3 times for one host (retries 1)",
  );
  const quiet = session(1);
  quiet.send(HELLO);
  assertEquals(quiet.gateway.overdue(1_000), null);
  const realNow = Date.now;
  // 5 s + 10 s + 10 s of slack after its hello, whatever it sends, and not a minute more.
  Date.now = () => realNow() + 26_000;
  try {
    quiet.send({ event: "alive" });
    assertEquals(
      quiet.gateway.overdue(27_000),
      "ran past the time its hosts' timeouts allow",
    );
  } finally {
    Date.now = realNow;
  }
});

Deno.test("slurp through a gateway changes nothing where a failed host's files belong: a folder entry does not replace a file there", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/got`);
    await Deno.writeTextFile(`${dir}/got/x`, "IMPORTANT");
    const s = session(2, { into: dir });
    s.send(
      HELLO,
      { event: "file", index: 0, path: "got", type: "dir", mode: 0o755, mtimeMs: null },
      { event: "file", index: 0, path: "got/x", type: "dir", mode: 0o755, mtimeMs: null },
      { event: "file", index: 0, path: "got/x/y", type: "file", mode: 0o644, mtimeMs: null },
      { event: "data", index: 0, data: btoa("partial") },
      { event: "result", index: 0, record: record({ kind: "transfer", reason: "failed" }) },
    );
    s.close();
    assertEquals(kindOf(onlyEnds(s.ends, 2)[0]), "transfer");
    assertEquals(await Deno.readTextFile(`${dir}/got/x`), "IMPORTANT");
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["got"],
      "no receiving folder left",
    );
  });
});
