/**
 * Quoting for POSIX shells: the one place that writes a string so that `sh` reads it back as one
 * word, unchanged.
 *
 * @module
 */

/** `text` in single quotes, with each `'` written as `'\''`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** `text` as it is when a shell would read it as one plain word, else quoted. */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : shellQuote(text);
}
