import { failed, ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { call, type CallResult, type ParallaxError } from "../mod.ts";

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
