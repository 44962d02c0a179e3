/**
 * The `gateways` option checked: which gateway serves which host, and how parallax starts on a
 * gateway.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { type Host, type HostsInput, parseHostEntry, parseHosts } from "../hosts/parse.ts";
import { CallerRangeError, CallerTypeError } from "../caller_error.ts";

/** ssh processes at once on each gateway, unless `gatewayLimit` says otherwise. */
export const DEFAULT_GATEWAY_LIMIT = 32;

/**
 * What starts parallax on a gateway by default: this version of the CLI from JSR, under the
 * permissions it needs there (`gateway` is appended).
 */
export const DEFAULT_GATEWAY_COMMAND: readonly string[] = Object.freeze([
  "deno",
  "run",
  "--no-prompt",
  "--allow-run=ssh,scp,/usr/bin/setsid",
  "--allow-read",
  "--allow-write",
  "--allow-sys=uid",
  "--allow-env=PARALLAX_USER,PARALLAX_PAR,PARALLAX_OPTIONS,TMPDIR",
  `jsr:@parallax/parallax@${denoJson.version}/cli`,
]);

/** Checked gateway settings. */
export interface GatewaySettings {
  /** The argv that starts parallax on a gateway (without the `gateway` parallax appends). */
  readonly command: readonly string[];
  /** ssh processes at once on each gateway. */
  readonly limit: number;
  /** Arguments for the gateways' own ssh to their hosts (their `sshExtra`). */
  readonly leafSshExtra: readonly string[];
  /** The gateway of each host it serves, by host key. */
  readonly routes: ReadonlyMap<string, Host>;
  /** The gateway of each host listed by name alone (no user, no port), by that name. */
  readonly byName: ReadonlyMap<string, Host>;
}

/**
 * The gateway that serves `host`, if one does: the one that lists it as written, else the one
 * that lists its name alone (so `admin@web1:2222` goes where `web1` does, as `--exclude` reads
 * names).
 */
export function gatewayOf(gateways: GatewaySettings | null, host: Host): Host | undefined {
  return gateways?.routes.get(host.key) ?? gateways?.byName.get(host.host);
}

/** The options this module reads. */
export interface GatewayOptions {
  gateways?: Readonly<Record<string, HostsInput>>;
  gatewayCommand?: readonly string[];
  gatewayLimit?: number;
  leafSshExtra?: readonly string[];
}

/**
 * The gateway settings of the options, or null without gateways.
 *
 * @throws {TypeError} For a malformed gateway, host list or command, or a host under two
 * gateways.
 * @throws {RangeError} For a `gatewayLimit` that is not a positive integer.
 */
export function resolveGateways(options: GatewayOptions): GatewaySettings | null {
  const {
    gateways,
    gatewayCommand = DEFAULT_GATEWAY_COMMAND,
    gatewayLimit = DEFAULT_GATEWAY_LIMIT,
    leafSshExtra = [],
  } = options;
  if (
    !Array.isArray(leafSshExtra) ||
    leafSshExtra.some((word) => typeof word !== "string" || word.includes("\0"))
  ) {
    throw new CallerTypeError(
      'Cannot use leafSshExtra: expected an array of ssh arguments, e.g. ["-F", "/etc/ssh/fleet"]',
    );
  }
  if (
    typeof gatewayLimit !== "number" || !Number.isInteger(gatewayLimit) || gatewayLimit < 1
  ) {
    throw new CallerRangeError(`Cannot use gatewayLimit ${gatewayLimit}: expected an integer >= 1`);
  }
  if (
    !Array.isArray(gatewayCommand) || gatewayCommand.length === 0 ||
    gatewayCommand.some((word) => typeof word !== "string" || word === "" || word.includes("\0"))
  ) {
    throw new CallerTypeError(
      'Cannot use gatewayCommand: expected a non-empty array of words, e.g. ["deno", "run", …]',
    );
  }
  if (gateways === undefined) return null;
  if (typeof gateways !== "object" || gateways === null || Array.isArray(gateways)) {
    throw new CallerTypeError(
      'Cannot use gateways: expected an object mapping each gateway to its hosts, e.g. { "gw1": "web1 web2" }',
    );
  }
  const routes = new Map<string, Host>();
  const byName = new Map<string, Host>();
  for (const [name, served] of Object.entries(gateways)) {
    const gateway = parseHostEntry(name);
    for (const host of parseHosts(served)) {
      if (host.user === undefined && host.port === undefined) byName.set(host.host, gateway);
      const other = routes.get(host.key);
      if (other !== undefined) {
        throw new CallerTypeError(
          `Cannot use gateways: host '${host.key}' is under both '${other.key}' and '${gateway.key}'`,
        );
      }
      routes.set(host.key, gateway);
    }
  }
  if (routes.size === 0) return null;
  return Object.freeze({
    command: Object.freeze([...gatewayCommand]),
    limit: gatewayLimit,
    leafSshExtra: Object.freeze([...leafSshExtra]),
    routes,
    byName,
  });
}
