import { assert, assertEquals, assertStringIncludes, assertThrows } from "./fixture/assert.ts";
import { processesMatching, timeUntil, uniqueMarker } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { call, ParallaxError, parseHosts, Pool } from "../mod.ts";
import { Engine, engineOf } from "../lib/engine/_engine.ts";
import type { JobEnd } from "../lib/engine/_run_queue.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";
import { sshJob } from "./fixture/jobs.ts";

Deno.test("Pool refuses a size or limit that is not a positive integer", () => {
  assertThrows(() => new Pool({ size: 0 }), RangeError, "size 0");
  assertThrows(() => new Pool({ size: 1.5 }), RangeError, "size 1.5");
  assertThrows(() => new Pool({ limit: 0 }), RangeError, "limit 0");
});

Deno.test("a held Pool runs many calls on the same workers and closes them", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const pool = new Pool({ size: 2 });
  try {
    for (let round = 0; round < 3; round++) {
      const results = await call(sshd.aliases, `echo ${round}`, { sshExtra: sshd.sshExtra, pool });
      for (const result of results.values()) {
        assert(!(result instanceof ParallaxError), String(result));
        assertEquals(result.stdout, `${round}\n`);
      }
      // Four processes fit one worker's share: the second is never started.
      assertEquals(engineOf(pool).liveWorkers, 1);
    }
  } finally {
    await pool.close();
  }
  assertEquals(engineOf(pool).liveWorkers, 0);
});

Deno.test("a second worker starts only when the first runs its share of processes", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const engine = new Engine({ size: 2, limit: 32, reuse: false, workerShare: 2 });
  const settings = resolveSettings({ sshExtra: sshd.sshExtra }, 60);
  const hosts = parseHosts(sshd.aliases);
  const jobs = (count: number) =>
    hosts.slice(0, count).map((host) => sshJob(host, "sleep 1", settings));
  const ends: JobEnd[] = [];
  const observer = { end: (index: number, end: JobEnd) => void (ends[index] = end) };
  try {
    await engine.run(jobs(2), { limit: 2, observer });
    assertEquals(engine.liveWorkers, 1, "two processes fit the first worker's share");
    await engine.run(jobs(3), { limit: 3, observer });
    assertEquals(engine.liveWorkers, 2, "the third process starts the second worker");
    assertEquals(ends.map((end) => end.kind), ["ran", "ran", "ran"]);
  } finally {
    await engine.close();
  }
  assertEquals(engine.liveWorkers, 0);
});

Deno.test("a worker that dies loses no job: its jobs are reported lost, its processes killed", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const marker = uniqueMarker();
  const engine = new Engine({
    size: 2,
    limit: 32,
    reuse: false,
    workerUrl: new URL("./fixture/crashing_worker.ts", import.meta.url),
    workerShare: 1,
  });
  const settings = resolveSettings({ sshExtra: sshd.sshExtra }, 60);
  const [h1, h2, h3, h4] = parseHosts(sshd.aliases);
  const job = (host: typeof h1, command: string) => sshJob(host, command, settings);
  // Jobs go to the less busy worker in turn: worker 0 gets jobs 0 and 2, and crashes.
  const jobs = [
    job(h1, `sleep 4; echo survived # ${marker} CRASH-THIS-WORKER`),
    job(h2, `sleep 4; echo survived # ${marker}`),
    job(h3, `sleep 4; echo survived # ${marker}`),
    job(h4, `sleep 4; echo survived # ${marker}`),
  ];
  const ends: JobEnd[] = [];
  try {
    await engine.run(jobs, {
      limit: 4,
      observer: { end: (index, end) => void (ends[index] = end) },
    });
    assertEquals(ends.map((end) => end.kind), ["lost", "ran", "lost", "ran"]);
    const lost = ends[0] as Extract<JobEnd, { kind: "lost" }>;
    assertStringIncludes(lost.reason, "worker failed");
    assertEquals(
      await processesMatching(`${marker} CRASH`),
      [],
      "the crashed worker's ssh is gone",
    );
    assertEquals(engine.liveWorkers, 1);
    const again: JobEnd[] = [];
    await engine.run([job(h1, "echo healed"), job(h2, "echo healed")], {
      limit: 2,
      observer: { end: (index, end) => void (again[index] = end) },
    });
    assertEquals(again.map((end) => end.kind), ["ran", "ran"]);
  } finally {
    await engine.close();
  }
  assertEquals(await processesMatching(marker), [], "nothing is left running");
});

Deno.test("closing a pool during a call cancels its jobs and leaves no ssh running", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const marker = uniqueMarker();
  const pool = new Pool({ size: 2 });
  const calling = call(sshd.aliases, `sleep 30 # ${marker}`, {
    sshExtra: sshd.sshExtra,
    pool,
    limit: 2,
  });
  await timeUntil(async () => (await processesMatching(marker)).length === 2);
  await pool.close();
  const results = await calling;
  assertEquals(results.size, 4);
  for (const result of results.values()) {
    assert(result instanceof ParallaxError);
    assertEquals(result.kind, "cancelled");
  }
  assertEquals(await processesMatching(marker), []);
  try {
    await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, pool });
    throw new Error("expected a rejection");
  } catch (error) {
    assertStringIncludes((error as Error).message, "closed pool");
  }
});
