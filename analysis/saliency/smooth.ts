// Smoothing and normalization of input gradients (H×W×3, HWC) before they are summed into a saliency map.

/** scipy.ndimage "reflect" (half-sample symmetric) index into [0, n). */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  let j = i % period;
  if (j < 0) j += period;
  return j < n ? j : period - 1 - j;
}

/** Normalized 1-D Gaussian taps of radius ⌊4σ + 0.5⌋ (scipy.ndimage's truncate = 4). */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.floor(4 * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    k[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
    sum += k[i + radius];
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/**
 * Gaussian blur with σ px of each colour channel of an H×W×3 image (separable; borders reflected as
 * scipy.ndimage.gaussian_filter(mode="reflect", truncate=4)). σ = 0 returns a copy.
 */
export function gaussianSmooth(
  img: ArrayLike<number>,
  height: number,
  width: number,
  sigma: number,
): Float64Array {
  if (img.length !== height * width * 3) {
    throw new RangeError(
      `gaussianSmooth: expected ${height}×${width}×3 = ${height * width * 3} values; found ${img.length}`,
    );
  }
  if (!(Number.isFinite(sigma) && sigma >= 0))
    throw new RangeError(`gaussianSmooth: sigma: expected ≥ 0; found ${sigma}`);
  const src = Float64Array.from(img);
  if (sigma === 0) return src;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float64Array(src.length);
  // Along the width.
  const colIdx = Array.from({ length: width + 2 * r }, (_, i) => reflect(i - r, width));
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      for (let t = 0; t < k.length; t++) {
        const p = (row + colIdx[x + t]) * 3;
        const g = k[t];
        s0 += g * src[p];
        s1 += g * src[p + 1];
        s2 += g * src[p + 2];
      }
      const q = (row + x) * 3;
      tmp[q] = s0;
      tmp[q + 1] = s1;
      tmp[q + 2] = s2;
    }
  }
  // Along the height.
  const out = new Float64Array(src.length);
  const rowIdx = Array.from({ length: height + 2 * r }, (_, i) => reflect(i - r, height));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      for (let t = 0; t < k.length; t++) {
        const p = (rowIdx[y + t] * width + x) * 3;
        const g = k[t];
        s0 += g * tmp[p];
        s1 += g * tmp[p + 1];
        s2 += g * tmp[p + 2];
      }
      const q = (y * width + x) * 3;
      out[q] = s0;
      out[q + 1] = s1;
      out[q + 2] = s2;
    }
  }
  return out;
}

/** Euclidean norm over every value. */
export function l2Norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** v / ‖v‖ (in place on a copy); a zero vector stays zero (a feature with no gradient contributes nothing). */
export function unitNorm(v: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(v);
  const n = l2Norm(out);
  if (n > 0) for (let i = 0; i < out.length; i++) out[i] /= n;
  return out;
}
