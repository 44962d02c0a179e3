/**
 * The floors of the warm path, for the benchmarks: one plain `ssh host 'exec sh'` session per
 * host through its kept master, each sent one command and read back to an end mark, with no
 * parallax in between. `limit`: the command as a builtin of that shell (the issue's lower bound:
 * nothing started on the host). `exact`: the command as parallax's warm session runs it (`setsid`
 * and the login shell by name, `wait`, the group check, end marks on both streams), which is what
 * keeps each command's result what a new ssh gives.
 *
 * Usage: deno run -A bench/run_warm_floor.ts SSH_CONFIG MASTERS_DIR HOSTS_FILE limit|exact CMD
 * Prints the wall time and CPU (this process) of one measured round, in ms.
 *
 * @module
 */

import { cpuMsWithChildren } from "./timing.ts";

const [config, masters, hostsFile, variant, command] = Deno.args;
const hosts = (await Deno.readTextFile(hostsFile)).split("\n").filter((h) => h !== "");
const encoder = new TextEncoder();
const sessions = hosts.map((host) => {
  const child = new Deno.Command("ssh", {
    args: [
      "-F",
      config,
      "-o",
      "ControlMaster=no",
      "-o",
      `ControlPath=${masters}/${host}`,
      host,
      "exec sh",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return {
    child,
    writer: child.stdin.getWriter(),
    out: child.stdout.getReader(),
    err: child.stderr.getReader(),
  };
});
const quoted = `'${command.replaceAll("'", `'\\''`)}'`;
const line = variant === "limit"
  ? `${command} </dev/null; printf 'MARK%d\\n' $?; printf MARK >&2\n`
  : `setsid sh -c ${quoted} </dev/null & c=$!; wait $c; s=$?; ` +
    `if kill -0 -$c 2>/dev/null; then s=L$s; fi; printf 'MARK%s\\n' $s; printf MARK >&2\n`;

async function readTo(reader: ReadableStreamDefaultReader<Uint8Array>, mark: string) {
  let tail = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("a session ended");
    tail = (tail + new TextDecoder().decode(value)).slice(-64);
    if (tail.includes(mark)) return;
  }
}

async function round(): Promise<void> {
  await Promise.all(sessions.map(async ({ writer, out, err }) => {
    await writer.write(encoder.encode(line));
    await Promise.all([readTo(out, "MARK"), readTo(err, "MARK")]);
  }));
}

await round();
await new Promise((resolve) => setTimeout(resolve, 1000));
const cpu = cpuMsWithChildren();
const started = performance.now();
await round();
console.log(`${Math.round(performance.now() - started)} ${Math.round(cpuMsWithChildren() - cpu)}`);
for (const { writer } of sessions) await writer.close();
await Promise.all(sessions.map(({ child }) => child.status));
