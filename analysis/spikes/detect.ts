// Online multi-unit spike detection on continuous int16 data, block by block (SpikeGLX's FETCH blocks: sample-major,
// nSamples × nChans). The definition, exact enough for an independent implementation to match it detection for
// detection (test/reference/spike_detect_reference.py does):
//
// Let the received samples be numbered i = 0, 1, … in the order pushed (gaps in the stream count are not numbered),
// s(i) the stream count of sample i and x[i][c] its int16 value on channel c.
// 1. High-pass (only with highPassHz): u[i][c] = a·(u[i−1][c] + x[i][c] − x[i−1][c]), a = RC / (RC + dt),
//    RC = 1 / (2π·highPassHz), dt = 1 / sampleRate (first-order RC); at i = 0 and at the first sample after a gap
//    u = 0 (the filter restarts). Without it u = x.
// 2. Common reference: r[i] = numpy.median(u[i][:]) (the mean of the two middle values for an even nChans), or the
//    mean sum(u[i][:]) / nChans (summed in channel order), or 0 for "none"; y[i][c] = u[i][c] − r[i] in float64.
// 3. Noise: samples go into batches by i: the first W = round(noiseWindowMs·sampleRate/1000) samples, then
//    consecutive batches of S = round(noiseUpdateMs·sampleRate/1000). A batch's σ per channel is
//    MAD/0.6745 = median(|v − median(v)|) / 0.6745, with v = the batch's y values rounded to float32 (the stored
//    form), medians as numpy.median in float64. The first batch sets σ (the detector is `ready` after sample W − 1);
//    each later batch updates σ ← σ + α·(σ_batch − σ), α = 1 − exp(−S / (sampleRate·noiseTimeConstantS)).
//    A batch's σ takes effect from the sample after its last sample; the threshold is T[c] = −thresholdK·σ[c].
// 4. Detection at sample i on channel c when all hold: i ≥ W; y[i][c] < T[c]; y[i−1][c] ≥ T[c] (the same T, the one
//    in force at i; false at i = 0 and at the first sample after a gap); and s(i) ≥ s(j) + R for the last detection
//    j on c since the last gap, R = round(refractoryMs·sampleRate/1000) (crossings inside are dropped, not delayed).
//    The sample reported is s(i), the first sample below threshold. Detections come ordered by sample, then channel.
// Blocks may be any size; the same samples split differently give the same detections.
import { SpikeDetectorError } from "./errors.ts";
import { medianInPlace } from "./select.ts";

export type CommonReference = "none" | "median" | "mean";

export interface DetectorOptions {
  nChans: number;
  sampleRate: number;
  /** Threshold = −k·σ (negative-going crossings); default 4.5. */
  thresholdK: number;
  /** After a detection on a channel, none on it for this long; default 1.0 ms. */
  refractoryMs: number;
  /** Common reference across the channels, per sample; default "median". */
  car: CommonReference;
  /** The first σ from the first this-many ms; default 1000. */
  noiseWindowMs: number;
  /** σ then follows each later batch's MAD with this time constant; default 30 s. */
  noiseTimeConstantS: number;
  /** The length of those batches (fixed in the sample count, so any block split gives the same σ); default 50 ms. */
  noiseUpdateMs: number;
  /** Optional first-order high-pass; default none (SpikeGLX's AP band is already filtered). */
  highPassHz?: number;
}

export interface Detection {
  sample: number;
  channel: number;
}

export const DETECTOR_DEFAULTS = {
  thresholdK: 4.5,
  refractoryMs: 1.0,
  car: "median",
  noiseWindowMs: 1000,
  noiseTimeConstantS: 30,
  noiseUpdateMs: 50,
} as const satisfies Partial<DetectorOptions>;

const MAD_TO_SIGMA = 0.6745; // MAD of a normal distribution / σ

export class OnlineSpikeDetector {
  readonly options: Readonly<DetectorOptions>;
  /** False until the first W samples (the noise window) have been seen; no detections before. */
  ready = false;
  private readonly nChans: number;
  private readonly windowLen: number;
  private readonly batchLen: number;
  private readonly refractory: number;
  private readonly alpha: number;
  private readonly sigma: Float64Array;
  private readonly threshold: Float64Array;
  private readonly prev: Float64Array; // y[i − 1][c]; NaN at the start and after a gap
  private readonly nextAllowed: Float64Array; // the first stream count a detection on c may have
  private readonly row: Float64Array; // u[i][:]
  private readonly scratch: Float64Array; // the median's working copy
  private batch: Float32Array; // the current noise batch, sample-major (filled × nChans)
  private batchScratch: Float64Array;
  private filled = 0;
  private expected = Number.NaN; // the stream count the next block should start at
  // high-pass state
  private readonly hpA: number;
  private readonly hpX: Float64Array;
  private readonly hpU: Float64Array;
  private hpFresh = true;

  constructor(options: Partial<DetectorOptions> & Pick<DetectorOptions, "nChans" | "sampleRate">) {
    const o: DetectorOptions = { ...DETECTOR_DEFAULTS, ...options };
    checkOptions(o);
    this.options = Object.freeze(o);
    const n = o.nChans;
    this.nChans = n;
    this.windowLen = Math.round((o.noiseWindowMs * o.sampleRate) / 1000);
    this.batchLen = Math.round((o.noiseUpdateMs * o.sampleRate) / 1000);
    this.refractory = Math.round((o.refractoryMs * o.sampleRate) / 1000);
    // exponential smoothing over one batch of S samples: α = 1 − exp(−Δt/τ)
    this.alpha = 1 - Math.exp(-this.batchLen / (o.sampleRate * o.noiseTimeConstantS));
    this.sigma = new Float64Array(n);
    this.threshold = new Float64Array(n);
    this.prev = new Float64Array(n).fill(Number.NaN);
    this.nextAllowed = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.row = new Float64Array(n);
    this.scratch = new Float64Array(n);
    this.batch = new Float32Array(this.windowLen * n);
    this.batchScratch = new Float64Array(this.windowLen);
    // first-order RC high-pass: a = RC / (RC + dt)
    const rc = o.highPassHz === undefined ? 0 : 1 / (2 * Math.PI * o.highPassHz);
    this.hpA = rc / (rc + 1 / o.sampleRate);
    this.hpX = new Float64Array(o.highPassHz === undefined ? 0 : n);
    this.hpU = new Float64Array(o.highPassHz === undefined ? 0 : n);
  }

  /** σ per channel in ADC units (zeros until ready); a copy. */
  noise(): Float64Array {
    return this.sigma.slice();
  }

  /** Detects in `block` (nSamples × nChans, sample-major); startSample is the stream count of block[0]. */
  push(startSample: number, block: Int16Array, nSamples: number): Detection[] {
    const n = this.nChans;
    if (!Number.isSafeInteger(startSample) || startSample < 0)
      throw new SpikeDetectorError("push(startSample)", String(startSample), "a non-negative integer");
    if (!Number.isInteger(nSamples) || nSamples < 0 || nSamples * n > block.length)
      throw new SpikeDetectorError(
        "push(nSamples)",
        `${nSamples} (block of ${block.length} values, ${n} channels)`,
        "an integer ≥ 0 with nSamples × nChans ≤ block.length",
      );
    if (startSample < this.expected)
      throw new SpikeDetectorError(
        "push(startSample)",
        String(startSample),
        `≥ ${this.expected} (blocks in order)`,
      );
    if (startSample > this.expected || Number.isNaN(this.expected)) this.gap();
    this.expected = startSample + nSamples;
    const out: Detection[] = [];
    const { row, scratch, prev, threshold, nextAllowed, hpX, hpU, hpA } = this;
    const car = this.options.car;
    const hp = hpX.length > 0;
    for (let i = 0; i < nSamples; i++) {
      const base = i * n;
      if (!hp) for (let c = 0; c < n; c++) row[c] = block[base + c];
      else if (this.hpFresh) {
        for (let c = 0; c < n; c++) {
          hpX[c] = block[base + c];
          hpU[c] = 0;
          row[c] = 0;
        }
        this.hpFresh = false;
      } else {
        for (let c = 0; c < n; c++) {
          const x = block[base + c];
          const u = hpA * (hpU[c] + x - hpX[c]);
          hpX[c] = x;
          hpU[c] = u;
          row[c] = u;
        }
      }
      let r = 0;
      if (car === "median") {
        scratch.set(row);
        r = medianInPlace(scratch, n);
      } else if (car === "mean") {
        for (let c = 0; c < n; c++) r += row[c];
        r /= n;
      }
      const s = startSample + i;
      const batch = this.batch;
      const at = this.filled * n;
      if (this.ready) {
        for (let c = 0; c < n; c++) {
          const y = row[c] - r;
          const t = threshold[c];
          if (y < t && prev[c] >= t && s >= nextAllowed[c]) {
            out.push({ sample: s, channel: c });
            nextAllowed[c] = s + this.refractory;
          }
          prev[c] = y;
          batch[at + c] = y;
        }
      } else {
        for (let c = 0; c < n; c++) {
          const y = row[c] - r;
          prev[c] = y;
          batch[at + c] = y;
        }
      }
      if (++this.filled === (this.ready ? this.batchLen : this.windowLen)) this.closeBatch();
    }
    return out;
  }

  /** A gap (or the stream's start): no previous sample, no refractory, the high-pass restarts. */
  private gap(): void {
    this.prev.fill(Number.NaN);
    this.nextAllowed.fill(Number.NEGATIVE_INFINITY);
    this.hpFresh = true;
  }

  /** σ of the full batch per channel (MAD/0.6745); the first sets σ, later ones update it exponentially. */
  private closeBatch(): void {
    const n = this.nChans;
    const len = this.filled;
    const v = this.batchScratch;
    for (let c = 0; c < n; c++) {
      for (let j = 0; j < len; j++) v[j] = this.batch[j * n + c];
      const m = medianInPlace(v, len);
      for (let j = 0; j < len; j++) v[j] = Math.abs(v[j] - m);
      const sigmaBatch = medianInPlace(v, len) / MAD_TO_SIGMA;
      // σ ← σ + α·(σ_batch − σ)
      this.sigma[c] = this.ready ? this.sigma[c] + this.alpha * (sigmaBatch - this.sigma[c]) : sigmaBatch;
      this.threshold[c] = -this.options.thresholdK * this.sigma[c];
    }
    this.filled = 0;
    if (!this.ready) {
      this.ready = true;
      // the window's buffer is released: later batches are S samples
      this.batch = new Float32Array(this.batchLen * n);
      this.batchScratch = new Float64Array(this.batchLen);
    }
  }
}

function checkOptions(o: DetectorOptions): void {
  const positive = (field: keyof DetectorOptions, integer = false) => {
    const v = o[field];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
      throw new SpikeDetectorError(
        `options.${field}`,
        String(v),
        integer ? "a positive integer" : "a positive finite number",
      );
  };
  positive("nChans", true);
  positive("sampleRate");
  positive("thresholdK");
  positive("noiseWindowMs");
  positive("noiseTimeConstantS");
  positive("noiseUpdateMs");
  if (typeof o.refractoryMs !== "number" || !Number.isFinite(o.refractoryMs) || o.refractoryMs < 0)
    throw new SpikeDetectorError("options.refractoryMs", String(o.refractoryMs), "a finite number ≥ 0");
  if (!["none", "median", "mean"].includes(o.car))
    throw new SpikeDetectorError("options.car", JSON.stringify(o.car), '"none", "median" or "mean"');
  if (o.highPassHz !== undefined) {
    positive("highPassHz");
    if ((o.highPassHz as number) >= o.sampleRate / 2)
      throw new SpikeDetectorError(
        "options.highPassHz",
        String(o.highPassHz),
        `below Nyquist (${o.sampleRate / 2} Hz)`,
      );
  }
  for (const [field, ms] of [
    ["noiseWindowMs", o.noiseWindowMs],
    ["noiseUpdateMs", o.noiseUpdateMs],
  ] as const)
    if (Math.round((ms * o.sampleRate) / 1000) < 1)
      throw new SpikeDetectorError(`options.${field}`, String(ms), "at least one sample long");
}
