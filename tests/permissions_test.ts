import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { CALL_SCRIPT_PERMISSIONS, ROOT, runCallScript } from "./fixture/deno_run.ts";
import { parseResultLine } from "./fixture/outcomes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";

Deno.test("a script under --allow-run=ssh and read access to parallax calls, then exits by itself", async () => {
  await using sshd = await startSshd({ unprivileged: true, aliases: 3 });
  const run = await runCallScript({
    hosts: sshd.aliases,
    command: "echo hi",
    options: { sshExtra: sshd.sshExtra },
  });
  assertEquals(run.code, 0, run.stderr);
  const results = parseResultLine(run.stdout);
  for (const alias of sshd.aliases) {
    assertEquals(results[alias], { ok: true, exitCode: 0, stdout: "hi\n", stderr: "" });
  }
});

Deno.test("without run access every host is a spawn error that names --allow-run=ssh", async () => {
  const run = await runCallScript({ hosts: ["web1", "web2"], command: "true", options: {} }, [
    `--allow-read=${ROOT}`,
  ]);
  assertEquals(run.code, 0, run.stderr);
  const results = parseResultLine(run.stdout);
  for (const host of ["web1", "web2"]) {
    assertEquals(results[host].kind, "spawn");
    assertStringIncludes(results[host].message!, "--allow-run=ssh");
  }
});

Deno.test("without read access to its files every host is a local error that names --allow-read", async () => {
  const run = await runCallScript({ hosts: ["web1", "web2"], command: "true", options: {} }, [
    "--allow-run=ssh",
  ]);
  assertEquals(run.code, 0, run.stderr);
  const results = parseResultLine(run.stdout);
  for (const host of ["web1", "web2"]) {
    assertEquals(results[host].kind, "local");
    assertStringIncludes(results[host].message!, `--allow-read=${ROOT}/`);
  }
});

Deno.test("without write access to outdir every host is a local error that names --allow-write", async () => {
  await withTempDir(async (dir) => {
    const outdir = `${dir}/out`;
    const run = await runCallScript({ hosts: ["web1"], command: "true", options: { outdir } });
    assertEquals(run.code, 0, run.stderr);
    const { web1 } = parseResultLine(run.stdout);
    assertEquals(web1.kind, "local");
    assertStringIncludes(web1.message!, `--allow-write=${outdir}`);
  });
});

Deno.test("PARALLAX_* variables apply only where --allow-env grants them", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const env = { PARALLAX_USER: "no-such-user-parallax", PARALLAX_VERBOSE: "1" };
  const spec = { hosts: ["h001"], command: "echo hi", options: { sshExtra: sshd.sshExtra } };

  const denied = await runCallScript(spec, CALL_SCRIPT_PERMISSIONS, { env });
  assertEquals(denied.code, 0, denied.stderr);
  assertEquals(parseResultLine(denied.stdout).h001.ok, true);
  assertEquals(denied.stderr.includes("parallax: h001"), false);

  const granted = await runCallScript(
    spec,
    [...CALL_SCRIPT_PERMISSIONS, "--allow-env=PARALLAX_USER,PARALLAX_VERBOSE"],
    { env },
  );
  assertEquals(granted.code, 0, granted.stderr);
  assertEquals(parseResultLine(granted.stdout).h001.kind, "auth");
  assertStringIncludes(granted.stderr, "parallax: h001: auth error");
  assertStringIncludes(granted.stderr, "-l no-such-user-parallax");
});

Deno.test("PARALLAX_OUTDIR and PARALLAX_OPTIONS give defaults that explicit options override", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const env = {
      PARALLAX_OUTDIR: `${dir}/env-out`,
      PARALLAX_OPTIONS: "SetEnv=PARALLAX_X=from-env",
    };
    const flags = [...CALL_SCRIPT_PERMISSIONS, `--allow-write=${dir}`, "--allow-env"];
    const fromEnv = await runCallScript(
      {
        hosts: ["h001"],
        command: "echo $PARALLAX_X",
        options: { sshExtra: sshd.sshExtra },
      },
      flags,
      { env },
    );
    assertEquals(parseResultLine(fromEnv.stdout).h001.stdout, "from-env\n", fromEnv.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/env-out/h001`), "from-env\n");

    const explicit = await runCallScript(
      {
        hosts: ["h002"],
        command: "echo $PARALLAX_X",
        options: {
          sshExtra: sshd.sshExtra,
          outdir: `${dir}/mine`,
          sshOptions: ["SetEnv=PARALLAX_X=explicit"],
        },
      },
      flags,
      { env },
    );
    assertEquals(parseResultLine(explicit.stdout).h002.stdout, "explicit\n", explicit.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/mine/h002`), "explicit\n");
    assertEquals([...Deno.readDirSync(`${dir}/env-out`)].map((e) => e.name), ["h001"]);
  });
});

Deno.test("printOut writes 'host: line' as lines arrive, stdout and stderr apart", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const run = await runCallScript({
    hosts: sshd.aliases,
    command: "printf 'one\\ntwo'; echo oops >&2",
    options: { sshExtra: sshd.sshExtra, printOut: true },
  });
  assertEquals(run.code, 0, run.stderr);
  const lines = run.stdout.split("\n").filter((l) => !l.startsWith("RESULT"));
  for (const alias of sshd.aliases) {
    assert(lines.includes(`${alias}: one`), run.stdout);
    assert(lines.includes(`${alias}: two`), run.stdout);
    assertStringIncludes(run.stderr, `${alias}: oops\n`);
  }
  assertEquals(parseResultLine(run.stdout).h001.stdout, "one\ntwo");
});
