// Errors of the phase-3 fragments with stable codes (public API, asserted in tests).
import { EphysError } from "../errors.ts";

export type FragmentErrorCode =
  | "EPHYS_BAD_FRAGMENT" // bad input: sizes, fractions, masks, kinds
  | "EPHYS_SILHOUETTE_TOO_SMALL"; // the silhouette has fewer pixels than the mask to place on it

export class FragmentError extends EphysError<FragmentErrorCode> {}

/** Throws EPHYS_BAD_FRAGMENT unless `values` has `height`·`width` entries. */
export function requirePixels(
  fn: string,
  name: string,
  values: ArrayLike<number>,
  height: number,
  width: number,
) {
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: height×width: expected positive integers; found ${height}×${width}`,
    );
  }
  if (values === null || typeof values !== "object" || values.length !== height * width) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: ${name}: expected ${height}×${width} = ${height * width} values; found ${values?.length ?? String(values)}`,
    );
  }
}
