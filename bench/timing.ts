/**
 * Shared helpers of the benchmarks: interleaved rounds, medians, and a table with ratios.
 *
 * @module
 */

/** One contender: a name and a function that runs it once and resolves when done. */
export interface Contender {
  readonly name: string;
  readonly run: () => Promise<void>;
}

/** Wall times (ms) of each contender, rounds interleaved so that drift hits all alike. */
export async function interleaved(
  contenders: readonly Contender[],
  rounds: number,
): Promise<Map<string, number[]>> {
  const times = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (const contender of contenders) {
      const started = performance.now();
      await contender.run();
      times.get(contender.name)!.push(performance.now() - started);
    }
  }
  return times;
}

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A Markdown table of medians, each with its ratio to the `baseline` contender. */
export function table(times: Map<string, number[]>, baseline: string): string {
  const base = median(times.get(baseline)!);
  const rows = [...times].map(([name, values]) => {
    const m = median(values);
    const all = values.map((v) => (v / 1000).toFixed(2)).join(", ");
    return `| ${name} | ${(m / 1000).toFixed(2)} s | ${(m / base).toFixed(3)}× | ${all} |`;
  });
  return [`| contender | median | vs ${baseline} | runs (s) |`, "|---|---|---|---|", ...rows].join(
    "\n",
  );
}

/** Runs a shell command line and throws if it fails. */
export async function sh(script: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("sh", {
    args: ["-c", script],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`'${script}' failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
}

/** A one-line description of this machine, for the tables. */
export async function machine(): Promise<string> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const ssh = await new Deno.Command("ssh", { args: ["-V"], stderr: "piped" }).output();
  return `${navigator.hardwareConcurrency} cores, ${cpu}; ${
    new TextDecoder().decode(ssh.stderr).trim()
  }; Deno ${Deno.version.deno}`;
}

/** One thread's minor page faults and CPU so far. */
export interface ThreadUse {
  readonly name: string;
  readonly faults: number;
  readonly cpuMs: number;
}

/** Minor faults and CPU ms of each thread of this process, by thread id (`/proc/self/task`). */
export function threads(): Map<string, ThreadUse> {
  const found = new Map<string, ThreadUse>();
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    const stat = Deno.readTextFileSync(`/proc/self/task/${entry.name}/stat`);
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // minflt, utime and stime (in clock ticks of 10 ms).
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * 10;
    found.set(entry.name, { name, faults: Number(fields[7]), cpuMs });
  }
  return found;
}

/** CPU ms (user + system) of this process's children that have ended and been waited for. */
export function childrenCpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** CPU ms (user + system) of this process and of its children that have been waited for. */
export function cpuMsWithChildren(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime, stime, cutime, cstime, in clock ticks of 10 ms.
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * 10;
}

/** One OpenSSH master per alias, kept by ssh itself: the floor's multiplexing. */
export interface KeptMasters {
  /** The folder of their sockets, one per alias, named after it. */
  readonly folder: string;
  /** Asks every master to exit. */
  stop(): Promise<void>;
}

/** Starts a kept master (`ControlPersist=yes`) for each alias, their sockets in `folder`. */
export async function startKeptMasters(
  configPath: string,
  folder: string,
  aliases: readonly string[],
): Promise<KeptMasters> {
  await Deno.mkdir(folder, { recursive: true });
  const master = (alias: string, how: string[]) =>
    new Deno.Command("ssh", {
      args: ["-F", configPath, "-o", `ControlPath=${folder}/${alias}`, ...how, alias],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  await Promise.all(
    aliases.map((a) => master(a, ["-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-fN"])),
  );
  return {
    folder,
    stop: async () => {
      await Promise.all(aliases.map((a) => master(a, ["-O", "exit"])));
    },
  };
}
