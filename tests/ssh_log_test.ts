import { assertEquals, assertStringIncludes } from "./fixture/assert.ts";
import { classify } from "../lib/ssh/_classify.ts";
import {
  callerOwnsSshLog,
  factsOf,
  loggedSsh,
  readSshLog,
  sshLogLevel,
  withSshLog,
} from "../lib/ssh/_ssh_log.ts";
import type { JobEnd } from "../lib/engine/_run_queue.ts";
import { scpLifelineEnv, scpLifelineScript, withScpLifeline } from "../lib/ssh/_scp_lifeline.ts";
import { ParallaxError } from "../mod.ts";

/** Logs as OpenSSH 9.2 wrote them (`-E`), one per phase, trimmed of lines that decide nothing. */
const LOGS = {
  refused: "ssh: connect to host 127.0.0.1 port 38963: Connection refused\n",
  unresolvable: "ssh: Could not resolve hostname no-such-host.invalid: Name or service not known\n",
  timedOut: "ssh: connect to host 10.0.0.9 port 22: Connection timed out\n",
  banner: "kex_exchange_identification: read: Connection reset by peer\n" +
    "Connection reset by 127.0.0.1 port 38339\n",
  refusedKey: "parallaxtest@127.0.0.1: Permission denied (publickey,password).\n",
  changedHostKey: [
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
    "Host key for [127.0.0.1]:38339 has changed and you have requested strict checking.",
    "Host key verification failed.",
  ].join("\n"),
  // DEBUG1, a connection of its own: the command's exit status came back.
  directExit255: [
    "debug1: Authentication succeeded (publickey).",
    'Authenticated to 127.0.0.1 ([127.0.0.1]:38339) using "publickey".',
    "debug1: channel 0: new session [client-session] (inactive timeout: 0)",
    "debug1: Sending command: echo hi; exit 255",
    "debug1: client_input_channel_req: channel 0 rtype exit-status reply 0",
    "Transferred: sent 3504, received 3364 bytes, in 0.0 seconds",
    "Bytes per second: sent 75796.5, received 72768.1",
    "debug1: Exit status 255",
  ].join("\n"),
  // DEBUG1: the session was cut; no exit status came back.
  directLost: [
    'Authenticated to 127.0.0.2 ([127.0.0.2]:38339) using "publickey".',
    "debug1: Sending command: echo hi; kill -9 $PPID; sleep 1",
    "debug1: channel 0: free: client-session, nchannels 1",
    "Transferred: sent 3500, received 3260 bytes, in 0.0 seconds",
    "debug1: Exit status -1",
  ].join("\n"),
  // DEBUG2 through a master.
  muxExit255: [
    "debug2: mux_client_hello_exchange: master version 4",
    "debug1: mux_client_request_session: master session id: 2",
    "debug2: Received exit status from master 255",
  ].join("\n"),
  muxLost: [
    "debug2: mux_client_hello_exchange: master version 4",
    "debug1: mux_client_request_session: master session id: 2",
    "debug2: Control master terminated unexpectedly",
  ].join("\n"),
  // VERBOSE (a job that becomes a master): logged in, and nothing more is known.
  verboseMaster: 'Authenticated to 127.0.0.1 ([127.0.0.1]:38339) using "publickey".\n',
};

/** A job whose ssh exited 255, its stderr being what the remote command printed. */
function exited255(remoteStderr: string): JobEnd {
  return {
    kind: "ran",
    process: {
      spawnError: null,
      exitCode: 255,
      signal: null,
      timedOut: false,
      cancelled: false,
      stdout: [new TextEncoder().encode("partial\n")],
      stderr: [new TextEncoder().encode(remoteStderr)],
      stdoutBytes: 8,
      stderrBytes: remoteStderr.length,
      localError: null,
      outputCut: false,
      log: null,
      durationMs: 10,
    },
  } as JobEnd;
}

/** What each log makes of an exit status 255, whatever the remote command printed. */
const TABLE: [keyof typeof LOGS, string, string][] = [
  ["refused", "connect", "Connection refused"],
  ["unresolvable", "connect", "Could not resolve hostname"],
  ["timedOut", "connect", "Connection timed out"],
  ["banner", "connect", "Connection reset"],
  ["refusedKey", "auth", "Permission denied"],
  ["changedHostKey", "hostkey", "Host key verification failed"],
  ["directExit255", "exit 255", ""],
  ["directLost", "ssh", "connection lost after the command started"],
  ["muxExit255", "exit 255", ""],
  ["muxLost", "ssh", "connection lost after the command started"],
  ["verboseMaster", "ssh", "the command exited 255"],
];

for (const [log, expected, part] of TABLE) {
  Deno.test(`classify() with ssh's log: ${log} is ${expected}, whatever the command printed`, () => {
    for (
      const remote of ["", "Connection refused\n", "Permission denied (publickey).\n"]
    ) {
      const result = classify("h", exited255(remote), "ssh", "command", 1, readSshLog(LOGS[log]));
      if (expected === "exit 255") {
        assertEquals(result instanceof ParallaxError, false, String(result));
        assertEquals((result as { exitCode: number }).exitCode, 255);
        continue;
      }
      const error = result as ParallaxError;
      assertEquals(error.kind, expected, error.message);
      assertStringIncludes(error.message, part);
      assertEquals(error.stdout, "partial\n", "the output is kept");
    }
  });
}

Deno.test("readSshLog() tells what was sent: only a log that proves nothing was sent allows a retry", () => {
  assertEquals(readSshLog(LOGS.refused).commandSent, false);
  assertEquals(readSshLog(LOGS.refusedKey).commandSent, false);
  assertEquals(readSshLog(LOGS.directLost).commandSent, true);
  assertEquals(readSshLog(LOGS.muxLost).commandSent, true);
  assertEquals(readSshLog(LOGS.verboseMaster).commandSent, null, "logged in: cannot tell");
  assertEquals(readSshLog(LOGS.directExit255).exitStatus, 255);
  assertEquals(readSshLog(LOGS.directLost).exitStatus, null);
  assertEquals(readSshLog(LOGS.directExit255).messages, [], "informational lines left out");
});

Deno.test("withSshLog() puts the log options first, so the caller's cannot override them", () => {
  const argv = ["ssh", "-o", "LogLevel=QUIET", "--", "h", "true"];
  assertEquals(withSshLog(argv, "/p/0.log", "DEBUG1"), [
    "ssh",
    "-E",
    "/p/0.log",
    "-o",
    "LogLevel=DEBUG1",
    "-o",
    "LogLevel=QUIET",
    "--",
    "h",
    "true",
  ]);
  assertEquals(sshLogLevel([]), "DEBUG1");
  assertEquals(sshLogLevel(["ControlMaster=auto", "ControlPath=/nonexistent/s"]), "VERBOSE");
});

Deno.test("loggedSsh(): a log said to start with ssh only at a level that logs as ssh starts", () => {
  const log = { path: "/p/1.log", uid: 1000 };
  assertEquals(loggedSsh(["ssh", "h", "true"], log, []), {
    argv: ["ssh", "-E", "/p/1.log", "-o", "LogLevel=DEBUG1", "h", "true"],
    logFile: { ...log, startsLog: true },
  });
  // Where the job may become a master: VERBOSE, at which a session through a master logs nothing.
  const mayBecomeMaster = ["ControlMaster=auto", "ControlPath=/nonexistent/s"];
  assertEquals(loggedSsh(["ssh", "h"], log, mayBecomeMaster).logFile?.startsLog, false);
  assertEquals(loggedSsh(["ssh", "h"], null, []), { argv: ["ssh", "h"], logFile: null });
});

Deno.test("callerOwnsSshLog(): -v, -q or -E among sshExtra leave ssh's log to the caller", () => {
  assertEquals(callerOwnsSshLog(["-F", "/etc/ssh/other_config", "-T"]), false);
  assertEquals(callerOwnsSshLog(["-o", "LogLevel=ERROR"]), false);
  assertEquals(callerOwnsSshLog(["-vvv"]), true);
  assertEquals(callerOwnsSshLog(["-qT"]), true);
  assertEquals(callerOwnsSshLog(["-E", "/tmp/mine.log"]), true);
  assertEquals(callerOwnsSshLog(["-y"]), true, "syslog: ssh refuses -y with -E");
  for (const cluster of ["-4q", "-4y", "-6v", "-4E", "-4E/tmp/mine.log", "-Tvv"]) {
    assertEquals(callerOwnsSshLog([cluster]), true, cluster);
  }
  // A switch's value is no switch: the file after -F, the option after -o, a cluster's tail.
  assertEquals(callerOwnsSshLog(["-F", "-vq", "-oLogLevel=ERROR", "-i", "-y", "-4Fvq"]), false);
});

Deno.test("withScpLifeline() runs scp's ssh through the watcher script, given before scp's '--'", () => {
  assertEquals(withScpLifeline(["scp", "-s", "-r", "--", "a", "h:b"], "/p/ssh"), [
    "scp",
    "-s",
    "-r",
    "-S",
    "/p/ssh",
    "--",
    "a",
    "h:b",
  ]);
  // parallax's own file, not one in a folder another user could re-create.
  const script = scpLifelineScript();
  assertEquals(script, new URL("../lib/ssh/_scp_ssh.sh", import.meta.url).pathname);
  assertEquals(Deno.lstatSync(script!).mode! & 0o002, 0);
  assertEquals(scpLifelineEnv("/usr/bin/ssh"), {
    PARALLAX_CONTROLLER: String(Deno.pid),
    PARALLAX_SSH: "/usr/bin/ssh",
  });
});

Deno.test("an empty log (through a master at VERBOSE) proves nothing; a log whose path was taken away is not trusted", () => {
  assertEquals(readSshLog("").commandSent, null);
  const ambiguous = classify(
    "h",
    exited255("Permission denied (publickey).\n"),
    "ssh",
    "command",
    1,
    readSshLog(""),
  );
  assertEquals(
    (ambiguous as ParallaxError).kind,
    "ssh",
    "not auth: the remote's text decides nothing",
  );
  const taken = factsOf({ text: "debug1: Exit status 255\n", trusted: false, cut: false });
  const lost = classify("h", exited255(""), "ssh", "command", 1, taken) as ParallaxError;
  assertEquals(lost.kind, "ssh");
  assertStringIncludes(lost.message, "removed or replaced while it ran");
});

Deno.test("readSshLog(): the echoed command is not ssh's; a cut log never proves that nothing was sent", () => {
  const command =
    "exec 3<&0\ndebug1: Exit status 0\nssh: connect to host db: Connection refused\ntrue";
  const log = [
    'Authenticated to 127.0.0.1 ([127.0.0.1]:22) using "publickey".',
    `debug1: Sending command: ${command}`,
    "debug1: channel 0: free: client-session, nchannels 1",
    "debug1: Exit status -1",
  ].join("\n");
  const facts = readSshLog(log, command);
  assertEquals([facts.commandSent, facts.exitStatus, facts.messages], [true, null, []]);
  // The head, where "Sending command" was, left out: forwarded ports' failures in the tail.
  const tail = [
    "debug1: channel 3: open failed: connect failed: Connection refused",
    "debug1: channel 3: free: direct-tcpip, nchannels 2",
    "Connection refused",
  ].join("\n");
  assertEquals(readSshLog(tail, null, true).commandSent, null, "the head is missing: unknown");
  // A long command: ssh cuts its "Sending command" message at about 1 KiB, so only the lines
  // of the command inside it are echoed; ssh's own lines after them are read (the exit status).
  const long = ": " + "x".repeat(1100) + "\n" + "true\n".repeat(10) + "exit 255";
  const cutEcho = [
    `debug1: Sending command: ${long.slice(0, 1000)}`,
    "debug1: client_input_channel_req: channel 0 rtype exit-status reply 0",
    "debug1: Exit status 255",
  ].join("\n");
  assertEquals(readSshLog(cutEcho, long).exitStatus, 255);
  const twoLines = "echo a\n" + "y".repeat(1200) + "\nexit 255";
  const cutInSecond = [
    `debug1: Sending command: echo a`,
    "y".repeat(990),
    "debug1: Exit status 255",
  ].join("\n");
  const second = readSshLog(cutInSecond, twoLines);
  assertEquals([second.exitStatus, second.messages], [255, []]);
  const cutFacts = factsOf({
    text: "ssh: connect to host h port 22: Connection refused\n",
    trusted: true,
    cut: true,
  });
  assertEquals(cutFacts.commandSent, null);
  const error = classify("h", exited255(""), "ssh", "command", 1, cutFacts) as ParallaxError;
  assertEquals(error.kind, "ssh", "never connect (so never retried) from a cut log");
});
