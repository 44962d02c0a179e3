import { failed } from "./fixture/outcomes.ts";
import { assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { call, ParallaxError, Pool } from "../mod.ts";

/**
 * Remote commands that print ssh's own failure messages and exit 255 (as a nested ssh, or a
 * script, may): their text never decides a kind, and none is ever run twice.
 */
const LOOKALIKES = [
  ["a reset", "echo 'Connection reset by peer' >&2; exit 255"],
  [
    "a nested refused ssh",
    "echo 'ssh: connect to host db port 22: Connection refused' >&2; exit 255",
  ],
  ["a nested unresolvable ssh", "ssh -o BatchMode=yes no-such-host.invalid true; exit 255"],
  ["a refused key", "echo 'user@db: Permission denied (publickey).' >&2; exit 255"],
  ["a changed host key", "echo 'Host key verification failed.' >&2; exit 255"],
] as const;

Deno.test("retries never run a command again because of what it printed: ssh's words in its stderr are its own", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await using pool = new Pool();
  await withTempDir(async (dir) => {
    // Without a pool, then through the pool's master (its first call makes the master, its
    // second goes through it).
    for (const options of [{}, { pool }, { pool }]) {
      for (const [what, command] of LOOKALIKES) {
        const count = `${dir}/count`;
        await resetCount(dir, count);
        const results = await call(["h001"], `echo ran >> ${count}; ${command}`, {
          sshExtra: sshd.sshExtra,
          retries: 2,
          ...options,
        });
        const result = results.get("h001")!;
        assertEquals(await Deno.readTextFile(count), "ran\n", `${what}: ran once`);
        assertEquals(result.attempts, 1, what);
        if (result instanceof ParallaxError) {
          // Only through a master this call made may ssh not know whose 255 it was.
          assertEquals(result.kind, "ssh", `${what}: ${result.message}`);
          assertStringIncludes(result.message, "the command exited 255");
        } else {
          assertEquals(result.exitCode, 255, what);
        }
      }
    }
  });
});

Deno.test("a connection lost after the command started is kind ssh, never retried, its output kept", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    const count = `${dir}/count`;
    for (const host of sshd.aliases) {
      await resetCount(dir, count);
      // The session's sshd process dies under the command: the connection is cut mid-way.
      const results = await call(
        [host],
        `echo ran >> ${count}; echo partial; sleep 0.2; kill -9 $PPID; sleep 5`,
        { sshExtra: sshd.sshExtra, retries: 3 },
      );
      const error = failed(results.get(host));
      assertEquals(error.kind, "ssh", error.message);
      assertStringIncludes(error.message, "connection lost after the command started");
      assertEquals(error.stdout, "partial\n");
      assertEquals(error.attempts, 1);
      assertEquals(await Deno.readTextFile(count), "ran\n");
    }
  });
});

Deno.test("a host that cannot be reached is tried again: ssh's log proves nothing was sent", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  const results = await call([sshd.refused, "h001"], "echo fine", {
    sshExtra: sshd.sshExtra,
    retries: 1,
  });
  const error = failed(results.get(sshd.refused));
  assertEquals([error.kind, error.attempts], ["connect", 2]);
  assertStringIncludes(error.message, "Connection refused");
  assertEquals((results.get("h001") as { stdout: string }).stdout, "fine\n");
});

/** An empty file that the test sshd's account may append to. */
async function resetCount(dir: string, path: string): Promise<void> {
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(path, "");
  await Deno.chmod(path, 0o666);
}

Deno.test("a pool closed while a host's failed attempt is being reported: that host ends cancelled, no hole in the map", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    // Fault injection: the refused host's ssh starts late, so that it fails while the pool is
    // being closed; every attempt is real ssh.
    const sshPath = `${dir}/ssh`;
    await Deno.writeTextFile(
      sshPath,
      `#!/bin/sh\ncase "$PARALLAX_HOST" in ${sshd.refused}) sleep 0.5;; esac\nexec ssh "$@"\n`,
      { mode: 0o755 },
    );
    for (const wait of [0, 1_500]) {
      const pool = new Pool();
      let closing: Promise<void> | null = null;
      const results = await call([sshd.refused, "h001"], "echo fine", {
        sshExtra: sshd.sshExtra,
        sshPath,
        retries: 3,
        pool,
        // A shutdown hook: the pool closes once one host is done (after a busy moment in
        // which the other host's refused attempt ends).
        onResult: (result) => {
          if (result.host !== "h001") return;
          const until = Date.now() + wait;
          while (Date.now() < until) { /* busy */ }
          closing = pool.close();
        },
      });
      await closing;
      assertEquals([...results.keys()], [sshd.refused, "h001"]);
      const error = failed(results.get(sshd.refused));
      assertEquals(error.kind, "cancelled", error.message);
      assertEquals((results.get("h001") as { stdout: string }).stdout, "fine\n");
    }
  });
});
