/**
 * What a spawn costs the runtime on this machine, apart from parallax: a bare Deno process that
 * spawns `/bin/true` N times, 32 at a time, with piped stdio, in the caller's session, in a
 * session of its own made by a fork (`detached`) or by `setsid /bin/true` (as parallax spawns
 * every ssh and scp, without and with run access to `setsid`), each while holding nothing and
 * while holding `--held` MB more; beside it, `xargs -P 32` doing the same, and parallax running N
 * jobs with `/bin/true` as its ssh, with and without run access to `setsid`. Each runs under
 * `/usr/bin/time`; the table gives wall and CPU (user + system) per process, medians of rounds.
 * A second table counts, thread by thread (`/proc/self/task`), the minor page faults and CPU of
 * one parallax call of 512 such jobs and of 16: a fork marks the whole process copy-on-write, and
 * every thread then faults on the pages it writes.
 *
 * Usage: deno run -A bench/spawn_cost.ts [--jobs 128] [--rounds 3] [--held 200]
 *
 * @module
 */

import { call } from "../mod.ts";
import { median, threads } from "./timing.ts";

const argText = Deno.args.join(" ");
const child = /--child (\w+)/.exec(argText)?.[1];
const jobs = Number(/--jobs[= ](\d+)/.exec(argText)?.[1] ?? 128);
const rounds = Number(/--rounds[= ](\d+)/.exec(argText)?.[1] ?? 3);
const held = Number(/--held[= ](\d+)/.exec(argText)?.[1] ?? 200);

if (child === "threads") {
  // One parallax call of `jobs` jobs, /bin/true as ssh; prints a row per busy thread.
  const before = threads();
  const hosts = Array.from({ length: jobs }, (_, i) => `h${i}`);
  await call(hosts, "true", { sshPath: "/bin/true", limit: 32 });
  const byName = new Map<string, { faults: number; cpuMs: number }>();
  for (const [id, now] of threads()) {
    const then = before.get(id) ?? { faults: 0, cpuMs: 0 };
    const name = now.name.startsWith("V8 ") ? "V8 helper threads" : now.name;
    const sum = byName.get(name) ?? { faults: 0, cpuMs: 0 };
    byName.set(name, {
      faults: sum.faults + now.faults - then.faults,
      cpuMs: sum.cpuMs + now.cpuMs - then.cpuMs,
    });
  }
  for (const [name, { faults, cpuMs }] of byName) {
    if (cpuMs > 0 || faults > 100) console.log(`| ${jobs} | ${name} | ${faults} | ${cpuMs} ms |`);
  }
} else if (child !== undefined) {
  // One contender's process: N spawns, 32 at a time, holding `--held` MB (touched) or nothing.
  const [mode, holding] = child.split("_");
  const ballast = Array.from(
    { length: holding === "held" ? held : 0 },
    () => new Uint8Array(1 << 20).fill(1),
  );
  let next = 0;
  const lane = async () => {
    while (next < jobs) {
      next++;
      const [program, ...args] = mode === "setsid" ? ["setsid", "/bin/true"] : ["/bin/true"];
      const process = new Deno.Command(program, {
        args,
        detached: mode === "detached",
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await process.stdin.close();
      await process.output();
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  if (ballast.length !== (holding === "held" ? held : 0)) throw new Error("ballast lost");
} else {
  const dir = await Deno.makeTempDir({ prefix: "parallax-spawn-" });
  const hosts = `${dir}/hosts`;
  await Deno.writeTextFile(hosts, Array.from({ length: jobs }, (_, i) => `h${i}\n`).join(""));
  const self = new URL(import.meta.url).pathname;
  const denoChild = (mode: string) => [
    Deno.execPath(),
    "run",
    "-A",
    self,
    "--child",
    mode,
    "--jobs",
    String(jobs),
  ];
  const runCall = new URL("run_call.ts", import.meta.url).pathname;
  const parallax = (run: string) => [
    Deno.execPath(),
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    `--allow-run=${run}`,
    runCall,
    JSON.stringify({
      hostsFile: hosts,
      command: "true",
      limit: 32,
      sshExtra: [],
      sshPath: "/bin/true",
    }),
  ];
  const contenders: Record<string, string[]> = {
    [`xargs -P 32 /bin/true`]: ["sh", "-c", `xargs -P 32 -I{} /bin/true {} < ${hosts}`],
  };
  for (const holding of ["none", "held"]) {
    const also = holding === "held" ? `, holding ${held} MB more` : "";
    contenders[`Deno, spawn in the caller's session${also}`] = denoChild(`plain_${holding}`);
    contenders[`Deno, a session of its own by a fork (detached)${also}`] = denoChild(
      `detached_${holding}`,
    );
    contenders[`Deno, a session of its own by \`setsid\`${also}`] = denoChild(`setsid_${holding}`);
  }
  contenders["parallax, /bin/true as its ssh, run access to `setsid`"] = parallax(
    "/bin/true,setsid",
  );
  contenders["parallax, /bin/true as its ssh, without it (a fork a job)"] = parallax("/bin/true");
  const samples = new Map<string, { wall: number; cpu: number }[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, argv] of Object.entries(contenders)) {
      const output = await new Deno.Command("/usr/bin/time", {
        args: ["-f", "TIME %e %U %S", ...argv],
        stdout: "null",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(output.stderr);
      if (!output.success) throw new Error(`${name} failed: ${text}`);
      const [, wall, user, system] = /TIME (\S+) (\S+) (\S+)/.exec(text)!;
      const list = samples.get(name) ?? [];
      list.push({ wall: Number(wall), cpu: Number(user) + Number(system) });
      samples.set(name, list);
    }
  }
  await Deno.remove(dir, { recursive: true });
  console.log(`${jobs} spawns of /bin/true, 32 at a time, medians of ${rounds}\n`);
  console.log("| contender | wall | CPU | CPU per spawn |\n| --- | --- | --- | --- |");
  for (const [name, list] of samples) {
    const cpu = median(list.map((s) => s.cpu));
    console.log(
      `| ${name} | ${median(list.map((s) => s.wall)).toFixed(2)} s | ${cpu.toFixed(2)} s | ${
        (cpu * 1000 / jobs).toFixed(1)
      } ms |`,
    );
  }
  console.log(
    "\nparallax, one call, `/bin/true` as its ssh: each thread's minor page faults and CPU\n",
  );
  console.log("| jobs | thread | minor faults | CPU |\n| --- | --- | --- | --- |");
  for (const count of [512, 16]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, "--child", "threads", "--jobs", String(count)],
      stderr: "inherit",
    }).output();
    if (!output.success) throw new Error("the threads run failed");
    await Deno.stdout.write(output.stdout);
  }
}
