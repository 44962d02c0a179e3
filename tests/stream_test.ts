import { assert, assertEquals } from "./fixture/assert.ts";
import { denoRun, ROOT } from "./fixture/deno_run.ts";
import { processesMatching, uniqueMarker } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { assertSlowLoopHoldsBack } from "./fixture/slow_loop.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { type CallEvent, callStream, ParallaxError } from "../mod.ts";

Deno.test("callStream() yields output as it arrives and each result as its host finishes", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const events: CallEvent[] = [];
  const command =
    'echo "start $PARALLAX_HOST"; if [ "$PARALLAX_HOST" = h002 ]; then sleep 2; fi; echo end';
  for await (const event of callStream(sshd.aliases, command, { sshExtra: sshd.sshExtra })) {
    events.push(event);
  }
  const results = events.filter((e) => e.type === "result");
  assertEquals(results.map((e) => e.host), ["h001", "h002"], "the fast host's result comes first");
  for (const host of sshd.aliases) {
    const own = events.filter((e) => e.host === host);
    const text = own.flatMap((e) =>
      e.type === "output" && e.stream === "stdout" ? [new TextDecoder().decode(e.data)] : []
    )
      .join("");
    assertEquals(text, `start ${host}\nend\n`);
    assertEquals(own.at(-1)?.type, "result", "a host's output comes before its result");
  }
  const slow = events.filter((e) =>
    e.host === "h002" && e.type === "output" && e.stream === "stdout"
  );
  assert(slow.length >= 2, "the slow host's first line arrived on its own, before it finished");
});

Deno.test("leaving a callStream() loop early cancels the hosts still running", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const marker = uniqueMarker();
  const command = `if [ "$PARALLAX_HOST" = h001 ]; then echo quick; else sleep 30; fi # ${marker}`;
  let first: CallEvent | undefined;
  for await (const event of callStream(sshd.aliases, command, { sshExtra: sshd.sshExtra })) {
    if (event.type === "result") {
      first = event;
      break;
    }
  }
  assertEquals(first?.host, "h001");
  assert(first?.type === "result" && !(first.result instanceof ParallaxError));
  assertEquals(await processesMatching(marker), [], "the other hosts' ssh are gone");
});

Deno.test("callStream() surfaces bad input from its first step", async () => {
  try {
    for await (const _ of callStream(["-oProxyCommand=x"], "true")) {
      throw new Error("no event expected");
    }
    throw new Error("expected a TypeError");
  } catch (error) {
    assert(error instanceof TypeError, String(error));
  }
});

Deno.test("with inline: false and outdir, memory stays flat however much the hosts print", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  await withTempDir(async (dir) => {
    const script = `${dir}/memory.ts`;
    await Deno.writeTextFile(
      script,
      `import { call } from "${ROOT}/mod.ts";
const results = await call(${JSON.stringify(sshd.aliases)}, "head -c 150000000 /dev/zero", {
  sshExtra: ${JSON.stringify(sshd.sshExtra)}, inline: false, outdir: "${dir}/out", timeout: 120,
});
const peak = Number(/VmHWM:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024;
console.log(JSON.stringify({ peak, sizes: [...results.values()].map((r) => "stdoutBytes" in r ? r.stdoutBytes.length : -1) }));
`,
    );
    const run = await denoRun(["--allow-all"], script);
    assertEquals(run.code, 0, run.stderr);
    const { peak, sizes } = JSON.parse(run.stdout);
    assertEquals(sizes, [0, 0, 0, 0]);
    for (const alias of sshd.aliases) {
      assertEquals((await Deno.stat(`${dir}/out/${alias}`)).size, 150_000_000);
    }
    assert(
      peak < 200 * 1024 * 1024,
      `peak RSS ${(peak / 1048576).toFixed(0)} MiB for 600 MB of output`,
    );
  });
});

Deno.test("a callStream() loop slower than its host holds the host back, and misses no byte", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await assertSlowLoopHoldsBack(sshd.aliases[0], { sshExtra: sshd.sshExtra }, 3000);
});
