import { ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { denoRun, ROOT, runCallScript } from "./fixture/deno_run.ts";
import { listProcesses } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withScript } from "./fixture/temp_dir.ts";
import { call, parseHosts, Pool } from "../mod.ts";
import { engineOf } from "../lib/engine/_engine.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";
import { Masters } from "../lib/ssh/_masters.ts";

/** The running ControlMaster processes (`ssh: <socket> [mux]`). */
async function masters(): Promise<{ pid: number; args: string }[]> {
  return (await listProcesses()).filter(({ args }) => /ssh: \/.*plx-.*\[mux\]/.test(args));
}

Deno.test("a held pool reuses connections through ControlMasters and closes them", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  assertEquals(await masters(), [], "no master before the test");
  const pool = new Pool();
  try {
    const first = await call(sshd.aliases, "echo one", { sshExtra: sshd.sshExtra, pool });
    for (const result of first.values()) assertEquals(ok(result).stdout, "one\n");
    const before = (await masters()).map(({ pid }) => pid).sort();
    assertEquals(before.length, 3);
    const second = await call(sshd.aliases, "echo two", { sshExtra: sshd.sshExtra, pool });
    for (const result of second.values()) assertEquals(ok(result).stdout, "two\n");
    // The second call went through the same masters: none was made anew.
    assertEquals((await masters()).map(({ pid }) => pid).sort(), before);
  } finally {
    await pool.close();
  }
  assertEquals(await masters(), [], "pool.close() closes every master");
});

Deno.test("reuse: false and the pool-less call() never start a master", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const results = await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra });
  for (const result of results.values()) ok(result);
  using pool = new Pool({ reuse: false });
  await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, pool });
  assertEquals(await masters(), []);
});

Deno.test("a master killed behind the pool's back is replaced transparently", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await using pool = new Pool();
  await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, pool });
  const pids = (await masters()).map(({ pid }) => pid);
  assertEquals(pids.length, 2);
  for (const pid of pids) Deno.kill(pid, "SIGKILL");
  const results = await call(sshd.aliases, "echo healed", { sshExtra: sshd.sshExtra, pool });
  for (const result of results.values()) assertEquals(ok(result).stdout, "healed\n");
  assertEquals((await masters()).length, 2, "new masters took their place");
});

Deno.test("a session the master cannot open goes over a fresh connection, not an error", async () => {
  await using sshd = await startSshd({ aliases: 1, maxSessions: 1 });
  await using pool = new Pool();
  await call(["h001"], "true", { sshExtra: sshd.sshExtra, pool });
  // The master's one session is busy: the server refuses a second one through it.
  const busy = call(["h001"], "sleep 2; echo busy", { sshExtra: sshd.sshExtra, pool });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const meanwhile = await call(["h001"], "echo fresh", { sshExtra: sshd.sshExtra, pool });
  assertEquals(ok(meanwhile.get("h001")).stdout, "fresh\n");
  assertEquals(ok((await busy).get("h001")).stdout, "busy\n");
});

Deno.test("masters are closed when a script with a held pool exits", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const source = `import { call, Pool } from "${ROOT}/mod.ts";
const pool = new Pool();
await call(${JSON.stringify(sshd.aliases)}, "true", { sshExtra: ${
    JSON.stringify(sshd.sshExtra)
  }, pool });
const ps = await new Deno.Command("ps", { args: ["-eo", "args="] }).output();
console.log(new TextDecoder().decode(ps.stdout).split("\\n").filter((l) => l.includes("[mux]")).length);
Deno.exit(0);
`;
  await withScript(source, async (script) => {
    const run = await denoRun(["--allow-all"], script);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.stdout.trim(), "2", "the script had two masters running");
    assertEquals(await masters(), [], "the masters were closed at exit");
  });
});

Deno.test("reuse without write access: explicit reuse names --allow-write, the default does without", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const run = (options: Record<string, unknown>) =>
    runCallScript({
      hosts: ["h001"],
      command: "echo hi",
      options: { sshExtra: sshd.sshExtra, ...options },
    });
  const explicit = await run({ reuse: true });
  assertEquals(explicit.code, 0, explicit.stderr);
  assertStringIncludes(explicit.stdout, '"kind":"local"');
  assertStringIncludes(explicit.stdout, "--allow-write=/tmp");
  const plain = await run({});
  assertStringIncludes(plain.stdout, '"stdout":"hi\\n"');
});

Deno.test("control socket paths stay under the 104-byte sun_path limit, in a 0700 folder", async () => {
  const pool = new Pool();
  const masters = Masters.of(engineOf(pool), "ssh");
  assert(masters instanceof Masters, String(masters));
  try {
    const [host] = parseHosts(["a-rather-long-host-name.example.com"]);
    const options = await masters.connection(host, resolveSettings({}, 60));
    const path = options.find((o) => o.startsWith("ControlPath="))!.slice(12);
    // ssh binds at the path with 17 characters more; sun_path holds 107 on Linux, 103 on macOS.
    assert(path.length + 17 <= 103, path);
    const folder = path.slice(0, path.lastIndexOf("/"));
    assertEquals(Deno.statSync(folder).mode! & 0o777, 0o700);
    await pool.close();
    assertEquals(Deno.readDirSync("/tmp").some((e) => folder === `/tmp/${e.name}`), false);
  } finally {
    await pool.close();
  }
});
