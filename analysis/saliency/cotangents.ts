// One-hot cotangents at a readout location: the bilinear scatter of feature i at μ onto the 4 neighbouring
// map pixels, so ⟨activation, cotangent_i⟩ = a_i(x) (grid_sample, align_corners=True; see readout/feature-maps.ts).
import { bilinearTaps, type Location } from "../readout/feature-maps.ts";

/** [features.length, h, w, c] row-major: row j holds the scatter of feature features[j] at `location`. */
export function oneHotCotangents(
  location: Location,
  h: number,
  w: number,
  c: number,
  features: ArrayLike<number>,
): Float32Array {
  const taps = bilinearTaps(location[0], location[1], h, w);
  const per = h * w * c;
  const out = new Float32Array(features.length * per);
  for (let j = 0; j < features.length; j++) {
    const i = features[j];
    if (!(Number.isInteger(i) && i >= 0 && i < c)) {
      throw new RangeError(
        `oneHotCotangents: features[${j}]: expected a feature index in [0, ${c}); found ${i}`,
      );
    }
    for (let t = 0; t < 4; t++) out[j * per + taps.pixels[t] * c + i] += taps.weights[t];
  }
  return out;
}
