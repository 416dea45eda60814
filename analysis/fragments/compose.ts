// A fragment image from its parent and a soft mask: the masked part of the image over the background gray.
// Pure: RGB floats in and out; the controller encodes and writes the PNGs.
import { FragmentError, requirePixels } from "./errors.ts";

/** An RGB image, HWC interleaved, values 0..255 (the shape of stimuli/image.ts RGBImage). */
export interface FragmentImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** The mask-cut kinds of fragment ("full", the parent shown again, needs no composing). */
export type ComposedKind = "highlighted" | "complement" | "random";

const KINDS: readonly ComposedKind[] = ["highlighted", "complement", "random"];

/**
 * A new image: "highlighted" and "random" keep the image where soft is 1 (image·s + background·(1 − s));
 * "complement" grays out that region instead (image·(1 − s) + background·s). soft is H·W in [0, 1] (masks.ts).
 * Throws EPHYS_BAD_FRAGMENT on sizes that disagree, a soft value outside [0, 1], or an unknown kind.
 */
export function composeFragment(
  image: FragmentImage,
  soft: ArrayLike<number>,
  kind: ComposedKind,
  background = 128,
): FragmentImage {
  const fn = "composeFragment";
  const { width, height, data } = image;
  requirePixels(fn, "soft", soft, height, width);
  if (!data || data.length !== width * height * 3) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: image.data: expected ${height}×${width}×3 = ${width * height * 3} values; found ${data?.length}`,
    );
  }
  if (!KINDS.includes(kind)) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: kind: expected ${KINDS.join(" | ")}; found ${String(kind)}`,
    );
  }
  if (!Number.isFinite(background)) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: background: expected a finite gray level; found ${background}`,
    );
  }
  const out = new Float32Array(data.length);
  for (let p = 0; p < soft.length; p++) {
    const s = soft[p];
    if (!(s >= 0 && s <= 1)) {
      throw new FragmentError(
        "EPHYS_BAD_FRAGMENT",
        `${fn}: soft[${p}]: expected a weight in [0, 1]; found ${s}`,
      );
    }
    const keep = kind === "complement" ? 1 - s : s;
    for (let c = 0; c < 3; c++) out[3 * p + c] = data[3 * p + c] * keep + background * (1 - keep);
  }
  return { width, height, data: out };
}
