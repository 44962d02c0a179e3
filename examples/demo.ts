/**
 * Demo: starts a throwaway OpenSSH server on loopback with eight host aliases (plus one that
 * refuses connections), runs one command on all of them with `call()`, and prints each host's
 * result. Run with `deno task demo`.
 *
 * @module
 */

import { call, ParallaxError } from "../mod.ts";
import { startSshd } from "../tests/fixture/sshd.ts";

await using sshd = await startSshd({ aliases: 8 });
const hosts = [...sshd.aliases, sshd.refused];
console.log(`sshd on 127.0.0.1-4 port ${sshd.port}; calling ${hosts.length} hosts\n`);

const started = performance.now();
const results = await call(
  hosts,
  'echo "$(hostname) says hi to $PARALLAX_HOST (#$PARALLAX_NODENUM)"',
  {
    sshExtra: sshd.sshExtra,
    limit: 32,
    timeout: 30,
  },
);
for (const [host, result] of results) {
  if (result instanceof ParallaxError) {
    console.log(`${host.padEnd(8)} ERROR ${result.kind}: ${result.message}`);
  } else {
    console.log(`${host.padEnd(8)} exit ${result.exitCode}: ${result.stdout.trim()}`);
  }
}
console.log(`\n${results.size} hosts in ${((performance.now() - started) / 1000).toFixed(2)} s`);
