import { assert, assertEquals, assertThrows } from "./fixture/assert.ts";
import { safeNames } from "../lib/driver/_output_files.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";
import { sshArgv } from "../lib/ssh/_ssh_argv.ts";
import { parseHosts } from "../mod.ts";
import { LinePrinter } from "../lib/driver/_console.ts";
import { HeldOutput } from "../lib/ops/_held_output.ts";
import {
  concatBytes,
  decode,
  GrowingBytes,
  readShared,
  releaseBytes,
  TextBytes,
} from "../lib/runtime/_bytes.ts";
import { toRecord } from "../lib/record.ts";
import { planStdin } from "../lib/engine/_stdin_feed.ts";
import { parseEvent, ProtocolError } from "../lib/driver/_gateway_protocol.ts";
import { FedStdin } from "../lib/engine/worker/_fed_stdin.ts";
import { FEED_SLICE } from "../lib/engine/_protocol.ts";

const [web1, admin2] = parseHosts(["web1", "admin@web2:2222"]);
const settingsOf = (options: Parameters<typeof resolveSettings>[0]) => resolveSettings(options, 60);

Deno.test("sshArgv() puts caller options first, parallax's after, and the host after --", () => {
  const settings = settingsOf({
    sshExtra: ["-F", "cfg"],
    sshOptions: ["ConnectTimeout=3", "StrictHostKeyChecking=accept-new"],
    user: "deploy",
    port: 2200,
  });
  assertEquals(sshArgv(web1, "uptime", settings), [
    "ssh",
    "-F",
    "cfg",
    "-o",
    "ConnectTimeout=3",
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "SendEnv=PARALLAX_HOST PARALLAX_NODENUM",
    "-l",
    "deploy",
    "-p",
    "2200",
    "--",
    "web1",
    "uptime",
  ]);
});

Deno.test("sshArgv() lets a host's own user and port win over the defaults", () => {
  const settings = settingsOf({
    user: "deploy",
    port: 2200,
    quiet: true,
    sshPath: "/opt/ssh",
  });
  const argv = sshArgv(admin2, "echo 'a b'; ls", settings);
  assertEquals(argv[0], "/opt/ssh");
  assertEquals(argv.slice(-7), ["-l", "admin", "-p", "2222", "--", "web2", "echo 'a b'; ls"]);
  assertEquals(argv.includes("LogLevel=ERROR"), true);
});

Deno.test("resolveSettings() refuses out-of-range and malformed options", () => {
  assertThrows(() => settingsOf({ limit: 0 }), RangeError, "limit 0");
  assertThrows(() => settingsOf({ limit: 1.5 }), RangeError, "limit 1.5");
  assertThrows(() => settingsOf({ timeout: -1 }), RangeError, "timeout -1");
  assertThrows(() => settingsOf({ timeout: NaN }), RangeError, "timeout NaN");
  assertThrows(() => settingsOf({ connectTimeout: 0 }), RangeError, "connectTimeout 0");
  assertThrows(() => settingsOf({ port: 70000 }), RangeError, "port 70000");
  assertThrows(() => settingsOf({ poolSize: 0 }), RangeError, "poolSize 0");
  assertThrows(() => settingsOf({ user: "-oProxyCommand=x" }), TypeError, "ssh option");
  assertThrows(
    () => settingsOf({ sshOptions: ["A=1\nB=2"] }),
    TypeError,
    "control characters",
  );
  assertThrows(
    () => settingsOf({ sshExtra: "-F cfg" as unknown as string[] }),
    TypeError,
    "sshExtra",
  );
});

Deno.test("resolveSettings() has the original's defaults: limit 32, timeout 60 s", () => {
  const settings = settingsOf({});
  assertEquals([settings.limit, settings.timeoutMs, settings.connectTimeout], [32, 60_000, 10]);
  assertEquals(settingsOf({ timeout: 0 }).timeoutMs, 0);
});

Deno.test("resolveSettings() takes PARALLAX_* defaults, and explicit options win", () => {
  const vars = {
    PARALLAX_USER: "envuser",
    PARALLAX_PAR: "7",
    PARALLAX_OUTDIR: "/tmp/env-out",
    PARALLAX_VERBOSE: "1",
    PARALLAX_OPTIONS: "SetEnv=PARALLAX_X=1; ConnectionAttempts=2\nServerAliveInterval=5",
  };
  const saved = Object.keys(vars).map((k) => [k, Deno.env.get(k)] as const);
  try {
    for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
    const fromEnv = settingsOf({});
    assertEquals(
      [fromEnv.user, fromEnv.limit, fromEnv.outdir, fromEnv.verbose, fromEnv.sshOptions],
      ["envuser", 7, "/tmp/env-out", true, [
        "SetEnv=PARALLAX_X=1",
        "ConnectionAttempts=2",
        "ServerAliveInterval=5",
      ]],
    );
    const explicit = settingsOf({
      user: "me",
      limit: 3,
      outdir: "o",
      verbose: false,
      sshOptions: [],
    });
    assertEquals(
      [explicit.user, explicit.limit, explicit.outdir, explicit.verbose, explicit.sshOptions],
      ["me", 3, "o", false, []],
    );
    Deno.env.set("PARALLAX_PAR", "lots");
    assertThrows(() => settingsOf({}), RangeError, "PARALLAX_PAR='lots'");
    Deno.env.set("PARALLAX_VERBOSE", "no");
    Deno.env.set("PARALLAX_PAR", "2");
    assertEquals(settingsOf({}).verbose, false);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

Deno.test("safeNames() keeps every host inside its folder and never shares a name", () => {
  assertEquals(
    safeNames(["web1", "../x", "..", ".", "a/b", "a_b", "/etc/passwd", "x\u0000y", "Web1", "A_B"]),
    ["web1", "_.._x", "_..", "_.", "a_b", "a_b.1", "_etc_passwd", "x_y", "Web1.1", "A_B.2"],
  );
  const long = "x".repeat(1000);
  const [name] = safeNames([long]);
  assertEquals(name.length, 200);
  for (const n of safeNames(["a", "a.1", "a"])) assertEquals(n.includes("/"), false);
  assertEquals(safeNames(["a", "a.1", "A"]), ["a", "a.1", "A.2"]);
});

Deno.test("LinePrinter prefixes each complete line and flushes a last partial one", () => {
  let written = "";
  const printer = new LinePrinter("web1: ", (data) => written += new TextDecoder().decode(data));
  const bytes = (s: string) => new TextEncoder().encode(s);
  printer.push(bytes("one\ntw"));
  printer.push(bytes("o\n\nthr"));
  printer.push(bytes("ee"));
  printer.flush();
  assertEquals(written, "web1: one\nweb1: two\nweb1: \nweb1: three\n");
});

Deno.test("LinePrinter writes a chunk's whole lines in one write, and a long line as its parts", () => {
  const writes: string[] = [];
  const printer = new LinePrinter("h: ", (data) => writes.push(new TextDecoder().decode(data)));
  const bytes = (s: string) => new TextEncoder().encode(s);
  printer.push(bytes("a\nb\nc\n"));
  assertEquals(writes, ["h: a\nh: b\nh: c\n"], "one write for three lines");
  writes.length = 0;
  const long = "x".repeat(100_000);
  printer.push(bytes(long.slice(0, 50_000)));
  printer.push(bytes(long.slice(50_000)));
  printer.push(bytes("\nd\n"));
  assertEquals(writes.join(""), `h: ${long}\nh: d\n`);
  assertEquals(writes.length, 5, "prefix, two parts, the line's end, then the next lines at once");
});

Deno.test("LinePrinter keeps nothing it was given: the caller may reuse or let go of a chunk", () => {
  const writes: string[] = [];
  const printer = new LinePrinter("h: ", (data) => writes.push(new TextDecoder().decode(data)));
  const chunk = new TextEncoder().encode("one\ntw");
  printer.push(chunk);
  chunk.fill(0x21);
  releaseBytes(chunk);
  assertEquals(chunk.byteLength, 0, "the chunk's memory is gone");
  printer.push(new TextEncoder().encode("o\n"));
  printer.flush();
  assertEquals(writes.join(""), "h: one\nh: two\n");
});

Deno.test("GrowingBytes holds the bytes once, past its first reservation, and hands them over", () => {
  const bytes = new GrowingBytes();
  const piece = new Uint8Array(65_000).map((_, i) => i % 251);
  for (let i = 0; i < 40; i++) bytes.append(piece);
  assertEquals(bytes.length, 2_600_000);
  const all = bytes.take();
  assertEquals(all.byteLength, 2_600_000);
  assertEquals(all.buffer.byteLength, 2_600_000, "no spare room is held");
  for (let i = 0; i < 40; i++) {
    assertEquals(all.subarray(i * 65_000, (i + 1) * 65_000), piece);
  }
  assertEquals(bytes.length, 0, "taking leaves it empty");
  bytes.append(Uint8Array.of(1, 2, 3));
  const small = bytes.take();
  assertEquals(small, Uint8Array.of(1, 2, 3));
  assertEquals(
    (small.buffer as ArrayBuffer).resizable,
    false,
    "a few bytes are a plain copy of their own",
  );
  releaseBytes(all);
  assertEquals(all.byteLength, 0, "released: the reservation is given back");
});

Deno.test("HeldOutput gives the same bytes back after the text, valid UTF-8 or not", () => {
  const text = "añ€😀\n".repeat(50_000);
  const valid = new GrowingBytes();
  valid.append(new TextEncoder().encode(text));
  const held = new HeldOutput([valid.take()]);
  assertEquals(held.text(), text);
  assertEquals(held.bytes(), new TextEncoder().encode(text), "encoded again, byte-exact");

  const invalid = new Uint8Array(200_000).fill(0x41);
  invalid[100_000] = 0xff;
  const raw = new GrowingBytes();
  raw.append(invalid);
  const odd = new HeldOutput([raw.take()]);
  assertEquals(odd.text().length, 200_000);
  assertEquals(odd.text()[100_000], "\ufffd");
  assertEquals(odd.bytes(), invalid, "not valid UTF-8: the bytes stay as they were");
});

Deno.test("TextBytes counts a string's UTF-8 and is fed as exactly those bytes, pieces never splitting a character", () => {
  const text = "héllo €😀 \ud800 漢字\n".repeat(40_000);
  const expected = new TextEncoder().encode(text);
  const part = new TextBytes(text);
  assertEquals(part.byteLength, expected.byteLength);
  assertEquals(new TextBytes("").byteLength, 0);
  const plan = planStdin([Uint8Array.of(1, 2), part]);
  assertEquals(plan.stdin, { kind: "fed", size: 2 + expected.byteLength });
  const pieces: Uint8Array[] = [];
  for (let piece = plan.feed!.next(null); piece.byteLength > 0; piece = plan.feed!.next(null)) {
    assert(piece.byteLength <= FEED_SLICE);
    pieces.push(piece);
  }
  assertEquals(concatBytes(pieces), concatBytes([Uint8Array.of(1, 2), expected]));
  // Small text goes with the job as bytes.
  assertEquals(planStdin([new TextBytes("hé")]).stdin, {
    kind: "bytes",
    bytes: new TextEncoder().encode("hé"),
  });
});

Deno.test("readShared() reads a stream once into shared memory, past its first reservation", async () => {
  const piece = new Uint8Array(100_000).map((_, i) => i % 253);
  const stream = new Blob(Array.from({ length: 30 }, () => piece)).stream();
  const bytes = await readShared(stream);
  assert(bytes.buffer instanceof SharedArrayBuffer);
  assertEquals(bytes.byteLength, 3_000_000);
  for (let i = 0; i < 30; i++) assertEquals(bytes.slice(i * 100_000, (i + 1) * 100_000), piece);
});

Deno.test("HeldOutput keeps a leading BOM and a genuine U+FFFD byte-exact", () => {
  for (const text of ["\ufeffwith a BOM\n", "a genuine \ufffd replacement character\n"]) {
    const grown = new GrowingBytes();
    grown.append(new TextEncoder().encode(text.repeat(20_000)));
    const held = new HeldOutput([grown.take()]);
    assertEquals(held.text(), text.repeat(20_000));
    assertEquals(held.bytes(), new TextEncoder().encode(text.repeat(20_000)));
  }
});

Deno.test("a leading BOM stays in the text however the output is read, and in its record", () => {
  const bytes = Uint8Array.of(0xef, 0xbb, 0xbf, 0x68, 0x69);
  const bytesFirst = new HeldOutput([bytes.slice()]);
  assertEquals(bytesFirst.bytes(), bytes);
  assertEquals(bytesFirst.text(), "\ufeffhi", "text after the bytes");
  const invalid = Uint8Array.of(0xef, 0xbb, 0xbf, 0xff);
  assertEquals(
    new HeldOutput([invalid.slice()]).text(),
    "\ufeff\ufffd",
    "not UTF-8: lossy, BOM kept",
  );
  const record = toRecord({
    host: "h",
    ok: true,
    kind: null,
    message: null,
    exitCode: 0,
    stdout: bytes,
    stderr: bytes,
    durationMs: 1,
    attempts: 1,
  });
  assertEquals([record.stdout, record.stderr], ["\ufeffhi", "\ufeffhi"]);
  assertEquals(decode(bytes), "\ufeffhi");
});

Deno.test("planStdin() reads shared or small stdin in place and feeds the rest in copied pieces", async () => {
  assertEquals(planStdin(null), { stdin: null, feed: null });
  const shared = new Uint8Array(new SharedArrayBuffer(FEED_SLICE * 3));
  assertEquals(planStdin([shared]).stdin, { kind: "bytes", bytes: shared });
  const small = planStdin([Uint8Array.of(1, 2), Uint8Array.of(3)]);
  assertEquals(small.stdin, { kind: "bytes", bytes: Uint8Array.of(1, 2, 3) });
  assertEquals(small.feed, null);

  const head = Uint8Array.of(9, 8, 7);
  const body = new Uint8Array(FEED_SLICE * 2 + 5).map((_, i) => i % 253);
  const plan = planStdin([head, body]);
  assertEquals(plan.stdin, { kind: "fed", size: head.byteLength + body.byteLength });
  // The worker's side asks for each piece in turn, handing back one it has written; they add up
  // to the parts, byte for byte, in two buffers of their own (copies, used again).
  const fed = new FedStdin(head.byteLength + body.byteLength, (spare) => {
    queueMicrotask(() => fed.receive(plan.feed!.next(spare)));
  });
  const pieces: Uint8Array[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const piece of fed) {
    assert(piece.byteLength <= FEED_SLICE, `a piece of ${piece.byteLength} bytes`);
    buffers.add(piece.buffer);
    pieces.push(piece.slice());
  }
  assertEquals(pieces.map((p) => p.byteLength), [FEED_SLICE, FEED_SLICE, 8]);
  assertEquals(buffers.size, 2);
  assert(!buffers.has(body.buffer) && !buffers.has(head.buffer), "a piece is not a copy");
  const all = new Uint8Array(head.byteLength + body.byteLength);
  all.set(head);
  all.set(body, head.byteLength);
  assertEquals(concatBytes(pieces), all);

  // A job that ends while it waits for a piece stops waiting.
  const stalled = new FedStdin(10, () => {});
  const waiting = stalled[Symbol.asyncIterator]().next();
  stalled.end();
  assertEquals(await waiting, { done: true, value: undefined });
});

Deno.test("parseEvent() takes a host's start by index, and refuses one that names no host", () => {
  assertEquals(parseEvent('{"event":"started","index":1}', 2), { event: "started", index: 1 });
  assertThrows(
    () => parseEvent('{"event":"started","index":2}', 2),
    ProtocolError,
    "names no host",
  );
  assertThrows(() => parseEvent('{"event":"started"}', 2), ProtocolError);
});
