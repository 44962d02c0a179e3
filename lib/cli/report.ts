/**
 * The CLI's output modes: pssh's status lines (with `-i`, output under each), one JSON object
 * per host per line, and gathered output (each distinct output once, under its hosts).
 *
 * @module
 */

import { compactHosts } from "../host_range.ts";
import { writeAllSync } from "../line_printer.ts";
import { failureReason, type HostOutcome } from "./outcome.ts";

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
  result(outcome: HostOutcome): void;
  finish(outcomes: readonly HostOutcome[]): void;
}

const encoder = new TextEncoder();

/** A reporter that writes through `write` (text for stdout). */
export function createReporter(style: ReportStyle, write: (text: string) => void): Reporter {
  const paint = (code: string, text: string) => style.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  let finished = 0;
  switch (style.mode) {
    case "json":
      return {
        result: (outcome) => write(`${JSON.stringify(jsonRecord(outcome))}\n`),
        finish: () => {},
      };
    case "gather":
      return {
        result: () => {},
        finish: (outcomes) => write(gathered(outcomes, paint)),
      };
    case "status":
      return {
        result: (outcome) => {
          const time = new Date().toTimeString().slice(0, 8);
          const status = outcome.ok ? paint("32", "[SUCCESS]") : paint("31", "[FAILURE]");
          const detail = outcome.ok
            ? (outcome.path ? ` ${outcome.path}` : "")
            : ` ${failureReason(outcome)}`;
          let text = `[${++finished}] ${time} ${status} ${outcome.host}${detail}\n`;
          if (style.inline !== "none") text += withNewline(outcome.stdout);
          if (style.inline === "both" && outcome.stderr !== "") {
            text += `${paint("31", "Stderr: ")}${withNewline(outcome.stderr)}`;
          }
          write(text);
        },
        finish: () => {},
      };
  }
}

/** Writes text to stdout, every byte. */
export function writeStdout(text: string): void {
  writeAllSync(Deno.stdout, encoder.encode(text));
}

function jsonRecord(outcome: HostOutcome): Record<string, unknown> {
  return {
    host: outcome.host,
    status: outcome.ok
      ? "success"
      : outcome.error?.kind === "cancelled"
      ? "interrupted"
      : "failure",
    exitCode: outcome.exitCode ?? null,
    error: outcome.error?.kind ?? null,
    message: outcome.error?.message ?? null,
    stdout: outcome.stdout,
    stderr: outcome.stderr,
    durationMs: outcome.durationMs === undefined ? null : Math.round(outcome.durationMs),
    ...(outcome.path !== undefined ? { path: outcome.path } : {}),
  };
}

/** Groups hosts whose status and output are identical; largest group first. */
function gathered(
  outcomes: readonly HostOutcome[],
  paint: (code: string, text: string) => string,
): string {
  const groups = new Map<string, { hosts: string[]; outcome: HostOutcome; status: string }>();
  for (const outcome of outcomes) {
    const status = outcome.ok ? "" : failureReason(outcome);
    const key = JSON.stringify([status, outcome.stdout, outcome.stderr, outcome.path ?? ""]);
    const group = groups.get(key);
    if (group) group.hosts.push(outcome.host);
    else groups.set(key, { hosts: [outcome.host], outcome, status });
  }
  return [...groups.values()]
    .sort((a, b) => b.hosts.length - a.hosts.length)
    .map(({ hosts, outcome, status }) => {
      const title = `${compactHosts(hosts)} (${hosts.length})`;
      const rule = "-".repeat(Math.min(Math.max(title.length, 15), 78));
      const head = status === ""
        ? paint("1", title)
        : `${paint("1", title)} ${paint("31", status)}`;
      let text = `${rule}\n${head}\n${rule}\n`;
      if (outcome.path !== undefined) text += `${outcome.path}\n`;
      text += withNewline(outcome.stdout);
      if (outcome.stderr !== "") text += `${paint("31", "Stderr: ")}${withNewline(outcome.stderr)}`;
      return text;
    })
    .join("");
}

function withNewline(text: string): string {
  return text === "" || text.endsWith("\n") ? text : `${text}\n`;
}
