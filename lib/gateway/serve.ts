/**
 * parallax on a gateway (`parallax gateway`): reads one request from stdin, runs it on the hosts
 * it names with the library, and answers on stdout, as `driver/_gateway_protocol.ts` describes.
 * The controller starts it over ssh; nobody types it.
 *
 * It stops its hosts (remote commands included) when told to by a signal: the lifeline watcher
 * the controller wraps it in sends SIGTERM when the controller's connection ends.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import {
  type GatewayEvent,
  type GatewayRequest,
  HEARTBEAT_MS,
  type LeafRecord,
  line,
  parseControl,
  parseRequest,
  PROTOCOL,
  PROTOCOL_VERSION,
  ProtocolError,
  SILENCE_MS,
} from "../driver/_gateway_protocol.ts";
import { ParallaxError } from "../parallax_error.ts";
import { type CallResult, callWith } from "../ops/call.ts";
import { copyWith } from "../ops/copy.ts";
import { slurpWith } from "../ops/slurp.ts";
import type { TransferResult } from "../ops/_transfer.ts";
import { encodeBase64 } from "../runtime/_base64.ts";
import { concatBytes } from "../runtime/_bytes.ts";
import { joinPath } from "../runtime/_path.ts";
import { missingWritePermission } from "../runtime/_permissions.ts";
import { makePrivateFolder } from "../runtime/_private_folder.ts";
import { after, type Timer } from "../runtime/_timer.ts";
import type { TransferOptions } from "../settings/options.ts";
import { persistentPool } from "../ssh/_masters.ts";

/** Exit status of a gateway that refused its request. */
const EXIT_REFUSED = 2;

/** Bytes of a fetched file per `data` event. */
const DATA_CHUNK = 256 * 1024;

/**
 * Serves one request from stdin; resolves with the exit status.
 *
 * After the request, stdin carries the controller's control lines: a heartbeat every few
 * seconds, `halt` (start no more hosts) and `cancel` (stop the hosts and report each). Its end, or
 * a silence of {@linkcode SILENCE_MS}, means the controller is gone (killed, or its link broken):
 * the hosts are then stopped, their remote commands too, with nobody left to report to.
 *
 * @param input The request (default: stdin).
 * @param output Where the events go (default: stdout).
 * @param lifelineDir A folder removed when the controller is gone, however it ended: a relay's
 * staging goes there (where it may be written), so that it never outlives the run.
 */
export async function serveGateway(
  input: ReadableStream<Uint8Array> = Deno.stdin.readable,
  output: WritableStream<Uint8Array> = Deno.stdout.writable,
  lifelineDir?: string,
): Promise<number> {
  const writer = output.getWriter();
  const encoder = new TextEncoder();
  /** Aborted when the controller is gone: the hosts are stopped. */
  const gone = new AbortController();
  /** Aborted by the controller's `halt`: no more hosts start. */
  const halt = new AbortController();
  /** Aborted by the controller's `cancel`: the hosts are stopped and reported. */
  const cancel = new AbortController();
  const send: Send = async (event) => {
    if (gone.signal.aborted) return;
    try {
      await writer.write(encoder.encode(line(event)));
    } catch {
      gone.abort("its connection to the controller ended");
    }
  };
  const reader = input.getReader();
  // Heartbeats both ways from the start (a large request may take a while to arrive): an alive
  // event every few seconds, and any byte from the controller counts as a word from it.
  let heard = Date.now();
  const hear = () => heard = Date.now();
  let beat: Timer | null = null;
  const heartbeat = () => {
    if (Date.now() - heard > SILENCE_MS) {
      gone.abort(`no word from the controller for ${SILENCE_MS / 1000} s`);
      reader.cancel().catch(() => {});
      return;
    }
    send({ event: "alive" });
    beat = after(HEARTBEAT_MS, heartbeat);
  };
  try {
    await send({
      event: "hello",
      protocol: PROTOCOL,
      version: PROTOCOL_VERSION,
      parallax: denoJson.version,
    });
    beat = after(HEARTBEAT_MS, heartbeat);
    let request: GatewayRequest;
    let payload: Uint8Array;
    let rest: Uint8Array;
    try {
      ({ request, payload, rest } = await readRequest(reader, hear));
    } catch (error) {
      await send({ event: "refused", reason: (error as Error).message });
      return EXIT_REFUSED;
    }
    const watching = watchController(reader, rest, hear, gone, { halt, cancel });
    try {
      await serve(
        request,
        payload,
        send,
        AbortSignal.any([gone.signal, cancel.signal]),
        halt.signal,
        lifelineDir,
      );
    } catch (error) {
      // The library refused the request's values (a TypeError or RangeError says which).
      await send({ event: "refused", reason: (error as Error).message });
      return EXIT_REFUSED;
    } finally {
      watching.stop();
    }
    await send({ event: "end" });
    return 0;
  } finally {
    (beat as Timer | null)?.clear();
    reader.cancel().catch(() => {});
    await writer.close().catch(() => {});
  }
}

/** Reads the request line and its payload; `rest` is what came after them. */
async function readRequest(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  hear: () => void,
): Promise<{ request: GatewayRequest; payload: Uint8Array; rest: Uint8Array }> {
  const head: Uint8Array[] = [];
  let newline = -1;
  while (newline === -1) {
    const { value, done } = await reader.read();
    if (done) throw new ProtocolError("no request line on stdin");
    hear();
    head.push(value);
    newline = value.indexOf(10);
  }
  const all = concatBytes(head);
  const end = all.byteLength - head.at(-1)!.byteLength + newline;
  const request = parseRequest(new TextDecoder().decode(all.subarray(0, end)));
  const payload = new Uint8Array(request.payloadBytes);
  let tail = all.subarray(end + 1);
  let filled = 0;
  while (true) {
    const take = Math.min(tail.byteLength, payload.byteLength - filled);
    payload.set(tail.subarray(0, take), filled);
    filled += take;
    tail = tail.subarray(take);
    if (filled === payload.byteLength) return { request, payload, rest: tail };
    const { value, done } = await reader.read();
    if (done) {
      throw new ProtocolError(
        `the request announced ${request.payloadBytes} bytes after it, ${filled} came`,
      );
    }
    hear();
    tail = value;
  }
}

/**
 * Reads the controller's control lines (`rest` first) until stopped, telling `hear` of each
 * byte: `halt` aborts `halt`, `cancel` aborts `cancel`; the end of stdin aborts `gone`.
 */
function watchController(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  rest: Uint8Array,
  hear: () => void,
  gone: AbortController,
  { halt, cancel }: { halt: AbortController; cancel: AbortController },
): { stop(): void } {
  let stopped = false;
  let pending = "";
  const decoder = new TextDecoder();
  const take = (bytes: Uint8Array) => {
    hear();
    pending += decoder.decode(bytes, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const text of lines) {
      try {
        const message = parseControl(text);
        if (message?.control === "halt") halt.abort(message.reason);
        if (message?.control === "cancel") cancel.abort("cancelled by the controller");
      } catch {
        // A control line of a later protocol: nothing this gateway can act on.
      }
    }
  };
  take(rest);
  (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        take(value);
      }
    } catch {
      // Cancelled, or stdin failed: either way the controller is not there.
    }
    if (!stopped) gone.abort("its connection to the controller ended");
  })();
  return {
    stop() {
      stopped = true;
    },
  };
}

type Send = (event: GatewayEvent) => Promise<void>;

/** Runs the request, sending each host's events as they happen. */
async function serve(
  request: GatewayRequest,
  payload: Uint8Array,
  send: Send,
  signal: AbortSignal,
  halt: AbortSignal,
  lifelineDir: string | undefined,
): Promise<void> {
  const indexOf = new Map(request.hosts.map((host, i) => [host, i]));
  const perHost = (list: readonly string[]) =>
    list.length === 1 ? list[0] : (_host: unknown, i: number) => list[i];
  const { options } = request;
  // Kept connections the gateway cannot have (no folder for them) leave the results the same.
  const kept = options.persist === undefined ? null : persistentPool(options.persist);
  await using pool = typeof kept === "string" ? null : kept;
  const common = {
    ...(pool !== null ? { pool } : {}),
    timeout: options.timeout,
    connectTimeout: options.connectTimeout,
    limit: options.limit,
    retries: options.retries,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    quiet: options.quiet,
    ...(options.maxFailures !== undefined ? { maxFailures: options.maxFailures } : {}),
    ...(options.sshExtra !== undefined ? { sshExtra: [...options.sshExtra] } : {}),
    signal,
    halt,
  };
  /** A relayed copy's or a slurp's private folder here, which messages do not name. */
  let staging: string | null = null;
  // Events go out in order, each whole: a host's output, then its result.
  let sending = Promise.resolve();
  const queue = (make: () => Promise<void>): Promise<void> => sending = sending.then(make);
  // A host's start goes out before anything else of it: the controller then knows it may run.
  const started = (host: string) =>
    queue(() => send({ event: "started", index: indexOf.get(host)! }));
  const result = (
    result: CallResult | TransferResult | ParallaxError,
    extra?: () => Promise<void>,
  ) =>
    queue(async () => {
      let ended = result;
      try {
        await extra?.();
      } catch (error) {
        // One host's problem here (a file of its fetched tree that cannot be read) is its own
        // error: the other hosts go on, and their results stand.
        ended = new ParallaxError({
          host: result.host,
          kind: "local",
          reason: `cannot send what it fetched: ${(error as Error).message}`,
          attempts: result.attempts,
        });
      }
      const index = indexOf.get(result.host)!;
      await send({ event: "result", index, record: leafRecord(ended, staging) });
    });
  if (request.op === "call") {
    await callWith(request.hosts, perHost(request.commands), {
      ...common,
      inline: options.inline,
      stopRemote: options.stopRemote,
      ...(options.sudo !== undefined ? { sudo: options.sudo } : {}),
      ...(options.sudoPassword !== undefined ? { sudoPassword: options.sudoPassword } : {}),
      ...(payload.byteLength > 0 ? { input: payload } : {}),
    }, {
      // Used once sent: a controller slower than the leaves holds them back here too.
      output: request.stream
        ? (host, stream, data) =>
          queue(() =>
            send({ event: "output", index: indexOf.get(host)!, stream, data: encodeBase64(data) })
          )
        : undefined,
      started,
      result: (r) => result(r),
    }, request.nodes);
  } else {
    const transfer: TransferOptions = {
      ...common,
      recursive: options.recursive,
      preserve: options.preserve,
      compress: options.compress,
      ...(options.bandwidthLimit !== undefined ? { bandwidthLimit: options.bandwidthLimit } : {}),
    };
    const base = lifelineDir !== undefined && missingWritePermission(lifelineDir) === null
      ? lifelineDir
      : undefined;
    staging = makePrivateFolder(base, "parallax-relay-").dir;
    try {
      if (request.op === "copy") {
        const sources = await unpack(request.files, payload, staging, options.preserve);
        await copyWith(request.hosts, sources, perHost(request.dsts), transfer, {
          started,
          result: (r) => result(r),
        });
      } else {
        await slurpWith(request.hosts, perHost(request.srcs), request.dst, {
          ...transfer,
          localdir: staging,
        }, {
          started,
          result: (r) =>
            result(r, async () => {
              if (r instanceof ParallaxError) return;
              const index = indexOf.get(r.host)!;
              await sendTree(r.path, request.dst, index, send);
              await Deno.remove(r.path, { recursive: true }).catch(() => {});
            }),
        });
      }
      await sending;
    } finally {
      await Deno.remove(staging, { recursive: true }).catch(() => {});
    }
  }
  await sending;
}

/**
 * A host's end as the protocol carries it; a path under `staging` is named in its reason as the
 * controller's side knows it (relative: the source's own name).
 */
function leafRecord(
  result: CallResult | TransferResult | ParallaxError,
  staging: string | null,
): LeafRecord {
  const empty = new Uint8Array();
  if (result instanceof ParallaxError) {
    const reason = result.message.slice(result.host.length + 2);
    return {
      kind: result.kind,
      reason: staging === null ? reason : reason.replaceAll(`${staging}/`, ""),
      exitCode: result.exitCode ?? null,
      stdout: encodeBase64(result.stdoutBytes ?? empty),
      stderr: encodeBase64(result.stderrBytes),
      attempts: result.attempts,
      durationMs: result.durationMs ?? null,
    };
  }
  const call = "exitCode" in result ? result : null;
  return {
    kind: null,
    reason: null,
    exitCode: call?.exitCode ?? 0,
    stdout: encodeBase64(call?.stdoutBytes ?? empty),
    stderr: encodeBase64(call?.stderrBytes ?? new TextEncoder().encode(result.stderr)),
    attempts: result.attempts,
    durationMs: result.durationMs,
  };
}

/** Writes a copy's staged files under `staging`; returns the sources (its top-level entries). */
async function unpack(
  files: Extract<GatewayRequest, { op: "copy" }>["files"],
  payload: Uint8Array,
  staging: string,
  preserve: boolean,
): Promise<string[]> {
  const sources: string[] = [];
  let at = 0;
  const times: [string, number][] = [];
  for (const entry of files) {
    const path = joinPath(staging, entry.path);
    if (!entry.path.includes("/")) sources.push(path);
    if (entry.type === "dir") {
      await Deno.mkdir(path, { recursive: true });
    } else {
      if (at + entry.size > payload.byteLength) throw new ProtocolError("files: payload too short");
      await Deno.writeFile(path, payload.subarray(at, at + entry.size));
      at += entry.size;
    }
    await Deno.chmod(path, entry.mode & 0o7777);
    if (preserve && entry.mtimeMs !== null) times.push([path, entry.mtimeMs]);
  }
  // Folders' times last: writing into a folder changes its time.
  for (const [path, mtimeMs] of times.reverse()) {
    await Deno.utime(path, new Date(mtimeMs), new Date(mtimeMs));
  }
  return sources;
}

/** Sends a fetched file or folder as `file` and `data` events, paths under `dst`. */
async function sendTree(local: string, dst: string, index: number, send: Send): Promise<void> {
  const info = await Deno.lstat(local);
  const mtimeMs = info.mtime?.getTime() ?? null;
  const mode = info.mode ?? 0o644;
  if (info.isDirectory) {
    await send({ event: "file", index, path: dst, type: "dir", mode, mtimeMs });
    for await (const entry of Deno.readDir(local)) {
      await sendTree(joinPath(local, entry.name), `${dst}/${entry.name}`, index, send);
    }
    return;
  }
  if (!info.isFile) return;
  // Opened before it is announced: a file that cannot be read leaves nothing on the other side.
  using file = await Deno.open(local);
  await send({ event: "file", index, path: dst, type: "file", mode, mtimeMs });
  const buffer = new Uint8Array(DATA_CHUNK);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    await send({ event: "data", index, data: encodeBase64(buffer.subarray(0, n)) });
  }
}
