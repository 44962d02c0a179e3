/**
 * The SSH_ASKPASS helper's body: asks the parallax process that started ssh for the password,
 * over the private Unix socket named by its only argument after the prompt, and prints it for ssh.
 * Run by the helper script that parallax writes (`deno run askpass_client.ts SOCKET PROMPT`).
 *
 * @module
 */

const [socket, prompt = ""] = Deno.args;
const conn = await Deno.connect({ transport: "unix", path: socket });
await conn.write(new TextEncoder().encode(`${prompt.replaceAll("\n", " ")}\n`));
const reply = new Uint8Array(await new Response(conn.readable).arrayBuffer());
if (reply.byteLength === 0) Deno.exit(1);
await Deno.stdout.write(reply);
