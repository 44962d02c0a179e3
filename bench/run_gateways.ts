/**
 * One run through gateways, for `bench/gateways.ts` to time from outside (wall and CPU of this
 * whole process, as a user's script would cost): `call` of a command, or `copy` of a file to a
 * per-host destination; or, for Deno's floor, the by-hand ssh lines (`floor`: one ssh argv per
 * gateway) spawned in sessions of their own, as parallax spawns its connections, by a script that
 * has loaded parallax and does nothing else.
 *
 * Usage: deno run -A bench/run_gateways.ts '<json spec>'
 *
 * @module
 */

import { call, copy, isOk } from "../mod.ts";

const spec = JSON.parse(Deno.args[0]) as {
  op: "call" | "copy" | "floor";
  floor?: string[][];
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
  Deno.exit(0);
}
const results = spec.op === "call"
  ? await call(spec.hosts, spec.command!, options)
  : await copy(spec.hosts, spec.src!, (host) => `${spec.dstDir}/${host.host}`, options);
const failed = [...results.values()].filter((r) => !isOk(r));
if (failed.length > 0) {
  console.error(`${failed.length} hosts failed: ${JSON.stringify(failed[0])}`);
  Deno.exit(1);
}
