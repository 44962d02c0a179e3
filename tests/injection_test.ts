import { ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertRejects } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { call, ParallaxError, parseHosts, slurp } from "../mod.ts";
import { defaultSshOptions, sshArgv } from "../lib/ssh/_ssh_argv.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// deno-lint-ignore no-control-regex
const CONTROL_OR_SPACE = /[\s\u0000-\u001f\u007f-\u009f]/;

const PIECES = [
  "-",
  "--",
  "-o",
  "-oProxyCommand=",
  "-F",
  "-E",
  "@",
  ":",
  "::",
  "[",
  "]",
  "[::1]",
  "..",
  "/",
  "\\",
  " ",
  "\t",
  "\n",
  "\r",
  "\0",
  "\u001b",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u200b",
  "$(",
  ")",
  "`",
  ";",
  "|",
  "&",
  "'",
  '"',
  "*",
  "?",
  "#",
  "%",
  "~",
  "0",
  "22",
  "65535",
  "65536",
  "99999",
  "é",
  "✓",
  "web1",
  "root",
  "admin",
  "localhost",
  "\ud800",
  "x".repeat(300),
];

Deno.test("the host parser takes 10,000 random and adversarial strings: only TypeErrors, never an option", () => {
  const next = random(20261125);
  const settings = resolveSettings({}, 60);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 10_000; i++) {
    let text = "";
    const parts = 1 + Math.floor(next() * 6);
    for (let p = 0; p < parts; p++) {
      text += next() < 0.6
        ? PIECES[Math.floor(next() * PIECES.length)]
        : String.fromCharCode(Math.floor(next() * (next() < 0.8 ? 128 : 0x10000)));
    }
    try {
      const [host] = parseHosts([text]);
      accepted++;
      assert(!host.host.startsWith("-"), `accepted an option-like host ${JSON.stringify(text)}`);
      assert(host.user === undefined || !host.user.startsWith("-"), JSON.stringify(text));
      assert(!CONTROL_OR_SPACE.test(host.host + (host.user ?? "")), JSON.stringify(text));
      assert(
        host.port === undefined || (host.port >= 1 && host.port <= 65535),
        JSON.stringify(text),
      );
      const argv = sshArgv(host, "true", settings);
      assertEquals(argv[argv.indexOf("--") + 1], host.host, "the host comes right after --");
      assertEquals(host.key, text, "a string entry keeps its key as written");
    } catch (error) {
      if (!(error instanceof TypeError)) throw new Error(`${JSON.stringify(text)} threw ${error}`);
      refused++;
    }
  }
  assertEquals(accepted + refused, 10_000);
  assert(
    accepted > 500 && refused > 500,
    `accepted ${accepted}, refused ${refused}: the generator is off`,
  );
});

Deno.test("parallax never switches off host-key checking on its own", () => {
  const options = defaultSshOptions(resolveSettings({ quiet: true, reuse: true }, 60)).join(" ");
  assert(
    !/StrictHostKeyChecking|UserKnownHostsFile|GlobalKnownHostsFile|CheckHostIP/i.test(options),
    options,
  );
});

Deno.test("metacharacters in hosts, users and commands are never run by a local shell", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    const pwned = `${dir}/pwned`;
    const hosts = [
      `h001;touch\${IFS}${pwned}`,
      `$(touch\${IFS}${pwned})`,
      `\`touch\${IFS}${pwned}\``,
      `x|touch\${IFS}${pwned}`,
      { host: "h001", user: `$(touch\${IFS}${pwned})` },
      { host: "h001", user: `a;touch\${IFS}${pwned}` },
    ];
    const results = await call(hosts, "true", { sshExtra: sshd.sshExtra, connectTimeout: 2 });
    assertEquals(results.size, hosts.length);
    for (const result of results.values()) assert(result instanceof ParallaxError, String(result));
    assertEquals([...Deno.readDirSync(dir)].length, 0, "something ran a metacharacter");
  });
});

Deno.test("commands with newlines, quotes, very long text and non-UTF-8 output arrive exactly", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const opts = { sshExtra: sshd.sshExtra };
  const multi = await call(["h001"], "echo one\necho 'two  three'\necho \"$((6*7))\"", opts);
  assertEquals(ok(multi.get("h001")).stdout, "one\ntwo  three\n42\n");
  const long = "y".repeat(100_000);
  const big = await call(["h001"], `echo ${long}`, opts);
  assertEquals(ok(big.get("h001")).stdout, `${long}\n`);
  const bytes = await call(["h001"], "printf '\\377\\376\\000\\300\\n'", opts);
  assertEquals([...ok(bytes.get("h001")).stdoutBytes], [0xff, 0xfe, 0x00, 0xc0, 0x0a]);
  assertEquals(
    ok(bytes.get("h001")).stdout.includes("\ufffd"),
    true,
    "text replaces invalid bytes",
  );
  await assertRejects(() => call(["h001"], "echo a\0b", opts), TypeError, "NUL");
  const longHost = `h${"o".repeat(5000)}`;
  const refused = await call([longHost], "true", opts);
  assert(refused.get(longHost) instanceof ParallaxError);
});

Deno.test("slurp never writes through a symlink planted where a host folder or file belongs", async () => {
  await using sshd = await startSshd({ aliases: 2, unprivileged: false });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/source`, "fetched\n");
    await Deno.mkdir(`${dir}/outside`);
    await Deno.mkdir(`${dir}/in/h002`, { recursive: true });
    await Deno.symlink(`${dir}/outside`, `${dir}/in/h001`);
    await Deno.writeTextFile(`${dir}/victim`, "untouched\n");
    await Deno.symlink(`${dir}/victim`, `${dir}/in/h002/got`);
    const results = await slurp(sshd.aliases, `${dir}/source`, "got", {
      sshExtra: sshd.sshExtra,
      localdir: `${dir}/in`,
    });
    for (const result of results.values()) {
      assert(!(result instanceof ParallaxError), String(result));
    }
    assertEquals([...Deno.readDirSync(`${dir}/outside`)].length, 0);
    assertEquals(await Deno.readTextFile(`${dir}/victim`), "untouched\n");
    for (const alias of sshd.aliases) {
      assertEquals(await Deno.readTextFile(`${dir}/in/${alias}/got`), "fetched\n");
      assertEquals(Deno.lstatSync(`${dir}/in/${alias}`).isSymlink, false);
    }
  });
});
