/**
 * `parallax call --persist` on 128 hosts: the first run (handshakes) against the second (through
 * the kept masters), with results compared, in one run. Prints a Markdown table.
 *
 * Run: `deno run --allow-all bench/persist.ts`
 *
 * @module
 */

import { startSshd } from "../tests/fixture/sshd.ts";
import { machine, median } from "./timing.ts";

const HOSTS = 128;
const ROUNDS = 3;
await using sshd = await startSshd({ aliases: HOSTS, addresses: 16, unprivileged: true });
const cli = [
  "run",
  "--quiet",
  "--allow-run=ssh,scp",
  "--allow-read",
  "--allow-write",
  "--allow-sys=uid",
  "--allow-env",
  new URL("../cli.ts", import.meta.url).pathname,
];

async function parallax(args: string[]): Promise<{ ms: number; records: string[] }> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...cli, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const ms = performance.now() - started;
  const records = new TextDecoder().decode(output.stdout).trim().split("\n").map((line) => {
    const { host, stdout, exitCode } = JSON.parse(line);
    return `${host} ${exitCode} ${stdout}`;
  }).sort();
  return { ms, records };
}

const call = ["call", "-x", `-F ${sshd.configPath}`, "-H", `h[001-${HOSTS}]`, "-p", "32"];
const first: number[] = [];
const second: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  await parallax(["persist", "--stop"]).catch(() => {});
  const a = await parallax([...call, "--persist=60", "--json", "echo $PARALLAX_NODENUM"]);
  const b = await parallax([...call, "--persist=60", "--json", "echo $PARALLAX_NODENUM"]);
  if (a.records.join("\n") !== b.records.join("\n")) throw new Error("the second run differs");
  first.push(a.ms);
  second.push(b.ms);
}
await parallax(["persist", "--stop"]).catch(() => {});
const f = median(first);
const s = median(second);
console.log(`### --persist, ${HOSTS} hosts, limit 32 (${await machine()})\n`);
console.log("| run | median | ÷ first |");
console.log("| --- | --- | --- |");
console.log(
  `| first \`parallax call --persist\` (handshakes) | ${(f / 1000).toFixed(2)} s | 1.00 |`,
);
console.log(
  `| second, through the kept masters | ${(s / 1000).toFixed(2)} s | ${(s / f).toFixed(3)} |`,
);
console.log(`\nresults identical in every round (${ROUNDS} rounds)`);
