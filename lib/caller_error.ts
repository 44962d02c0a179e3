/**
 * The errors parallax throws for a caller's mistake: a `TypeError` for a wrong shape, a
 * `RangeError` for a value out of range, as the built-in classes (they are subclasses). Marked
 * apart from the engine's own `TypeError`s, so that the CLI tells a usage error (exit 2) from an
 * internal one (exit 1).
 *
 * @module
 */

/** A caller's value of the wrong shape. */
export class CallerTypeError extends TypeError {
  override name = "TypeError";
}

/** A caller's value out of range. */
export class CallerRangeError extends RangeError {
  override name = "RangeError";
}

/** Whether `error` is a caller's mistake that parallax itself reported. */
export function isCallerError(error: unknown): boolean {
  return error instanceof CallerTypeError || error instanceof CallerRangeError;
}
