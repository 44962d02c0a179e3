import { assertEquals } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { call, type CallResult, isOk, type ParallaxError } from "../mod.ts";

Deno.test("isOk() narrows to successful results; toJSON() gives the --json record shape", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const results = await call(
    ["h001", "h002", sshd.refused],
    "printf 'a\\377'; exit $PARALLAX_NODENUM",
    {
      sshExtra: sshd.sshExtra,
    },
  );
  const good: CallResult[] = [...results.values()].filter(isOk);
  assertEquals(good.map((r) => r.host), ["h001"]);
  const json = JSON.parse(JSON.stringify(Object.fromEntries(results)));
  assertEquals(json.h001.status, "success");
  assertEquals([json.h002.status, json.h002.exitCode, json.h002.kind], ["failure", 1, null]);
  assertEquals(json.h001.stdoutBase64, btoa("a\xff"));
  assertEquals([json.refused.kind, json.refused.exitCode], ["connect", null]);
  assertEquals(json.refused.message, (results.get(sshd.refused) as ParallaxError).message);
});
