// Feature maps (N×H×W×C, NHWC, float32) and bilinear sampling at a readout location in [−1, 1]².
//
// Sampling semantics: PyTorch grid_sample with align_corners=True. x runs along the width, y along the height;
// x = −1 is the centre of column 0 and x = +1 the centre of column W−1, so the pixel coordinate is
// px = (x + 1)/2 · (W − 1) (likewise py). Locations outside [−1, 1] are clamped onto the border.

import { ReadoutError } from "./errors.ts";

/** N images × H × W × C features, NHWC, row-major in one Float32Array. */
export interface FeatureMaps {
  n: number;
  h: number;
  w: number;
  c: number;
  data: Float32Array;
}

/** A readout location (x, y) in [−1, 1]² (x along the width, y along the height). */
export type Location = [number, number];

/** The four pixels around a location with their bilinear weights; pixel index = row·W + column. */
export interface BilinearTaps {
  /** Pixel indices p00 (y0,x0), p01 (y0,x1), p10 (y1,x0), p11 (y1,x1). */
  pixels: [number, number, number, number];
  /** Bilinear weights (1−fx)(1−fy), fx(1−fy), (1−fx)fy, fx·fy; they sum to 1. */
  weights: [number, number, number, number];
  /** Fractional offsets inside the cell, in [0, 1]. */
  fx: number;
  fy: number;
  /** d px / d x = (W − 1)/2 and d py / d y = (H − 1)/2 (0 where the map is one pixel wide). */
  scaleX: number;
  scaleY: number;
}

/** Throws EPHYS_BAD_FEATURES unless `maps` is a well-formed NHWC block. */
export function checkFeatureMaps(maps: FeatureMaps, what = "features"): void {
  const { n, h, w, c, data } = maps;
  for (const [name, v] of [
    ["n", n],
    ["h", h],
    ["w", w],
    ["c", c],
  ] as const) {
    if (!(Number.isInteger(v) && v >= (name === "n" ? 0 : 1))) {
      throw new ReadoutError(
        "EPHYS_BAD_FEATURES",
        `${what}.${name}: expected a positive integer; found ${v}`,
      );
    }
  }
  if (!(data instanceof Float32Array) || data.length !== n * h * w * c) {
    throw new ReadoutError(
      "EPHYS_BAD_FEATURES",
      `${what}.data: expected a Float32Array of n·h·w·c = ${n * h * w * c} values; found ${
        data instanceof Float32Array ? data.length : typeof data
      }`,
    );
  }
}

function axisTap(v: number, size: number): { i0: number; i1: number; f: number; scale: number } {
  if (size === 1) return { i0: 0, i1: 0, f: 0, scale: 0 };
  const clamped = Math.min(1, Math.max(-1, v));
  const p = ((clamped + 1) / 2) * (size - 1);
  const i0 = Math.min(Math.floor(p), size - 2);
  return { i0, i1: i0 + 1, f: p - i0, scale: (size - 1) / 2 };
}

/** Bilinear taps of location (x, y) on an H×W grid (grid_sample, align_corners=True, border clamp). */
export function bilinearTaps(x: number, y: number, h: number, w: number): BilinearTaps {
  if (!(Number.isFinite(x) && Number.isFinite(y))) {
    throw new ReadoutError("EPHYS_BAD_READOUT", `location: expected finite (x, y); found (${x}, ${y})`);
  }
  const ax = axisTap(x, w);
  const ay = axisTap(y, h);
  const { f: fx } = ax;
  const { f: fy } = ay;
  return {
    pixels: [ay.i0 * w + ax.i0, ay.i0 * w + ax.i1, ay.i1 * w + ax.i0, ay.i1 * w + ax.i1],
    weights: [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy],
    fx,
    fy,
    scaleX: ax.scale,
    scaleY: ay.scale,
  };
}

/** The grid location of pixel (row, column): x = 2·column/(W−1) − 1, y = 2·row/(H−1) − 1 (0 on a 1-pixel axis). */
export function pixelLocation(row: number, column: number, h: number, w: number): Location {
  return [w === 1 ? 0 : (2 * column) / (w - 1) - 1, h === 1 ? 0 : (2 * row) / (h - 1) - 1];
}

/** N×C features sampled bilinearly at `location` (row n = image n), as grid_sample(align_corners=True). */
export function extractAtLocation(features: FeatureMaps, location: Location): Float32Array {
  checkFeatureMaps(features);
  const { n, h, w, c, data } = features;
  const taps = bilinearTaps(location[0], location[1], h, w);
  const out = new Float32Array(n * c);
  const hw = h * w;
  for (let t = 0; t < 4; t++) {
    const g = taps.weights[t];
    if (g === 0) continue;
    const p = taps.pixels[t];
    for (let i = 0; i < n; i++) {
      const src = (i * hw + p) * c;
      const dst = i * c;
      for (let j = 0; j < c; j++) out[dst + j] += g * data[src + j];
    }
  }
  return out;
}

/** The features of the images listed in `rows` (in that order), as a new FeatureMaps. */
export function selectImages(features: FeatureMaps, rows: ArrayLike<number>): FeatureMaps {
  checkFeatureMaps(features);
  const size = features.h * features.w * features.c;
  const data = new Float32Array(rows.length * size);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(Number.isInteger(r) && r >= 0 && r < features.n)) {
      throw new ReadoutError(
        "EPHYS_BAD_FEATURES",
        `rows[${i}]: expected an image index in [0, ${features.n}); found ${r}`,
      );
    }
    data.set(features.data.subarray(r * size, (r + 1) * size), i * size);
  }
  return { n: rows.length, h: features.h, w: features.w, c: features.c, data };
}

/**
 * Pixel-major slab of pixel p over the images in `rows`: out[i·C + j] = features[rows[i], p, j]
 * (the [N, C] matrix the fit multiplies at that pixel).
 */
export function pixelSlab(features: FeatureMaps, p: number, rows: ArrayLike<number>): Float32Array {
  const { h, w, c, data } = features;
  const hw = h * w;
  const out = new Float32Array(rows.length * c);
  for (let i = 0; i < rows.length; i++) {
    const src = (rows[i] * hw + p) * c;
    out.set(data.subarray(src, src + c), i * c);
  }
  return out;
}
