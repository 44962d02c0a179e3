/**
 * The CLI's per-host placeholders: `{host}`, `{user}`, `{port}`, `{n}` in a command (quoted for
 * where each lands), copy's DST and slurp's SRC; `{{host}` literal; other braces untouched.
 */
import { assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cli } from "./fixture/deno_run.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { withPlaceholders } from "../lib/cli/_placeholders.ts";
import type { Host } from "../mod.ts";

/** What `sh` prints for `line` with `printf '[%s]'` in front: each word it reads, bracketed. */
async function words(line: string): Promise<string> {
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", `printf '[%s]' ${line}`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout);
}

Deno.test("in a command each value is one word of the shell's, literal, wherever it lands: bare, in '…', in \"…\"", async () => {
  // Not a host name parallax accepts: quoting must hold even so.
  const host = { host: `we b'1"$(id)\`x\`\\`, key: "k", user: "ad min" } as Host;
  const line = withPlaceholders(`{host} '{host}' "{host}" x{n}y {user} {port}`, "command");
  const text = typeof line === "function" ? line(host, 7) : line;
  const value = `we b'1"$(id)\`x\`\\`;
  assertEquals(await words(text), `[${value}][${value}][${value}][x7y][ad min][]`);
});

Deno.test("no placeholder: the text as given; {{host} is literal; other braces stay as written", () => {
  const plain = `awk '{print $1}' && docker ps --format '{{.Names}}' && echo \${HOME}`;
  assertEquals(withPlaceholders(plain, "command"), plain);
  assertEquals(withPlaceholders("echo {{host}", "command"), "echo {{host}");
  const mixed = withPlaceholders("echo {{host} {host} {{.Names}}", "command");
  const host = { host: "web1", key: "web1" } as Host;
  assertEquals(typeof mixed === "function" ? mixed(host, 0) : mixed, "echo {host} web1 {{.Names}}");
  const path = withPlaceholders("/srv/{host}/{n}.conf", "path", () => ({ user: "deploy" }));
  assertEquals(typeof path === "function" ? path(host, 3) : path, "/srv/web1/3.conf");
});

Deno.test("CLI: placeholders in call's command, copy's DST and slurp's SRC, per host", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const [a, b] = sshd.aliases;
  const F = ["-x", `-F ${sshd.configPath}`];
  const run = await cli([
    "call",
    ...F,
    "-H",
    `${a},${b}`,
    "-l",
    sshd.user,
    "--json",
    `echo "{host}" {n} {user} '{{host}'`,
  ]);
  assertEquals(run.code, 0, run.stderr);
  const out = Object.fromEntries(
    run.stdout.trim().split("\n").map((l) => JSON.parse(l)).map((r) => [r.host, r.stdout]),
  );
  assertEquals(out[a], `${a} 0 ${sshd.user} {host}\n`);
  assertEquals(out[b], `${b} 1 ${sshd.user} {host}\n`);
  // Without -l or a user in the entry: the user and port ssh's configuration gives the host.
  await withTempDir(async (dir) => {
    const config = `${dir}/config`;
    await Deno.writeTextFile(
      config,
      `Host ${a}\n  User ${sshd.user}\nInclude ${sshd.configPath}\n`,
    );
    const fromConfig = await cli([
      "call",
      "-x",
      `-F ${config}`,
      "-H",
      a,
      "--json",
      "echo {user} {port}",
    ]);
    assertEquals(fromConfig.code, 0, fromConfig.stderr);
    assertEquals(JSON.parse(fromConfig.stdout).stdout, `${sshd.user} ${sshd.port}\n`);
  });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/app.conf`, "conf\n");
    const remote = `${dir}/remote`;
    await Deno.mkdir(remote);
    await Deno.chmod(remote, 0o777);
    await Deno.chmod(dir, 0o755);
    const copied = await cli([
      "copy",
      ...F,
      "-H",
      `${a},${b}`,
      `${dir}/app.conf`,
      `${remote}/{host}-{n}.conf`,
    ]);
    assertEquals(copied.code, 0, copied.stderr);
    assertEquals(await Deno.readTextFile(`${remote}/${a}-0.conf`), "conf\n");
    assertEquals(await Deno.readTextFile(`${remote}/${b}-1.conf`), "conf\n");
    const slurped = await cli([
      "slurp",
      ...F,
      "-H",
      `${a},${b}`,
      "-L",
      `${dir}/got`,
      `${remote}/{host}-{n}.conf`,
      "app.conf",
    ]);
    assertEquals(slurped.code, 0, slurped.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/got/${a}/app.conf`), "conf\n");
    assertStringIncludes(await Deno.readTextFile(`${dir}/got/${b}/app.conf`), "conf");
  });
});
