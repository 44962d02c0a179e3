import { failed, ok } from "./fixture/outcomes.ts";
import { assert, assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { cli, denoRun, ROOT } from "./fixture/deno_run.ts";
import { listProcesses, timeUntil } from "./fixture/processes.ts";
import { type Sshd, startSshd } from "./fixture/sshd.ts";
import { withScript, withTempDir } from "./fixture/temp_dir.ts";
import { call, Pool } from "../mod.ts";
import {
  makePrivateFolder,
  privateFolderProblem,
  remakePrivateFolder,
} from "../lib/runtime/_private_folder.ts";

/** The running ControlMasters' socket paths (`ssh: <socket> [mux]`). */
async function masterSockets(): Promise<string[]> {
  return (await listProcesses()).flatMap(({ args }) => {
    const match = /^ssh: (\/\S+) \[mux\]/.exec(args);
    return match ? [match[1]] : [];
  });
}

function uidOf(user: string): number {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith(`${user}:`)
  );
  assert(line !== undefined, `no account ${user}`);
  return Number(line.split(":")[2]);
}

Deno.test("private folders: made 0700 and checked; a folder re-made by another user, a link or opened modes is refused", async () => {
  await withTempDir((base) => {
    const folder = makePrivateFolder(base, "t-");
    assertEquals(Deno.lstatSync(folder.dir).mode! & 0o777, 0o700);
    assertEquals(privateFolderProblem(folder), null);
    Deno.chmodSync(folder.dir, 0o755);
    assertStringIncludes(privateFolderProblem(folder)!, "mode 755");
    Deno.removeSync(folder.dir);
    assertEquals(remakePrivateFolder(folder), null, "a removed folder is made again, new");
    Deno.removeSync(folder.dir);
    Deno.mkdirSync(folder.dir, { mode: 0o700 });
    Deno.chownSync(folder.dir, 65534, 65534);
    assertStringIncludes(remakePrivateFolder(folder)!, "belongs to another user");
    Deno.removeSync(folder.dir);
    Deno.symlinkSync(base, folder.dir);
    assertStringIncludes(remakePrivateFolder(folder)!, "symbolic link");
    return Promise.resolve();
  });
});

Deno.test("a held pool never uses a socket folder that another user re-made after a /tmp cleaner removed it", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const other = await sshd.unprivilegedUser();
  const pool = new Pool();
  const listeners: Deno.Listener[] = [];
  let accepted = 0;
  try {
    const options = { sshExtra: sshd.sshExtra, pool };
    const strays = await masterSockets();
    for (const r of (await call(sshd.aliases, "echo one", options)).values()) ok(r);
    const sockets = (await masterSockets()).filter((path) => !strays.includes(path));
    assertEquals(sockets.length, 2, sockets.join("\n"));
    const folder = sockets[0].slice(0, sockets[0].lastIndexOf("/"));
    // The pool's idle session on each master starts as the call ends; on a loaded machine it may
    // take a moment to reach its master. The attack comes after.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // A cleaner removes the folder; another user makes it again first, open to all, and
    // listens at the socket names (which /proc/<pid>/cmdline shows), as a fake master would.
    Deno.removeSync(folder, { recursive: true });
    Deno.mkdirSync(folder);
    Deno.chmodSync(folder, 0o777);
    for (const path of sockets) {
      const listener = Deno.listen({ transport: "unix", path });
      listeners.push(listener);
      (async () => {
        for await (const conn of listener) {
          accepted++;
          conn.close();
        }
      })();
    }
    Deno.chownSync(folder, uidOf(other), uidOf(other));
    const second = await call(sshd.aliases, "echo two", options);
    for (const r of second.values()) assertEquals(ok(r).stdout, "two\n");
    assertEquals(accepted, 0, "nothing connected to the other user's sockets");
    // The old masters (their sockets gone with the folder) are let go; new ones took their place.
    const fresh = (await masterSockets()).filter((path) =>
      !path.startsWith(`${folder}/`) && !strays.includes(path)
    );
    assertEquals(fresh.length, 2, "the pool made new masters in a new private folder");
    const info = Deno.lstatSync(fresh[0].slice(0, fresh[0].lastIndexOf("/")));
    assertEquals(info.mode! & 0o777, 0o700);
    assertEquals(info.uid, Deno.uid());
  } finally {
    await pool.close();
    for (const listener of listeners) listener.close();
  }
  assertEquals(accepted, 0, "closing the pool sent nothing to the other user's sockets");
});

Deno.test("connection reuse under a 59- or 90-character TMPDIR: the sockets go to a shorter private folder (held pool and --persist)", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  for (const length of [59, 90]) {
    await reuseUnder(sshd, length);
  }
});

async function reuseUnder(sshd: Sshd, length: number): Promise<void> {
  await withTempDir(async (base) => {
    const long = `${base}/${"t".repeat(length - 1 - base.length)}`;
    assertEquals(long.length, length);
    Deno.mkdirSync(long);
    const source = `import { call, Pool } from "${ROOT}/mod.ts";
const mux = async () => {
  const ps = await new Deno.Command("ps", { args: ["-eo", "args="] }).output();
  return new TextDecoder().decode(ps.stdout).split("\\n").filter((l) => l.endsWith("[mux]"));
};
const strays = await mux();
await using pool = new Pool({ reuse: true });
const options = { sshExtra: ${JSON.stringify(sshd.sshExtra)}, pool };
for (const round of [1, 2]) {
  const results = await call(${JSON.stringify(sshd.aliases)}, "echo ok", options);
  for (const [host, r] of results) console.log(host, "stdout" in r ? r.stdout.trim() : r.message);
}
console.log((await mux()).filter((l) => !strays.includes(l)).join("\\n"));
`;
    await withScript(source, async (script) => {
      const run = await denoRun(["--allow-all"], script, [], { env: { TMPDIR: long } });
      assertEquals(run.code, 0, run.stderr);
      assertEquals(run.stdout.match(/^h00\d ok$/gm)?.length, 4, run.stdout + run.stderr);
      assertEquals(run.stdout.match(/\[mux\]$/gm)?.length, 2, run.stdout);
      assert(!run.stdout.includes(long), "the sockets are not under the long TMPDIR");
      assert(!run.stderr.includes("too long"), run.stderr);
    });
    const persist = [
      "call",
      ...["-x", `-F ${sshd.configPath}`],
      ...["-H", sshd.aliases.join(",")],
      "--persist=5",
      "-i",
      "echo kept",
    ];
    const first = await cli(persist, { env: { TMPDIR: long } });
    assertEquals(first.code, 0, first.stdout + first.stderr);
    assertEquals(first.stdout.match(/kept/g)?.length, 2, first.stdout);
    assert(!first.stderr.includes("too long"), first.stderr);
    const kept = (await masterSockets()).filter((path) => /parallax-\d+\//.test(path));
    assertEquals(kept.length, 2, kept.join("\n"));
    assert(kept.every((path) => !path.startsWith(long)), kept.join("\n"));
    const stopped = await cli(["persist", "--stop"], { env: { TMPDIR: long } });
    assertEquals(stopped.code, 0, stopped.stderr);
    assertStringIncludes(stopped.stdout, "2 kept connections ended");
  });
}

/** The folder of ssh's logs, from the -E of a running ssh whose command line has `marker`. */
async function logFolderOf(marker: string): Promise<string> {
  let folder: string | null = null;
  await timeUntil(async () => {
    const ssh = (await listProcesses()).find(({ args }) =>
      /^\S*ssh /.test(args) && args.includes(marker) && args.includes(" -E ")
    );
    const path = ssh?.args.split(" -E ")[1]?.split(" ")[0];
    folder = path === undefined ? null : path.slice(0, path.lastIndexOf("/"));
    return folder !== null;
  }, 10_000);
  return folder!;
}

Deno.test("ssh's log folder: a cleaner's removal is survived; a folder another user re-made is never used, and no command runs twice", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const other = uidOf(await sshd.unprivilegedUser());
  for (const attack of [false, true]) {
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o777);
      const marker = `parallax-${crypto.randomUUID()}`;
      // One host at a time: the second host's job starts after the folder was tampered with.
      // Only the first host's command carries the marker, so that it is the one found running.
      const running = call(
        sshd.aliases,
        (_host, i) =>
          `echo ${
            i === 0 ? marker : "-"
          } >/dev/null; echo ran >> ${dir}/$PARALLAX_HOST; sleep 1; exit 255`,
        { sshExtra: sshd.sshExtra, limit: 1, retries: 2 },
      );
      const folder = await logFolderOf(marker);
      // Once the command runs: ssh has opened its log by then (before, it fails to start).
      await timeUntil(() => Promise.resolve(exists(`${dir}/${sshd.aliases[0]}`)), 10_000);
      Deno.removeSync(folder, { recursive: true });
      if (attack) {
        Deno.mkdirSync(folder);
        Deno.chmodSync(folder, 0o777);
        Deno.chownSync(folder, other, other);
      }
      const results = await running;
      const [first, second] = sshd.aliases;
      // The first host's log went with the folder: its end cannot be told, and it is not retried.
      assertEquals(failed(results.get(first)).kind, "ssh", failed(results.get(first)).message);
      assertEquals(Deno.readTextFileSync(`${dir}/${first}`), "ran\n");
      const after = results.get(second)!;
      if (attack) {
        const error = failed(after);
        assertEquals(error.kind, "local", error.message);
        assertStringIncludes(error.message, "not private");
        assertEquals(exists(`${dir}/${second}`), false, "nothing ran on the second host");
        assertEquals([...Deno.readDirSync(folder)], [], "nothing was written in their folder");
        Deno.removeSync(folder, { recursive: true });
      } else {
        assertEquals(ok(after).exitCode, 255, "the folder was made again, and the log read");
        assertEquals(Deno.readTextFileSync(`${dir}/${second}`), "ran\n");
      }
    });
  }
});

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
