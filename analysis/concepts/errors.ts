// Errors of concept discovery (AlignedCut) with stable codes (public API, asserted in tests).
import { EphysError } from "../errors.ts";
export type ConceptErrorCode =
  | "EPHYS_BAD_CONCEPTS" // bad input: features, readouts, options
  | "EPHYS_NO_CONVERGENCE" // an eigensolver ran out of iterations
  | "EPHYS_ABORTED";

export class ConceptError extends EphysError<ConceptErrorCode> {}

/** Throws EPHYS_ABORTED when `signal` has been aborted. */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new ConceptError("EPHYS_ABORTED", `${what}: aborted`);
}

/** Throws EPHYS_BAD_CONCEPTS naming the option, the value found and what was expected. */
export function badOption(name: string, found: unknown, expected: string): never {
  throw new ConceptError(
    "EPHYS_BAD_CONCEPTS",
    `${name}: expected ${expected}; found ${JSON.stringify(found)}`,
  );
}

/** A whole number in [min, max] or EPHYS_BAD_CONCEPTS. */
export function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!(Number.isInteger(v) && v >= min && v <= max))
    badOption(name, v, `a whole number in [${min}, ${max === Number.MAX_SAFE_INTEGER ? "∞" : max}]`);
  return v;
}
