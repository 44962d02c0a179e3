/**
 * One parallax run for the benchmarks, as its own process so that its peak RSS can be measured:
 * `deno run -A bench/run_call.ts SPEC_JSON`. With `repeat`, makes a first call on a held pool and
 * prints the wall time of the second (the repeat call) in ms. `read` says what the caller then
 * reads of every result (`bytes`: `stdoutBytes`, `text`: `stdout.length`); `stream` consumes
 * `callStream()` instead; `inputFile` sends that file's bytes as input (`sharedInput`: read into
 * a SharedArrayBuffer first; `textInput`: as a string).
 *
 * @module
 */

import { call, callStream, ParallaxError, Pool } from "../mod.ts";
import { cpuMsWithChildren } from "./timing.ts";

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
  read?: "bytes" | "text";
  stream?: boolean;
  printOut?: boolean;
  inputFile?: string;
  sharedInput?: boolean;
  textInput?: boolean;
  stopRemote?: boolean;
  /** The held pool's `warm` (default true). */
  warm?: boolean;
  /** With `repeat`: wait this long after the first call (for warm sessions to open). */
  settleMs?: number;
};
const hosts = (await Deno.readTextFile(spec.hostsFile)).split("\n").filter((h) => h !== "");
// A held pool only where the run needs one (a repeat call, a pool size, reuse); otherwise each
// call makes and closes its own, as a script that just calls does.
const pool = spec.repeat || spec.poolSize !== undefined || spec.reuse !== undefined
  ? new Pool({ size: spec.poolSize, reuse: spec.reuse ?? false, warm: spec.warm ?? true })
  : undefined;
const input = spec.inputFile === undefined ? undefined : await readInput(spec.inputFile);
const options = {
  sshExtra: spec.sshExtra,
  limit: spec.limit,
  inline: spec.inline ?? true,
  outdir: spec.outdir,
  pool,
  sshPath: spec.sshPath,
  timeout: 600,
  printOut: spec.printOut ?? false,
  ...(spec.stopRemote !== undefined ? { stopRemote: spec.stopRemote } : {}),
  ...(input !== undefined ? { input } : {}),
};
try {
  if (spec.stream) {
    let bytes = 0;
    let failures = 0;
    for await (const event of callStream(hosts, spec.command, options)) {
      if (event.type === "output") bytes += event.data.byteLength;
      else if (event.result instanceof ParallaxError) failures++;
    }
    if (failures > 0) throw new Error(`${failures} hosts failed`);
    console.error(`${bytes} bytes streamed`);
  } else {
    let results = await call(hosts, spec.command, options);
    if (spec.repeat) {
      if (spec.settleMs) await new Promise((resolve) => setTimeout(resolve, spec.settleMs));
      const cpu = cpuMsWithChildren();
      const started = performance.now();
      results = await call(hosts, spec.command, options);
      // The repeat call's wall time and its CPU here (this process and the ssh it waited for).
      console.log(
        `${Math.round(performance.now() - started)} ${Math.round(cpuMsWithChildren() - cpu)}`,
      );
      const warm = [...results.values()].filter((r) => !(r instanceof ParallaxError) && r.warm);
      console.error(`${warm.length} of ${results.size} ran warm`);
    }
    const failures = [...results.values()].filter((r) => r instanceof ParallaxError);
    if (failures.length > 0) throw new Error(`${failures.length} hosts failed: ${failures[0]}`);
    let held = 0;
    for (const result of results.values()) {
      if (result instanceof ParallaxError) continue;
      if (spec.read === "bytes") held += result.stdoutBytes.byteLength;
      if (spec.read === "text") held += result.stdout.length;
    }
    if (spec.read !== undefined) console.error(`${held} ${spec.read} held`);
  }
} finally {
  await pool?.close();
}

/**
 * The input file's bytes in an ordinary buffer or (`sharedInput`) a `SharedArrayBuffer`, read
 * into memory of their final size: `Deno.readFile` would itself peak at twice the file (measured:
 * 220 MiB for 100 MB), which is not parallax's to count.
 */
async function readInput(path: string): Promise<Uint8Array | string> {
  if (spec.textInput) return await Deno.readTextFile(path);
  const file = await Deno.open(path);
  try {
    const size = (await file.stat()).size;
    const bytes = spec.sharedInput
      ? new Uint8Array(new SharedArrayBuffer(size))
      : new Uint8Array(size);
    const chunk = new Uint8Array(1 << 20);
    for (let at = 0; at < bytes.byteLength;) {
      const n = await file.read(
        chunk.subarray(0, Math.min(chunk.byteLength, bytes.byteLength - at)),
      );
      if (n === null) break;
      bytes.set(chunk.subarray(0, n), at);
      at += n;
    }
    return bytes;
  } finally {
    file.close();
  }
}
