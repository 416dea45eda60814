// How much of a saliency map lies on the pictured thing: the share of the map's intensity Σ_c|I_c| that falls on a
// mask (the image's silhouette, stimuli/silhouette.ts), next to the share of the image the mask covers — a map
// spread evenly over the image would put that much on it; a map on the background, less.
import { mapIntensity } from "./overlay.ts";

export interface MaskMass {
  /** Σ_{mask} intensity / Σ intensity (0 for an all-zero map). */
  onMask: number;
  /** Pixels in the mask / all pixels. */
  maskArea: number;
}

export function massOnMask(
  map: ArrayLike<number>,
  height: number,
  width: number,
  mask: ArrayLike<number>,
): MaskMass {
  if (mask.length !== height * width)
    throw new RangeError(
      `massOnMask: mask.length: expected ${height}×${width} = ${height * width}; found ${mask.length}`,
    );
  const intensity = mapIntensity(map, height, width);
  let on = 0;
  let all = 0;
  let area = 0;
  for (let p = 0; p < intensity.length; p++) {
    all += intensity[p];
    if (mask[p]) {
      on += intensity[p];
      area++;
    }
  }
  return { onMask: all > 0 ? on / all : 0, maskArea: area / mask.length };
}

/** The mask grown by `radius` pixels (a square, Chebyshev distance ≤ radius from a mask pixel). */
export function dilateMask(
  mask: ArrayLike<number>,
  height: number,
  width: number,
  radius: number,
): Uint8Array {
  const r = Math.max(0, Math.round(radius));
  const rows = new Uint8Array(height * width);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      for (let dx = Math.max(0, x - r); dx <= Math.min(width - 1, x + r); dx++) rows[y * width + dx] = 1;
    }
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (!rows[y * width + x]) continue;
      for (let dy = Math.max(0, y - r); dy <= Math.min(height - 1, y + r); dy++) out[dy * width + x] = 1;
    }
  return out;
}
