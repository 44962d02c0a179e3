/**
 * One shape for every host's end, whichever command produced it (a row of the report), its JSON
 * record, and the exit status pssh users expect from a set of them.
 *
 * @module
 */

import type { CallResult } from "../ops/call.ts";
import type { CopyResult } from "../ops/copy.ts";
import type { SlurpResult } from "../ops/slurp.ts";
import type { SyncResult } from "../ops/sync.ts";
import { type ErrorKind, ParallaxError } from "../parallax_error.ts";
import { type RecordFields, type ResultRecord, toRecord } from "../record.ts";

/** Any operation's result or error for one host. */
export type AnyResult = CallResult | CopyResult | SlurpResult | SyncResult | ParallaxError;

/**
 * A host's end, as the CLI reports it: the fields of its JSON record. `ok` means finished without
 * error and, for call, with exit code 0.
 */
export type Row = RecordFields<ErrorKind>;

const empty = new Uint8Array();

/** The library's option names in a message, as the CLI's flags. */
const CLI_WORDS: readonly [string, string][] = [
  ["give sudoPassword; CLI: --sudo-ask", "give it with --sudo-ask"],
  ["more than maxFailures ", "more than --max-failures "],
  ["halted by the caller", "halted"],
  ["it is a folder and recursive is false", "it is a folder: copy folders with -r"],
];

/** A library message in the CLI's words. */
export function inCliWords(message: string): string {
  return CLI_WORDS.reduce((text, [library, cli]) => text.replaceAll(library, cli), message);
}

/** Normalizes a result or error of any command. */
export function toRow(result: AnyResult): Row {
  if (result instanceof ParallaxError) {
    return {
      host: result.host,
      ok: false,
      kind: result.kind,
      message: inCliWords(result.message),
      exitCode: result.exitCode ?? null,
      stdout: result.stdoutBytes ?? empty,
      stderr: result.stderrBytes,
      durationMs: result.durationMs ?? null,
      attempts: result.attempts,
      via: result.via,
    };
  }
  if ("exitCode" in result) {
    return {
      host: result.host,
      ok: result.exitCode === 0,
      kind: null,
      message: null,
      exitCode: result.exitCode,
      stdout: result.stdoutBytes,
      stderr: result.stderrBytes,
      durationMs: result.durationMs,
      attempts: result.attempts,
      via: result.via,
    };
  }
  return {
    host: result.host,
    ok: true,
    kind: null,
    message: null,
    exitCode: 0,
    // A sync's changes, one per line: what `--dry-run` shows under each host.
    stdout: "changes" in result
      ? new TextEncoder().encode(result.changes.map((line) => `${line}\n`).join(""))
      : empty,
    stderr: new TextEncoder().encode(result.stderr),
    durationMs: result.durationMs,
    attempts: result.attempts,
    path: result.path,
    ...("files" in result ? { files: result.files, bytes: result.bytes } : {}),
    ...("via" in result ? { via: result.via } : {}),
  };
}

/** The reason a host failed, in a few words, without the host's name. */
export function failureReason(row: Row): string {
  if (row.kind === null) return `Exited with error code ${row.exitCode}`;
  if (row.kind === "timeout") return "Timed out, killed";
  if (row.kind === "cancelled") return "Interrupted";
  const message = row.message ?? "";
  const text = message.startsWith(`${row.host}: `) ? message.slice(row.host.length + 2) : message;
  return `${row.kind}: ${text}`;
}

/**
 * Whether stderr says more than the failure reason: ssh's own message is the reason of a
 * `connect`, `auth`, `hostkey` or `ssh` error, and is shown once.
 */
export function stderrAddsToReason(row: Row): boolean {
  const text = new TextDecoder().decode(row.stderr);
  const reason = row.message ?? "";
  return text.split("\n").some((line) => line.trim() !== "" && !reason.includes(line.trim()));
}

/** The JSON record of a row (the same as the results' `toJSON()`). */
export function jsonRecord(row: Row): ResultRecord {
  return toRecord(row);
}

/**
 * pssh's exit status: 0 all succeeded; 3 a host was killed, timed out or interrupted; else 4 an
 * ssh or scp error on some host; else 5 a remote command exited nonzero.
 */
export function exitStatus(rows: readonly Row[]): number {
  if (rows.some((r) => r.kind === "timeout" || r.kind === "cancelled")) return 3;
  if (rows.some((r) => r.kind !== null)) return 4;
  if (rows.some((r) => !r.ok)) return 5;
  return 0;
}
