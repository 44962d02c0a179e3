import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { denoRun, ROOT } from "./fixture/deno_run.ts";
import { startSshd } from "./fixture/sshd.ts";

const SCRIPT = `${ROOT}/tests/fixture/call_script.ts`;

interface Summary {
  ok: boolean;
  kind?: string;
  message?: string;
  exitCode?: number;
  stdout?: string;
}

function resultOf(stdout: string): Record<string, Summary> {
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (line === undefined) throw new Error(`the script printed no RESULT line:\n${stdout}`);
  return JSON.parse(line.slice("RESULT ".length));
}

function spec(hosts: string[], command: string, options: Record<string, unknown>): string {
  return JSON.stringify({ hosts, command, options });
}

Deno.test("a script under --allow-run=ssh and read access to parallax calls, then exits by itself", async () => {
  await using sshd = await startSshd({ unprivileged: true, aliases: 3 });
  const run = await denoRun(
    ["--allow-run=ssh", `--allow-read=${ROOT}`],
    SCRIPT,
    [spec(sshd.aliases, "echo hi", { sshExtra: sshd.sshExtra })],
  );
  assertEquals(run.code, 0, run.stderr);
  const results = resultOf(run.stdout);
  for (const alias of sshd.aliases) {
    assertEquals(results[alias], { ok: true, exitCode: 0, stdout: "hi\n", stderr: "" });
  }
});

Deno.test("without run access every host is a spawn error that names --allow-run=ssh", async () => {
  const run = await denoRun([`--allow-read=${ROOT}`], SCRIPT, [spec(["web1", "web2"], "true", {})]);
  assertEquals(run.code, 0, run.stderr);
  const results = resultOf(run.stdout);
  for (const host of ["web1", "web2"]) {
    assertEquals(results[host].kind, "spawn");
    assertStringIncludes(results[host].message!, "--allow-run=ssh");
  }
});

Deno.test("without read access to its files every host is a local error that names --allow-read", async () => {
  const run = await denoRun(["--allow-run=ssh"], SCRIPT, [spec(["web1", "web2"], "true", {})]);
  assertEquals(run.code, 0, run.stderr);
  const results = resultOf(run.stdout);
  for (const host of ["web1", "web2"]) {
    assertEquals(results[host].kind, "local");
    assertStringIncludes(results[host].message!, `--allow-read=${ROOT}/`);
  }
});

Deno.test("without write access to outdir every host is a local error that names --allow-write", async () => {
  const outdir = `${await Deno.makeTempDir()}/out`;
  try {
    const run = await denoRun(["--allow-run=ssh", `--allow-read=${ROOT}`], SCRIPT, [
      spec(["web1"], "true", { outdir }),
    ]);
    assertEquals(run.code, 0, run.stderr);
    const { web1 } = resultOf(run.stdout);
    assertEquals(web1.kind, "local");
    assertStringIncludes(web1.message!, `--allow-write=${outdir}`);
  } finally {
    await Deno.remove(outdir.replace(/\/out$/, ""), { recursive: true });
  }
});

Deno.test("PARALLAX_* variables apply only where --allow-env grants them", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const env = { PARALLAX_USER: "no-such-user-parallax", PARALLAX_VERBOSE: "1" };
  const args = [spec(["h001"], "echo hi", { sshExtra: sshd.sshExtra })];
  const base = ["--allow-run=ssh", `--allow-read=${ROOT}`];

  const denied = await denoRun(base, SCRIPT, args, { env });
  assertEquals(denied.code, 0, denied.stderr);
  assertEquals(resultOf(denied.stdout).h001.ok, true);
  assertEquals(denied.stderr.includes("parallax: h001"), false);

  const granted = await denoRun(
    [...base, "--allow-env=PARALLAX_USER,PARALLAX_VERBOSE"],
    SCRIPT,
    args,
    {
      env,
    },
  );
  assertEquals(granted.code, 0, granted.stderr);
  assertEquals(resultOf(granted.stdout).h001.kind, "auth");
  assertStringIncludes(granted.stderr, "parallax: h001: auth error");
  assertStringIncludes(granted.stderr, "-l no-such-user-parallax");
});

Deno.test("PARALLAX_OUTDIR and PARALLAX_OPTIONS give defaults that explicit options override", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const dir = await Deno.makeTempDir();
  try {
    const env = {
      PARALLAX_OUTDIR: `${dir}/env-out`,
      PARALLAX_OPTIONS: "SetEnv=PARALLAX_X=from-env",
    };
    const flags = [
      "--allow-run=ssh",
      `--allow-read=${ROOT}`,
      `--allow-write=${dir}`,
      "--allow-env",
    ];
    const fromEnv = await denoRun(flags, SCRIPT, [
      spec(["h001"], "echo $PARALLAX_X", { sshExtra: sshd.sshExtra }),
    ], { env });
    assertEquals(resultOf(fromEnv.stdout).h001.stdout, "from-env\n", fromEnv.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/env-out/h001`), "from-env\n");

    const explicit = await denoRun(flags, SCRIPT, [
      spec(["h002"], "echo $PARALLAX_X", {
        sshExtra: sshd.sshExtra,
        outdir: `${dir}/mine`,
        sshOptions: ["SetEnv=PARALLAX_X=explicit"],
      }),
    ], { env });
    assertEquals(resultOf(explicit.stdout).h002.stdout, "explicit\n", explicit.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/mine/h002`), "explicit\n");
    assertEquals([...Deno.readDirSync(`${dir}/env-out`)].map((e) => e.name), ["h001"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("printOut writes 'host: line' as lines arrive, stdout and stderr apart", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const run = await denoRun(["--allow-run=ssh", `--allow-read=${ROOT}`], SCRIPT, [
    spec(sshd.aliases, "printf 'one\\ntwo'; echo oops >&2", {
      sshExtra: sshd.sshExtra,
      printOut: true,
    }),
  ]);
  assertEquals(run.code, 0, run.stderr);
  const lines = run.stdout.split("\n").filter((l) => !l.startsWith("RESULT"));
  for (const alias of sshd.aliases) {
    assert(lines.includes(`${alias}: one`), run.stdout);
    assert(lines.includes(`${alias}: two`), run.stdout);
    assertStringIncludes(run.stderr, `${alias}: oops\n`);
  }
  assertEquals(resultOf(run.stdout).h001.stdout, "one\ntwo");
});
