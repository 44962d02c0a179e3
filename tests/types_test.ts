import { assert, assertStringIncludes } from "./fixture/assert.ts";
import { ROOT } from "./fixture/deno_run.ts";
import { withTempDir } from "./fixture/temp_dir.ts";

/** Runs `deno check` on `source` (importing parallax as `P`); its exit code and messages. */
async function check(dir: string, name: string, source: string) {
  const path = `${dir}/${name}.ts`;
  await Deno.writeTextFile(path, `import * as P from "${ROOT}/mod.ts";\n${source}\n`);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--no-config", path],
    stdin: "null",
  }).output();
  // deno-lint-ignore no-control-regex
  const text = new TextDecoder().decode(output.stderr).replace(/\x1b\[[0-9;]*m/g, "");
  return { ok: output.success, text };
}

Deno.test("isOk() narrows both branches: a success when true; an error or a nonzero exit when false", async () => {
  await withTempDir(async (dir) => {
    const good = await check(
      dir,
      "good",
      `declare const r: P.CallResult | P.ParallaxError;
if (P.isOk(r)) {
  const zero: 0 = r.exitCode;
  console.log(zero, r.stdout);
} else if (r instanceof P.ParallaxError) {
  console.log(r.kind, r.message);
} else {
  const code: number = r.exitCode;
  console.log(code, r.stderr);
}
declare const t: P.CopyResult | P.ParallaxError;
if (!P.isOk(t)) console.log(t.kind);
const list: P.CallResult[] = [r].filter(P.isOk);
console.log(list);`,
    );
    assert(good.ok, good.text);
    // A nonzero exit is no ParallaxError: this must not type-check (it crashed at run time).
    const bad = await check(
      dir,
      "bad",
      `declare const r: P.CallResult | P.ParallaxError;
if (!P.isOk(r)) console.log(r.message.toUpperCase());`,
    );
    assert(!bad.ok, "the false branch must not be a ParallaxError alone");
    assertStringIncludes(bad.text, "message");
  });
});
