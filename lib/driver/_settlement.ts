/**
 * The one record of a call's ends: a slot per host, filled once. Every end path (a direct job, a
 * gateway's record, a host never started, a local failure before the start) goes through
 * {@linkcode Settlement.settle}; the first end of a host is its end. Before the call returns,
 * {@linkcode Settlement.done} checks that every slot is filled: a hole would be a bug in
 * parallax, and becomes that host's `local` error, never a missing value.
 *
 * @module
 */

import type { Host } from "../hosts/parse.ts";
import { ParallaxError } from "../parallax_error.ts";

/** Each host's end, in input order, told to an observer as it is settled. */
export class Settlement<R> {
  readonly #hosts: readonly Host[];
  readonly #results: (R | ParallaxError)[];
  readonly #observe: ((result: R | ParallaxError) => void) | undefined;
  readonly #stamp: ((error: ParallaxError) => ParallaxError) | undefined;
  #observerError: { error: unknown } | null = null;

  /**
   * `observe` hears each end once; a throw from it reaches the caller from `done()`. `stamp`
   * gives every error what the operation's errors all say (a call's: `warm`).
   */
  constructor(
    hosts: readonly Host[],
    observe?: (result: R | ParallaxError) => void,
    stamp?: (error: ParallaxError) => ParallaxError,
  ) {
    this.#hosts = hosts;
    this.#results = new Array(hosts.length);
    this.#observe = observe;
    this.#stamp = stamp;
  }

  /** Whether the host at `index` has its end. */
  settled(index: number): boolean {
    return this.#results[index] !== undefined;
  }

  /** The end of the host at `index`; a later end of the same host is ignored (false). */
  settle(index: number, result: R | ParallaxError): boolean {
    if (this.#results[index] !== undefined) return false;
    if (result instanceof ParallaxError && this.#stamp !== undefined) result = this.#stamp(result);
    this.#results[index] = result;
    try {
      this.#observe?.(result);
    } catch (error) {
      this.#observerError ??= { error };
    }
    return true;
  }

  /** Calls the caller's `observe`; a throw reaches the caller from `done()`, as an observer's. */
  tell(observe: () => void): void {
    try {
      observe();
    } catch (error) {
      this.#observerError ??= { error };
    }
  }

  /** Settles every host not settled yet (from index `from`) with one error. */
  failRest(kind: "spawn" | "local", reason: string, from = 0): void {
    for (let i = from; i < this.#hosts.length; i++) {
      this.settle(i, new ParallaxError({ host: this.#hosts[i].key, kind, reason }));
    }
  }

  /**
   * Every host's end by key, in input order, once every slot is filled. Throws what the
   * observer threw, after every host has been settled.
   */
  done(): Map<string, R | ParallaxError> {
    for (let i = 0; i < this.#hosts.length; i++) {
      const reason = "no result was recorded for this host (an internal error in parallax)";
      this.settle(i, new ParallaxError({ host: this.#hosts[i].key, kind: "local", reason }));
    }
    if (this.#observerError !== null) throw this.#observerError.error;
    return new Map(this.#hosts.map((host, i) => [host.key, this.#results[i]]));
  }
}
