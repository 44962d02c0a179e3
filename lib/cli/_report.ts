/**
 * The CLI's output modes: pssh's status lines (with `-i`, output under each, bytes as received),
 * one JSON object per host per line, and gathered output (each distinct output once, under its
 * hosts).
 *
 * @module
 */

import { compactHosts } from "../hosts/range.ts";
import { concatBytes } from "../runtime/_bytes.ts";
import { failureReason, jsonRecord, type Row, stderrAddsToReason } from "./_rows.ts";

/** How the output looks. */
export interface ReportStyle {
  readonly mode: "status" | "json" | "gather";
  /** Status mode: print stdout (and with "both", stderr) under each status line. */
  readonly inline: "none" | "stdout" | "both";
  /** ANSI colours (only on a terminal, never with NO_COLOR). */
  readonly color: boolean;
}

/** Prints hosts as they finish and what is left at the end. */
export interface Reporter {
  row(row: Row): void;
  finish(rows: readonly Row[]): void;
}

const encoder = new TextEncoder();
const NEWLINE = Uint8Array.of(0x0a);

/** A reporter that writes through `write` (to stdout). */
export function createReporter(
  style: ReportStyle,
  write: (data: Uint8Array) => void,
): Reporter {
  const paint = (code: string, text: string) => style.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  let finished = 0;
  switch (style.mode) {
    case "json":
      return {
        row: (row) => write(encoder.encode(`${JSON.stringify(jsonRecord(row))}\n`)),
        finish: () => {},
      };
    case "gather":
      return { row: () => {}, finish: (rows) => write(gathered(rows, paint)) };
    case "status":
      return {
        row: (row) => {
          const time = new Date().toTimeString().slice(0, 8);
          const status = row.ok ? paint("32", "[SUCCESS]") : paint("31", "[FAILURE]");
          const counts = row.files === undefined
            ? ""
            : ` (${row.files} file${row.files === 1 ? "" : "s"}, ${row.bytes} bytes sent)`;
          const detail = row.ok
            ? (row.path ? ` ${row.path}${counts}` : "")
            : ` ${failureReason(row)}`;
          const parts: Uint8Array[] = [
            encoder.encode(
              `[${++finished}] ${time} ${status} ${row.host}${
                row.via === undefined ? "" : ` via ${row.via}`
              }${detail}\n`,
            ),
          ];
          if (style.inline !== "none") parts.push(...withNewline(row.stdout));
          const showStderr = row.kind === null || row.kind === "timeout" ||
            row.kind === "cancelled" || stderrAddsToReason(row);
          if (style.inline === "both" && row.stderr.byteLength > 0 && showStderr) {
            parts.push(encoder.encode(paint("31", "Stderr: ")), ...withNewline(row.stderr));
          }
          write(concatBytes(parts));
        },
        finish: () => {},
      };
  }
}

/** Groups hosts whose status and output are identical; largest group first. */
function gathered(rows: readonly Row[], paint: (code: string, text: string) => string): Uint8Array {
  const groups = new Map<string, { hosts: string[]; row: Row; status: string }>();
  const latin = new TextDecoder("latin1");
  for (const row of rows) {
    const status = row.ok ? "" : failureReason(row);
    const key = [status, row.path ?? "", latin.decode(row.stdout), latin.decode(row.stderr)]
      .join("\u0000");
    const group = groups.get(key);
    if (group) group.hosts.push(row.host);
    else groups.set(key, { hosts: [row.host], row, status });
  }
  const parts: Uint8Array[] = [];
  for (
    const { hosts, row, status } of [...groups.values()].sort((a, b) =>
      b.hosts.length - a.hosts.length
    )
  ) {
    const title = `${compactHosts(hosts)} (${hosts.length})`;
    const rule = "-".repeat(Math.min(Math.max(title.length, 15), 78));
    const head = status === "" ? paint("1", title) : `${paint("1", title)} ${paint("31", status)}`;
    parts.push(encoder.encode(`${rule}\n${head}\n${rule}\n`));
    if (row.path !== undefined) parts.push(encoder.encode(`${row.path}\n`));
    parts.push(...withNewline(row.stdout));
    if (row.stderr.byteLength > 0) {
      parts.push(encoder.encode(paint("31", "Stderr: ")), ...withNewline(row.stderr));
    }
  }
  return concatBytes(parts);
}

function withNewline(bytes: Uint8Array): Uint8Array[] {
  if (bytes.byteLength === 0 || bytes[bytes.byteLength - 1] === 0x0a) return [bytes];
  return [bytes, NEWLINE];
}
