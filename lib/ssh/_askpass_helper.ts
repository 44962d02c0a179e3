/**
 * The SSH_ASKPASS helper, a process of its own (not a worker): asks the parallax process that
 * started ssh for the password over the private Unix socket named by its first argument, sending
 * ssh's prompt, and prints the answer for ssh. Run by the helper script that parallax writes
 * (`deno run _askpass_helper.ts SOCKET PROMPT`).
 *
 * @module
 */

const [socket, prompt = ""] = Deno.args;
const conn = await Deno.connect({ transport: "unix", path: socket });
await conn.write(new TextEncoder().encode(`${prompt.replaceAll("\n", " ")}\n`));
const reply = new Uint8Array(await new Response(conn.readable).arrayBuffer());
if (reply.byteLength === 0) Deno.exit(1);
await Deno.stdout.write(reply);
