// Input checks shared by the statistics; each throws StatsInputError naming the argument.
import { StatsInputError } from "./errors.ts";

/** Throws unless `values` is an array of finite numbers with at least `minLength` entries. */
export function requireFiniteVector(
  fn: string,
  name: string,
  values: ArrayLike<number>,
  minLength: number,
): void {
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new StatsInputError(fn, name, String(values), "an array of numbers");
  }
  if (values.length < minLength) {
    throw new StatsInputError(fn, name, `length ${values.length}`, `at least ${minLength} value(s)`);
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new StatsInputError(fn, `${name}[${i}]`, String(v), "a finite number");
    }
  }
}

/** Throws unless `x` and `y` have the same length. */
export function requireSameLength(fn: string, x: ArrayLike<number>, y: ArrayLike<number>): void {
  if (x.length !== y.length) {
    throw new StatsInputError(fn, "y", `length ${y.length}`, `the length of x (${x.length})`);
  }
}

/** True when every entry equals the first (a constant vector). */
export function isConstant(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (values[i] !== values[0]) return false;
  return true;
}
