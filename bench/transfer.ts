/**
 * Benchmark: a 10 MB file copied to N aliases and slurped from N aliases of the loopback test
 * sshd, parallax against `xargs -P N scp` over the same aliases (the raw bound), with and without
 * compression, and the Python original (which always compresses) when python3-parallax is
 * installed — interleaved, in one run.
 *
 * Usage: deno run -A bench/transfer.ts [--hosts 32] [--rounds 3]
 *
 * @module
 */

import { copy, ParallaxError, slurp } from "../mod.ts";
import { startSshd } from "../tests/fixture/sshd.ts";
import { type Contender, interleaved, machine, sh, table } from "./timing.ts";

const args = Object.fromEntries(
  Deno.args.join(" ").matchAll(/--(\w+)[= ](\d+)/g).map((m) => [m[1], Number(m[2])]),
);
const hosts = args.hosts ?? 32;
const rounds = args.rounds ?? 3;
const PYTHON = "/usr/bin/python3";

await using sshd = await startSshd({ aliases: hosts });
const dir = sshd.dir;
const aliasFile = `${dir}/aliases`;
await Deno.writeTextFile(aliasFile, sshd.aliases.join("\n") + "\n");
// Log-like text: compressible, so that compression gets its best case.
await sh(
  `seq -f 'line %08g of a log file that compresses well' 1 230000 | head -c 10000000 > ${dir}/file10m`,
);
await Deno.mkdir(`${dir}/remote`);
await Deno.chmod(`${dir}/remote`, 0o777); // the aliases log in as the unprivileged test account
const cfg = sshd.configPath;
const python = await hasPythonParallax();

function expectAll(results: Map<string, unknown>) {
  const failures = [...results.values()].filter((r) => r instanceof ParallaxError);
  if (failures.length > 0) throw new Error(`${failures.length} hosts failed: ${failures[0]}`);
}

/**
 * Every alias is this one machine: each host writes a path of its own, as on real hosts. The
 * Python original takes one destination for every host, so it is measured on one shared path,
 * beside parallax on the same (for parallax the shared path made no difference: 1.741× against
 * 1.780× of `xargs scp` per host on 2026-11-26; the sessions below are what costs).
 */
const perHost = (host: { host: string }) => `${dir}/remote/${host.host}`;
const SHARED = "one path for every host";
/**
 * parallax starts every scp in a session of its own (so that a terminal's Ctrl-C reaches parallax
 * alone). Linux schedules each session as a group of its own (autogroup): on this one machine,
 * where every sshd session is a group too, that alone slows a copy of 32 hosts by ~1.4× (measured
 * with `xargs … setsid -w scp`). The same floor in sessions shows what is parallax's own cost.
 */
const SESSIONS = "each in a session, as parallax runs them";

let run = 0;
const fresh = (name: string) => `${dir}/${name}-${++run}`;
const copyContenders: Contender[] = [
  {
    name: `xargs -P ${hosts} scp`,
    run: () =>
      sh(
        `xargs -P ${hosts} -I{} scp -s -F ${cfg} ${dir}/file10m {}:${dir}/remote/{} < ${aliasFile}`,
      ),
  },
  {
    name: `xargs -P ${hosts} setsid -w scp (${SESSIONS})`,
    run: () =>
      sh(
        `xargs -P ${hosts} -I{} setsid -w scp -s -F ${cfg} ${dir}/file10m {}:${dir}/remote/{} < ${aliasFile}`,
      ),
  },
  {
    name: `xargs -P ${hosts} scp -C`,
    run: () =>
      sh(
        `xargs -P ${hosts} -I{} scp -s -C -F ${cfg} ${dir}/file10m {}:${dir}/remote/{} < ${aliasFile}`,
      ),
  },
  {
    name: "parallax copy",
    run: async () =>
      expectAll(
        await copy(sshd.aliases, `${dir}/file10m`, perHost, {
          sshExtra: sshd.sshExtra,
          limit: hosts,
        }),
      ),
  },
  {
    name: "parallax copy, compress",
    run: async () =>
      expectAll(
        await copy(sshd.aliases, `${dir}/file10m`, perHost, {
          sshExtra: sshd.sshExtra,
          limit: hosts,
          compress: true,
        }),
      ),
  },
  {
    name: `parallax copy, ${SHARED}`,
    run: async () =>
      expectAll(
        await copy(sshd.aliases, `${dir}/file10m`, `${dir}/remote/f`, {
          sshExtra: sshd.sshExtra,
          limit: hosts,
        }),
      ),
  },
];
const slurpContenders: Contender[] = [
  {
    name: `xargs -P ${hosts} scp`,
    run: () => {
      const out = fresh("xs");
      return sh(
        `xargs -P ${hosts} -I{} sh -c 'mkdir -p ${out}/{} && scp -s -F ${cfg} {}:${dir}/file10m ${out}/{}/f' < ${aliasFile}`,
      );
    },
  },
  {
    name: `xargs -P ${hosts} setsid -w scp (${SESSIONS})`,
    run: () => {
      const out = fresh("xss");
      return sh(
        `xargs -P ${hosts} -I{} sh -c 'mkdir -p ${out}/{} && exec setsid -w scp -s -F ${cfg} {}:${dir}/file10m ${out}/{}/f' < ${aliasFile}`,
      );
    },
  },
  {
    name: "parallax slurp",
    run: async () =>
      expectAll(
        await slurp(sshd.aliases, `${dir}/file10m`, "f", {
          sshExtra: sshd.sshExtra,
          limit: hosts,
          localdir: fresh("ps"),
        }),
      ),
  },
  {
    name: "parallax slurp, compress",
    run: async () =>
      expectAll(
        await slurp(sshd.aliases, `${dir}/file10m`, "f", {
          sshExtra: sshd.sshExtra,
          limit: hosts,
          localdir: fresh("pc"),
          compress: true,
        }),
      ),
  },
];
if (python) {
  await Deno.writeTextFile(
    `${dir}/py.py`,
    [
      "import sys, parallax",
      "o = parallax.Options(); o.limit = int(sys.argv[2]); o.ssh_options = ['UserKnownHostsFile=%s/known_hosts' % sys.argv[5]]",
      "o.ssh_extra = ['-F', sys.argv[1]]",
      "hosts = open(sys.argv[3]).read().split()",
      "if sys.argv[4] == 'copy': r = parallax.copy(hosts, sys.argv[6], sys.argv[7], o)",
      "else:",
      "    o.localdir = sys.argv[7]; r = parallax.slurp(hosts, sys.argv[6], 'f', o)",
      "bad = [h for h, v in r.items() if isinstance(v, parallax.Error)]",
      "print(bad[:1], r[bad[0]] if bad else '', file=sys.stderr) if bad else None",
      "sys.exit(1 if bad else 0)",
    ].join("\n"),
  );
  copyContenders.push({
    name: `parallax (Python) copy, ${SHARED}`,
    run: () =>
      sh(
        `${PYTHON} ${dir}/py.py ${cfg} ${hosts} ${aliasFile} copy ${dir} ${dir}/file10m ${dir}/remote/f`,
      ),
  });
  slurpContenders.push({
    name: "parallax (Python) slurp",
    run: () =>
      sh(
        `${PYTHON} ${dir}/py.py ${cfg} ${hosts} ${aliasFile} slurp ${dir} ${dir}/file10m ${
          fresh("py")
        }`,
      ),
  });
}

console.log(`10 MB file, ${hosts} aliases, limit ${hosts}, ${rounds} interleaved rounds`);
console.log(`machine: ${await machine()}\n`);
console.log("copy (local → every host):\n");
console.log(table(await interleaved(copyContenders, rounds), copyContenders[0].name));
console.log("\nslurp (every host → local folder per host):\n");
console.log(table(await interleaved(slurpContenders, rounds), slurpContenders[0].name));

async function hasPythonParallax(): Promise<boolean> {
  try {
    await sh(`${PYTHON} -c 'import parallax'`);
    return true;
  } catch {
    console.error("python3-parallax not installed: skipping the Python original");
    return false;
  }
}
