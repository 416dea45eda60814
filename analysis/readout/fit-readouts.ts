// Fits the Gaussian readouts of all channels at once (parameters stacked per channel: μ [K,2], log σ [K,2],
// w [K,C], b [K]) by full-batch Adam on
//   L_k = Σ_n (r̂_k(x_n) − y_kn)² + λ · Σ_i (w_ki² + δ)^{1/4}     (squared error + smoothed L1/2; "l1": exponent 1/2)
// The data term sums over the N training rows (reduction "sum", the default; "mean" divides it by N). With a
// per-image mean, the protocol's λ = 0.1 outweighs the data for every weight on standardized targets (measured:
// held-out r ≈ 0.06 on the turnaround bench), so λ is read as weighting the penalty against the summed error,
// as in neuralpredictors-style losses; Adam is invariant to the overall scale, so "sum" ≡ "mean" with λ/N.
// where during training r̂ reads the features at one sample μ_k + σ_k·ε (ε ~ N(0, I), one draw per channel and
// epoch, clamped to [−1, 1]², bilinear as grid_sample align_corners=True) and at evaluation at μ_k.
// Targets are standardized per channel on the training rows (mean m_k, sd s_k) — the bias starts at the mean
// response and λ means the same for every channel whatever its rate — and the result is mapped back:
// w = w'·s_k, b = b'·s_k + m_k. Features are divided by one number, their root mean square φ over the training
// rows (all pixels and features), so that lr and λ mean the same on any backbone and tap: the fit runs on
// F/φ (w' = φ·w) and returns w = w'/φ, the same model. Measured: φ is 0.2 for the synthetic maps of the tests
// and bench and 0.9–1.6 at ResNet-50 layer3.3–layer4.1 on photographs; without it the lr that recovers the
// synthetic day (1e-2) overfits real V4 data in its first steps, and the one that suits V4 (1e-3) leaves the
// synthetic day unrecovered after 2500 epochs. Each epoch ends with the validation MSE at μ; every channel keeps the
// parameters of its lowest validation loss, and stops after `patience` epochs without improvement.
// Start: by default μ at the pixel whose features correlate most with the targets (Σ_c r²) and w = 0; with
// initLocation "ridge" (location-scan.ts) μ at the pixel whose z-scored features predict them best out of sample
// (kernel ridge LOO error) and w, b at the ridge readout there, which competes as epoch 0 (valLossCurve[0]; Adam's
// step t is epoch t). Measured: on the demo day's simulated neurons (dense category readouts, 63 training bodies)
// the default start chose the top rows and gave weights at cosine 0.05 to the truth and no prediction of objects,
// the ridge start location errors 0.02–0.1 grid units, cosine 0.56 and object r 0.5–0.9; on real V4 neurons
// (readout-cowley-v4.slow.test.ts, 480 training images) the default gave noise-corrected R² 0.36, the ridge start
// 0.31.
// Over 400 lines: one batched loop whose input checks, start and Adam steps share the stacked per-channel state.
//
// Gradients are written out, not taped: with u_kt = F_{p_kt} · w_k the four tap projections of channel k,
//   r̂_k = Σ_t g_kt u_kt + b_k,  ∂L/∂w_k = Σ_t g_kt F_{p_kt}ᵀ ρ_k  (ρ_k = 2(r̂_k − y_k)/N),
//   ∂L/∂fx = (1−fy)(S01 − S00) + fy(S11 − S10),  S_t = ρ_k · u_kt,  ∂fx/∂x = (W−1)/2,  ∂x/∂log σx = ε_x σ_x.
// The products with F run on tfjs (TapSlabs) grouped by pixel, so every feature slab is read once per pass.

import { mulberry32, type Random } from "../random.ts";
import { pearson } from "../stats/index.ts";
import { adamState, adamStep } from "./adam.ts";
import { ReadoutError } from "./errors.ts";
import {
  type BilinearTaps,
  bilinearTaps,
  checkFeatureMaps,
  type FeatureMaps,
  pixelLocation,
  pixelSlab,
  selectImages,
} from "./feature-maps.ts";
import { type GaussianReadout, predict } from "./gaussian-readout.ts";
import { scanLocationsRidge } from "./location-scan.ts";
import { addPenaltyGradient, type Penalty, type PenaltyKind } from "./penalty.ts";
import { RowSplitSlabs } from "./slab-workers.ts";
import { type SlabEngine, type SlabSource, TapSlabs } from "./tap-slabs.ts";

export interface ChannelTargets {
  channelId: string;
  /** One response per image row of `features` (e.g. the phase-1 net rate per stimulus). */
  responses: ArrayLike<number>;
}

/** Row indices into `features` (see splits.ts). */
export interface RowSplit {
  train: ArrayLike<number>;
  validation: ArrayLike<number>;
  test: ArrayLike<number>;
}

/** Extra training rows, e.g. silhouettes of the training images: row i has the targets of row targetRows[i]. */
export interface ExtraTrainingRows {
  features: FeatureMaps;
  targetRows: ArrayLike<number>;
}

export interface ReadoutFitInput {
  features: FeatureMaps;
  channels: ChannelTargets[];
  split: RowSplit;
  extraTraining?: ExtraTrainingRows;
}

export interface FitProgress {
  epoch: number;
  /** Best validation loss so far per channel (input order). */
  bestValLoss: number[];
  /** Channels still training. */
  active: number;
}

export interface ReadoutFitOptions {
  penalty: { kind: PenaltyKind; weight: number };
  learningRate: number;
  /** Maximum epochs (one full-batch step each). */
  epochs: number;
  /** Data term: squared errors summed over training rows ("sum", default) or averaged ("mean"). */
  reduction?: "sum" | "mean";
  /**
   * Epochs without a new best validation loss before a channel stops; default max(⌈epochs/10⌉, 50), so that it
   * does not shrink to nothing on a short fit; Infinity = never.
   */
  patience?: number;
  /**
   * Epochs every channel trains before its best parameters are chosen or it may stop; default min(epochs − 1, 50).
   * Without it a noisy validation set can keep a channel's epoch-0 parameters (an untrained model).
   */
  warmupEpochs?: number;
  /** δ of the smoothed penalty; default 1e-6 (w in standardized response units). */
  smoothing?: number;
  /** Feature scale φ: "rms" (default: the training rows' root mean square) or a given number (1 = raw). */
  featureScale?: "rms" | number;
  /** Initial σ (both axes, grid units); default 0.1 (a third of a pixel step on a 7×7 map). */
  initSigma?: number;
  /**
   * "scan" (default): μ at the pixel whose features correlate most with the channel (Σ_c r²), weights 0; "ridge":
   * μ at the pixel whose z-scored features predict the channel's training responses best out of sample (kernel
   * ridge leave-one-out error, location-scan.ts) and the weights at the ridge readout there, which competes for the
   * best parameters as epoch 0 (Adam's step t is then epoch t); "center": μ at (0, 0), weights 0.
   */
  initLocation?: "scan" | "ridge" | "center";
  /** Threads sharing the products with the features (this one + workers − 1 worker threads); default 1. */
  workers?: number;
  /** Seed of the location samples ε; default 0. */
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (progress: FitProgress) => void;
  /** Report progress every this many epochs (and after the last); default 50. */
  progressEvery?: number;
}

interface Best {
  loss: number;
  epoch: number;
  mu: [number, number];
  logSigma: [number, number];
  w: Float32Array;
  b: number;
}

function bad(field: string, expected: string, found: unknown): never {
  throw new ReadoutError("EPHYS_BAD_READOUT", `${field}: expected ${expected}; found ${String(found)}`);
}

function checkRows(name: string, rows: ArrayLike<number>, n: number, min: number): void {
  if (rows.length < min) bad(`split.${name}`, `at least ${min} rows`, rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(Number.isInteger(r) && r >= 0 && r < n)) bad(`split.${name}[${i}]`, `a row index in [0, ${n})`, r);
  }
}

function checkInput(input: ReadoutFitInput, options: ReadoutFitOptions): void {
  checkFeatureMaps(input.features);
  const n = input.features.n;
  if (input.channels.length === 0) bad("channels", "at least one channel", 0);
  input.channels.forEach((ch, k) => {
    if (ch.responses.length !== n)
      bad(`channels[${k}].responses`, `${n} values (one per image)`, ch.responses.length);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(ch.responses[i]))
        bad(`channels[${k}].responses[${i}]`, "a finite number", ch.responses[i]);
    }
  });
  checkRows("train", input.split.train, n, 2);
  checkRows("validation", input.split.validation, n, 1);
  checkRows("test", input.split.test, n, 0);
  const extra = input.extraTraining;
  if (extra) {
    checkFeatureMaps(extra.features, "extraTraining.features");
    const f = input.features;
    if (extra.features.h !== f.h || extra.features.w !== f.w || extra.features.c !== f.c) {
      bad(
        "extraTraining.features",
        `maps of ${f.h}×${f.w}×${f.c}`,
        `${extra.features.h}×${extra.features.w}×${extra.features.c}`,
      );
    }
    if (extra.targetRows.length !== extra.features.n) {
      bad(
        "extraTraining.targetRows",
        `${extra.features.n} rows (one per extra image)`,
        extra.targetRows.length,
      );
    }
    checkRows("extraTraining.targetRows", extra.targetRows, n, 0);
  }
  const { penalty, learningRate, epochs } = options;
  if (penalty.kind !== "l1/2" && penalty.kind !== "l1") bad("penalty.kind", `"l1/2" or "l1"`, penalty.kind);
  if (!(penalty.weight >= 0)) bad("penalty.weight", "a number ≥ 0", penalty.weight);
  if (!(learningRate > 0)) bad("learningRate", "a number > 0", learningRate);
  if (!(Number.isInteger(epochs) && epochs >= 1)) bad("epochs", "an integer ≥ 1", epochs);
  if (options.reduction !== undefined && options.reduction !== "sum" && options.reduction !== "mean") {
    bad("reduction", `"sum" or "mean"`, options.reduction);
  }
  if (options.patience !== undefined && !(options.patience >= 1))
    bad("patience", "a number ≥ 1", options.patience);
  if (
    options.warmupEpochs !== undefined &&
    !(Number.isInteger(options.warmupEpochs) && options.warmupEpochs >= 0 && options.warmupEpochs < epochs)
  )
    bad("warmupEpochs", `an integer in [0, epochs − 1 = ${epochs - 1}]`, options.warmupEpochs);
  if (options.workers !== undefined && !(Number.isInteger(options.workers) && options.workers >= 1)) {
    bad("workers", "an integer ≥ 1", options.workers);
  }
  if (options.smoothing !== undefined && !(options.smoothing > 0))
    bad("smoothing", "δ > 0", options.smoothing);
  if (options.initSigma !== undefined && !(options.initSigma > 0))
    bad("initSigma", "σ > 0", options.initSigma);
  const scale = options.featureScale;
  if (scale !== undefined && scale !== "rms" && !(typeof scale === "number" && scale > 0)) {
    bad("featureScale", `"rms" or a number > 0`, scale);
  }
}

function gaussianPair(random: Random): [number, number] {
  // Box–Muller
  const u1 = Math.max(random(), 1e-12);
  const u2 = random();
  const r = Math.sqrt(-2 * Math.log(u1));
  return [r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)];
}

export interface TapGradients {
  /** (1/N) Σ (r̂ − y)² ("mean") or Σ (r̂ − y)² ("sum"). */
  loss: number;
  /** ρ = 2(r̂ − y)/N ("mean") or 2(r̂ − y) ("sum"): then ∂L/∂w = Σ_t g_t F_tᵀ ρ. */
  rho: Float32Array;
  dBias: number;
  /** ∂L/∂(x, y) of the sampled location (0 on an axis where it was clamped). */
  dLocation: [number, number];
}

/**
 * MSE and its gradients w.r.t. bias and location of one channel, from its taps and the tap projections
 * u_t = F_t · w (N values each): r̂ = Σ_t g_t u_t + b; ∂L/∂fx = (1−fy)(S01 − S00) + fy(S11 − S10) with
 * S_t = ρ · u_t, ∂fx/∂x = (W−1)/2 (likewise y).
 */
export function tapGradients(
  taps: BilinearTaps,
  u: Float32Array[],
  y: ArrayLike<number>,
  bias: number,
  clampedX = false,
  clampedY = false,
  reduction: "sum" | "mean" = "mean",
): TapGradients {
  const n = y.length;
  const scale = reduction === "mean" ? 2 / n : 2;
  const g = taps.weights;
  const rho = new Float32Array(n);
  let loss = 0;
  let dBias = 0;
  const s = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const e = g[0] * u[0][i] + g[1] * u[1][i] + g[2] * u[2][i] + g[3] * u[3][i] + bias - y[i];
    loss += e * e;
    const r = scale * e;
    rho[i] = r;
    dBias += r;
    s[0] += r * u[0][i];
    s[1] += r * u[1][i];
    s[2] += r * u[2][i];
    s[3] += r * u[3][i];
  }
  const { fx, fy, scaleX, scaleY } = taps;
  const dx = clampedX ? 0 : ((1 - fy) * (s[1] - s[0]) + fy * (s[3] - s[2])) * scaleX;
  const dy = clampedY ? 0 : ((1 - fx) * (s[2] - s[0]) + fx * (s[3] - s[1])) * scaleY;
  return { loss: reduction === "mean" ? loss / n : loss, rho, dBias, dLocation: [dx, dy] };
}

/** Taps of the active channels grouped by pixel: for pixel p, the (channel, tap) pairs that read it. */
function groupByPixel(active: number[], taps: BilinearTaps[]): Map<number, { k: number; t: number }[]> {
  const groups = new Map<number, { k: number; t: number }[]>();
  for (const k of active) {
    for (let t = 0; t < 4; t++) {
      const p = taps[k].pixels[t];
      let g = groups.get(p);
      if (!g) {
        g = [];
        groups.set(p, g);
      }
      g.push({ k, t });
    }
  }
  return groups;
}

/** The rows of W of the group's channels: [k, C] row-major. */
function gatherW(w: Float32Array, c: number, members: { k: number }[]): Float32Array {
  const out = new Float32Array(c * members.length);
  for (const [j, m] of members.entries()) out.set(w.subarray(m.k * c, (m.k + 1) * c), j * c);
  return out;
}

/** Tap projections u[k][t] (N values each) of the active channels at `taps`, through `slabs`. */
async function projectTaps(
  slabs: SlabEngine,
  w: Float32Array,
  active: number[],
  taps: BilinearTaps[],
): Promise<Map<number, Float32Array[]>> {
  const n = slabs.n;
  const u = new Map<number, Float32Array[]>();
  for (const k of active) {
    u.set(k, [new Float32Array(n), new Float32Array(n), new Float32Array(n), new Float32Array(n)]);
  }
  const groups = [...groupByPixel(active, taps)];
  const outs = await slabs.forwardAll(
    groups.map(([p, members]) => ({ p, k: members.length, data: gatherW(w, slabs.c, members) })),
  );
  groups.forEach(([, members], g) => {
    const out = outs[g]; // [k, N]
    for (const [j, m] of members.entries()) u.get(m.k)![m.t].set(out.subarray(j * n, (j + 1) * n));
  });
  return u;
}

/** Column standard deviations (population) of pixel p's features over `rows` of the sources, per feature. */
function featureSd(sources: SlabSource[], p: number, c: number): Float64Array {
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  let n = 0;
  for (const src of sources) {
    const f = pixelSlab(src.features, p, src.rows);
    for (let i = 0; i < src.rows.length; i++) {
      for (let j = 0; j < c; j++) {
        const v = f[i * c + j];
        sum[j] += v;
        sq[j] += v * v;
      }
    }
    n += src.rows.length;
  }
  return Float64Array.from(sum, (s, j) => Math.sqrt(Math.max(0, sq[j] / n - (s / n) ** 2)));
}

/** Per-channel start location: the pixel maximizing Σ_c corr(F_p[:, c], y_k)² over the training rows. */
async function scanLocations(
  slabs: SlabEngine,
  sources: SlabSource[],
  y: Float32Array[],
  h: number,
  w: number,
): Promise<[number, number][]> {
  const K = y.length;
  const { n, c } = slabs;
  const rt = new Float32Array(K * n);
  for (let k = 0; k < K; k++) rt.set(y[k], k * n); // y is standardized: centered, unit variance
  const pixels = Array.from({ length: h * w }, (_, p) => p);
  const covs = await slabs.backwardAll(pixels.map((p) => ({ p, k: K, data: rt }))); // [K, C]: Σ_n y_kn F_p[n, c]
  const best = new Float64Array(K).fill(-1);
  const bestP = new Int32Array(K);
  for (const p of pixels) {
    const cov = covs[p];
    const sd = featureSd(sources, p, c);
    for (let k = 0; k < K; k++) {
      let score = 0;
      for (let j = 0; j < c; j++) {
        if (sd[j] > 0) {
          const r = cov[k * c + j] / (sd[j] * n);
          score += r * r;
        }
      }
      if (score > best[k]) {
        best[k] = score;
        bestP[k] = p;
      }
    }
  }
  return Array.from(bestP, (p) => pixelLocation(Math.floor(p / w), p % w, h, w));
}

/** Pixel p's features of the sources' rows, concatenated in source order (n × C, row-major). */
function slabRows(sources: SlabSource[], p: number, c: number): Float32Array {
  const n = sources.reduce((s, src) => s + src.rows.length, 0);
  const out = new Float32Array(n * c);
  let offset = 0;
  for (const src of sources) {
    out.set(pixelSlab(src.features, p, src.rows), offset);
    offset += src.rows.length * c;
  }
  return out;
}

/** Root mean square of every feature value of the sources' rows (1 when they are all zero). */
function featureRms(sources: SlabSource[]): number {
  let sum = 0;
  let count = 0;
  for (const { features: f, rows } of sources) {
    const per = f.h * f.w * f.c;
    for (let i = 0; i < rows.length; i++) {
      const row = f.data.subarray(rows[i] * per, (rows[i] + 1) * per);
      let part = 0;
      for (let j = 0; j < per; j++) part += row[j] * row[j];
      sum += part;
    }
    count += rows.length * per;
  }
  return Math.sqrt(sum / count) || 1;
}

function standardize(values: ArrayLike<number>, rows: ArrayLike<number>, extraRows: ArrayLike<number>) {
  const all = [...Array.from(rows), ...Array.from(extraRows)];
  let mean = 0;
  for (const r of all) mean += values[r];
  mean /= all.length;
  let v = 0;
  for (const r of all) v += (values[r] - mean) ** 2;
  const sd = Math.sqrt(v / all.length) || 1;
  return { mean, sd, y: Float32Array.from(all, (r) => (values[r] - mean) / sd) };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Fits one Gaussian readout per channel, all channels in one batched loop (see the file comment). */
export async function fitGaussianReadouts(
  input: ReadoutFitInput,
  options: ReadoutFitOptions,
): Promise<GaussianReadout[]> {
  checkInput(input, options);
  const { features, channels, split } = input;
  const { h, w: width, c } = features;
  const K = channels.length;
  const extraRows = input.extraTraining?.targetRows ?? [];
  const penalty: Penalty = { ...options.penalty, smoothing: options.smoothing ?? 1e-6 };
  const patience = options.patience ?? Math.max(Math.ceil(options.epochs / 10), 50);
  const warmup = options.warmupEpochs ?? Math.min(options.epochs - 1, 50);
  const reduction = options.reduction ?? "sum";
  const progressEvery = options.progressEvery ?? 50;
  const random = mulberry32(options.seed ?? 0);

  // Standardized targets on training (+ extra) rows; validation targets in the same units.
  const scales = channels.map((ch) => standardize(ch.responses, split.train, extraRows));
  const yTrain = scales.map((s) => s.y);
  const yVal = channels.map((ch, k) =>
    Float32Array.from(split.validation, (r) => (ch.responses[r] - scales[k].mean) / scales[k].sd),
  );

  const trainSources: SlabSource[] = [{ features, rows: split.train }];
  if (input.extraTraining) {
    trainSources.push({
      features: input.extraTraining.features,
      rows: Array.from({ length: extraRows.length }, (_, i) => i),
    });
  }
  const phi =
    options.featureScale === undefined || options.featureScale === "rms"
      ? featureRms(trainSources)
      : options.featureScale;
  const workers = options.workers ?? 1;
  const train: SlabEngine =
    workers > 1 ? await RowSplitSlabs.create(trainSources, workers) : new TapSlabs(trainSources);
  const val = new TapSlabs([{ features, rows: split.validation }]);
  try {
    const n = train.n;
    const nVal = val.n;
    const initSigma = options.initSigma ?? 0.1;
    const init = options.initLocation ?? "scan";
    const scan =
      init === "ridge"
        ? await scanLocationsRidge(train, (p) => slabRows(trainSources, p, c), yTrain, h, width)
        : null;
    const start = scan
      ? scan.locations
      : init === "scan"
        ? await scanLocations(train, trainSources, yTrain, h, width)
        : channels.map((): [number, number] => [0, 0]);
    const warm = scan !== null;
    // Stacked parameters.
    const mu = new Float32Array(K * 2);
    const logSigma = new Float32Array(K * 2).fill(Math.log(initSigma));
    const w = new Float32Array(K * c); // w' = φ·w, the weights on F/φ
    const wRaw = new Float32Array(K * c); // w'/φ, for the products with F
    const raw = (ks: number[]): Float32Array => {
      for (const k of ks) for (let i = k * c; i < (k + 1) * c; i++) wRaw[i] = w[i] / phi;
      return wRaw;
    };
    const b = new Float32Array(K);
    for (let k = 0; k < K; k++) [mu[2 * k], mu[2 * k + 1]] = start[k];
    if (warm) {
      // The ridge readout at the scanned pixel, on F (raw features): w' = φ·w on F/φ.
      for (let k = 0; k < K; k++) {
        const wk = scan.weights[k];
        for (let i = 0; i < c; i++) w[k * c + i] = wk[i] * phi;
        b[k] = scan.bias[k];
      }
    }
    const opt = { mu: adamState(K * 2), logSigma: adamState(K * 2), w: adamState(K * c), b: adamState(K) };
    const gMu = new Float32Array(K * 2);
    const gLogSigma = new Float32Array(K * 2);
    const gW = new Float32Array(K * c);
    const gB = new Float32Array(K);

    const best: Best[] = channels.map((_, k) => ({
      loss: Number.POSITIVE_INFINITY,
      epoch: -1,
      mu: [mu[2 * k], mu[2 * k + 1]],
      logSigma: [logSigma[2 * k], logSigma[2 * k + 1]],
      w: new Float32Array(c),
      b: 0,
    }));
    const curves: number[][] = channels.map(() => []);
    let active = channels.map((_, k) => k);
    /** Validation MSE at μ of the channels `ks` with the current parameters. */
    const validationLosses = async (ks: number[]): Promise<Map<number, number>> => {
      const vt: BilinearTaps[] = new Array(K);
      for (const k of ks) vt[k] = bilinearTaps(mu[2 * k], mu[2 * k + 1], h, width);
      const uv = await projectTaps(val, raw(ks), ks, vt);
      const out = new Map<number, number>();
      for (const k of ks) {
        const uk = uv.get(k)!;
        const g = vt[k].weights;
        const yk = yVal[k];
        let loss = 0;
        for (let i = 0; i < nVal; i++) {
          const pred = g[0] * uk[0][i] + g[1] * uk[1][i] + g[2] * uk[2][i] + g[3] * uk[3][i] + b[k];
          loss += (pred - yk[i]) ** 2;
        }
        out.set(k, loss / nVal);
      }
      return out;
    };
    const keepBest = (k: number, loss: number, epoch: number) => {
      const bk = best[k];
      bk.loss = loss;
      bk.epoch = epoch;
      bk.mu = [mu[2 * k], mu[2 * k + 1]];
      bk.logSigma = [logSigma[2 * k], logSigma[2 * k + 1]];
      bk.w.set(w.subarray(k * c, (k + 1) * c));
      bk.b = b[k];
    };
    // A ridge start is a trained model: it competes for the best parameters as epoch 0, and Adam's steps follow.
    const offset = warm ? 1 : 0;
    if (warm)
      for (const [k, loss] of await validationLosses(active)) {
        curves[k].push(loss);
        keepBest(k, loss, 0);
      }
    const taps: BilinearTaps[] = new Array(K);
    const eps: [number, number][] = new Array(K);
    const clampedX = new Uint8Array(K);
    const clampedY = new Uint8Array(K);

    for (let epoch = 0; epoch < options.epochs && active.length > 0; epoch++) {
      if (options.signal?.aborted) {
        throw new ReadoutError(
          "EPHYS_FIT_ABORTED",
          `readout fit: cancelled after ${epoch} of ${options.epochs} epochs`,
        );
      }
      // 1. Sample a location per channel and project its taps.
      for (const k of active) {
        eps[k] = gaussianPair(random);
        const sx = Math.exp(logSigma[2 * k]);
        const sy = Math.exp(logSigma[2 * k + 1]);
        const x = mu[2 * k] + sx * eps[k][0];
        const y = mu[2 * k + 1] + sy * eps[k][1];
        clampedX[k] = x < -1 || x > 1 ? 1 : 0;
        clampedY[k] = y < -1 || y > 1 ? 1 : 0;
        taps[k] = bilinearTaps(x, y, h, width);
      }
      const u = await projectTaps(train, raw(active), active, taps);
      // 2. Residuals and the small gradients (b, location, scale).
      const rho = new Map<number, Float32Array>();
      for (const k of active) {
        const tg = tapGradients(
          taps[k],
          u.get(k)!,
          yTrain[k],
          b[k],
          clampedX[k] === 1,
          clampedY[k] === 1,
          reduction,
        );
        rho.set(k, tg.rho);
        gB[k] = tg.dBias;
        gMu[2 * k] = tg.dLocation[0];
        gMu[2 * k + 1] = tg.dLocation[1];
        gLogSigma[2 * k] = tg.dLocation[0] * eps[k][0] * Math.exp(logSigma[2 * k]);
        gLogSigma[2 * k + 1] = tg.dLocation[1] * eps[k][1] * Math.exp(logSigma[2 * k + 1]);
        gW.fill(0, k * c, (k + 1) * c);
      }
      // 3. ∂L/∂w through the slabs, pixel by pixel, plus the penalty.
      // Reverse pixel order: the slabs the forward pass read last are still in cache.
      const groups = [...groupByPixel(active, taps)].reverse();
      const grads = await train.backwardAll(
        groups.map(([p, members]) => {
          const kp = members.length;
          const r = new Float32Array(kp * n);
          for (let j = 0; j < kp; j++) {
            const { k, t } = members[j];
            const g = taps[k].weights[t];
            const rk = rho.get(k)!;
            for (let i = 0; i < n; i++) r[j * n + i] = g * rk[i];
          }
          return { p, k: kp, data: r };
        }),
      );
      groups.forEach(([, members], gi) => {
        const grad = grads[gi];
        for (let j = 0; j < members.length; j++) {
          const base = members[j].k * c;
          for (let i = 0; i < c; i++) gW[base + i] += grad[j * c + i] / phi; // ∂L/∂w' = Fᵀρ/φ
        }
      });
      // 4. Adam on every active channel's parameters; μ stays in [−1, 1]².
      const t = epoch + 1;
      const hyper = { lr: options.learningRate };
      for (const k of active) {
        addPenaltyGradient(penalty, w, gW, k * c, c);
        adamStep(w, gW, opt.w, t, hyper, k * c, c);
        adamStep(b, gB, opt.b, t, hyper, k, 1);
        adamStep(mu, gMu, opt.mu, t, hyper, 2 * k, 2);
        adamStep(logSigma, gLogSigma, opt.logSigma, t, hyper, 2 * k, 2);
        mu[2 * k] = Math.min(1, Math.max(-1, mu[2 * k]));
        mu[2 * k + 1] = Math.min(1, Math.max(-1, mu[2 * k + 1]));
      }
      // 5. Validation at μ; keep the best parameters; stop channels that ran out of patience.
      const losses = await validationLosses(active);
      const still: number[] = [];
      for (const k of active) {
        const loss = losses.get(k)!;
        curves[k].push(loss);
        const bk = best[k];
        if (epoch >= warmup && loss < bk.loss) keepBest(k, loss, epoch + offset);
        if (epoch < warmup || epoch + offset - bk.epoch < patience) still.push(k);
      }
      active = still;
      const last = epoch === options.epochs - 1 || active.length === 0;
      if (options.onProgress && ((epoch + 1) % progressEvery === 0 || last)) {
        options.onProgress({ epoch, bestValLoss: best.map((bk) => bk.loss), active: active.length });
      }
      await yieldToEventLoop();
    }

    const testFeatures = split.test.length > 0 ? selectImages(features, split.test) : null;
    return channels.map((ch, k) => {
      const bk = best[k];
      const { mean, sd } = scales[k];
      const readout: GaussianReadout = {
        channelId: ch.channelId,
        location: bk.mu,
        sigma: [Math.exp(bk.logSigma[0]), Math.exp(bk.logSigma[1])],
        weights: Float32Array.from(bk.w, (v) => (v / phi) * sd),
        bias: bk.b * sd + mean,
        bestEpoch: bk.epoch,
        valLossCurve: curves[k],
        bestValLoss: bk.loss,
        // Predicting the training mean: 0 in standardized units, so its loss is the mean squared target.
        meanValLoss: yVal[k].reduce((a, y) => a + y * y, 0) / Math.max(1, yVal[k].length),
        testR: null,
      };
      if (testFeatures && split.test.length >= 3) {
        const pred = predict(readout, testFeatures);
        readout.testR = pearson(
          pred,
          Array.from(split.test, (r) => ch.responses[r]),
        ).r;
      }
      return readout;
    });
  } finally {
    await train.dispose();
    await val.dispose();
  }
}
