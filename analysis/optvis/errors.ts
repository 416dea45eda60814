// Errors of feature visualization with stable codes (public API, asserted in tests).
import { EphysError } from "../errors.ts";
export type OptvisErrorCode =
  | "EPHYS_BAD_OPTVIS" // bad settings: sizes, steps, learning rate, weights, taps
  | "EPHYS_ABORTED";

export class OptvisError extends EphysError<OptvisErrorCode> {}

/** Throws EPHYS_BAD_OPTVIS unless `ok`, naming the field, the value found and what was expected. */
export function check(ok: boolean, field: string, found: unknown, expected: string): void {
  if (!ok) {
    throw new OptvisError(
      "EPHYS_BAD_OPTVIS",
      `${field}: expected ${expected}; found ${JSON.stringify(found)?.slice(0, 80)}`,
    );
  }
}
