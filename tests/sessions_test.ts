import { assertEquals } from "./fixture/assert.ts";
import { withTempDir } from "./fixture/temp_dir.ts";

const CHILD_PROCESS = new URL("../lib/runtime/_child_process.ts", import.meta.url).href;

/** A script that starts `sleep` three times, printing how each started and its pid, then waits. */
const SCRIPT = `
import { sessionStart, spawnChild } from "${CHILD_PROCESS}";
const children = [];
for (let i = 0; i < 3; i++) {
  const how = sessionStart("sleep");
  try {
    const child = spawnChild(["sleep", "30"], { env: {}, stdin: null, holdStdin: false });
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
    spawnChild(["sleep", "30"], { env: {}, stdin: null, holdStdin: false });
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
