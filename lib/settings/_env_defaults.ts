/**
 * Defaults from the `PARALLAX_*` environment variables, read only where `--allow-env` grants them.
 *
 * @module
 */

import { canReadEnv } from "../runtime/_permissions.ts";
import { CallerRangeError } from "../caller_error.ts";

/** Option defaults found in the environment. */
export interface EnvDefaults {
  readonly user?: string;
  readonly limit?: number;
  readonly outdir?: string;
  readonly verbose?: boolean;
  readonly sshOptions?: readonly string[];
}

/**
 * Reads `PARALLAX_USER`, `PARALLAX_PAR`, `PARALLAX_OUTDIR`, `PARALLAX_VERBOSE` and
 * `PARALLAX_OPTIONS`. A variable that is unset, empty or not readable gives no default.
 *
 * @throws {RangeError} For a `PARALLAX_PAR` that is not a positive integer.
 */
export function readEnvDefaults(): EnvDefaults {
  const defaults: {
    user?: string;
    limit?: number;
    outdir?: string;
    verbose?: boolean;
    sshOptions?: string[];
  } = {};
  const user = read("PARALLAX_USER");
  if (user !== undefined) defaults.user = user;
  const par = read("PARALLAX_PAR");
  if (par !== undefined) {
    if (!/^[0-9]+$/.test(par) || Number(par) < 1) {
      throw new CallerRangeError(`Cannot use PARALLAX_PAR='${par}': expected a positive integer`);
    }
    defaults.limit = Number(par);
  }
  const outdir = read("PARALLAX_OUTDIR");
  if (outdir !== undefined) defaults.outdir = outdir;
  const verbose = read("PARALLAX_VERBOSE");
  if (verbose !== undefined) defaults.verbose = !/^(0|false|no|off)$/i.test(verbose);
  const options = read("PARALLAX_OPTIONS");
  if (options !== undefined) {
    defaults.sshOptions = options.split(/[;\n]/).map((o) => o.trim()).filter((o) => o !== "");
  }
  return defaults;
}

function read(variable: string): string | undefined {
  if (!canReadEnv(variable)) return undefined;
  const value = Deno.env.get(variable);
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
