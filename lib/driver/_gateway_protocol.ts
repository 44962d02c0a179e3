/**
 * The conversation between a controller and parallax on a gateway: versioned NDJSON over the ssh
 * channel, checked on both sides.
 *
 * The controller writes one request line to the gateway's stdin, followed by the request's
 * payload (`payloadBytes` raw bytes: a call's input, or the files of a relayed copy), then keeps
 * stdin open for control lines: an empty line every {@linkcode HEARTBEAT_MS}, `halt` when the
 * run's failure budget is used up, and `cancel` when the caller cancels (the gateway stops its
 * hosts and reports each, partial output included, then ends). The gateway answers on stdout, one event per line: `hello`
 * first (or `refused`), then `started`, `output`, `file`, `data` and `result` events as its hosts
 * run,
 * `alive` every {@linkcode HEARTBEAT_MS}, and `end` last. A host is named by its index in the
 * request's `hosts`. Each side gives up on the other after {@linkcode SILENCE_MS} without a
 * line, and the gateway at the end of its stdin: it then stops its hosts. A side that reads a
 * line it does not understand stops: the gateway with `refused`, the controller by failing the
 * gateway's hosts with kind `gateway`.
 *
 * @module
 */

import type { ErrorKind } from "../parallax_error.ts";

/** The protocol's name, in every request and in `hello`. */
export const PROTOCOL = "parallax-gateway";
/** The protocol's version; a request or hello with another one is refused. */
export const PROTOCOL_VERSION = 5;

/** Milliseconds between heartbeats, each way. */
export const HEARTBEAT_MS = 3_000;
/** Milliseconds without a line after which a side gives up on the other. */
export const SILENCE_MS = 10_000;

/**
 * A control line from the controller, after the request: `halt` (start no more hosts) or
 * `cancel` (stop every host, report each, then end; since version 3).
 */
export type GatewayControl =
  | { readonly control: "halt"; readonly reason: string }
  | { readonly control: "cancel" };

/** The options the hosts behind a gateway run with (the rest is the gateway's own config). */
export interface LeafOptions {
  /** Seconds per host; 0 for none. */
  readonly timeout: number;
  readonly connectTimeout: number;
  readonly limit: number;
  readonly retries: number;
  readonly user?: string;
  readonly port?: number;
  /** ssh prints errors only. */
  readonly quiet: boolean;
  /** Failures allowed before the gateway starts no more hosts: a count, or a percentage. */
  readonly maxFailures?: number | string;
  /** Keep each host's output in its result. */
  readonly inline: boolean;
  /** call: stop remote commands with the lifeline. */
  readonly stopRemote: boolean;
  /** call: run under sudo as this user. */
  readonly sudo?: string;
  readonly sudoPassword?: string;
  /** copy and slurp: scp's switches. */
  readonly recursive: boolean;
  readonly preserve: boolean;
  readonly compress: boolean;
  readonly bandwidthLimit?: number;
  /**
   * Seconds the gateway keeps its hosts' connections up after the run, for the next run to
   * reuse (the controller's `--persist`; since version 4); omitted: none are kept.
   */
  readonly persist?: number;
  /** ssh arguments for the gateway's connections to its hosts (since version 5). */
  readonly sshExtra?: readonly string[];
}

/** A file or folder of a relayed copy; a file's bytes follow in the payload, in order. */
export interface StagedEntry {
  /** Relative path, `/`-separated, no `..`. */
  readonly path: string;
  readonly type: "dir" | "file";
  readonly mode: number;
  /** A file's size in bytes. */
  readonly size: number;
  /** Modification time in ms since the epoch (kept with `preserve`). */
  readonly mtimeMs: number | null;
}

interface RequestBase {
  readonly protocol: typeof PROTOCOL;
  readonly version: number;
  /** The hosts as the gateway reaches them (their keys in the controller's map). */
  readonly hosts: readonly string[];
  readonly options: LeafOptions;
  /** Bytes that follow the request line. */
  readonly payloadBytes: number;
}

/** What a controller asks a gateway to do. */
export type GatewayRequest =
  | RequestBase & {
    readonly op: "call";
    /** One command for every host, or one per host. */
    readonly commands: readonly string[];
    /** Each host's `PARALLAX_NODENUM`: its position in the controller's list. */
    readonly nodes: readonly number[];
    /** Send `output` events as output arrives. */
    readonly stream: boolean;
  }
  | RequestBase & {
    readonly op: "copy";
    /** The top-level entries of `files` are the sources; one destination, or one per host. */
    readonly dsts: readonly string[];
    readonly files: readonly StagedEntry[];
  }
  | RequestBase & {
    readonly op: "slurp";
    /** One source, or one per host. */
    readonly srcs: readonly string[];
    /** The relative path each host's file gets inside its folder. */
    readonly dst: string;
  };

/** A host's end as a gateway reports it; the streams in base64. */
export interface LeafRecord {
  /** The error's kind; null for a result. */
  readonly kind: string | null;
  /** The error's reason (its message without the host). */
  readonly reason: string | null;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly attempts: number;
  readonly durationMs: number | null;
}

/** What a gateway tells its controller. */
export type GatewayEvent =
  | {
    readonly event: "hello";
    readonly protocol: typeof PROTOCOL;
    readonly version: number;
    readonly parallax: string;
  }
  | { readonly event: "refused"; readonly reason: string }
  /** A host's process has started (once per attempt): from now on its command may run. */
  | { readonly event: "started"; readonly index: number }
  | {
    readonly event: "output";
    readonly index: number;
    readonly stream: "stdout" | "stderr";
    readonly data: string;
  }
  /** slurp: an entry of a host's fetched tree; a file's bytes follow in `data` events. */
  | {
    readonly event: "file";
    readonly index: number;
    readonly path: string;
    readonly type: "dir" | "file";
    readonly mode: number;
    readonly mtimeMs: number | null;
  }
  /** slurp: the next bytes of the file opened last. */
  | { readonly event: "data"; readonly index: number; readonly data: string }
  | { readonly event: "result"; readonly index: number; readonly record: LeafRecord }
  /** A heartbeat: the gateway is there, its hosts still running. */
  | { readonly event: "alive" }
  | { readonly event: "end" };

/** A protocol line that does not say what it should. */
export class ProtocolError extends Error {}

/**
 * Reads a request line.
 *
 * @throws {ProtocolError} Saying what is wrong: not JSON, another protocol or version, a field
 * missing or of the wrong type.
 */
export function parseRequest(line: string): GatewayRequest {
  const value = parseObject(line, "request");
  if (value.protocol !== PROTOCOL) throw new ProtocolError(`not a ${PROTOCOL} request`);
  if (value.version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `protocol version ${
        JSON.stringify(value.version)
      } asked, this gateway speaks ${PROTOCOL_VERSION}`,
    );
  }
  const hosts = strings(value, "hosts");
  if (hosts.length === 0) throw new ProtocolError("request names no host");
  count(value, "payloadBytes");
  leafOptions(value.options);
  const perHost = (field: string) => {
    const list = strings(value, field);
    if (list.length !== 1 && list.length !== hosts.length) {
      throw new ProtocolError(`${field}: expected one, or one per host`);
    }
  };
  switch (value.op) {
    case "call":
      perHost("commands");
      if (
        !Array.isArray(value.nodes) || value.nodes.length !== hosts.length ||
        value.nodes.some((n) => typeof n !== "number" || !Number.isInteger(n) || n < 0)
      ) {
        throw new ProtocolError("nodes: expected a number per host");
      }
      bool(value, "stream");
      break;
    case "copy":
      perHost("dsts");
      if (!Array.isArray(value.files) || value.files.length === 0) {
        throw new ProtocolError("files: expected entries");
      }
      for (const entry of value.files) stagedEntry(entry);
      break;
    case "slurp":
      perHost("srcs");
      stagedPath(value.dst);
      break;
    default:
      throw new ProtocolError(`unknown op ${JSON.stringify(value.op)}`);
  }
  return value as unknown as GatewayRequest;
}

/**
 * Reads an event line, for a request with `hostCount` hosts.
 *
 * @throws {ProtocolError} Saying what is wrong.
 */
export function parseEvent(line: string, hostCount: number): GatewayEvent {
  const value = parseObject(line, "event");
  const index = () => {
    const i = count(value, "index");
    if (i >= hostCount) throw new ProtocolError(`index ${i} names no host of the request`);
  };
  switch (value.event) {
    case "hello":
      if (value.protocol !== PROTOCOL) throw new ProtocolError(`not a ${PROTOCOL} gateway`);
      if (value.version !== PROTOCOL_VERSION) {
        throw new ProtocolError(
          `the gateway speaks protocol version ${
            JSON.stringify(value.version)
          } (parallax ${value.parallax}), this controller ${PROTOCOL_VERSION}`,
        );
      }
      text(value, "parallax");
      break;
    case "refused":
      text(value, "reason");
      break;
    case "output":
      index();
      if (value.stream !== "stdout" && value.stream !== "stderr") {
        throw new ProtocolError("stream: expected stdout or stderr");
      }
      base64(value, "data");
      break;
    case "file":
      index();
      stagedPath(value.path);
      if (value.type !== "dir" && value.type !== "file") {
        throw new ProtocolError("type: expected dir or file");
      }
      count(value, "mode");
      if (
        value.mtimeMs !== null &&
        (typeof value.mtimeMs !== "number" || !Number.isFinite(value.mtimeMs))
      ) {
        throw new ProtocolError("mtimeMs: expected a time or null");
      }
      break;
    case "data":
      index();
      base64(value, "data");
      break;
    case "started":
      index();
      break;
    case "result":
      index();
      leafRecord(value.record);
      break;
    case "alive":
    case "end":
      break;
    default:
      throw new ProtocolError(`unknown event ${JSON.stringify(value.event)}`);
  }
  return value as unknown as GatewayEvent;
}

/**
 * Reads a control line (an empty one is a heartbeat: null).
 *
 * @throws {ProtocolError} Saying what is wrong.
 */
export function parseControl(line: string): GatewayControl | null {
  if (line.trim() === "") return null;
  const value = parseObject(line, "control line");
  if (value.control === "cancel") return { control: "cancel" };
  if (value.control !== "halt") {
    throw new ProtocolError(`unknown control ${JSON.stringify(value.control)}`);
  }
  text(value, "reason");
  return value as unknown as GatewayControl;
}

/** A control line. */
export function control(message: GatewayControl): string {
  return `${JSON.stringify(message)}\n`;
}

/** One line of NDJSON. */
export function line(message: GatewayRequest | GatewayEvent): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Checks a relative path of a staged or fetched tree: `/`-separated names, none empty, `.` or
 * `..`, so that it stays inside the folder it is written to.
 *
 * @throws {ProtocolError} For any other path.
 */
export function stagedPath(path: unknown): string {
  if (
    typeof path !== "string" || path === "" || path.includes("\0") ||
    path.split("/").some((part) => part === "" || part === "." || part === "..")
  ) {
    throw new ProtocolError(`path ${JSON.stringify(path)}: expected a relative path`);
  }
  return path;
}

/** The kinds a record may carry: the closed union of `ParallaxError`'s kinds. */
const KINDS: readonly ErrorKind[] = [
  "connect",
  "auth",
  "hostkey",
  "timeout",
  "cancelled",
  "ssh",
  "transfer",
  "spawn",
  "local",
  "skipped",
  "gateway",
];

/** The most of a gateway's text shown here. */
const MAX_REASON = 4_000;

/**
 * Checks a host's record: a kind of the closed union (or null for a result), numbers as numbers
 * in their range, text as text, the streams as base64.
 *
 * @throws {ProtocolError} Saying which field is wrong.
 */
function leafRecord(record: unknown): void {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new ProtocolError("record: expected an object");
  }
  const value = record as Record<string, unknown>;
  const kind = value.kind;
  if (kind !== null && !KINDS.includes(kind as ErrorKind)) {
    throw new ProtocolError(`kind: ${JSON.stringify(kind)} is not a kind`);
  }
  if (kind === null ? value.reason !== null : typeof value.reason !== "string") {
    throw new ProtocolError(`reason: expected ${kind === null ? "null" : "a string"}`);
  }
  const exitCode = value.exitCode;
  const isStatus = typeof exitCode === "number" && Number.isInteger(exitCode) && exitCode >= 0 &&
    exitCode <= 255;
  if (kind === null ? !isStatus : exitCode !== null && !isStatus) {
    throw new ProtocolError("exitCode: expected an exit status (0 to 255)");
  }
  const duration = value.durationMs;
  if (
    duration !== null &&
    (typeof duration !== "number" || !Number.isFinite(duration) || duration < 0)
  ) {
    throw new ProtocolError("durationMs: expected a number >= 0 or null");
  }
  base64(value, "stdout");
  base64(value, "stderr");
  count(value, "attempts");
}

function base64(value: Record<string, unknown>, field: string): void {
  const data = value[field];
  if (typeof data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    throw new ProtocolError(`${field}: expected base64`);
  }
}

/**
 * A gateway's text as it may be shown here: on one line, without control characters (an escape
 * sequence, a carriage return that would overwrite a line), each shown as `?`.
 */
export function shownText(text: string): string {
  const shown = text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}...` : text;
  // Control characters (C0, C1) and the marks that reorder or break a line on a terminal
  // (bidirectional overrides and isolates, line and paragraph separators).
  return shown.replace(/\r?\n/g, " / ").replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    "?",
  );
}

function stagedEntry(entry: unknown): void {
  if (typeof entry !== "object" || entry === null) throw new ProtocolError("file: not an object");
  const value = entry as Record<string, unknown>;
  stagedPath(value.path);
  if (value.type !== "dir" && value.type !== "file") {
    throw new ProtocolError("type: expected dir or file");
  }
  count(value, "mode");
  count(value, "size");
}

function leafOptions(options: unknown): void {
  if (typeof options !== "object" || options === null) {
    throw new ProtocolError("options: expected an object");
  }
  const value = options as Record<string, unknown>;
  for (const field of ["timeout", "connectTimeout", "limit", "retries"]) count(value, field, true);
  if (
    value.maxFailures !== undefined && typeof value.maxFailures !== "string" &&
    (typeof value.maxFailures !== "number" || !Number.isInteger(value.maxFailures))
  ) {
    throw new ProtocolError("maxFailures: expected a count or a percentage");
  }
  for (const field of ["quiet", "inline", "stopRemote", "recursive", "preserve", "compress"]) {
    bool(value, field);
  }
  if (value.sshExtra !== undefined) strings(value, "sshExtra");
  if (value.persist !== undefined && (count(value, "persist") < 1)) {
    throw new ProtocolError("persist: expected a number of seconds, at least 1");
  }
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolError(`${what} is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function strings(value: Record<string, unknown>, field: string): string[] {
  const list = value[field];
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string")) {
    throw new ProtocolError(`${field}: expected an array of strings`);
  }
  return list;
}

function count(value: Record<string, unknown>, field: string, fractional = false): number {
  const n = value[field];
  if (typeof n !== "number" || n < 0 || !(fractional ? Number.isFinite(n) : Number.isInteger(n))) {
    throw new ProtocolError(`${field}: expected a number >= 0`);
  }
  return n;
}

function bool(value: Record<string, unknown>, field: string): void {
  if (typeof value[field] !== "boolean") {
    throw new ProtocolError(`${field}: expected true or false`);
  }
}

function text(value: Record<string, unknown>, field: string): void {
  if (typeof value[field] !== "string") throw new ProtocolError(`${field}: expected a string`);
}

/** Matches ANSI escape sequences (colours in a gateway's messages). */
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * What a gateway's stderr says, on one line for a message: its colours dropped, its last three
 * lines kept (a download's progress comes before the error).
 */
export function gatewayMessage(stderr: string): string {
  return shownText(stderr.replace(ANSI, "").trim().split("\n").slice(-3).join("\n"));
}
