import { assert, assertEquals } from "./fixture/assert.ts";
import { ROOT } from "./fixture/deno_run.ts";
import { withTempDir } from "./fixture/temp_dir.ts";

/** The manual's pages whose TypeScript examples must type-check as they stand. */
const PAGES = ["README.md", "docs/architecture.md", "docs/benchmarks.md", "docs/transcripts.md"];

Deno.test("every ```ts block of the README and docs/ type-checks as it stands", async () => {
  await withTempDir(async (dir) => {
    const files: string[] = [];
    for (const page of PAGES) {
      const text = await Deno.readTextFile(`${ROOT}/${page}`);
      for (const [i, match] of [...text.matchAll(/```ts\n([\s\S]*?)```/g)].entries()) {
        const path = `${dir}/${page.replace("/", "_")}_${i}.ts`;
        // The package's name, as a user imports it, is this checkout's mod.ts here.
        await Deno.writeTextFile(
          path,
          match[1].replaceAll('"@parallax/parallax"', `"${ROOT}/mod.ts"`),
        );
        files.push(path);
      }
    }
    assert(files.length >= 8, `only ${files.length} blocks found`);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--no-config", ...files],
      stdin: "null",
    }).output();
    assertEquals(output.success, true, new TextDecoder().decode(output.stderr));
  });
});
