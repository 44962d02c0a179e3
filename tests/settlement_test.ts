/**
 * The settlement contract, without ssh: a host's slot is filled once; a hole becomes a `local`
 * error; an observer's throw reaches the caller after every host; a job's end is retried only
 * where ssh's facts prove the command never started, and a retry owed on a cancelled or halted
 * run ends cancelled or skipped; sudo's refusal is decided with the other ends.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./fixture/assert.ts";
import { type JobContext, jobEnd, type JobVerdict, notStarted } from "../lib/driver/_ends.ts";
import { batchesOf, FailureBudget } from "../lib/driver/_failure_budget.ts";
import { Settlement } from "../lib/driver/_settlement.ts";
import type { JobEnd } from "../lib/engine/_run_queue.ts";
import { parseHosts } from "../lib/hosts/parse.ts";
import type { SshFacts } from "../lib/ssh/_ssh_log.ts";
import { ParallaxError } from "../mod.ts";
import { ranEnd as ran } from "./fixture/jobs.ts";

const hosts = parseHosts(["web1", "web2", "web3"]);

Deno.test("a slot is filled once: the first end of a host is its end, and the observer hears it once", () => {
  const heard: unknown[] = [];
  const ends = new Settlement<string>(hosts, (result) => heard.push(result));
  assertEquals(ends.settle(0, "first"), true);
  assertEquals(ends.settle(0, "second"), false);
  ends.settle(1, "b");
  ends.settle(2, "c");
  assertEquals([...ends.done().values()], ["first", "b", "c"]);
  assertEquals(heard, ["first", "b", "c"]);
});

Deno.test("a hole is never returned: a host without an end becomes a local error, told to the observer", () => {
  const heard: unknown[] = [];
  const ends = new Settlement<string>(hosts, (result) => heard.push(result));
  ends.settle(1, "b");
  const map = ends.done();
  assertEquals([...map.keys()], ["web1", "web2", "web3"]);
  for (const key of ["web1", "web3"]) {
    const end = map.get(key);
    assert(end instanceof ParallaxError, key);
    assertEquals(end.kind, "local");
    assertStringIncludes(end.message, "internal error");
  }
  assertEquals(heard.length, 3);
});

Deno.test("an observer that throws: every host is still settled and heard, then the caller gets the first throw", () => {
  let calls = 0;
  const ends = new Settlement<string>(hosts, () => {
    calls++;
    throw new Error(`observer ${calls}`);
  });
  ends.settle(0, "a");
  ends.settle(1, "b");
  assertThrows(() => ends.done(), Error, "observer 1");
  assertEquals(calls, 3);
});

const refused: SshFacts = {
  loggedIn: false,
  commandSent: false,
  exitStatus: null,
  messages: ["ssh: connect to host web1 port 22: Connection refused"],
};

function context(fields: Partial<JobContext> = {}): JobContext {
  return {
    attempts: 1,
    retries: 2,
    facts: refused,
    cancelled: false,
    halted: false,
    haltReason: null,
    pauseMs: (n) => n * 1000,
    ...fields,
  };
}

const plan = {
  program: "ssh",
  meaning: "command" as const,
  result: (_host: unknown, exited: { exitCode: number }) => `exit ${exited.exitCode}`,
};

function verdict(end: JobEnd, fields: Partial<JobContext> = {}, p = plan): JobVerdict<string> {
  return jobEnd(p, hosts[0], 0, end, {}, context(fields));
}

Deno.test("retried only where ssh's facts prove nothing was sent, and only as often as asked", () => {
  const first = verdict(ran(255));
  assert("retryAfterMs" in first);
  assertEquals(first.retryAfterMs, 1000);
  assertEquals(first.failure.kind, "connect");
  assertEquals(first.reached, false);
  const last = verdict(ran(255), { attempts: 3 });
  assert("settle" in last);
  assertEquals((last.settle as ParallaxError).kind, "connect");
  assertEquals((last.settle as ParallaxError).attempts, 3);
});

Deno.test("a remote command's own words never cause a retry: 'Connection reset by peer' after the command was sent is kind ssh, once", () => {
  const sent: SshFacts = {
    loggedIn: true,
    commandSent: true,
    exitStatus: null,
    messages: ["Connection reset by peer"],
  };
  const end = verdict(ran(255, "Connection reset by peer\n"), { facts: sent });
  assert("settle" in end);
  const error = end.settle as ParallaxError;
  assertEquals(error.kind, "ssh");
  assertStringIncludes(error.message, "connection lost after the command started");
  // The command's own 255, as ssh received it, is a result.
  const own = verdict(ran(255, "Permission denied (publickey).\n"), {
    facts: { loggedIn: true, commandSent: true, exitStatus: 255, messages: [] },
  });
  assert("settle" in own);
  assertEquals(own.settle, "exit 255");
  assertEquals(own.reached, true);
  // Without ssh's log (the caller took it over), nothing proves the command never started.
  const unknown = verdict(ran(255, "ssh: connect to host web1 port 22: Connection refused\n"), {
    facts: null,
  });
  assert("settle" in unknown);
  assertEquals((unknown.settle as ParallaxError).kind, "connect");
});

Deno.test("a retry owed on a cancelled run ends cancelled, on a halted run skipped, each naming the failed attempt", () => {
  const cancelled = verdict(ran(255), { cancelled: true });
  assert("settle" in cancelled);
  const c = cancelled.settle as ParallaxError;
  assertEquals(c.kind, "cancelled");
  assertStringIncludes(c.message, "cancelled before it was tried again (attempt 1 failed:");
  const halted = verdict(ran(255), { halted: true, haltReason: "2 hosts failed" });
  assert("settle" in halted);
  const h = halted.settle as ParallaxError;
  assertEquals(h.kind, "skipped");
  assertStringIncludes(h.message, "not tried again: 2 hosts failed (attempt 1 failed:");
});

Deno.test("sudo's refusal is an end decided with the others: kind auth, the command's own exit 1 a result", () => {
  const withSudo = {
    ...plan,
    refusal: (exited: { exitCode: number; stderr: readonly Uint8Array[] }) =>
      exited.exitCode === 1 && new TextDecoder().decode(exited.stderr[0]).startsWith("MARK")
        ? { reason: "sudo refused", said: "no\n" }
        : null,
  };
  const sent: SshFacts = { loggedIn: true, commandSent: true, exitStatus: 1, messages: [] };
  const refusedEnd = verdict(ran(1, "MARK no\n"), { facts: sent }, withSudo);
  assert("settle" in refusedEnd);
  assertEquals((refusedEnd.settle as ParallaxError).kind, "auth");
  assertEquals(refusedEnd.reached, true);
  const own = verdict(ran(1, "grep: nothing\n"), { facts: sent }, withSudo);
  assert("settle" in own);
  assertEquals(own.settle, "exit 1");
});

Deno.test("a host never started: cancelled, or skipped with the reason, and its gateway named", () => {
  const cancelled = notStarted(hosts[1], null, "gw");
  assertEquals([cancelled.kind, cancelled.via, cancelled.attempts], ["cancelled", "gw", 0]);
  const skipped = notStarted(hosts[1], "1 host failed");
  assertEquals(skipped.kind, "skipped");
  assertStringIncludes(skipped.message, "never started: 1 host failed");
});

Deno.test("the failure budget: a count over the whole run, a percentage per batch, said once", () => {
  const count = new FailureBudget({ count: 1 });
  assertEquals([count.count(), count.count(), count.count()], [false, true, false]);
  assertStringIncludes(count.exceeded!, "2 hosts failed");
  assertEquals(count.remaining(), 0);
  const percent = new FailureBudget({ percent: 50 });
  percent.startBatch(4);
  assertEquals([percent.count(), percent.count(), percent.count()], [false, false, true]);
  assertEquals(batchesOf(5, [{ count: 1 }, { percent: 40 }]), [[0], [1, 2], [3, 4]]);
});
