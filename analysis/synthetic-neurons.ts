// Synthetic neurons with known readouts, as ground truth for the virtual rig and the tests.
//
// Category-selective neurons (Lappe et al. 2024): at a location, with A_in (n_in×C, in-category images' features
// there) and A_out (n_out×C), the weights are the top eigenvector of
//   M = A_inᵀA_in − A_outᵀA_out                                                     (Lappe et al., synthetic neurons)
// i.e. the direction maximizing Σ_in (a·w)² − Σ_out (a·w)² over unit w, signed so that in-category images drive
// the neuron: Σ_in a·w > 0. Its rate is r(x) = baseline + (peak − baseline) · ReLU(a(x)·w) / max_x ReLU(a(x)·w).
// M is never formed: Lanczos with full reorthogonalization on the product Mv = A_inᵀ(A_in v) − A_outᵀ(A_out v).

import { mulberry32, type Random } from "./random.ts";
import {
  extractAtLocation,
  type FeatureMaps,
  type GaussianReadout,
  type Location,
  predict,
  ReadoutError,
} from "./readout/index.ts";

function gaussian(random: Random): number {
  const u1 = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * random());
}

/**
 * Random non-negative feature maps with spatial structure: Gaussian noise smoothed by the separable binomial
 * kernel [1,4,6,4,1]/16 along x and y (replicated border), per image and channel, shifted by `shift`, then
 * ReLU — like post-ReLU CNN features.
 */
export function syntheticFeatureMaps(
  n: number,
  h: number,
  w: number,
  c: number,
  seed: number,
  shift = 0.1,
): FeatureMaps {
  const random = mulberry32(seed);
  const data = new Float32Array(n * h * w * c);
  const kernel = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];
  const clampIndex = (i: number, size: number) => Math.min(size - 1, Math.max(0, i));
  const plane = new Float64Array(h * w);
  const tmp = new Float64Array(h * w);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      for (let p = 0; p < h * w; p++) plane[p] = gaussian(random);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let d = -2; d <= 2; d++) s += kernel[d + 2] * plane[y * w + clampIndex(x + d, w)];
          tmp[y * w + x] = s;
        }
      }
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let d = -2; d <= 2; d++) s += kernel[d + 2] * tmp[clampIndex(y + d, h) * w + x];
          data[(i * h * w + y * w + x) * c + j] = Math.max(0, s - shift);
        }
      }
    }
  }
  return { n, h, w, c, data };
}

/**
 * A ground-truth readout: a uniform random location in [−0.8, 0.8]², `nonzero` of the C weights drawn as
 * ±(0.5 + |N(0,1)|) at random features, all others 0, bias 0.
 */
export function sparseGroundTruthReadout(
  c: number,
  nonzero: number,
  seed: number,
  channelId = `gt-${seed}`,
): GaussianReadout {
  if (!(Number.isInteger(nonzero) && nonzero >= 1 && nonzero <= c)) {
    throw new ReadoutError(
      "EPHYS_BAD_READOUT",
      `nonzero: expected an integer in [1, ${c}]; found ${nonzero}`,
    );
  }
  const random = mulberry32(seed);
  const location: Location = [1.6 * random() - 0.8, 1.6 * random() - 0.8];
  const order = Array.from({ length: c }, (_, i) => i);
  for (let i = 0; i < nonzero; i++) {
    const j = i + Math.floor(random() * (c - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const weights = new Float32Array(c);
  for (let i = 0; i < nonzero; i++) {
    weights[order[i]] = (random() < 0.5 ? -1 : 1) * (0.5 + Math.abs(gaussian(random)));
  }
  return {
    channelId,
    location,
    sigma: [0, 0],
    weights,
    bias: 0,
    bestEpoch: 0,
    valLossCurve: [],
    testR: null,
  };
}

/** Symmetric eigendecomposition of a small dense n×n matrix (row-major) by cyclic Jacobi rotations. */
export function jacobiEigenSymmetric(
  matrix: ArrayLike<number>,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cs = 1 / Math.sqrt(t * t + 1);
        const sn = t * cs;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = cs * akp - sn * akq;
          a[k * n + q] = sn * akp + cs * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = cs * apk - sn * aqk;
          a[q * n + k] = sn * apk + cs * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = cs * vkp - sn * vkq;
          v[k * n + q] = sn * vkp + cs * vkq;
        }
      }
    }
  }
  // values[i] with eigenvector column i of `vectors` (row-major n×n).
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

/** Mv = A_inᵀ(A_in v) − A_outᵀ(A_out v) with A row-major (rows × c). */
function categoryProduct(aIn: Float32Array, aOut: Float32Array, c: number, v: Float64Array): Float64Array {
  const out = new Float64Array(c);
  const apply = (a: Float32Array, sign: number) => {
    const rows = a.length / c;
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let j = 0; j < c; j++) d += a[r * c + j] * v[j];
      d *= sign;
      for (let j = 0; j < c; j++) out[j] += d * a[r * c + j];
    }
  };
  apply(aIn, 1);
  apply(aOut, -1);
  return out;
}

export interface TopEigen {
  value: number;
  vector: Float64Array;
  /** ‖Mv − λv‖ at the returned pair. */
  residual: number;
  iterations: number;
}

/**
 * Eigenvector of the largest (algebraic) eigenvalue of M = A_inᵀA_in − A_outᵀA_out, by Lanczos with full
 * reorthogonalization (Krylov dimension doubled until ‖Mv − λv‖ ≤ tol·‖M‖ estimate, at most C). Sign: Σ_in a·v ≥ 0.
 */
export function categoryTopEigenvector(
  aIn: Float32Array,
  aOut: Float32Array,
  c: number,
  options: { seed?: number; tol?: number } = {},
): TopEigen {
  if (aIn.length % c !== 0 || aOut.length % c !== 0 || aIn.length === 0) {
    throw new ReadoutError(
      "EPHYS_BAD_FEATURES",
      `category features: expected non-empty A_in and A_out with rows of ${c} values; found ${aIn.length} and ${aOut.length} values`,
    );
  }
  const tol = options.tol ?? 1e-9;
  const random = mulberry32(options.seed ?? 1);
  const start = Float64Array.from({ length: c }, () => gaussian(random));
  let m = Math.min(c, 40);
  for (;;) {
    const q: Float64Array[] = [];
    const alpha: number[] = [];
    const beta: number[] = [];
    let v = start.slice();
    let norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    for (let j = 0; j < c; j++) v[j] /= norm;
    for (let it = 0; it < m; it++) {
      q.push(v);
      const z = categoryProduct(aIn, aOut, c, v);
      let a = 0;
      for (let j = 0; j < c; j++) a += z[j] * v[j];
      alpha.push(a);
      // Full reorthogonalization (twice, for stability).
      for (let pass = 0; pass < 2; pass++) {
        for (const qi of q) {
          let d = 0;
          for (let j = 0; j < c; j++) d += z[j] * qi[j];
          for (let j = 0; j < c; j++) z[j] -= d * qi[j];
        }
      }
      norm = Math.sqrt(z.reduce((s, x) => s + x * x, 0));
      if (it === m - 1 || norm < 1e-12 * (Math.abs(a) + 1)) break;
      beta.push(norm);
      v = z.map((x) => x / norm);
    }
    const size = alpha.length;
    const t = new Float64Array(size * size);
    for (let i = 0; i < size; i++) {
      t[i * size + i] = alpha[i];
      if (i + 1 < size) {
        t[i * size + i + 1] = beta[i];
        t[(i + 1) * size + i] = beta[i];
      }
    }
    const eig = jacobiEigenSymmetric(t, size);
    let top = 0;
    for (let i = 1; i < size; i++) if (eig.values[i] > eig.values[top]) top = i;
    const vec = new Float64Array(c);
    for (let i = 0; i < size; i++) {
      const yi = eig.vectors[i * size + top];
      for (let j = 0; j < c; j++) vec[j] += yi * q[i][j];
    }
    const vn = Math.sqrt(vec.reduce((s, x) => s + x * x, 0));
    for (let j = 0; j < c; j++) vec[j] /= vn;
    const value = eig.values[top];
    const mv = categoryProduct(aIn, aOut, c, vec);
    let residual = 0;
    for (let j = 0; j < c; j++) residual += (mv[j] - value * vec[j]) ** 2;
    residual = Math.sqrt(residual);
    const scale = Math.max(...Array.from(eig.values, Math.abs), 1e-300);
    if (residual <= tol * scale || size < m || m >= c) {
      // Sign: in-category images drive the neuron.
      let drive = 0;
      const rows = aIn.length / c;
      for (let r = 0; r < rows; r++) for (let j = 0; j < c; j++) drive += aIn[r * c + j] * vec[j];
      if (drive < 0) for (let j = 0; j < c; j++) vec[j] = -vec[j];
      return { value, vector: vec, residual, iterations: size };
    }
    m = Math.min(c, 2 * m);
  }
}

export interface CategoryNeuronOptions {
  /** Readout location; default uniform in [−0.8, 0.8]² from the seed. */
  location?: Location;
  seed: number;
  baselineRate?: number; // spikes/s, default 8
  peakRate?: number; // spikes/s for the best image, default 60
  channelId?: string;
}

export interface CategoryNeuron {
  /** The readout (weights = the unit top eigenvector; bias 0): a·w is the neuron's drive. */
  readout: GaussianReadout;
  eigenvalue: number;
  /** Rates (spikes/s) to every image of `features`. */
  rates: Float32Array;
  /** Scale mapping ReLU(a·w) to spikes/s above the baseline. */
  gain: number;
  baselineRate: number;
}

/** A synthetic category-selective neuron over `features`; `inCategory[i]` marks image i's category. */
export function syntheticCategoryNeuron(
  features: FeatureMaps,
  inCategory: ArrayLike<boolean>,
  options: CategoryNeuronOptions,
): CategoryNeuron {
  if (inCategory.length !== features.n) {
    throw new ReadoutError(
      "EPHYS_BAD_FEATURES",
      `inCategory: expected ${features.n} flags (one per image); found ${inCategory.length}`,
    );
  }
  const random = mulberry32(options.seed);
  const location: Location = options.location ?? [1.6 * random() - 0.8, 1.6 * random() - 0.8];
  const { c } = features;
  const a = extractAtLocation(features, location);
  const nIn = Array.from(inCategory).filter(Boolean).length;
  const aIn = new Float32Array(nIn * c);
  const aOut = new Float32Array((features.n - nIn) * c);
  let ii = 0;
  let io = 0;
  for (let i = 0; i < features.n; i++) {
    const row = a.subarray(i * c, (i + 1) * c);
    if (inCategory[i]) aIn.set(row, c * ii++);
    else aOut.set(row, c * io++);
  }
  const eig = categoryTopEigenvector(aIn, aOut, c, { seed: options.seed + 1 });
  const readout: GaussianReadout = {
    channelId: options.channelId ?? `synthetic-${options.seed}`,
    location,
    sigma: [0, 0],
    weights: Float32Array.from(eig.vector),
    bias: 0,
    bestEpoch: 0,
    valLossCurve: [],
    testR: null,
  };
  const drive = predict(readout, features);
  let max = 0;
  for (const d of drive) max = Math.max(max, d);
  const baselineRate = options.baselineRate ?? 8;
  const peak = options.peakRate ?? 60;
  const gain = max > 0 ? (peak - baselineRate) / max : 0;
  const rates = Float32Array.from(drive, (d) => baselineRate + gain * Math.max(0, d));
  return { readout, eigenvalue: eig.value, rates, gain, baselineRate };
}
