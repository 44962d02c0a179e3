/**
 * A warm host: one ssh session, opened through the pool's master, that runs one command after
 * another, so that a repeat call starts no local process.
 *
 * The session opens with a small POSIX `sh` script (nothing is installed on the host). It makes a
 * private folder (`mktemp -d`, 0700) with a FIFO and then runs two things:
 *
 * - **the runner**: `sh` reading the FIFO, its own stderr discarded (a shell reports a child's
 *   death by a signal there) and the session's kept on fd 4. Before each command parallax pings
 *   it (an answer on stdout and on stderr, nothing else, and its folder still there: the session
 *   is there and clean, or the command takes a new ssh and nothing is sent). Then one line runs
 *   the command in a foreground subshell that writes its pid (from /proc/self) where the
 *   lifeline finds it and becomes, by `exec setsid`, the leader of a session and process group
 *   of its own, then the login shell under the name sshd gives it (so `$0` and its error
 *   messages read as with a plain ssh, and no signal is ignored that a new ssh's shell would not
 *   ignore), with stdin from /dev/null; its stdout and stderr are the session's: no process
 *   stands between them and parallax. The runner then prints an end mark on stdout (a nonce no
 *   command can predict, `L` if processes of the command's group are still about, the exit
 *   status, a newline) and the nonce on stderr.
 * - **the lifeline**: `cat` from the session's stdin into the FIFO. When that stdin ends
 *   (parallax closes it to stop a command, closes the pool, or dies, even by SIGKILL) the running
 *   command's group is stopped as the cold path's watcher does (SIGTERM, SIGKILL two seconds
 *   later if it is still there), the FIFO is closed so that the runner ends, and then the folder
 *   is removed.
 *
 * A command that leaves processes in its group (a background child) may still hold its output:
 * the runner then ends the session after the mark, and parallax reads stdout and stderr to their
 * end, as ssh would have (the output of a background child that holds them is the command's, and
 * the call ends when they close). The host is cold again after that.
 *
 * A host is warm only where the login shell is found by its own name on the PATH, `setsid`
 * exists and /proc can be read (Linux; BusyBox too): elsewhere the session just keeps the master
 * up, as the pool's idle session always did.
 *
 * @module
 */

import { concatBytes } from "../runtime/_bytes.ts";
import { type Child, spawnChild } from "../runtime/_child_process.ts";
import { shellQuote } from "../runtime/_shell_quote.ts";
import { after } from "../runtime/_timer.ts";

/** What a command run on a warm session gave. */
export interface WarmEnd {
  /**
   * How it ended: `exit` with the command's status; `timeout` or `cancelled` when parallax
   * stopped it (the status, if it came); `broken` when the session ended before its mark;
   * `unsent` when the session was found gone before the command was sent (it did not run).
   */
  readonly how: "exit" | "timeout" | "cancelled" | "broken" | "unsent";
  /** The command's exit status as the host's shell saw it, or null when none came. */
  readonly status: number | null;
  readonly stdout: Uint8Array[];
  readonly stderr: Uint8Array[];
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly durationMs: number;
  /** Why the session broke (for `broken`). */
  readonly reason: string | null;
  /** Whether the command was sent (a call stopped during the ping never sends it). */
  readonly sent: boolean;
}

/** Options of one command on a warm session. */
export interface WarmRunOptions {
  /** Milliseconds after which the command is stopped (0: never). */
  readonly timeoutMs: number;
  /** Milliseconds to wait for the host to stop it before the session is given up. */
  readonly killGraceMs: number;
  /** Aborting stops the command. */
  readonly signal: AbortSignal;
  /** Keep all output (else only the last 64 KiB of stderr, and the counts). */
  readonly keepOutput: boolean;
  /** Variables the command gets (`PARALLAX_HOST`, `PARALLAX_NODENUM`), where ssh sends them. */
  readonly env: Readonly<Record<string, string>>;
  /** Told when the command has been sent (it may run from then on). */
  readonly sent?: () => void;
}

/**
 * The session's first line: `W1 <folder> <whether PARALLAX_* came> <login shell's name>`, or `W0`
 * (not warm).
 */
const READY = /^W1 (\/[!-~]+) ([01]) ([!-~]+)\n$/;

/** Bytes of stderr kept without `keepOutput` (as a cold job keeps, for classifying). */
const STDERR_TAIL = 64 * 1024;

/** How long a warm session may take to answer before a command (else a new ssh runs it). */
const PING_TIMEOUT_MS = 5_000;

/** How long a session may take to say whether it is warm. */
const OPEN_TIMEOUT_MS = 10_000;

/**
 * The command line that opens a session, run by the login shell. Needs `mktemp -d`, `mkfifo`,
 * `setsid`, `cat`, `sleep` (of a fraction of a second), `kill` and /proc.
 */
export function openingScript(): string {
  // A command starting (`S`) has its pid in a moment: waited for, up to 3 s.
  const stop = 'n=0; while read -r g <"$d/g" && [ "$g" = S ] && [ $n -lt 30 ]; do ' +
    "n=$((n + 1)); sleep 0.1; done; " +
    'read -r g <"$d/g" 2>/dev/null; [ -n "$g" ] && [ "$g" != S ] && kill -0 -$g && ' +
    "{ trap '' TERM; kill -TERM -$g; n=0; " +
    // SIGKILL 2 s after, if the group is still there then (the session ends once it is gone).
    "while kill -0 -$g 2>/dev/null && [ $n -lt 20 ]; do n=$((n + 1)); sleep 0.1; done; " +
    "kill -KILL -$g 2>/dev/null; }";
  return [
    // The name sshd runs the login shell under is its own name: found on the PATH as itself,
    // the commands run as they would from sshd.
    "s=${SHELL##*/}",
    'if ! [ "$(command -v "$s" 2>/dev/null)" -ef "$SHELL" ] || ! command -v setsid >/dev/null 2>&1 ||',
    "  ! [ -r /proc/self/stat ] || ! sleep 0.01 2>/dev/null ||",
    '  ! d=$(mktemp -d 2>/dev/null) || ! mkfifo "$d/q" 2>/dev/null; then',
    "  printf 'W0\\n'; exec cat >/dev/null",
    "fi",
    'e=0; [ -n "${PARALLAX_HOST+x}" ] && e=1',
    "unset PARALLAX_HOST PARALLAX_NODENUM",
    // bash counts itself in SHLVL: the commands' own shell counts again, as from sshd.
    '[ -n "${BASH_VERSION-}" ] && [ "${SHLVL:-0}" -gt 0 ] && export SHLVL=$((SHLVL - 1))',
    "exec 3<&0",
    // Opened read-write, the FIFO never blocks this side (nor keeps it on the session's pipes).
    // The folder goes once the runner has read to the FIFO's end and exited (up to 5 s): before
    // that, the runner would make `g` again in it after the removal.
    `{ cat <&3; ${stop}; exec >&-; n=0; while kill -0 $$ && [ $n -lt 50 ]; do n=$((n + 1)); ` +
    `sleep 0.1; done; rm -rf "$d"; } 1<>"$d/q" 2>/dev/null &`,
    // On both streams: what the login shell's start-up printed before it is passed over.
    `printf 'W1 %s %s %s\\n' "$d" $e "$s"; printf 'W1\\n' >&2`,
    // The runner's own stderr goes nowhere (a shell reports a command killed by a signal there:
    // `Killed`); the session's stderr is fd 4, for the commands and the marks.
    'exec sh <"$d/q" 3<&- 4>&2 2>/dev/null',
  ].join("\n");
}

/**
 * The longest command a warm session takes (one argument of `setsid`, whose limit on Linux is
 * 128 KiB): a longer one takes a new ssh, which says what a command too long for the host is.
 */
const MAX_COMMAND_BYTES = 100 * 1024;

/** Whether a warm session carries `command` exactly (else it takes a new ssh). */
export function carries(command: string): boolean {
  return command.length * 3 <= MAX_COMMAND_BYTES ||
    new TextEncoder().encode(command).length <= MAX_COMMAND_BYTES;
}

/** The runner's line for one command. */
export function commandLine(
  command: string,
  shell: string,
  folder: string,
  nonce: string,
  env: Readonly<Record<string, string>>,
): string {
  const g = shellQuote(`${folder}/g`);
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}; `).join("");
  // A command that begins with - or + would be taken for an option of `sh -c`.
  const script = /^[-+]/.test(command) ? ` ${command}` : command;
  // A subshell in the foreground (an async one would start with SIGINT and SIGQUIT ignored,
  // for good): it writes its pid (from /proc/self) where the lifeline finds it, then becomes the
  // command's session and process group leader (setsid in the same process) and its shell.
  // The runner's own steps use regular builtins (`echo`, `printf`, `read`): should the command
  // remove the session's folder, a failed redirection of a special one (`:`) would end the
  // runner before the command's mark.
  return `echo S >${g}; ( read -r p _ </proc/self/stat; echo $p >${g}; ${exports}` +
    `exec setsid ${shellQuote(shell)} -c ${shellQuote(script)} 2>&4 4>&- ) </dev/null; s=$?; ` +
    `read -r c <${g}; printf '' >${g}; ` +
    `if [ "$c" != S ] && kill -0 -$c 2>/dev/null; then printf '${nonce}L%d\n' $s; ` +
    `printf ${nonce} >&4; exit; fi; printf '${nonce}%d\n' $s; printf ${nonce} >&4\n`;
}

/** One host's warm session. */
export class WarmSession {
  #state: "opening" | "idle" | "claimed" | "busy" | "gone" = "opening";
  #folder = "";
  #shell = "";
  #sendsEnv = false;
  readonly #child: Child;
  readonly #out: ReadableStreamDefaultReader<Uint8Array>;
  readonly #err: ReadableStreamDefaultReader<Uint8Array>;
  /** Resolves true once the session is warm, false if it is not (it may still hold a master). */
  readonly ready: Promise<boolean>;

  /** Starts the session: `argv` is ssh's command line up to the host, without the command. */
  constructor(argv: readonly string[], env: Readonly<Record<string, string>>) {
    this.#child = spawnChild([...argv, openingScript()], {
      env,
      stdin: null,
      holdStdin: true,
      unref: true,
    });
    this.#out = this.#child.stdout!.getReader();
    this.#err = this.#child.stderr!.getReader();
    this.#child.status.then(() => this.#state = "gone");
    this.ready = this.#open();
  }

  /** The ssh process's end (the session's). */
  get status(): Promise<unknown> {
    return this.#child.status;
  }

  /**
   * Takes the session for one command (see {@linkcode run}); false when it cannot run one now
   * (busy with another call's, or gone).
   */
  claim(): boolean {
    if (this.#state !== "idle") return false;
    this.#state = "claimed";
    return true;
  }

  /** Gives back a claim whose command is not sent after all (its call was stopped first). */
  unclaim(): void {
    if (this.#state === "claimed") this.#state = "idle";
  }

  async #open(): Promise<boolean> {
    const timer = setTimeout(() => this.close(), OPEN_TIMEOUT_MS);
    // Past whatever the login shell's start-up files print, to the opening's own line.
    const text = await readText(this.#out, (text) => OPENING.test(text));
    clearTimeout(timer);
    const ready = READY.exec(OPENING.exec(text ?? "")?.[0] ?? "");
    if (ready !== null && !await this.#passStartup()) this.close();
    if (ready === null || this.#state === "gone") {
      // Not warm: it only keeps the master up. Its output is not read any more (a `W0` session
      // prints nothing else): released, so that nothing here waits on it.
      this.#release();
      if (this.#state !== "gone") this.#state = "gone";
      return false;
    }
    this.#folder = ready[1];
    this.#sendsEnv = ready[2] === "1";
    this.#shell = ready[3];
    this.#state = "idle";
    return true;
  }

  /**
   * Reads stderr up to the opening's mark there (what the login shell's start-up files said
   * before it is not any command's); false when it does not come.
   */
  async #passStartup(): Promise<boolean> {
    const timer = setTimeout(() => this.#release(), OPEN_TIMEOUT_MS);
    const text = await readText(this.#err, (text) => text === "W1\n" || text.endsWith("\nW1\n"));
    clearTimeout(timer);
    return text !== null;
  }

  /**
   * Runs `command` (as the login shell's `-c` would) and reads its output to its end mark.
   * Only after a {@linkcode claim}.
   */
  async run(command: string, options: WarmRunOptions): Promise<WarmEnd> {
    if (this.#state !== "claimed") throw new Error("the warm session was not claimed");
    this.#state = "busy";
    const started = performance.now();
    const nonce = `PLX${crypto.randomUUID().replaceAll("-", "")}`;
    const out = new MarkedStream(this.#out, nonce, true, options.keepOutput ? Infinity : 0);
    const err = new MarkedStream(
      this.#err,
      nonce,
      false,
      options.keepOutput ? Infinity : STDERR_TAIL,
    );
    let how: WarmEnd["how"] = "exit";
    let stopped = () => {};
    const stopping = new Promise<"stopped">((resolve) => stopped = () => resolve("stopped"));
    let grace: ReturnType<typeof setTimeout> | undefined;
    const stop = (why: "timeout" | "cancelled") => {
      if (how !== "exit") return;
      how = why;
      // The host ends as a new ssh killed here would: at once (its command is stopped there).
      stopped();
      // What the host says after this is not the command's: a new ssh, killed here, would
      // never have shown it (the shell's "Terminated", say).
      out.freeze();
      err.freeze();
      // The lifeline: the host stops the command's group, and the session ends.
      this.#child.closeStdin();
      grace = setTimeout(() => this.#child.kill("SIGKILL"), options.killGraceMs + 2_000);
      Deno.unrefTimer(grace);
    };
    // Any timeout (up to 30 days: `after` chains what one setTimeout cannot hold), counted from
    // here, as a new ssh's from its start.
    const timer = options.timeoutMs > 0 ? after(options.timeoutMs, () => stop("timeout")) : null;
    const onAbort = () => stop("cancelled");
    options.signal.addEventListener("abort", onAbort, { once: true });
    let reason: string | null = null;
    let sent = false;
    try {
      if (options.signal.aborted) onAbort();
      // The session is asked first whether it is still there: one that went while it was idle
      // (its master killed, the network gone) is found out before anything is sent, and the
      // command then takes a new ssh instead.
      const answer = await Promise.race([this.#answers(nonce), stopping]);
      if (answer === "stopped") return this.#ended(how, out, err, started, null, sent);
      if (!answer) {
        this.close();
        return this.#ended("unsent", out, err, started, "the warm session was gone", sent);
      }
      const env = this.#sendsEnv ? options.env : {};
      this.#child.writeStdin(
        new TextEncoder().encode(commandLine(command, this.#shell, this.#folder, nonce, env)),
      );
      sent = true;
      options.sent?.();
      const reading = Promise.all([out.read(), err.read()]);
      reading.catch(() => {});
      const read = await Promise.race([reading, stopping]);
      if (read === "stopped") return this.#ended(how, out, err, started, null, sent);
      const [outEnd] = read;
      if (outEnd.lingering) {
        // Processes of the command may hold its output: read on to the end, as ssh would.
        const draining = Promise.all([out.drain(), err.drain()]);
        draining.catch(() => {});
        this.#state = "gone";
        if (await Promise.race([draining, stopping]) === "stopped") {
          return this.#ended(how, out, err, started, null, sent);
        }
        this.#child.closeStdin();
      }
      if (!outEnd.marked || !err.marked) reason = "the warm session ended while its command ran";
      // Bytes after a mark come from a process that left the command's group (setsid): the
      // session is not used again, so that they are never taken for a later command's output.
      else if (out.stray || err.stray) this.#state = "gone";
    } catch (error) {
      reason = `the warm session failed: ${(error as Error).message}`;
    } finally {
      timer?.clear();
      // A stopped command's session gets its grace (its ssh killed if the host never lets go).
      if (how === "exit") clearTimeout(grace);
      options.signal.removeEventListener("abort", onAbort);
    }
    return this.#ended(how, out, err, started, reason, sent);
  }

  /** The end of a command: the session is idle again, or ended (see `run`). */
  #ended(
    how: WarmEnd["how"],
    out: MarkedStream,
    err: MarkedStream,
    started: number,
    reason: string | null,
    sent: boolean,
  ): WarmEnd {
    if (reason !== null || how !== "exit") {
      this.close();
    } else if (this.#state === "busy") this.#state = "idle";
    if (this.#state === "gone") {
      this.#child.closeStdin();
      this.#release();
    }
    return {
      how: reason !== null && how === "exit" ? "broken" : how,
      status: out.status,
      stdout: out.kept,
      stderr: err.kept,
      stdoutBytes: out.bytes,
      stderrBytes: err.bytes,
      durationMs: performance.now() - started,
      reason,
      sent,
    };
  }

  /**
   * Whether the runner answers `nonce`'s ping, and nothing else, on stdout and on stderr, in
   * time: anything else there (output of a process an earlier command left behind) and the
   * session is not used.
   */
  async #answers(nonce: string): Promise<boolean> {
    const pong = `${nonce}P\n`;
    const echo = `printf '${nonce}P\\n'`;
    // The session's folder must still be there and its own (a command may have removed it: the
    // lifeline could then not find the next command to stop it).
    const d = shellQuote(this.#folder);
    const kept = `[ -d ${d} ] && [ ! -L ${d} ] && [ -O ${d} ]`;
    this.#child.writeStdin(
      new TextEncoder().encode(
        `if ${kept}; then ${echo}; else printf '${nonce}X\\n'; fi; ${echo} >&4\n`,
      ),
    );
    const enough = (text: string) => text.length >= pong.length;
    const timer = setTimeout(() => this.#release(), PING_TIMEOUT_MS);
    const said = await Promise.all([readText(this.#out, enough), readText(this.#err, enough)]);
    clearTimeout(timer);
    return said.every((text) => text === pong);
  }

  /** Ends the session: its lifeline is closed (a running command is stopped on the host). */
  close(): void {
    this.#state = "gone";
    this.#child.closeStdin();
  }

  /** Lets go of the output streams (nothing reads them any more). */
  #release(): void {
    this.#out.cancel().catch(() => {});
    this.#err.cancel().catch(() => {});
  }
}

/** One output stream of a warm session, read up to a command's end mark. */
class MarkedStream {
  readonly kept: Uint8Array[] = [];
  bytes = 0;
  marked = false;
  lingering = false;
  status: number | null = null;
  /** The bytes held back: they may be the start of the mark. */
  #held = new Uint8Array(0);
  #frozen = false;

  private readonly mark: Uint8Array;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    nonce: string,
    /** stdout's mark carries `L`, the status and a newline. */
    private readonly withStatus: boolean,
    /** Bytes to keep: all (Infinity), the last this many, or none. */
    private readonly keep: number,
  ) {
    this.mark = new TextEncoder().encode(nonce);
  }

  /** Reads to the mark (or the stream's end). */
  async read(): Promise<MarkedStream> {
    while (!this.marked) {
      const { value, done } = await this.reader.read();
      if (done) {
        this.#take(this.#held);
        this.#held = new Uint8Array(0);
        return this;
      }
      this.#scan(this.#held.length === 0 ? value : concatBytes([this.#held, value]));
    }
    return this;
  }

  /** Reads whatever comes after the mark, to the stream's end (all of it is output). */
  async drain(): Promise<void> {
    this.#take(this.#held);
    this.#held = new Uint8Array(0);
    for (;;) {
      const { value, done } = await this.reader.read();
      if (done) return;
      this.#take(value);
    }
  }

  /** Takes no more output (still reads to the mark). */
  freeze(): void {
    this.#frozen = true;
  }

  /** Whether bytes came after the mark (from a process that left the command's group). */
  get stray(): boolean {
    return this.#held.length > 0;
  }

  #scan(data: Uint8Array): void {
    const at = indexOf(data, this.mark);
    if (at < 0) {
      // Everything but a tail that begins the mark is output.
      const cut = partialMark(data, this.mark);
      this.#take(data.subarray(0, cut));
      this.#held = data.slice(cut);
      return;
    }
    this.#take(data.subarray(0, at));
    let rest = data.subarray(at + this.mark.length);
    if (!this.withStatus) {
      this.marked = true;
      this.#held = rest.slice();
      return;
    }
    const newline = rest.indexOf(10);
    if (newline < 0) {
      // The status is still coming: keep the mark and wait for more.
      this.#held = data.slice(at);
      if (this.#held.length > this.mark.length + 16) throw new Error("a malformed end mark");
      return;
    }
    const text = new TextDecoder().decode(rest.subarray(0, newline));
    const parsed = /^(L?)(\d{1,3})$/.exec(text);
    if (parsed === null) throw new Error("a malformed end mark");
    this.lingering = parsed[1] === "L";
    this.status = Number(parsed[2]);
    this.marked = true;
    rest = rest.subarray(newline + 1);
    this.#held = rest.slice();
  }

  #take(data: Uint8Array): void {
    if (data.length === 0 || this.#frozen) return;
    this.bytes += data.length;
    if (this.keep === 0) return;
    // Each chunk is this reader's own: kept as it is, not copied.
    this.kept.push(data);
    if (this.keep === Infinity) return;
    let total = this.kept.reduce((n, c) => n + c.length, 0);
    while (total - this.kept[0].length >= this.keep) total -= this.kept.shift()!.length;
  }
}

/** The opening's own line on stdout: `W1 …` or `W0`. */
const OPENING = /^W[01]\b[^\n]*\n/m;

/**
 * Text read from `reader` until `enough` says so: null when the stream ends or fails first, or
 * after 64 KiB (what a session says before a command is short).
 */
async function readText(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  enough: (text: string) => boolean,
): Promise<string | null> {
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!enough(text)) {
      if (text.length > 65_536) return null;
      const { value, done } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
    }
    return text;
  } catch {
    return null;
  }
}

/** Where a tail of `data` that is the start of `mark` begins (`data.length` if none does). */
function partialMark(data: Uint8Array, mark: Uint8Array): number {
  for (let at = Math.max(0, data.length - mark.length + 1); at < data.length; at++) {
    if (data[at] !== mark[0]) continue;
    let i = 1;
    while (at + i < data.length && data[at + i] === mark[i]) i++;
    if (at + i === data.length) return at;
  }
  return data.length;
}

function indexOf(data: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (let at = data.indexOf(first); at >= 0; at = data.indexOf(first, at + 1)) {
    if (at + needle.length > data.length) return -1;
    let i = 1;
    while (i < needle.length && data[at + i] === needle[i]) i++;
    if (i === needle.length) return at;
  }
  return -1;
}
