/**
 * Benchmark: hosts behind gateways, on a lab of network namespaces (4 gateways × 16 leaves by
 * default; leaves reachable only through their gateway; needs root). In one interleaved run:
 * parallax `call()` through gateways, the same by hand (`ssh gw 'xargs -P16 ssh leaf …'` on
 * every gateway at once: the floor; once more with each leaf's ssh in a session of its own, as
 * parallax runs them; once more spawned by a Deno script that has loaded parallax, each ssh in a
 * session of its own: the least a Deno controller can cost), parallax's CLI run on each gateway by
 * hand (what the gateways' own Deno costs), and plain `xargs ssh -J gw leaf` (every leaf's connection from the controller, through
 * its gateway); then a 10 MB copy to every leaf, relayed by parallax, by hand, and flat through
 * ProxyJump. For each: wall time, the controller's CPU (user + system of the whole process tree,
 * from `/usr/bin/time`), the whole machine's CPU meanwhile (gateways and leaves share its cores,
 * so their CPU becomes wall time) and the bytes the controller sent (the counters of its links to
 * the gateways). Between the two, the controller's CPU in runs of parallax `call()`, thread by
 * thread, and as each gateway serves more hosts (16, 64, 256: a stand-in ssh on the gateways).
 * Then kept connections: parallax's CLI with `--persist` through the gateways, a first run
 * (every connection made) and the next (the controller's to the gateways and the gateways' to
 * the leaves kept), then `persist --stop --gateways` before the next round.
 *
 * Usage: deno run -A bench/gateways.ts [--gateways 4] [--leaves 16] [--rounds 3] [--scale 1]
 * [--persist 1]
 * (`--scale 1`: only the controller's CPU, thread by thread and as gateways serve more hosts;
 * `--persist 1`: only the kept connections)
 *
 * @module
 */

import { shellQuote } from "../lib/runtime/_shell_quote.ts";
import { startLab } from "../tests/fixture/lab.ts";
import { machine, median, sh } from "./timing.ts";

const args = Object.fromEntries(
  Deno.args.join(" ").matchAll(/--(\w+)[= ](\d+)/g).map((m) => [m[1], Number(m[2])]),
);
const rounds = args.rounds ?? 3;
await using lab = await startLab({ gateways: args.gateways ?? 4, leaves: args.leaves ?? 16 });
const leaves = lab.allLeaves;
const cfg = lab.sshExtra[1];
// The leaves' ssh options on a gateway, as -o words (the lab's gateway command sets them for
// parallax through PARALLAX_OPTIONS).
const leafOptions = lab.gatewayCommand[1].replace(/^PARALLAX_OPTIONS=/, "").split(";")
  .map((o) => `-o ${o}`).join(" ");
const work = await Deno.makeTempDir({ prefix: "parallax-bench-gw-" });
// The leaves log in as the unprivileged test account, and write under `work/dst`.
await Deno.chmod(work, 0o755);
await sh(`head -c 10000000 /dev/urandom > ${work}/file10m`);

interface Sample {
  wall: number;
  cpu: number;
  /** CPU seconds the whole machine spent meanwhile (gateways and leaves included). */
  machineCpu: number;
  sent: number;
}

/** CPU seconds this machine has spent busy so far (`/proc/stat`: user, nice, system, irq, softirq). */
function machineCpu(): number {
  const [user, nice, system, , , irq, softirq] = Deno.readTextFileSync("/proc/stat")
    .split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq) / 100;
}

/** Runs a shell line under /usr/bin/time; wall and CPU seconds and bytes sent to the gateways. */
async function measure(script: string): Promise<Sample> {
  const before = await lab.sentToGateways();
  const busy = machineCpu();
  const output = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %U %S", "sh", "-c", script],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`'${script}' failed: ${text}`);
  const [, wall, user, sys] = /TIME (\S+) (\S+) (\S+)/.exec(text)!;
  return {
    wall: Number(wall),
    cpu: Number(user) + Number(sys),
    machineCpu: machineCpu() - busy,
    sent: (await lab.sentToGateways()) - before,
  };
}

const parallax = (spec: Record<string, unknown>) =>
  `${shellQuote(Deno.execPath())} run -A ${new URL("run_gateways.ts", import.meta.url).pathname} ${
    shellQuote(JSON.stringify({
      hosts: leaves,
      gateways: lab.topology,
      sshExtra: lab.sshExtra,
      gatewayCommand: lab.gatewayCommand,
      ...spec,
    }))
  }`;
const eachGateway = (line: (gateway: string, hosts: string[]) => string) =>
  lab.gateways.map((g) => `(${line(g, lab.leaves.get(g)!)}) &`).join("\n") + "\nwait";
/** `remote` run on every gateway at once, each with its hosts (`options`: for ssh to it). */
const byHand = (remote: (hosts: string[]) => string, options = "") =>
  eachGateway((g, hosts) => `ssh -F ${cfg} ${options} ${g} ${shellQuote(remote(hosts))}`);
/** On a gateway: `ssh <leaf options> <args>` to each of `hosts` (`{}`), 16 at a time. */
const toLeaves = (hosts: string[], args: string) =>
  `printf '%s\\n' ${hosts.join(" ")} | xargs -P16 -I{} ssh ${leafOptions} ${args}`;

const byHandTrue = (hosts: string[]) => toLeaves(hosts, "{} true");
const calls: Record<string, string> = {
  "parallax call() through gateways": parallax({ op: "call", command: "true" }),
  "by hand: ssh gw 'xargs -P16 ssh leaf true'": byHand(byHandTrue),
  "Deno's floor: the by-hand lines spawned in sessions by a script that loaded parallax": parallax({
    op: "floor",
    floor: lab.gateways.map((g) => ["-F", cfg, g, byHandTrue(lab.leaves.get(g)!)]),
  }),
  "by hand, each leaf's ssh in a session (setsid -w), as parallax runs them": byHand((hosts) =>
    `printf '%s\\n' ${hosts.join(" ")} | xargs -P16 -I{} setsid -w ssh ${leafOptions} {} true`
  ),
  "parallax's CLI run on each gateway by hand": byHand((hosts) =>
    `${lab.gatewayCommand.map(shellQuote).join(" ")} call -p 16 -H ${
      shellQuote(hosts.join(" "))
    } true`
  ),
  "xargs ssh -J gw leaf true": eachGateway((g, hosts) =>
    `printf '%s\\n' ${
      hosts.join(" ")
    } | xargs -P16 -I{} ssh -F ${cfg} -J ${g} ${leafOptions} {} true`
  ),
};
const dst = `${work}/dst`;
const clush = await clusterShell();
if (clush !== null) {
  calls["ClusterShell tree mode: clush -w leaves true"] = clush(`-w ${leaves.join(",")} true`);
}
const copies: Record<string, string> = {
  "parallax copy() relayed": parallax({ op: "copy", src: `${work}/file10m`, dstDir: dst }),
  "by hand: scp to gw, then xargs scp there": eachGateway((g, hosts) =>
    `scp -q -F ${cfg} ${work}/file10m ${g}:${work}/staged-${g} && ssh -F ${cfg} ${g} ${
      shellQuote(
        `printf '%s\\n' ${
          hosts.join(" ")
        } | xargs -P16 -I{} scp -q ${leafOptions} ${work}/staged-${g} {}:${dst}/{}; rm ${work}/staged-${g}`,
      )
    }`
  ),
  "flat scp -J gw to every leaf": eachGateway((g, hosts) =>
    `printf '%s\\n' ${
      hosts.join(" ")
    } | xargs -P16 -I{} scp -q -F ${cfg} -J ${g} ${leafOptions} ${work}/file10m {}:${dst}/{}`
  ),
};

/**
 * A command line prefix that runs `clush` in tree mode over the lab (a config folder of its own
 * with the lab's topology and ssh settings), or null when ClusterShell is not installed
 * (Debian: apt-get install clustershell).
 */
async function clusterShell(): Promise<((args: string) => string) | null> {
  const found = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", "import ClusterShell"],
    stderr: "null",
  }).output().catch(() => null);
  if (found === null || !found.success) return null;
  const dir = `${work}/clustershell`;
  await Deno.mkdir(dir);
  const leafLines = leafOptions.split(" -o ").map((o) => o.replace(/^-o /, "").replace("=", " "));
  await Deno.writeTextFile(
    `${dir}/ssh_config`,
    `Include ${cfg}\nHost 10.*\n${leafLines.map((o) => `  ${o}`).join("\n")}\n`,
  );
  await Deno.writeTextFile(
    `${dir}/clush.conf`,
    `[Main]\nfanout: 16\nconnect_timeout: 15\ncommand_timeout: 0\n` +
      `ssh_options: -F ${dir}/ssh_config -oBatchMode=yes\n`,
  );
  const self = new TextDecoder().decode((await new Deno.Command("hostname").output()).stdout)
    .trim();
  await Deno.writeTextFile(
    `${dir}/topology.conf`,
    `[routes]\n${self}: ${lab.gateways.join(",")}\n` +
      lab.gateways.map((g) => `${g}: ${lab.leaves.get(g)!.join(",")}\n`).join(""),
  );
  // The gateways must run the system's Python, the one ClusterShell is installed for.
  return (args) =>
    `CLUSTERSHELL_CFGDIR=${dir} CLUSTERSHELL_GW_PYTHON_EXECUTABLE=/usr/bin/python3 clush ${args}`;
}

if (clush !== null) {
  // Every leaf writes the same path of this machine's one file system: a cost of transfer, not a
  // check of the result.
  copies["ClusterShell tree mode: clush --copy"] = clush(
    `-w ${leaves.join(",")} --copy ${work}/file10m --dest ${dst}/`,
  );
}

const gatewaysFile = `${work}/gateways`;
await Deno.writeTextFile(
  gatewaysFile,
  lab.gateways.map((g) => `${g}: ${lab.leaves.get(g)!.join(" ")}\n`).join(""),
);
/** parallax's CLI: `command`, the flags that reach the lab's gateways, then `rest`. */
const parallaxCli = (command: string, rest = "") =>
  `${shellQuote(Deno.execPath())} run -A ${
    new URL("../cli.ts", import.meta.url).pathname
  } ${command} -x ${
    shellQuote(lab.sshExtra.join(" "))
  } --gateways ${gatewaysFile} --gateway-command ${
    shellQuote(lab.gatewayCommand.map(shellQuote).join(" "))
  } ${rest}`;

/**
 * A first `--persist` run through the gateways, the next (every connection kept), and the floor
 * of the next: by hand through kept masters (the controller's to each gateway, each gateway's to
 * its leaves; `ssh -M` started before and ended after the rounds).
 */
async function persistTable(n: number) {
  const line = parallaxCli(
    "call",
    `--gateway-limit 16 -H ${shellQuote(leaves.join(" "))} --persist=60 true`,
  );
  const kept = `-o ControlPath=${work}/kept-%C`;
  // -n: stdin from /dev/null, so that xargs keeps its own (the list of leaves).
  const master = `-n -o ControlMaster=yes -o ControlPersist=300 ${kept} -fN`;
  const quiet = "> /dev/null 2>&1";
  await sh(eachGateway((g) => `ssh -F ${cfg} ${master} ${g} ${quiet}`));
  await sh(byHand((hosts) => toLeaves(hosts, `${master} {} ${quiet}`), kept));
  const byHandKept = byHand((hosts) => toLeaves(hosts, `${kept} {} true`), kept);
  const samples = new Map([
    ["CLI --persist, first run", [] as Sample[]],
    ["CLI --persist, next run (connections kept)", [] as Sample[]],
    ["by hand through kept masters: ssh gw 'xargs -P16 ssh leaf true'", [] as Sample[]],
  ]);
  for (let round = 0; round < n; round++) {
    const [first, next, floor] = samples.values();
    first.push(await measure(line));
    next.push(await measure(line));
    await sh(`${parallaxCli("persist", "--stop")} > /dev/null`);
    floor.push(await measure(byHandKept));
  }
  await sh(byHand((hosts) => toLeaves(hosts, `${kept} -O exit {} 2>/dev/null`), kept));
  await sh(eachGateway((g) => `ssh -F ${cfg} ${kept} -O exit ${g} 2>/dev/null`));
  report(
    "Kept connections through the gateways",
    samples,
    "by hand through kept masters: ssh gw 'xargs -P16 ssh leaf true'",
  );
}

async function run(contenders: Record<string, string>, n: number) {
  const samples = new Map(Object.keys(contenders).map((name) => [name, [] as Sample[]]));
  for (let round = 0; round < n; round++) {
    for (const [name, script] of Object.entries(contenders)) {
      await Deno.mkdir(dst, { recursive: true });
      await Deno.chmod(dst, 0o777);
      samples.get(name)!.push(await measure(script));
      await Deno.remove(dst, { recursive: true });
    }
  }
  return samples;
}

function report(title: string, samples: Map<string, Sample[]>, floor: string) {
  const base = median(samples.get(floor)!.map((s) => s.wall));
  console.log(`\n### ${title}\n`);
  console.log(
    "| contender | wall | ÷ floor | controller CPU | per leaf | machine CPU | sent by controller | per leaf |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const [name, list] of samples) {
    const wall = median(list.map((s) => s.wall));
    const cpu = median(list.map((s) => s.cpu));
    const sent = median(list.map((s) => s.sent));
    const machine = median(list.map((s) => s.machineCpu));
    console.log(
      `| ${name} | ${wall.toFixed(2)} s | ${(wall / base).toFixed(2)}× | ${cpu.toFixed(2)} s | ${
        (cpu * 1000 / leaves.length).toFixed(1)
      } ms | ${machine.toFixed(2)} s | ${(sent / 1e6).toFixed(2)} MB | ${
        (sent / leaves.length / 1000).toFixed(1)
      } KB |`,
    );
  }
}

const PARTS = ["bootMs", "loadMs", "restMs", "helpersMs", "otherMs", "sshMs"];

/** The controller's CPU (ms) of one parallax `call()`, part by part (see `run_gateways.ts`). */
async function threadUse(spec: Record<string, unknown>): Promise<number[]> {
  const output = await new Deno.Command("sh", {
    args: ["-c", parallax({ op: "call", command: "true", threads: true, ...spec })],
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("the threads run failed");
  const use: Record<string, number> = JSON.parse(new TextDecoder().decode(output.stdout));
  return PARTS.map((k) => use[k]);
}

const sum = (parts: number[]) => parts.reduce((a, b) => a + b, 0);

/** Where the controller's CPU goes, thread by thread, in `n` runs of parallax `call()`. */
async function threadsTable(n: number) {
  console.log("\n### Controller CPU of parallax `call()` by thread (ms)\n");
  console.log(
    "| run | boot | loading parallax | rest of the main thread | V8 helpers | other threads | ssh | total |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (let i = 1; i <= n; i++) {
    const parts = await threadUse({});
    console.log(`| ${i} | ${parts.join(" | ")} | ${sum(parts)} |`);
  }
}

/**
 * The controller's CPU per leaf as each gateway serves more hosts: the lab's gateways run
 * parallax as usual, with a stand-in `ssh` (a script that exits 0) for their hosts, so that the
 * controller's side is measured at sizes this machine has no room to run sshds for.
 */
async function scaleTable(perGateway: readonly number[]) {
  const standIn = `${work}/stand-in`;
  await Deno.mkdir(standIn);
  await Deno.writeTextFile(`${standIn}/ssh`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const gatewayCommand = ["env", `PATH=${standIn}:/usr/bin:/bin`, ...lab.gatewayCommand.slice(1)];
  console.log(
    "\n### Controller CPU as gateways serve more hosts (a stand-in ssh on the gateways, ms)\n",
  );
  console.log("| hosts | per gateway | main thread | ssh | total | per host |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const count of perGateway) {
    const gateways = Object.fromEntries(
      lab.gateways.map((g) => [g, Array.from({ length: count }, (_, i) => `${g}-host${i}`)]),
    );
    const hosts = Object.values(gateways).flat();
    const parts = await threadUse({ hosts, gateways, gatewayCommand });
    const total = sum(parts);
    console.log(
      `| ${hosts.length} | ${count} | ${sum(parts.slice(0, 3))} | ${parts[5]} | ${total} | ${
        (total / hosts.length).toFixed(2)
      } |`,
    );
  }
}

try {
  console.log(`${machine ? await machine() : ""}`);
  console.log(
    `${lab.gateways.length} gateways × ${
      leaves.length / lab.gateways.length
    } leaves, medians of ${rounds}`,
  );
  // One warm-up of each, so that Deno's cache and the gateways' first compile are not measured.
  await run({ ...calls }, 1);
  if (args.persist === 1) {
    await persistTable(rounds);
  } else if (args.scale === 1) {
    // --scale 1: the controller's CPU alone (thread by thread, then as gateways serve more).
    await threadsTable(rounds);
    await scaleTable([16, 64, 256]);
  } else {
    await everything();
  }
} finally {
  await Deno.remove(work, { recursive: true });
}

/** Every table: the calls, the controller's CPU, the copies. */
async function everything() {
  report(
    "`true` on every leaf",
    await run(calls, rounds),
    "by hand: ssh gw 'xargs -P16 ssh leaf true'",
  );
  await threadsTable(rounds);
  await scaleTable([16, 64, 256]);
  await persistTable(rounds);
  const copied = await run(copies, Math.max(1, rounds - 1));
  report("10 MB copied to every leaf", copied, "by hand: scp to gw, then xargs scp there");
  const relayed = median(copied.get("parallax copy() relayed")!.map((s) => s.sent));
  console.log(
    `\nrelay copy sent ${(relayed / 1e6).toFixed(2)} MB = ${
      (relayed / (lab.gateways.length * 10_000_000)).toFixed(3)
    } × gateways × size`,
  );
}
