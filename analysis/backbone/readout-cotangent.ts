// The cotangent of a bilinear readout at one location: a_k = Σ_c readout[k, c] · f(μ)_c with f(μ) sampled as
// readout/feature-maps.ts samples it (grid_sample, align_corners=True, border clamp). Its adjoint scatters each row
// onto the 4 neighbouring map pixels with the bilinear weights, so ⟨activation, cotangent_k⟩ = a_k.
import { bilinearTaps, type Location } from "../readout/index.ts";
import { BackboneError } from "./errors.ts";

/** [h·w] map of the bilinear weights of `location` (4 pixels non-zero at most; they sum to 1). */
export function bilinearScatter(location: Location, h: number, w: number): Float32Array {
  const taps = bilinearTaps(location[0], location[1], h, w);
  const map = new Float32Array(h * w);
  for (let t = 0; t < 4; t++) map[taps.pixels[t]] += taps.weights[t];
  return map;
}

/** Throws EPHYS_BAD_COTANGENT unless `readout` holds k rows of c weights. */
export function checkReadout(readout: ArrayLike<number>, k: number, c: number): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new BackboneError("EPHYS_BAD_COTANGENT", `k: got ${k}, expected a positive integer (readout rows)`);
  }
  if (readout.length !== k * c) {
    throw new BackboneError(
      "EPHYS_BAD_COTANGENT",
      `readout: got ${readout.length} weights, expected k·C = ${k}·${c} = ${k * c}`,
    );
  }
}

/** Dense cotangents [k, h, w, c] (NHWC) of k readouts [k, c] at `location`: row k = scatter ⊗ readout[k]. */
export function readoutCotangents(
  location: Location,
  h: number,
  w: number,
  c: number,
  readout: ArrayLike<number>,
  k: number,
): Float32Array {
  checkReadout(readout, k, c);
  const scatter = bilinearScatter(location, h, w);
  const per = h * w * c;
  const out = new Float32Array(k * per);
  for (let p = 0; p < h * w; p++) {
    const s = scatter[p];
    if (s === 0) continue;
    for (let j = 0; j < k; j++) {
      const dst = j * per + p * c;
      for (let i = 0; i < c; i++) out[dst + i] = s * readout[j * c + i];
    }
  }
  return out;
}
