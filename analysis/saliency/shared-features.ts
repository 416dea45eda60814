// Shared-feature visualization by parallel backpropagation (Lappe et al. 2024): for one channel (Gaussian readout
// at μ with weights w) and an image pair (x_out, x_in), the maps
//   I(x) = Σ_{i∈K} β_i · unit(smooth(∂a_i/∂x)),  x ∈ {x_out, x_in}                                  (eq. 6)
// over the features K that carry the β mass (dropped mass ≤ ε·s), with the bound ‖I‖ ≤ s checked on every map
// (eq. 7). Gradients: one forward and batched backward passes of k one-hot readouts at μ (never the Jacobian), on
// whichever engine the GradientBackbone runs (ONNX Runtime's VJP graph, or tfjs).
import type { NetworkDescription } from "../backbone/description.ts";
import type { GradientBackbone } from "../backbone/gradient-engine.ts";
import { extractAtLocation, type Location } from "../readout/index.ts";
import { neuronSimilarity } from "../similarity.ts";
import { beta, massSelection } from "./beta.ts";
import { SaliencyError } from "./errors.ts";
import { gaussianSmooth, l2Norm, unitNorm } from "./smooth.ts";

/** An RGB image, HWC, values 0..255 (stimuli/image.ts RGBImage). */
export interface SaliencyImage {
  width: number;
  height: number;
  data: Float32Array;
}

export interface SaliencyReadout {
  /** μ in [−1, 1]² (x along the width, y along the height; grid_sample align_corners=True). */
  location: Location;
  /** C weights. */
  weights: ArrayLike<number>;
}

/**
 * "gradient": ∂a_i/∂x at x (eq. 6). "ig": integrated gradients — ∂a_i/∂x averaged over igSteps points
 * x_t = x₀ + (t − ½)/m · (x − x₀), t = 1..m, from the baseline x₀ whose preprocessed input is all zeros (the mean
 * image in pixel space), without the ×(x − x₀) factor. "unweighted": β_i replaced by 1 over the same k features
 * (Σ_{i∈K} unit(smooth(g_i)); ‖I‖ ≤ k instead of s).
 */
export type SaliencyMethod = "gradient" | "ig" | "unweighted";
export const SALIENCY_METHODS: readonly SaliencyMethod[] = ["gradient", "ig", "unweighted"];

export interface SharedFeatureOptions {
  /** The gradient engine (analysis/backbone/gradient-engine.ts: ONNX Runtime or tfjs). */
  backbone: GradientBackbone;
  tap: string;
  readout: SaliencyReadout;
  /** The out-of-category image (e.g. the object). */
  xOut: SaliencyImage;
  /** The in-category image (e.g. the body). */
  xIn: SaliencyImage;
  /** Gaussian smoothing σ in input pixels (0: none). */
  sigma: number;
  /** Allowed dropped β mass as a fraction of s, in [0, 1) (0: every feature with β ≠ 0). */
  epsilon: number;
  method?: SaliencyMethod;
  /** Path steps of "ig" (default 16). */
  igSteps?: number;
  /** Cotangents per backward pass (default: the engine's chunkSize; tfjs wasm 8, as its heap caps at 4 GB). */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: { image: "out" | "in"; done: number; total: number }) => void;
}

export interface SharedFeatureResult {
  /** s(x_out, x_in) (eq. 2) = Σ_i β_i. */
  s: number;
  /** Features used. */
  k: number;
  /** Σ_dropped |β_i| ≤ ε·s: exact bound on ‖I_k − I_full‖ for each map. */
  dropped: number;
  /** I(x_out), I(x_in): Float32Array H×W×3 at input resolution. */
  outMap: Float32Array;
  inMap: Float32Array;
  outShape: [number, number, 3];
  inShape: [number, number, 3];
  normOut: number;
  normIn: number;
  /** The k features used, by β descending. */
  topFeatures: Array<{ index: number; beta: number }>;
  /** Features C at the tap. */
  channels: number;
  method: SaliencyMethod;
  epsilon: number;
  sigma: number;
  /** Seconds spent in input gradients (both images). */
  gradientSeconds: number;
  /** The engine that computed the gradients (GradientBackbone.summary). */
  gradientEngine: string;
}

function checkImage(img: SaliencyImage, what: string): void {
  const ok =
    Number.isInteger(img?.width) &&
    Number.isInteger(img?.height) &&
    img.width > 0 &&
    img.height > 0 &&
    img.data instanceof Float32Array &&
    img.data.length === img.width * img.height * 3;
  if (!ok) {
    throw new SaliencyError(
      "EPHYS_BAD_SALIENCY",
      `${what}: expected an RGB image {width, height, data: Float32Array of width·height·3}; found ` +
        `${img?.width}×${img?.height} with ${img?.data?.length} values`,
    );
  }
}

/** Features of one image at the readout location (C) and the tap's map size. */
async function featuresAt(
  bb: GradientBackbone,
  tap: string,
  img: SaliencyImage,
  location: Location,
): Promise<{ a: Float32Array; h: number; w: number; c: number }> {
  const out = await bb.features(tap, { data: img.data, n: 1, height: img.height, width: img.width });
  const [, h, w, c] = out.shape;
  return { a: extractAtLocation({ n: 1, h, w, c, data: out.data }, location), h, w, c };
}

/** RGB (0..255) whose preprocessed input is all zeros: 255·mean (torch) or the BGR mean flipped to RGB (caffe). */
export function zeroInputImage(bb: { description: NetworkDescription }): [number, number, number] {
  const p = bb.description.preprocessing;
  if (p.mode === "caffe") return [p.mean[2], p.mean[1], p.mean[0]];
  return [255 * p.mean[0], 255 * p.mean[1], 255 * p.mean[2]];
}

interface GradientPlan {
  bb: GradientBackbone;
  tap: string;
  location: Location;
  map: { h: number; w: number; c: number };
  features: number[];
  coefficients: number[];
  method: SaliencyMethod;
  igSteps: number;
  chunkSize: number;
  sigma: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Σ_j coefficient_j · unit(smooth(g_j)) for one image, g_j = ∂a_{features[j]}/∂x (or its path average). */
async function saliencyMap(img: SaliencyImage, plan: GradientPlan): Promise<Float64Array> {
  const { bb, tap, location, map, features, coefficients, chunkSize } = plan;
  const { width: W, height: H } = img;
  const size = H * W * 3;
  const acc = new Float64Array(size);
  const zero = zeroInputImage(bb);
  const steps = plan.method === "ig" ? plan.igSteps : 1;
  const inputs: Float32Array[] = [];
  for (let t = 1; t <= steps; t++) {
    if (plan.method !== "ig") {
      inputs.push(img.data);
      continue;
    }
    const alpha = (t - 0.5) / steps;
    const x = new Float32Array(size);
    for (let p = 0; p < size; p++) x[p] = zero[p % 3] + alpha * (img.data[p] - zero[p % 3]);
    inputs.push(x);
  }
  for (let from = 0; from < features.length; from += chunkSize) {
    if (plan.signal?.aborted) throw new SaliencyError("EPHYS_ABORTED", "saliency cancelled");
    const chunk = features.slice(from, from + chunkSize);
    // One-hot readout rows: row j reads feature chunk[j] at μ (its cotangent is the bilinear scatter).
    const rows = new Float32Array(chunk.length * map.c);
    for (let j = 0; j < chunk.length; j++) rows[j * map.c + chunk[j]] = 1;
    const grads = new Float64Array(chunk.length * size);
    for (const x of inputs) {
      const image = { data: x, n: 1, height: H, width: W };
      const data = await bb.readoutGradients(tap, image, location, rows, chunk.length);
      for (let p = 0; p < data.length; p++) grads[p] += data[p];
    }
    for (let j = 0; j < chunk.length; j++) {
      // The 1/steps average of "ig" is irrelevant under unit(); the sum is normalized directly.
      const term = unitNorm(gaussianSmooth(grads.subarray(j * size, (j + 1) * size), H, W, plan.sigma));
      const c = coefficients[from + j];
      for (let p = 0; p < size; p++) acc[p] += c * term[p];
    }
    plan.onProgress?.(Math.min(from + chunkSize, features.length), features.length);
    await new Promise((r) => setImmediate(r)); // let a worker see its abort message between chunks
  }
  return acc;
}

/** I(x_out), I(x_in) for one channel and image pair (eqs. 2, 5, 6), bound-checked (eq. 7). */
export async function sharedFeatureMaps(options: SharedFeatureOptions): Promise<SharedFeatureResult> {
  const { backbone: bb, tap, readout, xOut, xIn, sigma, epsilon } = options;
  const method = options.method ?? "gradient";
  const igSteps = options.igSteps ?? 16;
  const chunkSize = options.chunkSize ?? bb.chunkSize;
  checkImage(xOut, "xOut");
  checkImage(xIn, "xIn");
  if (!SALIENCY_METHODS.includes(method)) {
    throw new SaliencyError(
      "EPHYS_BAD_SALIENCY",
      `method: expected one of ${SALIENCY_METHODS.join(", ")}; found ${JSON.stringify(method)}`,
    );
  }
  for (const [name, v, min] of [
    ["igSteps", igSteps, 1],
    ["chunkSize", chunkSize, 1],
  ] as const) {
    if (!(Number.isInteger(v) && v >= min)) {
      throw new SaliencyError("EPHYS_BAD_SALIENCY", `${name}: expected a whole number ≥ ${min}; found ${v}`);
    }
  }
  if (!(Number.isFinite(sigma) && sigma >= 0)) {
    throw new SaliencyError(
      "EPHYS_BAD_SALIENCY",
      `sigma: expected a smoothing σ in pixels ≥ 0; found ${sigma}`,
    );
  }
  const location = readout.location;
  const out = await featuresAt(bb, tap, xOut, location);
  const inn = await featuresAt(bb, tap, xIn, location);
  const w = readout.weights;
  if (w.length !== out.c) {
    throw new SaliencyError(
      "EPHYS_BAD_SALIENCY",
      `readout.weights: expected ${out.c} weights (features at ${tap}); found ${w.length}`,
    );
  }
  const s = neuronSimilarity(inn.a, out.a, w);
  const betas = beta(inn.a, out.a, w);
  const selection = massSelection(betas, s, epsilon);
  const features = selection.indices;
  const coefficients = features.map((i) => (method === "unweighted" ? 1 : betas[i]));
  const plan = (img: "out" | "in", m: { h: number; w: number; c: number }): GradientPlan => ({
    bb,
    tap,
    location,
    map: m,
    features,
    coefficients,
    method,
    igSteps,
    chunkSize,
    sigma,
    signal: options.signal,
    onProgress: options.onProgress && ((done, total) => options.onProgress!({ image: img, done, total })),
  });
  const started = performance.now();
  const outMap = await saliencyMap(xOut, plan("out", out));
  const inMap = await saliencyMap(xIn, plan("in", inn));
  const gradientSeconds = (performance.now() - started) / 1000;
  const normOut = l2Norm(outMap);
  const normIn = l2Norm(inMap);
  // Eq. 7: ‖I‖ ≤ Σ|coefficients| (triangle inequality over unit terms), which is ≤ s for β with a ≥ 0.
  const bound = method === "unweighted" ? features.length : s;
  for (const [name, norm] of [
    ["I(x_out)", normOut],
    ["I(x_in)", normIn],
  ] as const) {
    if (!(norm <= bound * (1 + 1e-6) + 1e-9)) {
      throw new SaliencyError(
        "EPHYS_BOUND_VIOLATED",
        `‖${name}‖ = ${norm} exceeds ${method === "unweighted" ? "k" : "s"} = ${bound} (eq. 7 needs features a ≥ 0 at ` +
          `${tap}; a negative feature makes Σ|β_i| > s)`,
      );
    }
  }
  return {
    s,
    k: features.length,
    dropped: selection.dropped,
    outMap: Float32Array.from(outMap),
    inMap: Float32Array.from(inMap),
    outShape: [xOut.height, xOut.width, 3],
    inShape: [xIn.height, xIn.width, 3],
    normOut,
    normIn,
    topFeatures: features.map((i) => ({ index: i, beta: betas[i] })),
    channels: out.c,
    method,
    epsilon,
    sigma,
    gradientSeconds,
    gradientEngine: bb.summary,
  };
}
