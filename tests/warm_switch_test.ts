/**
 * The fixture switch (see `fixture/warm_switch.ts`): suites whose results, timeouts and
 * cancellation are the guarantees run again here with every host warm, so that each of their
 * assertions holds on the warm path too, not only on a new ssh per command.
 */

import { assert, assertEquals } from "./fixture/assert.ts";
import { ROOT, runArgv } from "./fixture/deno_run.ts";

for (const suite of ["call_test.ts", "reliability_test.ts"]) {
  Deno.test(`${suite} passes on warm hosts (PARALLAX_TEST_WARM=1)`, async () => {
    const run = await runArgv([Deno.execPath(), "test", "--allow-all", `${ROOT}/tests/${suite}`], {
      env: { PARALLAX_TEST_WARM: "1", NO_COLOR: "1" },
      deadlineMs: 600_000,
    });
    assertEquals(run.code, 0, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`);
    const said = `${run.stdout}\n${run.stderr}`;
    const warm = Number(/warm switch: (\d+) results ran warm/.exec(said)?.[1] ?? 0);
    assert(warm > 0, `results ran warm under the switch: ${said.slice(-500)}`);
  });
}
