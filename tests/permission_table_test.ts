/**
 * The README's permission table, row by row: each feature run in a child process under exactly the
 * grants the table gives it, and each grant shown to be needed (without it, the error names it).
 */
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { denoArgv, ROOT, runArgv } from "./fixture/deno_run.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";

/** Runs `code` (a module importing parallax as `P`) under exactly `flags`; its stdout parsed. */
async function under(flags: string[], dir: string, code: string) {
  const script = `${dir}/script-${crypto.randomUUID().slice(0, 8)}.ts`;
  await Deno.writeTextFile(
    script,
    `import * as P from ${JSON.stringify(`${ROOT}/mod.ts`)};\n${code}\n`,
  );
  // The script itself must be readable: it is in `dir`, which each case grants or not.
  const run = await runArgv(denoArgv([...flags, `--allow-read=${script}`], script), {
    env: { NO_COLOR: "1" },
  });
  return { ...run, lines: run.stdout.trim().split("\n") };
}

/** Prints `host kind-or-ok message` per host of a result map. */
const REPORT =
  `for (const [host, r] of results) console.log(host, r instanceof P.ParallaxError ? r.kind + " " + r.message : "ok");`;

Deno.test("the README's permission table holds row by row: call, copy, slurp, sync, each under exactly its grants", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  for (
    const row of [
      "`--allow-run=ssh` (`scp` for copy/slurp)",
      "`--allow-read=<parallax folder>`",
      "`--allow-write=<dir>`",
      "`--allow-read=/tmp --allow-write=/tmp`",
      "`--allow-net`",
    ]
  ) assertStringIncludes(readme, `| ${row}`);
  await using sshd = await startSshd({ aliases: 1 });
  const [host] = sshd.aliases;
  const extra = JSON.stringify(sshd.sshExtra);
  const config = `--allow-read=${ROOT},${sshd.dir}`;
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file.txt`, "payload\n");
    // call: run ssh, read parallax (its workers load its modules).
    const call = await under(
      ["--allow-run=ssh", config],
      dir,
      `const results = await P.call([${
        JSON.stringify(host)
      }], "echo hi", { sshExtra: ${extra} });\n${REPORT}`,
    );
    assertEquals(call.lines, [`${host} ok`], call.stderr);

    // copy: scp, and read access to what it sends.
    const copied = await under(
      ["--allow-run=scp", `${config},${dir}/file.txt`],
      dir,
      `const results = await P.copy([${JSON.stringify(host)}], ${
        JSON.stringify(`${dir}/file.txt`)
      }, "/tmp/parallax-permtest.txt", { sshExtra: ${extra} });\n${REPORT}`,
    );
    assertEquals(copied.lines, [`${host} ok`], copied.stderr);

    // slurp: scp, and write and read access to localdir (files are received under names of
    // their own and renamed into place, and Deno's rename needs both).
    const into = `${dir}/collected`;
    const slurped = await under(
      ["--allow-run=scp", `${config},${into}`, `--allow-write=${into}`],
      dir,
      `const results = await P.slurp([${
        JSON.stringify(host)
      }], "/tmp/parallax-permtest.txt", "got.txt", { sshExtra: ${extra}, localdir: ${
        JSON.stringify(into)
      } });\n${REPORT}`,
    );
    assertEquals(slurped.lines, [`${host} ok`], slurped.stderr);
    assertEquals(await Deno.readTextFile(`${into}/${host}/got.txt`), "payload\n");

    // sync: rsync (which starts its own ssh), and read access to what it sends.
    const synced = await under(
      ["--allow-run=rsync", `${config},${dir}/file.txt`],
      dir,
      `const results = await P.sync([${JSON.stringify(host)}], ${
        JSON.stringify(`${dir}/file.txt`)
      }, "/tmp/parallax-permtest-sync.txt", { sshExtra: ${extra} });\n${REPORT}`,
    );
    assertEquals(synced.lines, [`${host} ok`], synced.stderr);

    // Each grant is needed: without it, every host's error names it.
    const noScp = await under(
      ["--allow-run=ssh", `${config},${dir}/file.txt`],
      dir,
      `const results = await P.copy([${JSON.stringify(host)}], ${
        JSON.stringify(`${dir}/file.txt`)
      }, "/tmp/x", { sshExtra: ${extra} });\n${REPORT}`,
    );
    assertStringIncludes(noScp.stdout, "--allow-run=scp");
    const noRsync = await under(
      ["--allow-run=ssh", `${config},${dir}/file.txt`],
      dir,
      `const results = await P.sync([${JSON.stringify(host)}], ${
        JSON.stringify(`${dir}/file.txt`)
      }, "/tmp/x", { sshExtra: ${extra} });\n${REPORT}`,
    );
    assertStringIncludes(noRsync.stdout, "--allow-run=rsync");
    const noWrite = await under(
      ["--allow-run=scp", config],
      dir,
      `const results = await P.slurp([${
        JSON.stringify(host)
      }], "/tmp/parallax-permtest.txt", "got.txt", { sshExtra: ${extra}, localdir: ${
        JSON.stringify(`${dir}/elsewhere`)
      } });\n${REPORT}`,
    );
    assertStringIncludes(noWrite.stdout, "--allow-write");
    // password: --allow-net, and /tmp for the helper's private folder.
    const noNet = await under(
      ["--allow-run=ssh", config, "--allow-read=/tmp", "--allow-write=/tmp"],
      dir,
      `const results = await P.call([${
        JSON.stringify(host)
      }], "true", { sshExtra: ${extra}, password: "x" });\n${REPORT}`,
    );
    assertStringIncludes(noNet.stdout, "--allow-net");
    assert(!noNet.stderr.includes("Uncaught"), noNet.stderr);
  }, { mode: 0o755 });
  await Deno.remove("/tmp/parallax-permtest.txt").catch(() => {});
  await Deno.remove("/tmp/parallax-permtest-sync.txt").catch(() => {});
});
