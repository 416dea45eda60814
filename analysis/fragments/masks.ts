// The salient region of a shared-feature map as a mask: the top pixels of its intensity Σ_c|I_c| (saliency's
// mapIntensity of the H×W×3 map), hard (binary) and soft (blurred) for the fragment's edge.
// Imports smooth.ts itself, not saliency/index.ts: the index loads the backbones (tfjs, ONNX Runtime) at import.
import { gaussianSmooth } from "../saliency/smooth.ts";
import { FragmentError, requirePixels } from "./errors.ts";

export type MaskBasis = "area" | "mass";

export interface SalientMaskOptions {
  /** "area": the mask covers round(areaFraction·H·W) pixels; "mass": it is the smallest top set holding at least
   *  areaFraction of the map's total intensity. In (0, 1]. */
  areaFraction: number;
  /** σ in pixels of the Gaussian that softens the mask's edge (0: soft = mask). */
  softnessPx: number;
  /** Default "area". */
  basis?: MaskBasis;
}

export interface SalientMask {
  /** 1 on the salient region, 0 elsewhere; H·W, row-major. */
  mask: Uint8Array;
  /** The mask blurred by the Gaussian of σ = softnessPx, in [0, 1]. */
  soft: Float32Array;
  /** Row-major index of the intensity's maximum (the first, in index order, among equal maxima); always in mask. */
  peak: number;
  /** Pixels in the mask. */
  area: number;
}

const BASES: readonly MaskBasis[] = ["area", "mass"];

/**
 * The salient mask of a map's intensity: pixels taken in order of decreasing intensity (equal intensities by
 * increasing index), so the maximum is always first in; "area" takes round(areaFraction·H·W) of them, "mass" the
 * fewest whose intensities sum to ≥ areaFraction of the total. Throws EPHYS_BAD_FRAGMENT on bad sizes or options,
 * a non-finite intensity, an area that rounds to no pixel, or (basis "mass") a negative or all-zero intensity.
 */
export function salientMask(
  intensity: ArrayLike<number>,
  height: number,
  width: number,
  options: SalientMaskOptions,
): SalientMask {
  const fn = "salientMask";
  requirePixels(fn, "intensity", intensity, height, width);
  const { areaFraction, softnessPx } = options;
  const basis = options.basis ?? "area";
  if (!(typeof areaFraction === "number" && areaFraction > 0 && areaFraction <= 1)) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: areaFraction: expected a number in (0, 1]; found ${areaFraction}`,
    );
  }
  if (!BASES.includes(basis)) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: basis: expected ${BASES.join(" | ")}; found ${String(basis)}`,
    );
  }
  const n = height * width;
  let total = 0;
  for (let p = 0; p < n; p++) {
    const v = intensity[p];
    if (typeof v !== "number" || !Number.isFinite(v) || (basis === "mass" && v < 0)) {
      throw new FragmentError(
        "EPHYS_BAD_FRAGMENT",
        `${fn}: intensity[${p}]: expected a finite number${basis === "mass" ? " ≥ 0" : ""}; found ${v}`,
      );
    }
    total += v;
  }

  const order = Array.from({ length: n }, (_, p) => p);
  order.sort((a, b) => intensity[b] - intensity[a] || a - b);

  let area: number;
  if (basis === "area") {
    area = Math.round(areaFraction * n);
    if (area < 1) {
      throw new FragmentError(
        "EPHYS_BAD_FRAGMENT",
        `${fn}: areaFraction: ${areaFraction} of ${height}×${width} rounds to no pixel; expected at least 1/${2 * n}`,
      );
    }
  } else {
    if (!(total > 0)) {
      throw new FragmentError(
        "EPHYS_BAD_FRAGMENT",
        `${fn}: intensity: expected some mass for basis "mass"; found an all-zero map`,
      );
    }
    const target = areaFraction * total;
    let sum = 0;
    area = 0;
    while (area < n && sum < target) sum += intensity[order[area++]];
    area = Math.max(1, area);
  }

  const mask = new Uint8Array(n);
  for (let i = 0; i < area; i++) mask[order[i]] = 1;
  return { mask, soft: softenMask(mask, height, width, softnessPx), peak: order[0], area };
}

/**
 * A binary mask blurred by a Gaussian of σ = softnessPx (scipy.ndimage.gaussian_filter, mode "reflect",
 * truncate 4), clipped to [0, 1]; σ = 0 gives the mask itself as 0/1. Pixels farther than ⌊4σ + 0.5⌋ from the
 * mask's edge keep their 0 or 1.
 */
export function softenMask(
  mask: ArrayLike<number>,
  height: number,
  width: number,
  softnessPx: number,
): Float32Array {
  const fn = "softenMask";
  requirePixels(fn, "mask", mask, height, width);
  if (!(typeof softnessPx === "number" && Number.isFinite(softnessPx) && softnessPx >= 0)) {
    throw new FragmentError(
      "EPHYS_BAD_FRAGMENT",
      `${fn}: softnessPx: expected a Gaussian σ ≥ 0 in pixels; found ${softnessPx}`,
    );
  }
  const n = height * width;
  const soft = new Float32Array(n);
  if (softnessPx === 0) {
    for (let p = 0; p < n; p++) soft[p] = mask[p] ? 1 : 0;
    return soft;
  }
  // gaussianSmooth blurs H×W×3; the mask goes in as three equal channels and one comes back.
  const rgb = new Float64Array(3 * n);
  for (let p = 0; p < n; p++) if (mask[p]) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = 1;
  const blurred = gaussianSmooth(rgb, height, width, softnessPx);
  for (let p = 0; p < n; p++) soft[p] = Math.min(1, Math.max(0, blurred[3 * p]));
  return soft;
}
