/**
 * `sudo`: the command runs as another user on each host, sudo's password travels only on ssh's
 * stdin, a refusal is kind `auth` (never a hang at a prompt), and a stopped command is stopped on
 * the host even though it runs as root. Against the fixture's sudoer (with a password) and a
 * user without sudo rights.
 */

import { failed, ok, statusLines } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cleanCliEnv, cli, cliArgv } from "./fixture/deno_run.ts";
import { timeUntil, tracedSleep } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { onTerminal } from "./fixture/terminal.ts";
import { call } from "../mod.ts";

/** Every process's arguments and environment, as one text each. */
async function processTexts(): Promise<string[]> {
  const texts: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    for (const file of ["cmdline", "environ"]) {
      try {
        texts.push(await Deno.readTextFile(`/proc/${entry.name}/${file}`));
      } catch {
        // Gone, or not ours to read.
      }
    }
  }
  return texts;
}

/** Files under `roots` (at most 1 MiB each) that hold `needle`. */
async function filesHolding(roots: readonly string[], needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        try {
          if ((await Deno.stat(path)).size > 1 << 20) continue;
          if ((await Deno.readTextFile(path)).includes(needle)) found.push(path);
        } catch {
          // Gone, or unreadable.
        }
      }
    }
  };
  for (const root of roots) await walk(root);
  return found;
}

Deno.test("sudo with a password: runs as root or a named user, with input; the password is in no argv, environment or file", async () => {
  await using sshd = await startSshd({ aliases: 3 });
  const { nonSudoer, password } = await sshd.sudoUsers();
  const base = { sshExtra: sshd.sshExtra, sudoPassword: password };
  const running = call(sshd.aliases, "sleep 1.5; id -un; cat", {
    ...base,
    sudo: true,
    input: "the input\n",
  });
  await new Promise((resolve) => setTimeout(resolve, 700));
  const leaks = (await processTexts()).filter((text) => text.includes(password));
  const files = await filesHolding(["/tmp", "/var/tmp", "/dev/shm", "/home", "/run"], password);
  const results = await running;
  for (const host of sshd.aliases) {
    assertEquals(ok(results.get(host)).stdout, "root\nthe input\n");
    assertEquals(ok(results.get(host)).exitCode, 0);
  }
  assertEquals(leaks, [], "the password is in a process's argv or environment");
  assertEquals(files, [], "the password is in a file");
  const asUser = ok(
    (await call([sshd.aliases[0]], "id -un; echo $HOME", { ...base, sudo: nonSudoer }))
      .get(sshd.aliases[0]),
  );
  assertEquals(asUser.stdout, `${nonSudoer}\n/home/${nonSudoer}\n`);
  // Bytes larger than a piece of stdin follow the password exactly.
  const large = new Uint8Array(700_001).map((_, i) => i % 251);
  const counted = ok(
    (await call([sshd.aliases[2]], "cksum", { ...base, sudo: true, input: large }))
      .get(sshd.aliases[2]),
  );
  const local = ok(
    (await call([sshd.aliases[2]], "cksum", { sshExtra: sshd.sshExtra, input: large }))
      .get(sshd.aliases[2]),
  );
  assertEquals(counted.stdout, local.stdout);
  assertStringIncludes(counted.stdout, " 700001\n");
  const named = ok(
    (await call([sshd.aliases[1]], "echo $PARALLAX_HOST $PARALLAX_NODENUM", {
      ...base,
      sudo: true,
    }))
      .get(sshd.aliases[1]),
  );
  assertEquals(named.stdout, `${sshd.aliases[1]} 0\n`, "sudo dropped PARALLAX_HOST");
  const exit = ok((await call([sshd.aliases[0]], "echo out; exit 1", { ...base, sudo: true }))
    .get(sshd.aliases[0]));
  assertEquals([exit.exitCode, exit.stdout], [1, "out\n"], "the command's own exit 1 is a result");
});

Deno.test("sudo refusals are kind auth and name sudo: wrong password, none given, not a sudoer; never a hang", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const { nonSudoer, password } = await sshd.sudoUsers();
  const [host] = sshd.aliases;
  const base = { sshExtra: sshd.sshExtra, timeout: 30, sudo: true as const };
  const started = Date.now();
  const [wrong, missing, notSudoer] = await Promise.all([
    call([host], "touch /tmp/parallax-sudo-ran", { ...base, sudoPassword: "not-it" }),
    call([host], "touch /tmp/parallax-sudo-ran", base),
    call([`${nonSudoer}@${host}`], "touch /tmp/parallax-sudo-ran", {
      ...base,
      sudoPassword: password,
    }),
  ]);
  assert(Date.now() - started < 15_000, "a refusal waited");
  const messages = [
    [failed(wrong.get(host)), "incorrect password"],
    [failed(missing.get(host)), "a password is required (sudo wants a password, or this user"],
    [failed(notSudoer.get(`${nonSudoer}@${host}`)), "is not in the sudoers file"],
  ] as const;
  for (const [error, says] of messages) {
    assertEquals(error.kind, "auth", error.message);
    assertEquals(error.stderr.includes("parallax-sudo"), false, error.stderr);
    assertStringIncludes(error.message, "sudo refused to run the command as root");
    assertStringIncludes(error.message, says);
  }
  assertEquals(await Deno.stat("/tmp/parallax-sudo-ran").catch(() => null), null, "it ran");
});

Deno.test("sudo: a timed-out command running as root or another user is stopped on the host, read its input or not", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const { password } = await sshd.sudoUsers();
  // Whether the command reads its input or not (one larger than a pipe holds, waiting in the
  // pipe), as root and as another user (who may not signal the ssh session's process).
  const cases: [true | string, Uint8Array | undefined][] = [
    [true, undefined],
    [true, new Uint8Array(1_000_000)],
    ["nobody", new Uint8Array(1_000_000)],
  ];
  for (const [user, input] of cases) {
    const job = tracedSleep(30);
    const results = await call(sshd.aliases, job.command, {
      sshExtra: sshd.sshExtra,
      sudo: user,
      sudoPassword: password,
      timeout: 2,
      ...(input === undefined ? {} : { input }),
    });
    for (const host of sshd.aliases) assertEquals(failed(results.get(host)).kind, "timeout");
    await timeUntil(job.gone, 10_000);
  }
});

Deno.test("CLI --sudo-ask asks once without echo on the terminal; --sudo alone is refused (exit 4)", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const { password } = await sshd.sudoUsers();
  const hosts = ["-x", `-F ${sshd.configPath}`, "-H", "h001,h002"];
  await using terminal = onTerminal(
    cliArgv(["call", ...hosts, "--sudo-ask", "-i", "id", "-un"]),
    cleanCliEnv({ NO_COLOR: "1" }),
  );
  await terminal.waitFor("sudo password: ");
  await terminal.type(`${password}\r`);
  const { code, screen } = await terminal.finished();
  assertEquals(code, 0, screen);
  assertStringIncludes(screen, "sudo password:");
  assertEquals(screen.includes(password), false, "the password was echoed");
  assertEquals(screen.match(/^root\r?$/gm)?.length, 2, screen);

  const piped = await cli(["call", ...hosts, "--sudo-ask", "id", "-un"], {
    stdin: `${password}\n`,
  });
  assertEquals(piped.code, 0, piped.stderr);
  const refused = await cli(["call", ...hosts, "--sudo", "--", "id", "-un"]);
  assertEquals(refused.code, 4, refused.stdout);
  const lines = statusLines(refused.stdout);
  assertEquals(lines.length, 2, refused.stdout);
  for (const line of lines) {
    assertStringIncludes(line.rest, "auth: sudo refused to run the command as root");
  }
});
