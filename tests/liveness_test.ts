import { failed, ok } from "./fixture/outcomes.ts";
import { assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { startSshd } from "./fixture/sshd.ts";
import { withTempDir } from "./fixture/temp_dir.ts";
import { call, parseHosts, Pool } from "../mod.ts";
import { Engine } from "../lib/engine/_engine.ts";
import type { JobEnd } from "../lib/engine/_run_queue.ts";
import { resolveSettings } from "../lib/settings/_settings.ts";
import { sshJob } from "./fixture/jobs.ts";
import { processesMatching, uniqueMarker } from "./fixture/processes.ts";

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

Deno.test("the ping: a worker busy with a job longer than the silence it is allowed is not touched; a hung worker is retired and only its job is lost", async () => {
  await using sshd = await startSshd({ aliases: 2 });
  const marker = uniqueMarker();
  // Rounds every 250 ms, hung after 3 s of silence (a worker may take a second or two to load);
  // each job goes to a worker of its own.
  const engine = new Engine({
    size: 2,
    limit: 8,
    reuse: false,
    workerUrl: new URL("./fixture/hanging_worker.ts", import.meta.url),
    workerShare: 1,
    liveness: { pingMs: 250, silentMs: 3_000 },
  });
  const settings = resolveSettings({ sshExtra: sshd.sshExtra }, 60);
  const [h1, h2] = parseHosts(sshd.aliases);
  const job = (host: typeof h1, command: string) => sshJob(host, command, settings, true);
  const ends: JobEnd[] = [];
  try {
    // Both workers loaded first (a worker loading its modules under load answers nothing yet).
    await engine.run([job(h1, "true"), job(h2, "true")], { limit: 2, observer: { end() {} } });
    await engine.run([
      job(h1, `sleep 30; echo never # ${marker} HANG-THIS-WORKER`),
      job(h2, `sleep 8; echo survived # ${marker}`),
    ], { limit: 2, observer: { end: (index, end) => void (ends[index] = end) } });
    assertEquals(ends.map((end) => end.kind), ["lost", "ran"]);
    assertStringIncludes(
      (ends[0] as Extract<JobEnd, { kind: "lost" }>).reason,
      "stopped answering",
    );
    const survived = ends[1] as Extract<JobEnd, { kind: "ran" }>;
    assertEquals(survived.process.exitCode, 0);
    assertEquals(new TextDecoder().decode(survived.process.stdout[0]), "survived\n");
    assertEquals(engine.liveWorkers, 1);
    // The hung worker's ssh, and its remote command, are gone with it.
    for (let i = 0; i < 50 && (await processesMatching(`${marker} HANG`)).length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assertEquals(await processesMatching(`${marker} HANG`), []);
  } finally {
    engine.kill();
  }
});
