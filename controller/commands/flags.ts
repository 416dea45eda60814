// Checks of command-line flags shared by the commands; each command passes its own error class (its stable code).

/**
 * `raw` when it is one of `allowed`, undefined when the flag is absent; anything else throws
 * `new Fail("--flag: got …, expected one of …")`.
 */
export function choiceFlag<T extends string>(
  flag: string,
  raw: string | undefined,
  allowed: readonly T[],
  Fail: new (message: string) => Error,
): T | undefined {
  if (raw === undefined) return undefined;
  if (!allowed.includes(raw as T)) {
    throw new Fail(`--${flag}: got ${JSON.stringify(raw)}, expected one of ${allowed.join(", ")}`);
  }
  return raw as T;
}

/** `fallback` when the flag is absent; else `raw` as a whole number ≥ `min`, or `new Fail("--flag: got …")`. */
export function wholeFlag(
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  Fail: new (message: string) => Error,
): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    throw new Fail(`--${flag}: got ${JSON.stringify(raw)}, expected a whole number ≥ ${min}`);
  }
  return v;
}
