/**
 * The JSON record of a host's end, one shape for every operation: what `toJSON()` of a result or
 * a {@linkcode ParallaxError} gives, and what the CLI's `--json` prints.
 *
 * @module
 */

import { encodeBase64, isUtf8 } from "./runtime/_base64.ts";
import { decode } from "./runtime/_bytes.ts";

/**
 * A host's end as JSON: text fields, and base64 ones where a stream is not valid UTF-8. `K` is
 * the type of error kinds (`ErrorKind`).
 *
 * @example Results as JSON lines
 * ```ts
 * import { call, type ResultRecord } from "@parallax/parallax";
 *
 * const results = await call(["web1"], "uptime");
 * const records: ResultRecord[] = [...results.values()].map((r) => r.toJSON());
 * console.log(records.map((record) => JSON.stringify(record)).join("\n"));
 * ```
 */
export interface ResultRecord<K extends string = string> {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** `success`, `failure`, or `interrupted` (cancelled). */
  readonly status: "success" | "failure" | "interrupted";
  /** The error's kind, or null. */
  readonly kind: K | null;
  /** The error's message, or null. */
  readonly message: string | null;
  /** The remote command's exit status (scp's for a failed transfer); null where none exited. */
  readonly exitCode: number | null;
  /** Standard output as text (invalid UTF-8 replaced). */
  readonly stdout: string;
  /** Standard error as text (invalid UTF-8 replaced). */
  readonly stderr: string;
  /** stdout as base64, present only when it is not valid UTF-8. */
  readonly stdoutBase64?: string;
  /** stderr as base64, present only when it is not valid UTF-8. */
  readonly stderrBase64?: string;
  /** How many times the host's job was started (more than 1 after retries; 0 if never). */
  readonly attempts: number;
  /** Milliseconds the job ran, where it was started. */
  readonly durationMs: number | null;
  /** copy: the remote destination; slurp: the local path written. */
  readonly path?: string;
  /** sync: the regular files sent. */
  readonly files?: number;
  /** sync: the bytes sent over the connection. */
  readonly bytes?: number;
  /** The gateway the host was reached through, if any. */
  readonly via?: string;
  /** call: whether the command ran on the host's warm session (see `Pool`), not a new ssh. */
  readonly warm?: boolean;
}

/** What a record is made of. */
export interface RecordFields<K extends string = string> {
  readonly host: string;
  readonly ok: boolean;
  readonly kind: K | null;
  readonly message: string | null;
  readonly exitCode: number | null;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly durationMs: number | null;
  readonly attempts: number;
  readonly path?: string;
  readonly files?: number;
  readonly bytes?: number;
  readonly via?: string;
  readonly warm?: boolean;
}

/** The record of a host's end. */
export function toRecord<K extends string>(fields: RecordFields<K>): ResultRecord<K> {
  return {
    host: fields.host,
    status: fields.ok ? "success" : fields.kind === "cancelled" ? "interrupted" : "failure",
    kind: fields.kind,
    message: fields.message,
    exitCode: fields.exitCode,
    stdout: decode(fields.stdout),
    stderr: decode(fields.stderr),
    ...(isUtf8(fields.stdout) ? {} : { stdoutBase64: encodeBase64(fields.stdout) }),
    ...(isUtf8(fields.stderr) ? {} : { stderrBase64: encodeBase64(fields.stderr) }),
    attempts: fields.attempts,
    durationMs: fields.durationMs === null ? null : Math.round(fields.durationMs),
    ...(fields.path !== undefined ? { path: fields.path } : {}),
    ...(fields.files !== undefined ? { files: fields.files } : {}),
    ...(fields.bytes !== undefined ? { bytes: fields.bytes } : {}),
    ...(fields.via !== undefined ? { via: fields.via } : {}),
    ...(fields.warm !== undefined ? { warm: fields.warm } : {}),
  };
}
