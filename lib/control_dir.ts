/**
 * Connection reuse: a private folder of OpenSSH ControlMaster sockets, and closing the masters
 * (`ssh -O exit`) when the pool is done or the process exits.
 *
 * @module
 */

import { joinPath } from "./path.ts";
import { missingWritePermission } from "./permissions.ts";

/** Seconds an idle master stays up; a master left behind by a crash goes away by itself. */
export const CONTROL_PERSIST_SECONDS = 60;

/** sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs. */
const MAX_SOCKET_PATH = 104;

/** `%C` expands to a 40-character hash of the connection (local host, host, port, user). */
const SOCKET_NAME = "%C";
const SOCKET_NAME_LENGTH = 40;

/** Where short temporary paths can be had: `/tmp` first, since $TMPDIR can be long (macOS). */
const BASES = ["/tmp", "/var/tmp"];

/** A private 0700 folder of control sockets. */
export class ControlDir {
  private constructor(readonly dir: string, private readonly sshPath: string) {}

  /**
   * Creates the folder.
   *
   * @returns The folder, or a sentence that says why it cannot be created (which permission).
   */
  static create(sshPath: string): ControlDir | string {
    const reasons: string[] = [];
    for (const base of BASES) {
      const missing = missingWritePermission(base);
      if (missing !== null) {
        reasons.push(missing);
        continue;
      }
      try {
        const dir = Deno.makeTempDirSync({ dir: base, prefix: "plx-" });
        Deno.chmodSync(dir, 0o700);
        if (dir.length + 1 + SOCKET_NAME_LENGTH < MAX_SOCKET_PATH) {
          return new ControlDir(dir, sshPath);
        }
        Deno.removeSync(dir);
        reasons.push(`'${dir}' is too long for a socket path`);
      } catch (error) {
        reasons.push(`cannot create a folder in ${base}: ${(error as Error).message}`);
      }
    }
    return `connection reuse needs a private folder for its sockets: ${reasons.join("; ")}`;
  }

  /** The `ControlPath` for ssh: one socket per connection in this folder. */
  get controlPath(): string {
    return joinPath(this.dir, SOCKET_NAME);
  }

  /** The ssh options that make a connection go through (or become) a master. */
  sshOptions(): string[] {
    return [
      "ControlMaster=auto",
      `ControlPath=${this.controlPath}`,
      `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
    ];
  }

  /** Asks every master to exit and waits for them, then removes the folder. */
  async close(): Promise<void> {
    await Promise.all(
      this.#sockets().map(async (socket) => {
        try {
          await this.#exitCommand(socket).output();
        } catch {
          // Already gone, or ssh cannot be started: the master exits after ControlPersist.
        }
      }),
    );
    this.#remove();
  }

  /**
   * The same without waiting for the answers, for `[Symbol.dispose]` and process exit: starts one
   * `ssh -O exit` per master, waits up to a second for the sockets to go, removes the folder.
   */
  closeSync(): void {
    for (const socket of this.#sockets()) {
      try {
        this.#exitCommand(socket).spawn();
      } catch {
        // As above.
      }
    }
    const deadline = Date.now() + 1_000;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (this.#sockets().length > 0 && Date.now() < deadline) Atomics.wait(nap, 0, 0, 10);
    this.#remove();
  }

  #exitCommand(socket: string): Deno.Command {
    return new Deno.Command(this.sshPath, {
      args: ["-o", `ControlPath=${socket}`, "-O", "exit", "parallax-control-master"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    });
  }

  #sockets(): string[] {
    try {
      return [...Deno.readDirSync(this.dir)].map((entry) => joinPath(this.dir, entry.name));
    } catch {
      return [];
    }
  }

  #remove(): void {
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // Gone already.
    }
  }
}
