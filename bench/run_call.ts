/**
 * One parallax run for the benchmarks, as its own process so that its peak RSS can be measured:
 * `deno run -A bench/run_call.ts SPEC_JSON`. With `repeat`, makes a first call on a held pool and
 * prints the wall time of the second (the repeat call) in ms.
 *
 * @module
 */

import { call, ParallaxError, Pool } from "../mod.ts";

const spec = JSON.parse(Deno.args[0]) as {
  hostsFile: string;
  command: string;
  limit: number;
  sshExtra: string[];
  inline?: boolean;
  outdir?: string;
  repeat?: boolean;
  reuse?: boolean;
  poolSize?: number;
  sshPath?: string;
};
const hosts = (await Deno.readTextFile(spec.hostsFile)).split("\n").filter((h) => h !== "");
const pool = new Pool({ size: spec.poolSize, reuse: spec.reuse ?? false });
const options = {
  sshExtra: spec.sshExtra,
  limit: spec.limit,
  inline: spec.inline ?? true,
  outdir: spec.outdir,
  pool,
  sshPath: spec.sshPath,
  timeout: 600,
};
try {
  let results = await call(hosts, spec.command, options);
  if (spec.repeat) {
    const started = performance.now();
    results = await call(hosts, spec.command, options);
    console.log(Math.round(performance.now() - started));
  }
  const failures = [...results.values()].filter((r) => r instanceof ParallaxError);
  if (failures.length > 0) throw new Error(`${failures.length} hosts failed: ${failures[0]}`);
} finally {
  await pool.close();
}
