/**
 * The `parallax` command: `parallax call|copy|slurp [flags] ...`, pssh's flags and exit statuses
 * over the parallax library.
 *
 * ```sh
 * deno run --allow-run=ssh,scp,/usr/bin/setsid --allow-read --allow-write \
 *   --allow-env=PARALLAX_HOSTS,PARALLAX_USER,PARALLAX_PAR,PARALLAX_OUTDIR,PARALLAX_VERBOSE,PARALLAX_OPTIONS,NO_COLOR \
 *   cli.ts call -H "web[01-04]" -i uptime
 * ```
 *
 * @module
 */

import { main } from "./lib/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
