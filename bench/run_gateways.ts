/**
 * One run through gateways, for `bench/gateways.ts` to time from outside (wall and CPU of this
 * whole process, as a user's script would cost): `call` of a command, or `copy` of a file to a
 * per-host destination; or, for Deno's floor, the by-hand ssh lines (`floor`: one ssh argv per
 * gateway) spawned in sessions of their own, as parallax spawns its connections, by a script that
 * has loaded parallax and does nothing else. With `threads` in the spec, it prints where its CPU
 * went as one JSON line: the main thread's booting (before this script runs), loading parallax and
 * the rest; V8's helper threads; every other thread; the ssh it ran.
 *
 * Usage: deno run -A bench/run_gateways.ts '<json spec>'
 *
 * @module
 */

import { childrenCpuMs, threads } from "./timing.ts";

const mainThread = String(Deno.pid);
const booted = threads().get(mainThread)!.cpuMs;
const { call, copy, isOk } = await import("../mod.ts");
const loaded = threads().get(mainThread)!.cpuMs;

const spec = JSON.parse(Deno.args[0]) as {
  op: "call" | "copy" | "floor";
  floor?: string[][];
  threads?: boolean;
  hosts: string[];
  gateways: Record<string, string[]>;
  sshExtra: string[];
  gatewayCommand: string[];
  command?: string;
  src?: string;
  dstDir?: string;
};
const options = {
  sshExtra: spec.sshExtra,
  gateways: spec.gateways,
  gatewayCommand: spec.gatewayCommand,
  gatewayLimit: 16,
};
if (spec.op === "floor") {
  await Promise.all(spec.floor!.map(async (argv) => {
    const child = new Deno.Command("ssh", { args: argv, stdin: "null", detached: true }).spawn();
    if (!(await child.status).success) throw new Error(`ssh ${argv.join(" ")} failed`);
  }));
} else {
  const results = spec.op === "call"
    ? await call(spec.hosts, spec.command!, options)
    : await copy(spec.hosts, spec.src!, (host) => `${spec.dstDir}/${host.host}`, options);
  const failed = [...results.values()].filter((r) => !isOk(r));
  if (failed.length > 0) {
    console.error(`${failed.length} hosts failed: ${JSON.stringify(failed[0])}`);
    Deno.exit(1);
  }
}
if (spec.threads) {
  const use = { bootMs: booted, loadMs: loaded - booted, restMs: 0, helpersMs: 0, otherMs: 0 };
  for (const [id, thread] of threads()) {
    if (id === mainThread) use.restMs = thread.cpuMs - loaded;
    else if (thread.name.startsWith("V8 ")) use.helpersMs += thread.cpuMs;
    else use.otherMs += thread.cpuMs;
  }
  console.log(JSON.stringify({ ...use, sshMs: childrenCpuMs() }));
}
