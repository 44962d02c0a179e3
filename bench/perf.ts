/**
 * The performance benchmarks: every contender runs as its own process under `/usr/bin/time`, so
 * each row has a wall time and a peak RSS; rounds are interleaved and the tables give medians and
 * ratios measured in the same run. Installs python3-parallax and time with apt-get when missing
 * (as root). Logs in as the test sshd's unprivileged account, whose shell reads no start-up files.
 *
 * Usage: deno run -A bench/perf.ts [--rounds 3]
 * [--only first,repeat,warm,output,input,lines,overhead,pool] [--sizes 32,128,512]
 * [--kex curve25519-sha256] (every contender's ssh uses this key exchange: a line at the top of
 * the fixture's ssh config)
 *
 * @module
 */

import { startSshd } from "../tests/fixture/sshd.ts";
import { machine, median, startKeptMasters } from "./timing.ts";

const argText = Deno.args.join(" ");
const rounds = Number(/--rounds[= ](\d+)/.exec(argText)?.[1] ?? 3);
const only = /--only[= ](\S+)/.exec(argText)?.[1].split(",");
const wanted = (section: string) => only === undefined || only.includes(section);
/** `--sizes 512`: first contact at these host counts only. */
const sizes = /--sizes[= ](\S+)/.exec(argText)?.[1].split(",").map(Number) ?? [32, 128, 512];
/** `--kex NAME`: the key exchange every contender's ssh uses (default: OpenSSH's own). */
const kex = /--kex[= ](\S+)/.exec(argText)?.[1];
const ROOT = new URL("..", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

await ensureTools();
await using sshd = await startSshd({ aliases: 512, unprivileged: true });
const dir = sshd.dir;
const cfg = sshd.configPath;
if (kex !== undefined) {
  Deno.writeTextFileSync(cfg, `KexAlgorithms ${kex}\n` + Deno.readTextFileSync(cfg));
}
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
  /** MiB the caller holds at the end, for the RSS ÷ held column. */
  heldMiB?: number;
}

interface Sample {
  ms: number;
  rssKiB: number;
  /** CPU milliseconds (user and system, the process and its children). */
  cpuMs: number;
}

async function measure(contender: Contender): Promise<Sample> {
  const rssFile = `${dir}/rss`;
  const started = performance.now();
  const output = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M %U %S", "-o", rssFile, ...contender.argv],
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
  const [rss, user, system] = (await Deno.readTextFile(rssFile)).trim().split("\n").at(-1)!
    .split(" ").map(Number);
  const printed = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1) ?? "";
  // A repeat run prints the repeat call's wall time and CPU: its own first call is not counted.
  const [ms, cpuMs] = printed.split(" ").map(Number);
  return contender.printsTime
    ? { ms, rssKiB: rss, cpuMs }
    : { ms: wall, rssKiB: rss, cpuMs: (user + system) * 1000 };
}

async function compare(
  title: string,
  contenders: Contender[],
  runs = rounds,
  /** Hosts per run: adds a column of local CPU per host (median). */
  perHost?: number,
): Promise<string> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < runs; round++) {
    for (const contender of contenders) samples.get(contender.name)!.push(await measure(contender));
  }
  const base = median(samples.get(contenders[0].name)!.map((s) => s.ms));
  const rows = contenders.map(({ name, heldMiB }) => {
    const list = samples.get(name)!;
    const ms = median(list.map((s) => s.ms));
    const rss = Math.max(...list.map((s) => s.rssKiB)) / 1024;
    const held = heldMiB === undefined ? "" : `${(rss / heldMiB).toFixed(2)}×`;
    const cpu = perHost === undefined
      ? ""
      : ` ${(median(list.map((s) => s.cpuMs)) / perHost).toFixed(2)} ms |`;
    return `| ${name} | ${(ms / 1000).toFixed(3)} s | ${(ms / base).toFixed(3)}× | ${
      rss.toFixed(1)
    } MiB | ${held} |${cpu} ${list.map((s) => (s.ms / 1000).toFixed(2)).join(", ")} |`;
  });
  const cpuHead = perHost === undefined ? "" : " CPU per host |";
  const table = [
    `**${title}**`,
    "",
    `| contender | median | vs ${
      contenders[0].name
    } | peak RSS | RSS ÷ held |${cpuHead} runs (s) |`,
    `|---|---|---|---|---|${perHost === undefined ? "" : "---|"}---|`,
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
/** One measured round of plain warm sessions (see bench/run_warm_floor.ts). */
const warmFloor = (n: number, masters: string, variant: string, command: string) => [
  Deno.execPath(),
  "run",
  "--allow-all",
  `${ROOT}bench/run_warm_floor.ts`,
  cfg,
  masters,
  hostsFile(n),
  variant,
  command,
];
/** `parallax call` on the first n aliases, with these flags and command. */
const cli = (n: number, args: string[]): string[] => [
  Deno.execPath(),
  "run",
  "-A",
  `${ROOT}cli.ts`,
  "call",
  "-h",
  hostsFile(n),
  "-x",
  `-F ${cfg}`,
  ...args,
];
const xargs = (n: number, limit: number, command: string, ssh = `ssh -F ${cfg}`) => [
  "sh",
  "-c",
  `xargs -P ${limit} -I{} ${ssh} {} '${command}' < ${hostsFile(n)} > /dev/null`,
];
/** The pipe floor: ssh writes into a pipe, as it does under parallax. */
const xargsPiped = (n: number, limit: number, command: string) => [
  "sh",
  "-c",
  `xargs -P ${limit} -I{} sh -c "ssh -F ${cfg} {} '${command}' | cat > /dev/null" < ${
    hostsFile(n)
  }`,
];
/** The argv with its stdout sent to /dev/null (exec: the same process, for its RSS). */
const toDevNull = (argv: string[]) => ["sh", "-c", 'exec "$0" "$@" > /dev/null', ...argv];
const python = (n: number, limit: number, command: string, repeat = false) => [
  PYTHON,
  `${ROOT}bench/run_python.py`,
  cfg,
  String(limit),
  hostsFile(n),
  command,
  ...(repeat ? ["repeat"] : []),
];

console.log(
  `# parallax benchmarks\n\nmachine: ${await machine()}; ${rounds} rounds${
    kex === undefined ? "" : `; key exchange ${kex}`
  }\n`,
);

if (wanted("first")) {
  for (const n of sizes) {
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

if (wanted("warm")) {
  // The repeat path: many calls to the same fleet. The floor is `xargs -P 32 ssh` through one
  // kept master per host (OpenSSH multiplexing: no handshake, a new session and ssh per command).
  const n = 128;
  const kept = await startKeptMasters(cfg, `${dir}/masters`, sshd.aliases.slice(0, n));
  const masters = kept.folder;
  try {
    // A held pool's first call opens the warm sessions as its hosts finish: what that costs.
    await compare(`call "true", first call on a held pool: N=${n}, limit 32`, [
      { name: `xargs -P 32 ssh`, argv: xargs(n, 32, "true") },
      {
        name: "parallax, held pool, warm (opens the warm sessions)",
        argv: deno({ hostsFile: hostsFile(n), command: "true", limit: 32, reuse: true }),
      },
      {
        name: "parallax, held pool, warm: false (idle sessions, as before)",
        argv: deno({
          hostsFile: hostsFile(n),
          command: "true",
          limit: 32,
          reuse: true,
          warm: false,
        }),
      },
    ]);
    for (
      const [what, command] of [["true", "true"], ["4 KB of output", "head -c 4096 /dev/zero"]]
    ) {
      const repeat = (spec: Record<string, unknown>) =>
        deno({ hostsFile: hostsFile(n), command, limit: 32, repeat: true, ...spec });
      await compare(
        `call ${JSON.stringify(command)} (${what}), repeat call: N=${n}, limit 32; ` +
          "CPU per host: local CPU (user + system, with the ssh processes) of the repeat call",
        [
          {
            name: "xargs -P 32 ssh through kept masters (multiplexing floor)",
            argv: xargs(
              n,
              32,
              command,
              `ssh -F ${cfg} -o ControlMaster=no -o ControlPath=${masters}/{}`,
            ),
          },
          {
            name: "parallax, held pool, warm hosts",
            argv: repeat({ reuse: true, settleMs: 1000 }),
            printsTime: true,
          },
          {
            name: "parallax, held pool, reuse without warm (multiplexed)",
            argv: repeat({ reuse: true, warm: false, settleMs: 1000 }),
            printsTime: true,
          },
          {
            name: "Python parallax, repeat call",
            argv: python(n, 32, command, true),
            printsTime: true,
          },
          {
            name: "plain sessions, setsid + login shell per command (the warm path's floor)",
            argv: warmFloor(n, masters, "exact", command),
            printsTime: true,
          },
          {
            name: "plain sessions, the command in the session's shell (the issue's limit)",
            argv: warmFloor(n, masters, "limit", command),
            printsTime: true,
          },
        ],
        rounds,
        n,
      );
    }
  } finally {
    await kept.stop();
  }
}

if (wanted("output")) {
  // 13.5 MB of base64 text per host, 32 hosts: 432 MB (412 MiB) held in all.
  const command = "head -c 10000000 /dev/zero | base64";
  const n = 32;
  const heldMiB = (n * 13_500_000) / 2 ** 20;
  const run = (spec: Record<string, unknown>) =>
    deno({ hostsFile: hostsFile(n), command, limit: 32, ...spec });
  await compare(
    `32 hosts each printing 13.5 MB (${heldMiB.toFixed(0)} MiB in all), limit 32; ` +
      "RSS ÷ held: peak RSS over the bytes the caller holds at the end",
    [
      { name: "xargs -P 32 ssh … piped to cat (pipe floor)", argv: xargsPiped(n, 32, command) },
      { name: "xargs -P 32 ssh … > /dev/null (file floor)", argv: xargs(n, 32, command) },
      { name: "parallax, inline, stdoutBytes read", argv: run({ read: "bytes" }), heldMiB },
      { name: "parallax, inline, stdout read", argv: run({ read: "text" }), heldMiB },
      {
        name: "parallax, outdir, inline off",
        argv: run({ inline: false, outdir: `${dir}/out` }),
      },
      { name: "parallax, callStream", argv: run({ stream: true, inline: false }) },
      { name: "parallax, printOut", argv: toDevNull(run({ printOut: true, inline: false })) },
      { name: "Python parallax (inline)", argv: python(n, 32, command) },
    ],
  );
  // The outdir row's files, byte for byte against the command's output made here.
  const expected = `${dir}/expected-output`;
  await new Deno.Command("sh", { args: ["-c", `${command} > ${expected}`] }).output();
  const differ = sshd.aliases.slice(0, n).filter((host) =>
    !new Deno.Command("cmp", { args: ["-s", expected, `${dir}/out/${host}`] }).outputSync().success
  );
  console.log(
    differ.length === 0
      ? `outdir: all ${n} files byte-exact\n`
      : `outdir: ${differ.length} of ${n} files differ from the output (${differ[0]} first)\n`,
  );
}

if (wanted("input")) {
  // 100 MB of input to 8 hosts: held once, whatever the number of hosts.
  const n = 8;
  const inputFile = `${dir}/input-100MB`;
  await Deno.writeFile(inputFile, new Uint8Array(100_000_000).fill(120));
  const command = "cat > /dev/null";
  const heldMiB = 100_000_000 / 2 ** 20;
  await compare(`100 MB of input to 8 hosts (${heldMiB.toFixed(0)} MiB), limit 8`, [
    {
      name: "xargs -P 8 ssh … < file",
      argv: [
        "sh",
        "-c",
        `xargs -P 8 -I{} sh -c "ssh -F ${cfg} {} '${command}' < ${inputFile}" < ${hostsFile(n)}`,
      ],
    },
    {
      name: "parallax, input: Uint8Array",
      argv: deno({ hostsFile: hostsFile(n), command, limit: 8, inputFile }),
      heldMiB,
    },
    {
      name: "parallax, input: shared Uint8Array",
      argv: deno({ hostsFile: hostsFile(n), command, limit: 8, inputFile, sharedInput: true }),
      heldMiB,
    },
    {
      name: "parallax, input: string (Deno.readTextFile alone peaks at 2× the file)",
      argv: deno({ hostsFile: hostsFile(n), command, limit: 8, inputFile, textInput: true }),
      heldMiB,
    },
    {
      name: "parallax CLI, -I < file",
      argv: [
        "sh",
        "-c",
        `exec "$0" "$@" < ${inputFile} > /dev/null`,
        ...cli(n, ["-p", "8", "-I", command]),
      ],
      heldMiB,
    },
  ]);
}

if (wanted("lines")) {
  // One 40 MB line through printOut, against the same bytes in 80-byte lines.
  const long = "head -c 40000000 /dev/zero | tr '\\0' x; echo";
  const short = "head -c 40000000 /dev/zero | tr '\\0' x | fold -w 79";
  const one = { hostsFile: hostsFile(1), limit: 1, printOut: true, inline: false };
  await compare("printOut: 40 MB on one host, in 80-byte lines and as one line", [
    {
      name: "parallax, printOut, 80-byte lines",
      argv: toDevNull(deno({ ...one, command: short })),
    },
    {
      name: "parallax, printOut, one 40 MB line",
      argv: toDevNull(deno({ ...one, command: long })),
    },
    { name: "parallax CLI -P, 80-byte lines", argv: toDevNull(cli(1, ["-P", short])) },
    { name: "parallax CLI -P, one 40 MB line", argv: toDevNull(cli(1, ["-P", long])) },
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
