/**
 * The command line parser: pssh-style short and long flags, values that may start with `-`
 * (`-x "-F ssh_config"`, which `node:util`'s strict `parseArgs` refuses), `--` to end them, and
 * either flags anywhere among the operands (pscp, pslurp) or flags only before the first operand
 * (pssh: `parallax call -H web1 ls -ld /` runs `ls -ld /`).
 *
 * @module
 */

/** What the parser needs to know of a flag. */
export interface FlagSpec {
  /** Name in the parsed result (the long name). */
  readonly long: string;
  readonly short?: string;
  /** Takes a value (`-l user`, `-luser`, `--user=x`, `--user x`). */
  readonly value: boolean;
  /** May be given more than once; the values accumulate. */
  readonly repeat?: boolean;
  /**
   * With `--flag=VALUE` only: `--flag` alone is allowed and means `""`; a word right after it
   * (`--persist 300 uptime`, `--sudo root id`) is refused, since it could be meant as its value.
   */
  readonly optionalValue?: boolean;
}

/** Flags and positionals as given. */
export interface ParsedArgs {
  /** Values by long name: strings for value flags (all of them for repeatable ones), true else. */
  readonly flags: Map<string, string[] | true>;
  readonly positionals: string[];
}

/** A mistake in the command line: exit status 2 and the usage hint. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses `argv` against `specs`.
 *
 * @throws {UsageError} For an unknown flag, a missing value, a value given to a switch, or a
 * non-repeatable flag given twice.
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  options: { stopAtOperand?: boolean; operands?: number } = {},
): ParsedArgs {
  // The first spec of a name is the one read (a name may mean another thing to one command).
  const byShort = new Map(specs.filter((s) => s.short).reverse().map((s) => [s.short!, s]));
  const byLong = new Map([...specs].reverse().map((s) => [s.long, s]));
  const flags = new Map<string, string[] | true>();
  const positionals: string[] = [];

  const set = (spec: FlagSpec, value: string | true, shown: string) => {
    const previous = flags.get(spec.long);
    if (previous !== undefined && !spec.repeat) {
      throw new UsageError(`option ${shown} given more than once`);
    }
    if (value === true) flags.set(spec.long, true);
    else flags.set(spec.long, [...(Array.isArray(previous) ? previous : []), value]);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new UsageError(`option ${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw new UsageError(`unknown option --${name}`);
      if (spec.value && spec.optionalValue) {
        // `--persist 300 uptime` would run `300 uptime`, `--sudo root id` `root id`: a word
        // right after a flag whose value is optional may be its value, and is refused, said so.
        const word = argv[i + 1];
        if (eq < 0 && word !== undefined && !word.startsWith("-")) {
          throw new UsageError(
            `option --${name} takes its value after '=': write --${name}=${word} (or put the ` +
              `command after --: --${name} -- ${word} …)`,
          );
        }
        set(spec, eq < 0 ? "" : arg.slice(eq + 1), `--${name}`);
      } else if (spec.value) set(spec, eq < 0 ? next() : arg.slice(eq + 1), `--${name}`);
      else if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      else set(spec, true, `--${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const spec = byShort.get(arg[j]);
        if (spec === undefined) throw new UsageError(`unknown option -${arg[j]}`);
        if (!spec.value) {
          set(spec, true, `-${arg[j]}`);
          continue;
        }
        const rest = arg.slice(j + 1);
        set(spec, rest !== "" ? rest : next(), `-${arg[j]}`);
        break;
      }
      continue;
    }
    positionals.push(arg);
    // The first operands (the command name) may be followed by flags; after them, with
    // stopAtOperand, everything is an operand, as in pssh.
    if (options.stopAtOperand && positionals.length > (options.operands ?? 0)) {
      positionals.push(...argv.slice(i + 1));
      break;
    }
  }
  return { flags, positionals };
}

/**
 * Splits a string into words as a POSIX shell would, for `-x "-F 'my config'"`: single and double
 * quotes, backslash escapes, no expansion of any kind.
 *
 * @throws {UsageError} For an unclosed quote.
 */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) {
        word += text[++i];
      } else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== null) throw new UsageError(`unclosed ${quote} in '${text}'`);
  if (inWord) words.push(word);
  return words;
}
