import { failed, ok } from "./fixture/outcomes.ts";
import { assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { call, Pool } from "../mod.ts";

Deno.test("a job whose pipes a stray process holds is reported alone after its drain; another call's host on the same worker is untouched", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  await withTempDir(async (dir) => {
    // Fault injection: an ssh that leaves a background process holding its output pipes (as a
    // stray grandchild would), then is real ssh.
    const sshPath = `${dir}/ssh`;
    await Deno.writeTextFile(
      sshPath,
      `#!/bin/sh\nsleep 40 &\nexec ssh "$@"\n`,
      { mode: 0o755 },
    );
    const pool = new Pool({ size: 1 });
    const started = performance.now();
    const [lingering, healthy] = await Promise.all([
      call(["h001"], "echo quick", { sshExtra: sshd.sshExtra, sshPath, timeout: 2, pool }),
      // Runs past the moment a per-job watchdog (timeout + grace + slack) used to retire the
      // shared worker.
      call(["h002"], "sleep 21; echo fine", { sshExtra: sshd.sshExtra, pool }),
    ]);
    assertEquals(ok(healthy.get("h002")).stdout, "fine\n");
    const error = failed(lingering.get("h001"));
    assertEquals(error.kind, "local", error.message);
    assertStringIncludes(error.message, "output pipes stayed open");
    assertEquals(error.stdout, "quick\n");
    // Reported after the drain (30 s of silence on its pipes), not at once.
    assertEquals(performance.now() - started > 25_000, true);
    await pool.close();
    await new Deno.Command("pkill", { args: ["-f", "^sleep 40$"] }).output();
  });
});
