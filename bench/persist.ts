/**
 * `parallax call --persist` on 128 hosts, against the multiplexing floor, in one interleaved run:
 * the second run (through the masters the first one kept) next to `xargs -P 32 ssh` through one
 * kept master per host, and the CLI's start-up alone (`parallax hosts`, no connection). Results of
 * the first and second run are compared. Prints Markdown tables with wall times and CPU.
 *
 * Run: `deno run --allow-all bench/persist.ts [--rounds 5]`
 *
 * @module
 */

import { startSshd } from "../tests/fixture/sshd.ts";
import { machine, median, startKeptMasters } from "./timing.ts";

const HOSTS = 128;
const argText = Deno.args.join(" ");
const rounds = Number(/--rounds[= ](\d+)/.exec(argText)?.[1] ?? 5);

if (Deno.args[0] === "--spawn-floor") {
  // The runtime's floor for a process per host: a bare Deno process that starts each host's ssh
  // through its kept master in a session of its own (as parallax does), 32 at a time, and reads
  // its output.
  const [, cfg, masters, hostsFile, command] = Deno.args;
  const hosts = Deno.readTextFileSync(hostsFile).trim().split("\n");
  let next = 0;
  const lane = async () => {
    while (next < hosts.length) {
      const host = hosts[next++];
      await new Deno.Command("ssh", {
        args: [
          "-F",
          cfg,
          "-o",
          "ControlMaster=no",
          "-o",
          `ControlPath=${masters}/${host}`,
          host,
          command,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).output();
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  Deno.exit(0);
}
await using sshd = await startSshd({ aliases: HOSTS, addresses: 16, unprivileged: true });
const cfg = sshd.configPath;
const hostsFile = `${sshd.dir}/hosts`;
Deno.writeTextFileSync(hostsFile, sshd.aliases.slice(0, HOSTS).join("\n") + "\n");
const cli = (run: string) => [
  "run",
  "--quiet",
  `--allow-run=${run}`,
  "--allow-read",
  "--allow-write",
  "--allow-sys=uid",
  "--allow-env",
  new URL("../cli.ts", import.meta.url).pathname,
];

interface Sample {
  ms: number;
  cpuMs: number;
  stdout: string;
}

/** Runs argv under /usr/bin/time: wall time, CPU of it and its children, and its stdout. */
async function measure(argv: string[]): Promise<Sample> {
  const timeFile = `${sshd.dir}/time`;
  const started = performance.now();
  const output = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%U %S", "-o", timeFile, ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const ms = performance.now() - started;
  const [user, system] = Deno.readTextFileSync(timeFile).trim().split("\n").at(-1)!.split(" ")
    .map(Number);
  return { ms, cpuMs: (user + system) * 1000, stdout: new TextDecoder().decode(output.stdout) };
}

const parallax = (args: string[], run = "ssh,scp,/usr/bin/setsid") =>
  measure([Deno.execPath(), ...cli(run), ...args]);
const records = (stdout: string) =>
  stdout.trim().split("\n").map((line) => {
    const { host, stdout, exitCode } = JSON.parse(line);
    return `${host} ${exitCode} ${stdout}`;
  }).sort().join("\n");

const call = ["call", "-x", `-F ${cfg}`, "-h", hostsFile, "-p", "32"];
const command = "echo $PARALLAX_NODENUM";

// The floor's masters: one per alias, kept by ssh itself.
const kept = await startKeptMasters(cfg, `${sshd.dir}/masters`, sshd.aliases.slice(0, HOSTS));
const masters = kept.folder;
const floor = () =>
  measure([
    "sh",
    "-c",
    `xargs -P 32 -I{} ssh -F ${cfg} -o ControlMaster=no -o ControlPath=${masters}/{} {} ` +
    `'${command}' < ${hostsFile} > /dev/null`,
  ]);

const spawnFloor = () =>
  measure([
    Deno.execPath(),
    "run",
    "--allow-all",
    new URL(import.meta.url).pathname,
    "--spawn-floor",
    cfg,
    masters,
    hostsFile,
    command,
  ]);

const samples = new Map<string, Sample[]>();
const keep = (name: string, sample: Sample) =>
  samples.set(name, [...(samples.get(name) ?? []), sample]);
const FLOOR = "`xargs -P 32 ssh` through kept masters (the floor)";
const SECOND = "second `parallax call --persist` (through its kept masters)";
const SPAWN = "a bare Deno process: each ssh through its kept master, own session (runtime floor)";
const START = "`parallax hosts` (the CLI's start-up, no connection)";
const FORKED = "second run without run access to `setsid` (each ssh a fork of the CLI)";
const FIRST = "first `parallax call --persist` (handshakes)";
try {
  for (let round = 0; round < rounds; round++) {
    await parallax(["persist", "--stop"]).catch(() => {});
    const first = await parallax([...call, "--persist=60", "--json", command]);
    keep(FIRST, first);
    keep(FLOOR, await floor());
    const second = await parallax([...call, "--persist=60", "--json", command]);
    if (records(first.stdout) !== records(second.stdout)) {
      throw new Error("the second run differs");
    }
    keep(SECOND, second);
    const forked = await parallax([...call, "--persist=60", "--json", command], "ssh,scp");
    if (records(first.stdout) !== records(forked.stdout)) throw new Error("the forked run differs");
    keep(FORKED, forked);
    keep(START, await parallax(["hosts", "-h", hostsFile]));
    keep(SPAWN, await spawnFloor());
  }
} finally {
  await parallax(["persist", "--stop"]).catch(() => {});
  await kept.stop();
}

const base = median(samples.get(FLOOR)!.map((s) => s.ms));
console.log(
  `### --persist, ${HOSTS} hosts, limit 32, \`${command}\`, ${rounds} rounds ` +
    `(${await machine()})\n`,
);
console.log("| run | median wall | ÷ floor | CPU (median, with children) | runs (s) |");
console.log("| --- | --- | --- | --- | --- |");
for (const name of [FLOOR, SECOND, FORKED, SPAWN, START, FIRST]) {
  const list = samples.get(name)!;
  const ms = median(list.map((s) => s.ms));
  const cpu = median(list.map((s) => s.cpuMs));
  const runs = list.map((s) => (s.ms / 1000).toFixed(2)).join(", ");
  console.log(
    `| ${name} | ${(ms / 1000).toFixed(3)} s | ${(ms / base).toFixed(3)}× | ${
      (cpu / 1000).toFixed(2)
    } s | ${runs} |`,
  );
}
console.log(`\nfirst and second runs gave identical results in every round`);
