/**
 * What `copy()` and `slurp()` share: their checks, settings and plan, around scp.
 *
 * @module
 */

import type { LeafOptions } from "../driver/_gateway_protocol.ts";
import type { Plan } from "../driver/_plan.ts";
import { type Host, type HostsInput, parseHosts } from "../hosts/parse.ts";
import { type ErrorKind, ParallaxError } from "../parallax_error.ts";
import { type ResultRecord, toRecord } from "../record.ts";
import { concatBytes, decode } from "../runtime/_bytes.ts";
import { resolveSettings, type Settings } from "../settings/_settings.ts";
import { resolveTransferSettings, type TransferSettings } from "../settings/_transfer_settings.ts";
import type { TransferOptions } from "../settings/options.ts";
import { checkScpHosts } from "../ssh/_scp_argv.ts";
import { CallerTypeError } from "../caller_error.ts";

/** A transfer's hosts and checked settings. */
export interface Transfer {
  readonly hosts: Host[];
  readonly settings: Settings;
  readonly transfer: TransferSettings;
}

/**
 * Parses the hosts and checks the options of a transfer (no default timeout, as pscp and
 * pslurp).
 *
 * @throws {TypeError} For malformed hosts or options, or a host scp would misread.
 * @throws {RangeError} For an option value out of range.
 */
export function prepareTransfer(hosts: HostsInput, options: TransferOptions): Transfer {
  const parsed = parseHosts(hosts);
  const settings = resolveSettings(options, 0);
  checkScpHosts(parsed, settings);
  return { hosts: parsed, settings, transfer: resolveTransferSettings(options) };
}

/**
 * What every transfer reports for a host that succeeded: the fields `CopyResult` and
 * `SlurpResult` share.
 *
 * @example What copy and slurp results share
 * ```ts
 * import { copy, isOk, type TransferResult } from "@parallax/parallax";
 *
 * const file = await Deno.makeTempFile();
 * const results = await copy(["web1"], file, "/etc/app.conf");
 * const done: TransferResult[] = [...results.values()].filter(isOk);
 * console.log(done.map((r) => `${r.host} ${r.durationMs} ms`));
 * await Deno.remove(file);
 * ```
 */
export interface TransferResult {
  /** The host's key, as in the result map. */
  readonly host: string;
  /** The path the file went to (see the operation's result type). */
  readonly path: string;
  /** Milliseconds from the start of scp to its exit (of the last attempt). */
  readonly durationMs: number;
  /** How many times scp was started for this host: 1, more after `retries`. */
  readonly attempts: number;
  /** What scp printed on stderr (usually nothing). */
  readonly stderr: string;
  /** The gateway the host was reached through (see the `gateways` option), if any. */
  readonly via?: string;
  /** The result as a JSON record, the shape of the CLI's `--json` lines. */
  toJSON(): ResultRecord<ErrorKind>;
}

/**
 * The plan of a transfer: scp, its exit status read as a transfer's, output kept (it is only
 * scp's messages), and a result that names `path(index)`.
 */
export function transferPlan(
  transfer: TransferSettings,
  argv: Plan<TransferResult>["argv"],
  path: (index: number) => string,
  extra: Pick<Plan<TransferResult>, "prepare" | "discard" | "gateway"> & {
    /**
     * Puts a successful host's files in place (slurp); a string says why it could not, and
     * the host then fails with kind `local`.
     */
    placed?(index: number): string | null;
  } = {},
): Plan<TransferResult> {
  const { placed, ...plan } = extra;
  return {
    program: transfer.scpPath,
    meaning: "transfer",
    input: null,
    lifeline: false,
    keepOutput: true,
    printOut: false,
    argv,
    result: (host, { durationMs, stderr, attempts }, _files, index) => {
      const problem = placed?.(index) ?? null;
      if (problem !== null) {
        return new ParallaxError({ host: host.key, kind: "local", reason: problem, attempts });
      }
      return transferResult({
        host: host.key,
        path: path(index),
        durationMs,
        attempts,
        stderr: concatBytes(stderr),
      });
    },
    ...plan,
  };
}

/** The transfer switches, as the hosts behind a gateway get them. */
export function leafTransferOptions(transfer: TransferSettings): Partial<LeafOptions> {
  return {
    recursive: transfer.recursive,
    preserve: transfer.preserve,
    compress: transfer.compress,
    ...(transfer.bandwidthLimit === undefined ? {} : { bandwidthLimit: transfer.bandwidthLimit }),
  };
}

/** A transfer's result from its fields. */
export function transferResult(
  fields: Omit<TransferResult, "stderr" | "toJSON"> & { readonly stderr: Uint8Array },
): TransferResult {
  const { stderr, ...rest } = fields;
  return {
    ...rest,
    stderr: decode(stderr),
    toJSON: () =>
      toRecord<ErrorKind>({
        ...rest,
        ok: true,
        kind: null,
        message: null,
        exitCode: 0,
        stdout: new Uint8Array(),
        stderr,
      }),
  };
}

/**
 * Checks a path argument: a non-empty string without NUL (which no file name can hold).
 *
 * @throws {TypeError} Naming `what` and the value.
 */
export function checkPathArgument(path: unknown, what: string): string {
  if (typeof path !== "string" || path === "" || path.includes("\0")) {
    throw new CallerTypeError(
      `Cannot use ${what} ${JSON.stringify(path)}: expected a non-empty path`,
    );
  }
  return path;
}
