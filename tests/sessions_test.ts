import { assertEquals } from "./fixture/assert.ts";
import { sessionStart } from "../lib/runtime/_child_process.ts";
import { call, ParallaxError, Pool } from "../mod.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";

const CHILD_PROCESS = new URL("../lib/runtime/_child_process.ts", import.meta.url).href;

/** A script that starts `sleep` three times, printing how each started and its pid, then waits. */
const SCRIPT = `
import { sessionStart, spawnChild } from "${CHILD_PROCESS}";
const children = [];
for (let i = 0; i < 3; i++) {
  const how = sessionStart("sleep");
  try {
    const child = spawnChild(["sleep", "30"], { env: {}, stdin: null, holdStdin: false, setsid: true });
    children.push(child);
    console.log(how, child.pid);
  } catch (error) {
    console.log(how, error.name);
  }
}
if (Deno.args[0] === "revoke") {
  Deno.permissions.revokeSync({ name: "run", command: "sleep" });
  console.log(sessionStart("sleep"));
  try {
    spawnChild(["sleep", "30"], { env: {}, stdin: null, holdStdin: false, setsid: true });
    console.log("started");
  } catch (error) {
    console.log(error.name);
  }
}
await new Promise((resolve) => setTimeout(resolve, 500));
for (const child of children) child.kill("SIGKILL");
`;

/** Name, process group and session of a live process, from /proc. */
function processOf(pid: number): { name: string; group: number; session: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
  const [, , group, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { name, group: Number(group), session: Number(session) };
}

/** Runs the script under `permissions`; checks each child while it runs; returns the lines. */
async function startSleeps(permissions: string[], arg = ""): Promise<string[]> {
  return await withTempDir(async (dir) => {
    const script = `${dir}/sleeps.ts`;
    Deno.writeTextFileSync(script, SCRIPT);
    const lines: string[] = [];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", `--allow-read=${dir}`, ...permissions, script, arg],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (lines.length < (arg === "revoke" ? 5 : 3)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      const complete = text.split("\n");
      text = complete.pop()!;
      for (const line of complete) {
        lines.push(line);
        const pid = Number(line.split(" ")[1]);
        if (!pid) continue;
        // The pid handed back becomes the program itself (setsid execs it in place, at once),
        // leading a session and group of its own.
        let seen = processOf(pid);
        for (let waited = 0; seen.name !== "sleep" && waited < 2000; waited += 10) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          seen = processOf(pid);
        }
        assertEquals(seen, { name: "sleep", group: pid, session: pid }, line);
      }
    }
    await reader.cancel();
    assertEquals((await child.status).code, 0);
    return lines.map((line) => line.replace(/ \d+$/, ""));
  });
}

Deno.test("each child leads a session of its own: through setsid where it may run, by a fork before and without it", async () => {
  assertEquals(await startSleeps(["--allow-run=sleep,setsid"]), ["fork", "setsid", "setsid"]);
  assertEquals(await startSleeps(["--allow-run=sleep"]), ["fork", "fork", "fork"]);
});

Deno.test("setsid never starts a program whose run access is gone", async () => {
  assertEquals(await startSleeps(["--allow-run=sleep,setsid"], "revoke"), [
    "fork",
    "setsid",
    "setsid",
    "fork",
    "NotCapable",
  ]);
});

Deno.test("run access to setsid alone starts nothing", async () => {
  assertEquals(await startSleeps(["--allow-run=setsid"]), [
    "fork NotCapable",
    "fork NotCapable",
    "fork NotCapable",
  ]);
});

/** Runs one job in this thread: `sh -c script`, logging to a new file in `dir` as ssh would. */
async function runShellJob(
  dir: string,
  program: string,
  script: string,
  onStart: (pid: number, restarted: boolean) => void = () => {},
) {
  const { runJob } = await import("../lib/engine/worker/_run_job.ts");
  const log = `${dir}/logs/${crypto.randomUUID()}`;
  Deno.mkdirSync(`${dir}/logs`, { recursive: true, mode: 0o700 });
  const spec = {
    id: 1,
    // The program writes its log first, as ssh does with -E: a log left empty means it never ran.
    argv: [program, "-c", `printf 'started\\n' >> "$0"; ${script}`, log],
    env: {},
    stdin: null,
    lifeline: true,
    timeoutMs: 20_000,
    killGraceMs: 1_000,
    keepOutput: true,
    streamOutput: false,
    stdoutFile: null,
    stderrFile: null,
    logFile: { path: log, uid: Deno.uid()!, startsLog: true },
  };
  const job = runJob(spec, {
    started: onStart,
    chunk() {},
    pull() {},
  });
  return await job.end;
}

Deno.test("a start through setsid that a terminal's signal cut short is started again: the command runs once", async () => {
  await withTempDir(async (dir) => {
    const sh = `${dir}/sh`;
    Deno.copyFileSync("/bin/sh", sh);
    Deno.chmodSync(sh, 0o755);
    // The first start is direct (so a missing program is the runtime's NotFound); the rest go
    // through setsid.
    assertEquals((await runShellJob(dir, sh, "echo out")).exitCode, 0);
    assertEquals(sessionStart(sh), "setsid");
    let resumed = 0;
    for (let i = 0; i < 20; i++) {
      let first = 0;
      // SIGINT as a terminal's Ctrl-C would send it, at once: mostly while setsid is still
      // making the session, sometimes after the program started.
      const end = await runShellJob(dir, sh, "echo out", (pid, restarted) => {
        if (restarted) return;
        first = pid;
        Deno.kill(pid, "SIGINT");
      });
      if (end.exitCode === 0) {
        // The signalled process died: this is a second start, and the command ran once.
        assertEquals(new TextDecoder().decode(end.stdout[0]), "out\n");
        assertEquals(end.log?.text, "started\n");
        assertEquals(processGone(first), true);
        resumed++;
      } else {
        // It had started: its own end, as without setsid (its log says it ran).
        assertEquals(end.signal, "SIGINT");
        assertEquals(end.log?.text, "started\n");
      }
    }
    assertEquals(resumed > 0, true, "no start was cut short in 20 tries");
  });
});

Deno.test("a program gone after its first start is the runtime's NotFound through setsid, never exit 127", async () => {
  await withTempDir(async (dir) => {
    const sh = `${dir}/gone-sh`;
    Deno.copyFileSync("/bin/sh", sh);
    Deno.chmodSync(sh, 0o755);
    assertEquals((await runShellJob(dir, sh, "exit 127")).exitCode, 127);
    Deno.removeSync(sh);
    assertEquals(sessionStart(sh), "setsid");
    const end = await runShellJob(dir, sh, "true");
    assertEquals(end.exitCode, null);
    assertEquals(end.spawnError?.name, "NotFound");
    // Made executable no more: not a remote command's 126 either.
    Deno.copyFileSync("/bin/sh", sh);
    Deno.chmodSync(sh, 0o644);
    assertEquals(
      (await runShellJob(dir, sh, "true")).spawnError?.message,
      "the program could not be executed",
    );
  });
});

function processGone(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return false;
  } catch {
    return true;
  }
}

Deno.test("a remote exit status 126 or 127 stays the command's when ssh runs it through a master and logs nothing (VERBOSE)", async () => {
  await using sshd = await startSshd({ aliases: 1 });
  await withTempDir(async (dir) => {
    // The caller's own master: the pool's socket never appears, so parallax asks ssh for
    // VERBOSE, at which a session through a master logs nothing at all.
    const options = {
      sshExtra: sshd.sshExtra,
      sshOptions: ["ControlMaster=auto", `ControlPath=${dir}/cm-%C`, "ControlPersist=2"],
    };
    await using pool = new Pool({ size: 1, warm: false });
    for (const code of [127, 127, 126]) {
      const results = await call(sshd.aliases, `exit ${code}`, { ...options, pool });
      const result = results.get(sshd.aliases[0])!;
      assertEquals(result instanceof ParallaxError ? result.message : result.exitCode, code);
    }
    await new Deno.Command("ssh", {
      args: [...sshd.sshExtra, "-o", `ControlPath=${dir}/cm-%C`, "-O", "exit", sshd.aliases[0]],
      stderr: "null",
    }).output();
  });
});
