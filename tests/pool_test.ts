import { waitFor } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./fixture/assert.ts";
import { processesMatching, uniqueMarker } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { call, ParallaxError, Pool } from "../mod.ts";
import { crashWorkerForTest, liveWorkersForTest } from "../lib/pool.ts";

Deno.test("Pool refuses a size that is not a positive integer", () => {
  assertThrows(() => new Pool({ size: 0 }), RangeError, "size 0");
  assertThrows(() => new Pool({ size: 1.5 }), RangeError, "size 1.5");
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
      assertEquals(liveWorkersForTest(pool), 2);
    }
  } finally {
    await pool.close();
  }
  assertEquals(liveWorkersForTest(pool), 0);
});

Deno.test("a worker that dies loses no job: its jobs are reported, the pool replaces it", async () => {
  await using sshd = await startSshd({ aliases: 4 });
  const marker = uniqueMarker();
  using pool = new Pool({ size: 2 });
  const calling = call(sshd.aliases, `sleep 3; echo survived # ${marker}`, {
    sshExtra: sshd.sshExtra,
    pool,
  });
  await waitFor(async () => (await processesMatching(marker)).length === 4);
  crashWorkerForTest(pool, 0);
  const results = await calling;
  assertEquals(results.size, 4);
  const lost = [...results.values()].filter((r) => r instanceof ParallaxError);
  const survived = [...results.values()].filter((r) => !(r instanceof ParallaxError));
  assertEquals(lost.length, 2, "the crashed worker ran two of the four jobs");
  for (const error of lost) {
    assertEquals((error as ParallaxError).kind, "local");
    assertStringIncludes((error as ParallaxError).message, "worker failed");
  }
  for (const result of survived) assertEquals((result as { stdout: string }).stdout, "survived\n");
  assertEquals(await processesMatching(marker), [], "the crashed worker's ssh processes are gone");

  const again = await call(sshd.aliases, "echo healed", { sshExtra: sshd.sshExtra, pool });
  for (const result of again.values()) {
    assert(!(result instanceof ParallaxError), String(result));
    assertEquals(result.stdout, "healed\n");
  }
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
  await waitFor(async () => (await processesMatching(marker)).length === 2);
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
