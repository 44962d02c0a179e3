/**
 * sync(): rsync to every host over parallax's ssh, against the test sshd: a tree with links,
 * modes, spaces and a deleted file; the counts; dry runs; rsync's own failures as kind
 * `transfer`; ssh's as theirs; a timeout and a SIGKILLed controller stop rsync and its ssh.
 */
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cli, spawnArgv } from "./fixture/deno_run.ts";
import { listProcesses, timeUntil } from "./fixture/processes.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { ParallaxError, sync, type SyncResult } from "../mod.ts";

function ok(result: SyncResult | ParallaxError | undefined): SyncResult {
  if (result instanceof ParallaxError) throw result;
  assert(result !== undefined);
  return result;
}

/** A source tree with a file, a file with spaces, a link, an executable, a nested folder. */
async function tree(dir: string): Promise<string> {
  const src = `${dir}/src`;
  await Deno.mkdir(`${src}/sub dir/deeper`, { recursive: true });
  await Deno.writeTextFile(`${src}/a.txt`, "alpha\n");
  await Deno.writeTextFile(`${src}/sub dir/b c.txt`, "bravo charlie\n");
  await Deno.writeTextFile(`${src}/sub dir/deeper/run.sh`, "#!/bin/sh\necho hi\n");
  await Deno.chmod(`${src}/sub dir/deeper/run.sh`, 0o750);
  await Deno.writeTextFile(`${src}/secret.log`, "not sent\n");
  await Deno.symlink("a.txt", `${src}/link-to-a`);
  return src;
}

Deno.test("sync() sends a tree to every host in archive mode: links as links, modes, spaces; counts files and bytes; a second run sends nothing; --delete removes what the source lost", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const src = await tree(dir);
    const options = { sshExtra: sshd.sshExtra, exclude: ["*.log"] };
    const first = await sync(sshd.aliases, `${src}/`, `${dir}/dst`, options);
    // Both aliases are this machine: the first host's copy is what both wrote.
    for (const alias of sshd.aliases) {
      const result = ok(first.get(alias));
      assertEquals(result.path, `${dir}/dst`);
    }
    const dst = `${dir}/dst`;
    assertEquals(await Deno.readTextFile(`${dst}/sub dir/b c.txt`), "bravo charlie\n");
    assertEquals(await Deno.readLink(`${dst}/link-to-a`), "a.txt");
    assertEquals((await Deno.stat(`${dst}/sub dir/deeper/run.sh`)).mode! & 0o777, 0o750);
    let missing = false;
    try {
      await Deno.lstat(`${dst}/secret.log`);
    } catch {
      missing = true;
    }
    assert(missing, "the excluded file was not sent");

    // Per-host destinations, so that counts are each host's own.
    const perHost = await sync(
      sshd.aliases,
      `${src}/`,
      (host) => `${dir}/to-${host.host}`,
      options,
    );
    for (const alias of sshd.aliases) {
      const result = ok(perHost.get(alias));
      assertEquals(result.files, 3, JSON.stringify(result));
      assert(result.bytes > 0);
      assert(
        result.changes.some((line) => line.endsWith("sub dir/b c.txt")),
        result.changes.join("\n"),
      );
    }
    const again = await sync(sshd.aliases, `${src}/`, (host) => `${dir}/to-${host.host}`, options);
    for (const alias of sshd.aliases) assertEquals(ok(again.get(alias)).files, 0);

    await Deno.remove(`${src}/a.txt`);
    const target = `${dir}/to-${sshd.aliases[0]}`;
    const dry = await sync([sshd.aliases[0]], `${src}/`, target, {
      ...options,
      delete: true,
      dryRun: true,
    });
    assert(
      ok(dry.get(sshd.aliases[0])).changes.includes("*deleting   a.txt"),
      ok(dry.get(sshd.aliases[0])).changes.join("\n"),
    );
    assertEquals(
      await Deno.readTextFile(`${target}/a.txt`),
      "alpha\n",
      "a dry run changes nothing",
    );
    const deleted = await sync([sshd.aliases[0]], `${src}/`, target, { ...options, delete: true });
    ok(deleted.get(sshd.aliases[0]));
    let gone = false;
    try {
      await Deno.lstat(`${target}/a.txt`);
    } catch {
      gone = true;
    }
    assert(gone, "--delete removed the file the source lost");
  }, { mode: 0o777 });
});

Deno.test("sync(): rsync's own failure is kind transfer, ssh's is its kind, a missing local rsync is named, other hosts intact", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    const src = await tree(dir);
    const results = await sync(
      [sshd.aliases[0], "127.0.0.1:1"],
      `${src}/`,
      "/proc/not-writable/x",
      { sshExtra: sshd.sshExtra },
    );
    const rsyncFailed = results.get(sshd.aliases[0]);
    assert(rsyncFailed instanceof ParallaxError);
    assertEquals(rsyncFailed.kind, "transfer");
    const refused = results.get("127.0.0.1:1");
    assert(refused instanceof ParallaxError);
    assertEquals(refused.kind, "connect");
    const missing = await sync([sshd.aliases[0]], src, `${dir}/x`, {
      sshExtra: sshd.sshExtra,
      rsyncPath: `${dir}/missing/rsync`,
    });
    const error = missing.get(sshd.aliases[0]);
    assert(error instanceof ParallaxError);
    assertEquals(error.kind, "spawn");
    assertStringIncludes(error.message, "install rsync");
  }, { mode: 0o777 });
});

Deno.test("sync(): a host without rsync fails kind transfer saying so", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    const src = await tree(dir);
    // Fault injection: an ssh that asks the host for an rsync it does not have.
    const sshPath = `${dir}/ssh`;
    await Deno.writeTextFile(
      sshPath,
      '#!/bin/sh\nfor a; do shift; [ "$a" = rsync ] && a=/nonexistent/rsync; set -- "$@" "$a"; done\n' +
        'exec ssh "$@"\n',
      { mode: 0o755 },
    );
    const results = await sync([sshd.aliases[0]], src, `${dir}/x`, {
      sshExtra: sshd.sshExtra,
      sshPath,
    });
    const error = results.get(sshd.aliases[0]);
    assert(error instanceof ParallaxError);
    assertEquals(error.kind, "transfer");
    assertStringIncludes(error.message, "rsync is not installed on the host");
  }, { mode: 0o777 });
});

Deno.test("CLI sync: --dry-run lists what would change under each host, placeholders in DST, and a SIGKILLed controller leaves no rsync, ssh or lifeline script", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const src = await tree(dir);
    const [a, b] = sshd.aliases;
    const run = await cli([
      "sync",
      "-x",
      `-F ${sshd.configPath}`,
      "-H",
      `${a},${b}`,
      "-n",
      "--exclude",
      "*.log",
      `${src}/`,
      `${dir}/out-{host}`,
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(run.stdout, `[SUCCESS] ${a}`);
    assertStringIncludes(run.stdout, "sub dir/b c.txt");
    assert(!run.stdout.includes("secret.log"), run.stdout);
    const made = [...Deno.readDirSync(dir)].map((entry) => entry.name);
    assert(!made.some((name) => name.startsWith("out-")), "a dry run makes nothing");
    // sync's --exclude is rsync's: one that names a host of the run is refused, nothing runs.
    const F = ["-x", `-F ${sshd.configPath}`, "-H", `${a},${b}`];
    const meantHosts = await cli(["sync", ...F, "--exclude", b, `${src}/`, `${dir}/out-{host}`]);
    assertEquals(meantHosts.code, 2, meantHosts.stderr);
    assertStringIncludes(meantHosts.stderr, "use --exclude-hosts");
    const real = await cli(["sync", ...F, "--json", `${src}/`, `${dir}/out-{host}`]);
    assertEquals(real.code, 0, real.stderr);
    // Each host's counts in its record: the tree's regular files (the link is a link).
    for (const line of real.stdout.trim().split("\n")) {
      const record = JSON.parse(line);
      assertEquals(record.files, 4, line);
      assert(record.bytes > 0, line);
    }
    assertEquals(await Deno.readTextFile(`${dir}/out-${b}/a.txt`), "alpha\n");

    // A slow transfer (bandwidth-limited), then the controller is SIGKILLed.
    await Deno.writeFile(`${src}/big.bin`, new Uint8Array(4 * 2 ** 20));
    const marker = `${dir}/slow-target`;
    const script = `${dir}/slow.ts`;
    await Deno.writeTextFile(
      script,
      `import { sync } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
       await sync(${JSON.stringify([a])}, ${JSON.stringify(`${src}/`)}, ${JSON.stringify(marker)},
         { sshExtra: ${JSON.stringify(sshd.sshExtra)}, bandwidthLimit: 72 });`,
    );
    const child = spawnArgv([Deno.execPath(), "run", "--allow-all", script]);
    // rsync (its arguments hold the target), its ssh and the lifeline script (theirs, this
    // server's config and rsync's server command).
    const running = async () =>
      (await listProcesses()).filter(({ args }) =>
        args.includes(marker) ||
        (args.includes(sshd.configPath) && args.includes("rsync --server"))
      );
    try {
      await timeUntil(async () => (await running()).length >= 3, 15_000);
      child.kill("SIGKILL");
      const gone = await timeUntil(async () => (await running()).length === 0, 10_000);
      assert(gone < 5_000, `rsync and its ssh gone in ${gone} ms`);
    } finally {
      // Whatever happened, nothing of it outlives the test (the server waits for its sessions).
      for (const { pid } of await running()) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone.
        }
      }
      await child.finished();
    }
  }, { mode: 0o777 });
});
