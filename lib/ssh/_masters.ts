/**
 * Connection reuse: the OpenSSH ControlMasters of a pool, their private socket folder, and their
 * lifetime, which is the pool's.
 *
 * A host's first connection with a given identity (alias, user, port and every ssh argument)
 * becomes a master (`ControlMaster=auto`); it goes to the background when that first session
 * ends and exits after {@linkcode CONTROL_PERSIST_SECONDS} without sessions. To keep it for the
 * pool's next calls, the pool holds one idle session on it (`exec cat`, whose stdin is a
 * lifeline): the hold ends when the pool closes or this process dies, and the master a few
 * seconds later. Closing the pool also sends `ssh -O exit` to every master it made, so they end
 * at once; that needs no read access to the folder (the socket names are remembered).
 *
 * Persistent masters (the CLI's `--persist`) live in a per-user 0700 folder instead, under the
 * same names, and stay up a given number of seconds after the run, so that the next run to the
 * same hosts with the same ssh settings finds them; `stopPersistentMasters` ends them.
 *
 * @module
 */

import { type Engine, engineOf, type PoolService } from "../engine/_engine.ts";
import { Pool } from "../engine/pool.ts";
import type { Host } from "../hosts/parse.ts";
import { type Child, spawnChild } from "../runtime/_child_process.ts";
import { joinPath } from "../runtime/_path.ts";
import {
  makePrivateFolder as makeFolder,
  type PrivateFolder,
  privateFolderProblem,
  readableTmpdir,
  remakePrivateFolder,
} from "../runtime/_private_folder.ts";
import { missingReadPermission, missingWritePermission } from "../runtime/_permissions.ts";
import type { Settings } from "../settings/_settings.ts";
import { defaultSshOptions, loginOf, SENT_ENV } from "./_ssh_argv.ts";
import { WarmSession } from "./_warm_session.ts";

/** What keeps a master up: an idle session, or a warm one that also runs commands. */
type Hold = Child | WarmSession;

function endHold(hold: Hold): void {
  if (hold instanceof WarmSession) hold.close();
  else hold.closeStdin();
}

/** Seconds a master without sessions stays up: how long one outlives a dead controller. */
export const CONTROL_PERSIST_SECONDS = 3;

/**
 * The longest socket path ssh can bind: sun_path holds 108 bytes on Linux, 104 on macOS and the
 * BSDs, the last one a NUL; while binding, ssh uses the path with 17 characters more (a dot and
 * 16 random ones) before renaming it into place.
 */
export const MAX_SOCKET_PATH = (Deno.build.os === "linux" ? 108 : 104) - 1 - 17;

/** Socket names: 24 hex digits of a SHA-256 of the connection's identity. */
const SOCKET_NAME_LENGTH = 24;

/** File descriptors one hold session keeps open here: its stdin pipe and its pidfd. */
const FDS_PER_HOLD = 2;

/** File descriptors a warm session keeps open here: its stdin, stdout and stderr, its pidfd. */
const FDS_PER_WARM = 4;

const SERVICE = "ssh-masters";

/** The masters of one pool. */
export class Masters implements PoolService {
  readonly #sockets = new Map<string, { hold: Hold | null }>();
  readonly #onUnload = () => this.closeSync();

  private constructor(
    private folder: PrivateFolder,
    private readonly sshPath: string,
    private readonly engine: Engine,
    /** Seconds persistent masters stay up after the run, or null for the pool's own masters. */
    private readonly persist: number | null = null,
  ) {
    if (persist === null) globalThis.addEventListener("unload", this.#onUnload);
  }

  /**
   * Makes the pool's masters persistent: kept in the per-user folder, up `seconds` after the
   * run. Call before the pool's first call; a string says why it cannot be (a permission, or a
   * folder that is not safely ours).
   */
  static persistent(engine: Engine, sshPath: string, seconds: number): Masters | string {
    const folder = persistentFolder();
    if ("problem" in folder) return folder.problem;
    return Masters.of(engine, sshPath, () => new Masters(folder, sshPath, engine, seconds));
  }

  /**
   * The pool's masters, created on first use; a string says why there can be none (which
   * permission is missing).
   */
  static of(
    engine: Engine,
    sshPath: string,
    create: () => Masters | Unavailable = () => {
      const folder = makePrivateFolder();
      return "dir" in folder
        ? new Masters(folder, sshPath, engine)
        : new Unavailable(folder.problem);
    },
  ): Masters | string {
    const masters = engine.service(SERVICE, create);
    return masters instanceof Masters ? masters : (masters as Unavailable).problem;
  }

  /** Seconds persistent masters stay up after the run, or null for the pool's own masters. */
  get keptSeconds(): number | null {
    return this.persist;
  }

  /** The socket folder now. */
  get dir(): string {
    return this.folder.dir;
  }

  /**
   * Checks the socket folder before each call: still this user's, a real folder, 0700. One that
   * something removed (a /tmp cleaner) is made again, new, and checked; one that is not private
   * any more (another user re-made it first, a link, opened modes) is never used: the pool's
   * masters move to a new private folder (a persistent pool's cannot move: the call then runs
   * without reuse). False when no private folder can be had (the call runs without reuse).
   */
  ensureFolder(): boolean {
    if (remakePrivateFolder(this.folder) === null) return true;
    if (this.persist !== null) return false;
    const fresh = makePrivateFolder();
    if (!("dir" in fresh)) return false;
    // The old sockets are not to be trusted: their masters are let go (the holds end, and each
    // master a few seconds later), and nothing is sent to those paths any more.
    for (const { hold } of this.#sockets.values()) if (hold !== null) endHold(hold);
    this.#sockets.clear();
    this.folder = fresh;
    return true;
  }

  /** The ssh options that run a host's connection through its master (or make it one). */
  async connection(host: Host, settings: Settings): Promise<string[]> {
    const { user, port } = loginOf(host, settings);
    const identity = JSON.stringify([
      settings.sshPath,
      settings.sshExtra,
      settings.sshOptions,
      defaultSshOptions(settings, host),
      user ?? null,
      port ?? null,
      host.host,
    ]);
    const path = joinPath(this.dir, await digest(identity));
    if (!this.#sockets.has(path)) this.#sockets.set(path, { hold: null });
    return [
      "ControlMaster=auto",
      `ControlPath=${path}`,
      `ControlPersist=${this.persist ?? CONTROL_PERSIST_SECONDS}`,
    ];
  }

  /**
   * The warm session of a connection, claimed for one command, when it has one that can run a
   * command now (not busy with another call's).
   */
  warmSession(connection: readonly string[]): WarmSession | null {
    const hold = this.#entry(connection)?.hold;
    return hold instanceof WarmSession && hold.claim() ? hold : null;
  }

  #entry(connection: readonly string[]): { hold: Hold | null } | undefined {
    const path = controlPath(connection);
    return path === undefined ? undefined : this.#sockets.get(path);
  }

  /**
   * Keeps the master of a connection that has just run: one session on it, held until the pool
   * closes; `warm`: a session that runs the host's next commands (see `_warm_session.ts`), else
   * an idle one. Does nothing when one is held already or the open-file limit has no room.
   */
  hold(host: Host, settings: Settings, connection: readonly string[], warm = false): void {
    const path = controlPath(connection);
    const entry = path === undefined ? undefined : this.#sockets.get(path);
    if (entry === undefined || entry.hold !== null || this.persist !== null) return;
    if (!this.engine.reserveFds(warm ? FDS_PER_WARM : FDS_PER_HOLD)) return;
    // The hold only ever talks to the master: without one, its ProxyCommand fails at once
    // (these options come first, so they win over the caller's).
    const { user, port } = loginOf(host, settings);
    const argv = [
      settings.sshPath,
      ...[
        "ControlMaster=no",
        `ControlPath=${path}`,
        "ProxyCommand=false",
        "BatchMode=yes",
        // A warm session's commands get these where the host accepts them, as a new ssh's do.
        ...(warm ? [`SendEnv=${SENT_ENV.join(" ")}`] : []),
      ].flatMap((o) => ["-o", o]),
      ...settings.sshExtra,
      ...(user !== undefined ? ["-l", user] : []),
      ...(port !== undefined ? ["-p", String(port)] : []),
      "--",
      host.host,
    ];
    let hold: Hold;
    try {
      hold = warm
        ? new WarmSession(argv, { PARALLAX_HOST: host.host, PARALLAX_NODENUM: "0" })
        : spawnChild([...argv, "exec cat >/dev/null"], {
          env: {},
          stdin: null,
          holdStdin: true,
          output: "null",
          unref: true,
        });
    } catch {
      this.engine.releaseFds(warm ? FDS_PER_WARM : FDS_PER_HOLD);
      return;
    }
    entry.hold = hold;
    hold.status.then(() => {
      if (entry.hold === hold) entry.hold = null;
      this.engine.releaseFds(warm ? FDS_PER_WARM : FDS_PER_HOLD);
    });
  }

  /**
   * Ends the holds, asks every master to exit and waits for them, removes the folder. Persistent
   * masters are left up.
   */
  async close(): Promise<void> {
    if (this.persist !== null) return;
    globalThis.removeEventListener("unload", this.#onUnload);
    const holds = [...this.#sockets.values()].flatMap(({ hold }) => hold === null ? [] : [hold]);
    for (const hold of holds) endHold(hold);
    // Nothing is sent to sockets in a folder that is not private any more.
    const trusted = privateFolderProblem(this.folder) === null;
    const exits = trusted ? [...this.#sockets.keys()].map((path) => this.#exit(path, false)) : [];
    await Promise.all([...exits, ...holds.map((hold) => hold.status)]);
    this.#sockets.clear();
    if (remakeNeeded(this.folder)) return;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** The same without waiting, for `[Symbol.dispose]` and process exit. */
  closeSync(): void {
    if (this.persist !== null) return;
    globalThis.removeEventListener("unload", this.#onUnload);
    const paths = [...this.#sockets.keys()];
    const trusted = privateFolderProblem(this.folder) === null;
    for (const [path, { hold }] of this.#sockets) {
      if (hold !== null) endHold(hold);
      if (trusted) this.#exit(path, true).catch(() => {});
    }
    this.#sockets.clear();
    // Up to a second for the masters to go, where their sockets may be looked at.
    if (missingReadPermission(this.dir) === null) {
      const deadline = Date.now() + 1_000;
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (paths.some(exists) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 10);
    }
    try {
      if (!remakeNeeded(this.folder)) Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // Gone already, or not allowed: the folder is empty once the masters are gone.
    }
  }

  #exit(path: string, unref: boolean): Promise<boolean> {
    return exitMaster(this.sshPath, path, unref);
  }
}

/**
 * `ssh -O exit` for one socket (or `-O stop`: the master takes no new session and ends with its
 * last one, at once when idle); resolves when that ssh is done, true if a master answered
 * (`unref`: do not keep this process alive for it, at exit).
 */
async function exitMaster(
  sshPath: string,
  path: string,
  unref: boolean,
  how: "exit" | "stop" = "exit",
): Promise<boolean> {
  try {
    const child = spawnChild(
      [sshPath, "-o", `ControlPath=${path}`, "-O", how, "parallax-master"],
      { env: {}, stdin: null, holdStdin: false, output: "null", unref },
    );
    return (await child.status).code === 0;
  } catch {
    // Cannot start ssh: the master exits by itself once its hold has ended.
    return false;
  }
}

/**
 * A pool for one run whose connections stay up `seconds` after it (the CLI's `--persist`, and a
 * gateway asked to keep its hosts' connections); a string says why it cannot be (the pool is then
 * closed).
 */
export function persistentPool(seconds: number): Pool | string {
  const pool = new Pool({ reuse: true, limit: Number.MAX_SAFE_INTEGER });
  const masters = Masters.persistent(engineOf(pool), "ssh", seconds);
  if (typeof masters !== "string") return pool;
  pool.close().catch(() => {});
  return masters;
}

/**
 * Ends every persistent master of this user (`parallax persist --stop`): an idle one at once, one
 * that a run still uses when that run's sessions end (it takes no new one meanwhile), so that no
 * run in progress is cut off.
 *
 * @returns How many masters were running and are now asked to end.
 * @throws {Error} When the folder cannot be had (a permission, or not safely this user's).
 */
export async function stopPersistentMasters(sshPath = "ssh"): Promise<number> {
  const folder = persistentFolder();
  if ("problem" in folder) throw new Error(folder.problem);
  const missing = missingReadPermission(folder.dir);
  if (missing !== null) throw new Error(missing);
  const sockets = [...Deno.readDirSync(folder.dir)].map((entry) =>
    joinPath(folder.dir, entry.name)
  );
  const answered = await Promise.all(
    sockets.map((path) => exitMaster(sshPath, path, false, "stop")),
  );
  for (const path of sockets) await Deno.remove(path).catch(() => {});
  return answered.filter(Boolean).length;
}

/**
 * The per-user folder of persistent masters: `parallax-<uid>` under `$TMPDIR` or `/tmp`, created
 * 0700, and refused if something else is there (a link, another user's folder, open modes).
 */
function persistentFolder(): PrivateFolder | { problem: string } {
  if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state !== "granted") {
    return {
      problem: "persistent connections live in a per-user folder: run with --allow-sys=uid",
    };
  }
  const uid = Deno.uid();
  const tmpdir = readableTmpdir();
  const fits = (base: string) =>
    `${base}/parallax-${uid}/`.length + SOCKET_NAME_LENGTH <= MAX_SOCKET_PATH;
  const base = tmpdir && fits(tmpdir) ? tmpdir : "/tmp";
  const dir = joinPath(base, `parallax-${uid}`);
  const missing = missingWritePermission(base) ?? missingReadPermission(base);
  if (missing !== null) return { problem: `persistent connections need ${dir}: ${missing}` };
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      return { problem: `cannot create ${dir}: ${(error as Error).message}` };
    }
  }
  const info = Deno.lstatSync(dir);
  if (
    info.isSymlink || !info.isDirectory || info.uid !== uid || ((info.mode ?? 0) & 0o077) !== 0
  ) {
    return { problem: `${dir} is not a private folder of this user: remove it and try again` };
  }
  return { dir, uid };
}

/** The service in place of masters when none can be had. */
class Unavailable implements PoolService {
  constructor(readonly problem: string) {}
  close(): Promise<void> {
    return Promise.resolve();
  }
  closeSync(): void {}
}

/**
 * Creates a private 0700 folder for the sockets under `$TMPDIR` (when it may be read and is
 * short enough), else `/tmp`, else `/var/tmp`; a string says why none could be made.
 */
function makePrivateFolder(): PrivateFolder | { problem: string } {
  const reasons: string[] = [];
  const tmpdir = readableTmpdir();
  const bases = [
    ...new Set([...(tmpdir ? [tmpdir] : []), "/tmp", "/var/tmp"]),
  ];
  for (const base of bases) {
    const missing = missingWritePermission(base);
    if (missing !== null) {
      reasons.push(missing);
      continue;
    }
    const tooLong = `'${base}' is too long for a socket path`;
    if (`${base}/plx-`.length + 1 + SOCKET_NAME_LENGTH > MAX_SOCKET_PATH) {
      reasons.push(tooLong);
      continue;
    }
    try {
      const folder = makeFolder(base, "plx-");
      if (`${folder.dir}/`.length + SOCKET_NAME_LENGTH <= MAX_SOCKET_PATH) return folder;
      Deno.removeSync(folder.dir);
      reasons.push(tooLong);
    } catch (error) {
      reasons.push(`cannot create a folder in ${base}: ${(error as Error).message}`);
    }
  }
  return {
    problem: `connection reuse needs a private folder for its sockets: ${reasons.join("; ")}`,
  };
}

/** Whether the folder is not this pool's own private one any more (then nothing in it is removed). */
function remakeNeeded(folder: PrivateFolder): boolean {
  // Without read access it cannot be looked at (and asking would prompt at a terminal): the
  // folder made new is trusted, as everywhere (see the README).
  if (missingReadPermission(folder.dir) !== null) return false;
  try {
    const info = Deno.lstatSync(folder.dir);
    return info.isSymlink || (folder.uid !== null && info.uid !== folder.uid);
  } catch {
    return false;
  }
}

/** The socket of a connection's options (see {@linkcode Masters.connection}). */
function controlPath(connection: readonly string[]): string | undefined {
  return connection.find((o) => o.startsWith("ControlPath="))?.slice("ControlPath=".length);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function digest(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("")
    .slice(0, SOCKET_NAME_LENGTH);
}
