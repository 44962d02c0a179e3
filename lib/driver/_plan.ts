/**
 * What an operation tells the driver, and how the driver tells back what happens to each host.
 *
 * @module
 */

import type { StdinPart } from "../engine/_stdin_feed.ts";
import type { Host } from "../hosts/parse.ts";
import type { LeafOptions, StagedEntry } from "./_gateway_protocol.ts";
import type { ParallaxError } from "../parallax_error.ts";
import type { Exited, ExitMeaning } from "../ssh/_classify.ts";
import type { OutputFiles } from "./_output_files.ts";

/** How an operation runs on each host. */
export interface Plan<R> {
  /** The program every job runs (`argv[0]`), checked for run permission before anything starts. */
  readonly program: string;
  /** What the program's exit status means. */
  readonly meaning: ExitMeaning;
  /**
   * Bytes for every job's stdin, in parts written one after the other (held once for every job:
   * see the engine's `JobRequest`), or null.
   */
  readonly input: readonly StdinPart[] | null;
  /**
   * Hold each job's stdin open after the input as a lifeline: the command on the host is wrapped
   * to stop when it ends (see `ssh/_remote_command.ts`).
   */
  readonly lifeline: boolean;
  /** Keep output in memory for the result. */
  readonly keepOutput: boolean;
  /** Print output lines prefixed with the host as they arrive. */
  readonly printOut: boolean;
  /** Local work for one host before it starts (its folders); a throw is that host's `local` error. */
  prepare?(host: Host, index: number): Promise<void>;
  /**
   * The command line for a host; `argv[0]` is the program. `connection` holds the host's
   * connection-reuse ssh options (none without reuse).
   */
  argv(host: Host, index: number, connection: readonly string[]): string[];
  /**
   * The remote command of the host at `index` as the caller gave it, shown by `verbose` in place
   * of the command line parallax sends (its wrapper).
   */
  shownCommand?(index: number): string;
  /**
   * The command a warm session runs for the host at `index` (see `ssh/_warm_session.ts`), or
   * null where the call needs what only a new ssh carries exactly (input, sudo, a remote that
   * is not stopped); without it, no host runs warm.
   */
  warmCommand?(index: number): string | null;
  /** Whether this call runs on warm sessions where the pool keeps them (default true). */
  readonly warm?: boolean;
  /** The result of the host at `index`, whose process exited on its own. */
  result(host: Host, exited: Exited, files: OutputFiles, index: number): R | ParallaxError;
  /**
   * A refusal on the host that kept the command from running (sudo's, by a marker no command can
   * predict), or null: the host's error is then kind `auth` (decided in `_ends.ts`).
   */
  refusal?(exited: Exited): { readonly reason: string; readonly said: string } | null;
  /**
   * The host's `PARALLAX_NODENUM`: its position in the caller's list (default: `index`; a
   * gateway passes on the controller's).
   */
  nodeNumber?(index: number): number;
  /** Local cleanup for a host that failed (a folder made for it that holds nothing). */
  discard?(index: number): Promise<void>;
  /** How the operation runs on hosts behind a gateway; without it, gateways are refused. */
  readonly gateway?: GatewayPart<R>;
  /** Why a host behind a gateway is refused (without `gateway`). */
  readonly gatewayRefusal?: string;
  /**
   * A transfer's argv with its ssh run through parallax's lifeline script at `script` (default:
   * scp's `-S script`).
   */
  transferLifeline?(argv: readonly string[], script: string): string[];
}

/** The request of one gateway, as an operation describes it (the driver adds the rest). */
export type GatewayAsk =
  & (
    | {
      readonly op: "call";
      readonly commands: readonly string[];
      /** Each host's `PARALLAX_NODENUM` (its position in the controller's list). */
      readonly nodes: readonly number[];
    }
    | {
      readonly op: "copy";
      readonly dsts: readonly string[];
      readonly files: readonly StagedEntry[];
    }
    | { readonly op: "slurp"; readonly srcs: readonly string[]; readonly dst: string }
  )
  & {
    /** The operation's own leaf options (the driver fills in the common ones). */
    readonly options: Partial<LeafOptions>;
    /** Bytes after the request line: a call's input, a copy's files. */
    readonly payload: readonly StdinPart[];
  };

/**
 * `observer`, with the caller's `onResult` told each result first (an operation's own option
 * beside the observer an internal caller passes).
 */
export function withOnResult<R>(
  observer: HostObserver<R>,
  onResult: ((result: R | ParallaxError) => void) | undefined,
): HostObserver<R> {
  return {
    ...observer,
    result(result) {
      try {
        onResult?.(result);
      } finally {
        // The caller's function threw: its error reaches the caller (the call rejects with it
        // once every host has ended), and the internal observers still hear this result.
        observer.result?.(result);
      }
    },
  };
}

/** A host's end as it came back from a gateway, its streams decoded. */
export interface LeafEnd {
  readonly exitCode: number;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly durationMs: number;
  readonly attempts: number;
}

/** An operation's part in running hosts through gateways. */
export interface GatewayPart<R> {
  /** The request for the hosts at `indices` (all behind one gateway). */
  ask(indices: readonly number[]): GatewayAsk;
  /** The result of a host that ended without an error, reached through gateway `via`. */
  result(
    host: Host,
    index: number,
    end: LeafEnd,
    via: string,
    files: OutputFiles,
  ): R | ParallaxError;
  /**
   * slurp: the local folder a host's fetched files go under (its host folder), and the path
   * inside it that every fetched path must be or start with.
   */
  fetchInto?(
    index: number,
  ): { readonly folder: string; readonly dst: string; readonly preserve: boolean };
}

/** Told what happens to each host as it happens: the one observer of a call. */
export interface HostObserver<R> {
  /**
   * A piece of a host's output, as it arrived. A promise returned says when it has been used:
   * the host's output is read no more than a window (256 KiB) ahead of that.
   */
  output?(host: string, stream: "stdout" | "stderr", data: Uint8Array): void | Promise<void>;
  /**
   * A host's process has started (told for each attempt): from now on its command may run, where
   * before it could not have.
   */
  started?(host: string): void;
  /** A host's result or error, as soon as it is known. A throw rejects the call at its end. */
  result?(result: R | ParallaxError): void;
}
