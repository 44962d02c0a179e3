/**
 * Benchmark: wall time of `call(hosts, "true")` over N aliases of the loopback test sshd at a
 * given limit, against `xargs -P LIMIT ssh … true` over the same aliases (the raw lower bound)
 * and, when Debian's python3-parallax is installed, the Python original — interleaved, in one run.
 *
 * Usage: deno run -A bench/call_true.ts [--hosts 128] [--limit 32] [--rounds 3]
 *
 * @module
 */

import { call, ParallaxError } from "../mod.ts";
import { startSshd } from "../tests/fixture/sshd.ts";
import { type Contender, interleaved, machine, sh, table } from "./timing.ts";

const args = Object.fromEntries(
  Deno.args.join(" ").matchAll(/--(\w+)[= ](\d+)/g).map((m) => [m[1], Number(m[2])]),
);
const hosts = args.hosts ?? 128;
const limit = args.limit ?? 32;
const rounds = args.rounds ?? 3;

await using sshd = await startSshd({ aliases: hosts });
const aliasFile = `${sshd.dir}/aliases`;
await Deno.writeTextFile(aliasFile, sshd.aliases.join("\n") + "\n");

const contenders: Contender[] = [
  {
    name: `xargs -P ${limit} ssh`,
    run: () => sh(`xargs -P ${limit} -I{} ssh -F ${sshd.configPath} {} true < ${aliasFile}`),
  },
  {
    name: "parallax (Deno)",
    run: async () => {
      const results = await call(sshd.aliases, "true", { sshExtra: sshd.sshExtra, limit });
      const failures = [...results.values()].filter((r) => r instanceof ParallaxError);
      if (failures.length > 0) throw new Error(`${failures.length} hosts failed: ${failures[0]}`);
    },
  },
];
if (await hasPythonParallax()) {
  const script = [
    "import sys, parallax",
    "o = parallax.Options(); o.limit = int(sys.argv[2]); o.ssh_extra = ['-F', sys.argv[1]]",
    "hosts = open(sys.argv[3]).read().split()",
    "r = parallax.call(hosts, 'true', o)",
    "bad = [h for h, v in r.items() if isinstance(v, parallax.Error)]",
    "sys.exit(1 if bad else 0)",
  ].join("\n");
  await Deno.writeTextFile(`${sshd.dir}/py_call.py`, script);
  contenders.push({
    name: "parallax (Python)",
    run: () =>
      sh(`/usr/bin/python3 ${sshd.dir}/py_call.py ${sshd.configPath} ${limit} ${aliasFile}`),
  });
}

const times = await interleaved(contenders, rounds);
console.log(`call "true" on ${hosts} aliases, limit ${limit}, ${rounds} interleaved rounds`);
console.log(`machine: ${await machine()}\n`);
console.log(table(times, contenders[0].name));

async function hasPythonParallax(): Promise<boolean> {
  try {
    await sh("/usr/bin/python3 -c 'import parallax'");
    return true;
  } catch {
    console.error(
      "python3-parallax not installed: skipping the Python original (apt-get install python3-parallax)",
    );
    return false;
  }
}
