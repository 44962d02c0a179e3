import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cli, CLI_PERMISSIONS } from "./fixture/deno_run.ts";
import { startSshd } from "./fixture/sshd.ts";
import { call, ParallaxError } from "../mod.ts";

/** Every process's argv and environment, as text, and every file under the askpass folders. */
async function everywhere(): Promise<string> {
  let text = "";
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    for (const file of ["cmdline", "environ"]) {
      try {
        text += new TextDecoder().decode(await Deno.readFile(`/proc/${entry.name}/${file}`));
      } catch {
        // The process ended meanwhile.
      }
    }
  }
  for (const entry of Deno.readDirSync("/tmp")) {
    if (!entry.name.startsWith("plx-pass-")) continue;
    for (const file of Deno.readDirSync(`/tmp/${entry.name}`)) {
      if (file.isFile) text += await Deno.readTextFile(`/tmp/${entry.name}/${file.name}`);
    }
  }
  return text;
}

Deno.test("password authentication through SSH_ASKPASS: works, and the password is nowhere to be seen", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const { user, password } = await sshd.passwordUser();
  const hosts = sshd.aliases.map((alias) => `${user}@${alias}`);
  const options = { sshExtra: sshd.sshExtra, sshOptions: ["PubkeyAuthentication=no"] };

  const running = call(hosts, "sleep 1.5; id -un", { ...options, password });
  await new Promise((resolve) => setTimeout(resolve, 800));
  const seen = await everywhere();
  const results = await running;
  for (const result of results.values()) {
    assert(!(result instanceof ParallaxError), String(result));
    assertEquals(result.stdout, `${user}\n`);
  }
  assertEquals(
    seen.includes(password),
    false,
    "the password appeared in an argv, an environment or a file",
  );

  const wrong = await call(hosts, "true", { ...options, password: "not-the-password" });
  for (const result of wrong.values()) {
    assert(result instanceof ParallaxError);
    assertEquals(result.kind, "auth");
  }
  const none = await call(hosts, "true", options);
  for (const result of none.values()) assertEquals((result as ParallaxError).kind, "auth");
});

Deno.test("parallax -A reads the password once and logs in with it", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const { user, password } = await sshd.passwordUser();
  const { code, stdout, stderr } = await cli([
    "call",
    "-A",
    "-x",
    `-F ${sshd.configPath}`,
    "-O",
    "PubkeyAuthentication=no",
    "-l",
    user,
    "-H",
    sshd.aliases.join(" "),
    "-i",
    "id -un",
  ], { stdin: `${password}\n` });
  assertEquals(code, 0, stderr);
  for (const alias of sshd.aliases) assertStringIncludes(stdout, `[SUCCESS] ${alias}\n${user}\n`);
});

Deno.test("parallax -A without the permission it needs is refused before the prompt, naming the flag (exit 2)", async () => {
  const withoutNet = CLI_PERMISSIONS.filter((flag) => flag !== "--allow-net");
  const { code, stderr } = await cli(["call", "-A", "-H", "nohost.invalid", "true"], {
    flags: withoutNet,
    stdin: "secret\n",
  });
  assertEquals(code, 2, stderr);
  assertStringIncludes(stderr, "-A needs --allow-net");
  assert(!stderr.includes("nohost.invalid"), "no host was contacted");
});
