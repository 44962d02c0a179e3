/**
 * The performance benchmarks: every contender runs as its own process under `/usr/bin/time`, so
 * each row has a wall time and a peak RSS; rounds are interleaved and the tables give medians and
 * ratios measured in the same run. Installs python3-parallax and time with apt-get when missing
 * (as root). Logs in as the test sshd's unprivileged account, whose shell reads no start-up files.
 *
 * Usage: deno run -A bench/perf.ts [--rounds 3] [--only first,repeat,output,overhead,pool]
 *
 * @module
 */

import { startSshd } from "../tests/fixture/sshd.ts";
import { machine, median } from "./timing.ts";

const argText = Deno.args.join(" ");
const rounds = Number(/--rounds[= ](\d+)/.exec(argText)?.[1] ?? 3);
const only = /--only[= ](\S+)/.exec(argText)?.[1].split(",");
const wanted = (section: string) => only === undefined || only.includes(section);
const ROOT = new URL("..", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

await ensureTools();
await using sshd = await startSshd({ aliases: 512, unprivileged: true });
const dir = sshd.dir;
const cfg = sshd.configPath;
const hostsFile = (n: number) => {
  const path = `${dir}/hosts-${n}`;
  Deno.writeTextFileSync(path, sshd.aliases.slice(0, n).join("\n") + "\n");
  return path;
};

/** A contender: a command line, and how to read its time (wall, or printed by a repeat run). */
interface Contender {
  name: string;
  argv: string[];
  printsTime?: boolean;
}

interface Sample {
  ms: number;
  rssKiB: number;
}

async function measure(contender: Contender): Promise<Sample> {
  const rssFile = `${dir}/rss`;
  const started = performance.now();
  const output = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "-o", rssFile, ...contender.argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = performance.now() - started;
  if (!output.success) {
    throw new Error(
      `${contender.name} failed: ${new TextDecoder().decode(output.stderr).slice(-500)}`,
    );
  }
  const rssKiB = Number((await Deno.readTextFile(rssFile)).trim().split("\n").at(-1));
  const printed = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1);
  return { ms: contender.printsTime ? Number(printed) : wall, rssKiB };
}

async function compare(title: string, contenders: Contender[], runs = rounds): Promise<string> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < runs; round++) {
    for (const contender of contenders) samples.get(contender.name)!.push(await measure(contender));
  }
  const base = median(samples.get(contenders[0].name)!.map((s) => s.ms));
  const rows = contenders.map(({ name }) => {
    const list = samples.get(name)!;
    const ms = median(list.map((s) => s.ms));
    const rss = Math.max(...list.map((s) => s.rssKiB)) / 1024;
    return `| ${name} | ${(ms / 1000).toFixed(3)} s | ${(ms / base).toFixed(3)}× | ${
      rss.toFixed(1)
    } MiB | ${list.map((s) => (s.ms / 1000).toFixed(2)).join(", ")} |`;
  });
  const table = [
    `**${title}**`,
    "",
    `| contender | median | vs ${contenders[0].name} | peak RSS | runs (s) |`,
    "|---|---|---|---|---|",
    ...rows,
  ].join("\n");
  console.log(`${table}\n`);
  return table;
}

const deno = (spec: Record<string, unknown>): string[] => [
  Deno.execPath(),
  "run",
  "--allow-all",
  `${ROOT}bench/run_call.ts`,
  JSON.stringify({ sshExtra: ["-F", cfg], ...spec }),
];
const xargs = (n: number, limit: number, command: string, ssh = `ssh -F ${cfg}`) => [
  "sh",
  "-c",
  `xargs -P ${limit} -I{} ${ssh} {} '${command}' < ${hostsFile(n)} > /dev/null`,
];
const python = (n: number, limit: number, command: string, repeat = false) => [
  PYTHON,
  `${ROOT}bench/run_python.py`,
  cfg,
  String(limit),
  hostsFile(n),
  command,
  ...(repeat ? ["repeat"] : []),
];

console.log(`# parallax benchmarks\n\nmachine: ${await machine()}; ${rounds} rounds\n`);

if (wanted("first")) {
  for (const n of [32, 128, 512]) {
    for (const limit of [32, 128]) {
      await compare(`call "true", first contact: N=${n}, limit ${limit}`, [
        { name: `xargs -P ${limit} ssh`, argv: xargs(n, limit, "true") },
        {
          name: "parallax",
          argv: deno({ hostsFile: hostsFile(n), command: "true", limit, inline: true }),
        },
        { name: "Python parallax", argv: python(n, limit, "true") },
      ], n === 512 ? Math.min(rounds, 2) : rounds);
    }
  }
}

if (wanted("repeat")) {
  const n = 128;
  await compare(`call "true", repeat call (the second call of one process): N=${n}, limit 32`, [
    { name: "xargs -P 32 ssh (no reuse)", argv: xargs(n, 32, "true") },
    {
      name: "parallax, held pool with reuse",
      argv: deno({
        hostsFile: hostsFile(n),
        command: "true",
        limit: 32,
        repeat: true,
        reuse: true,
      }),
      printsTime: true,
    },
    {
      name: "parallax, held pool without reuse",
      argv: deno({
        hostsFile: hostsFile(n),
        command: "true",
        limit: 32,
        repeat: true,
        reuse: false,
      }),
      printsTime: true,
    },
    { name: "Python parallax", argv: python(n, 32, "true", true), printsTime: true },
  ]);
}

if (wanted("output")) {
  // 13.5 MB of text per host, 32 hosts: 432 MB in all.
  const command = 'head -c 13500000 /dev/zero | tr "\\\\0" x';
  const n = 32;
  await compare(`32 hosts each printing 13.5 MB (432 MB in all), limit 32`, [
    { name: "xargs -P 32 ssh > /dev/null", argv: xargs(n, 32, command) },
    {
      name: "parallax, inline",
      argv: deno({ hostsFile: hostsFile(n), command, limit: 32, inline: true }),
    },
    {
      name: "parallax, outdir, inline off",
      argv: deno({
        hostsFile: hostsFile(n),
        command,
        limit: 32,
        inline: false,
        outdir: `${dir}/out`,
      }),
    },
    { name: "Python parallax (inline)", argv: python(n, 32, command) },
  ]);
}

if (wanted("overhead")) {
  // A trivial local program in place of ssh: what is left is the engine's own cost per job.
  const n = 2000;
  const fake = `${dir}/fake-ssh`;
  await Deno.writeTextFile(fake, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(fake, 0o755);
  const hosts = `${dir}/fake-hosts`;
  await Deno.writeTextFile(hosts, Array.from({ length: n }, (_, i) => `f${i}`).join("\n") + "\n");
  await compare(
    `engine overhead: ${n} jobs of a trivial local program (${fake}) in place of ssh, limit 32`,
    [
      {
        name: "xargs -P 32 (same program)",
        argv: ["sh", "-c", `xargs -P 32 -I{} ${fake} {} true < ${hosts}`],
      },
      {
        name: "parallax",
        argv: deno({ hostsFile: hosts, command: "true", limit: 32, sshPath: fake }),
      },
    ],
  );
}

if (wanted("pool")) {
  const fake = `${dir}/fake-ssh`;
  const hosts = `${dir}/fake-hosts`;
  await compare(
    `pool size: 2000 trivial jobs, limit 32`,
    [1, 2, 4, 8].map((size) => ({
      name: `parallax, ${size} worker${size > 1 ? "s" : ""}`,
      argv: deno({ hostsFile: hosts, command: "true", limit: 32, sshPath: fake, poolSize: size }),
    })),
  );
  await compare(
    `pool size: call "true" on 128 aliases, limit 32`,
    [1, 2, 4, 8].map((size) => ({
      name: `parallax, ${size} worker${size > 1 ? "s" : ""}`,
      argv: deno({ hostsFile: hostsFile(128), command: "true", limit: 32, poolSize: size }),
    })),
  );
}

async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  if (
    (await new Deno.Command(PYTHON, { args: ["-c", "import parallax"] }).output().catch(() => null))
      ?.success !== true
  ) {
    missing.push("python3-parallax");
  }
  try {
    await Deno.stat("/usr/bin/time");
  } catch {
    missing.push("time");
  }
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(" ")} with apt-get`);
  const apt = (args: string[]) =>
    new Deno.Command("apt-get", { args, env: { DEBIAN_FRONTEND: "noninteractive" } }).output();
  await apt(["update", "-qq"]);
  const install = await apt(["install", "-y", "-qq", ...missing]);
  if (!install.success) {
    throw new Error(`cannot install ${missing.join(" ")}: run as root or install them`);
  }
}
