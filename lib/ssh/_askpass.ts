/**
 * Password authentication without the password in any argv, environment or file: ssh runs an
 * SSH_ASKPASS helper, which fetches the password from this process over a Unix socket in a
 * private 0700 folder, and prints it to ssh through a pipe.
 *
 * @module
 */

import { joinPath } from "../runtime/_path.ts";
import { makePrivateFolder } from "../runtime/_private_folder.ts";
import { missingReadPermission, missingWritePermission } from "../runtime/_permissions.ts";
import { shellQuote } from "../runtime/_shell_quote.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** The helper's body, run by `deno run` as a separate process (not a worker). */
const HELPER = new URL("./_askpass_helper.ts", import.meta.url);

/** Serves one password to the askpass helpers of the ssh processes of one call. */
export class AskpassServer implements AsyncDisposable {
  readonly #listener: Deno.Listener;
  readonly #serving: Promise<void>;

  private constructor(
    private readonly dir: string,
    readonly helper: string,
    socket: string,
    password: string,
  ) {
    this.#listener = Deno.listen({ transport: "unix", path: socket });
    this.#serving = this.#serve(password);
  }

  /**
   * Creates the private folder, the socket and the helper script.
   *
   * @throws {Error} Naming what is missing: access to /tmp, network access (a Unix socket is
   * network access to Deno), or a Deno to run the helper.
   */
  static async start(password: string): Promise<AskpassServer> {
    if (Deno.build.standalone) {
      throw new Error(
        "password authentication needs the deno CLI; a compiled binary cannot run the askpass helper",
      );
    }
    const missing = missingWritePermission("/tmp") ?? missingReadPermission("/tmp");
    if (missing !== null) throw new Error(missing);
    const { dir } = makePrivateFolder("/tmp", "plx-pass-");
    const socket = joinPath(dir, "s");
    if (Deno.permissions.querySync({ name: "net", host: `unix:${socket}` }).state !== "granted") {
      await Deno.remove(dir, { recursive: true });
      throw new Error(
        "the password travels over a private Unix socket, which Deno counts as network access: run with --allow-net",
      );
    }
    const helper = joinPath(dir, "askpass");
    const flags = [
      `--allow-net=unix:${socket}`,
      `--allow-read=${socket}`,
      `--allow-write=${socket}`,
    ];
    const line = [Deno.execPath(), "run", "--quiet", "--no-config", ...flags, HELPER.href, socket]
      .map(shellQuote).join(" ");
    await Deno.writeTextFile(helper, `#!/bin/sh\nexec ${line} "$@"\n`, { mode: 0o700 });
    try {
      return new AskpassServer(dir, helper, socket, password);
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Variables for ssh's environment: the helper, always used, never a terminal prompt. */
  env(): Record<string, string> {
    return { SSH_ASKPASS: this.helper, SSH_ASKPASS_REQUIRE: "force", DISPLAY: "parallax:0" };
  }

  async #serve(password: string): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        (async () => {
          try {
            const reader = conn.readable.getReader();
            let prompt = "";
            while (!prompt.includes("\n")) {
              const { value, done } = await reader.read();
              if (done) break;
              prompt += decoder.decode(value);
            }
            reader.releaseLock();
            // Only password prompts get the password; a host-key question gets nothing (refused).
            const answer = /password|passphrase|PIN/i.test(prompt) && !/yes\/no/i.test(prompt)
              ? `${password}\n`
              : "";
            const writer = conn.writable.getWriter();
            await writer.write(encoder.encode(answer));
            await writer.close();
          } catch {
            conn.close();
          }
        })();
      }
    } catch {
      // Closed.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#serving;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
