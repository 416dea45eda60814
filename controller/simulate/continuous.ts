// A seeded synthesizer of continuous extracellular data (int16, sample-major nSamples × nChans, as SpikeGLX's FETCH
// returns) for tests, the emulator and bench:spikeglx: Gaussian noise + an optional common-mode sine (to exercise
// the common reference) + spike waveforms at given times. The value of sample s on channel c is a pure function of
// (seed, s, c, spikes), so any range can be read in any order: the noise of channel c comes in chunks of CHUNK
// samples, each drawn from mulberry32 seeded by a hash of (seed, c, chunk) through Box-Muller.
import { mulberry32 } from "../../analysis/random.ts";

const CHUNK = 256; // samples of one channel's noise drawn from one seeded generator

export interface ContinuousSynthOptions {
  nChans: number;
  sampleRate: number;
  seed: number;
  /** Noise σ in ADC units: one for all channels, or one per channel. */
  noiseSigma: number | ArrayLike<number>;
  /** Spike trough amplitude in ADC units (positive; the trough goes down by this much), per channel or for all. */
  amplitude?: number | ArrayLike<number>;
  /** The spike (trough) sample times on a channel in [from, to), ascending; or one sorted array per channel. */
  spikes?: ((channel: number, from: number, to: number) => number[]) | ArrayLike<number>[];
  /** A sine added to every channel alike (common mode). */
  commonMode?: { amplitude: number; hz: number };
}

/** The spike shape, trough at t = 0 of depth 1: a 0.3 ms wide (FWHM) negative Gaussian, then a slower positive
 *  phase (0.3 of the depth, peak at 0.45 ms, σ 0.25 ms); from −0.5 ms to +1.0 ms (1.5 ms). */
export function spikeWaveform(sampleRate: number): { before: number; values: Float64Array } {
  const before = Math.round(0.5e-3 * sampleRate);
  const after = Math.round(1.0e-3 * sampleRate);
  const values = new Float64Array(before + after + 1);
  const s1 = 0.3 / 2.3548; // FWHM = 2·√(2 ln 2)·σ
  for (let j = 0; j < values.length; j++) {
    const t = ((j - before) / sampleRate) * 1000; // ms
    // −exp(−t²/2σ₁²) + 0.3·exp(−(t − 0.45)²/2σ₂²)
    values[j] = -Math.exp(-(t * t) / (2 * s1 * s1)) + 0.3 * Math.exp(-((t - 0.45) ** 2) / (2 * 0.25 * 0.25));
  }
  return { before, values };
}

export class ContinuousSynth {
  readonly nChans: number;
  private readonly o: ContinuousSynthOptions;
  private readonly sigma: Float64Array;
  private readonly amp: Float64Array;
  private readonly wave: { before: number; values: Float64Array };
  private readonly spikesIn: (channel: number, from: number, to: number) => number[];
  private readonly noiseChunk = new Float64Array(CHUNK);

  constructor(o: ContinuousSynthOptions) {
    if (!Number.isInteger(o.nChans) || o.nChans <= 0) throw new Error(`ContinuousSynth: nChans ${o.nChans}`);
    this.o = o;
    this.nChans = o.nChans;
    this.sigma = perChannel(o.noiseSigma, o.nChans);
    this.amp = perChannel(o.amplitude ?? 0, o.nChans);
    this.wave = spikeWaveform(o.sampleRate);
    const sp = o.spikes;
    this.spikesIn =
      sp === undefined
        ? () => []
        : typeof sp === "function"
          ? sp
          : (c, from, to) => {
              const a = sp[c] ?? [];
              const out: number[] = [];
              for (let k = lowerBound(a, from); k < a.length && a[k] < to; k++) out.push(a[k]);
              return out;
            };
  }

  /** Samples [from, from + n) of all channels, sample-major, into `out` (allocated when not given). */
  read(from: number, n: number, out = new Int16Array(n * this.nChans)): Int16Array {
    const nc = this.nChans;
    const acc = new Float64Array(n * nc);
    const cm = this.o.commonMode;
    if (cm) {
      const w = (2 * Math.PI * cm.hz) / this.o.sampleRate;
      for (let i = 0; i < n; i++) {
        const v = cm.amplitude * Math.sin(w * (from + i)); // A·sin(2πf·s/fs)
        for (let c = 0; c < nc; c++) acc[i * nc + c] = v;
      }
    }
    const { before, values } = this.wave;
    const after = values.length - 1 - before;
    for (let c = 0; c < nc; c++) {
      this.addNoise(acc, c, from, n);
      const a = this.amp[c];
      if (a === 0) continue;
      for (const t of this.spikesIn(c, from - after, from + n + before)) {
        const j0 = Math.max(0, from - (t - before));
        const j1 = Math.min(values.length, from + n - (t - before));
        for (let j = j0; j < j1; j++) acc[(t - before + j - from) * nc + c] += a * values[j];
      }
    }
    for (let k = 0; k < n * nc; k++) out[k] = Math.max(-32768, Math.min(32767, Math.round(acc[k])));
    return out;
  }

  private addNoise(acc: Float64Array, c: number, from: number, n: number): void {
    const sd = this.sigma[c];
    if (sd === 0) return;
    const nc = this.nChans;
    const z = this.noiseChunk;
    for (let k = Math.floor(from / CHUNK); k * CHUNK < from + n; k++) {
      const random = mulberry32(hash3(this.o.seed, c, k));
      for (let j = 0; j < CHUNK; j += 2) {
        // Box-Muller: r = √(−2 ln u₁), z₀ = r·cos 2πu₂, z₁ = r·sin 2πu₂
        const r = Math.sqrt(-2 * Math.log(1 - random()));
        const phi = 2 * Math.PI * random();
        z[j] = r * Math.cos(phi);
        z[j + 1] = r * Math.sin(phi);
      }
      const lo = Math.max(from, k * CHUNK);
      const hi = Math.min(from + n, (k + 1) * CHUNK);
      for (let s = lo; s < hi; s++) acc[(s - from) * nc + c] += sd * z[s - k * CHUNK];
    }
  }
}

/** One block, statelessly: samples [from, from + n) of the synthesizer these options describe. */
export function synthesizeBlock(o: ContinuousSynthOptions & { from: number; n: number }): Int16Array {
  return new ContinuousSynth(o).read(o.from, o.n);
}

/** Seeded Poisson spike times per channel in [0, nSamples), with a dead time of `deadSamples` after each spike. */
export function poissonTrains(
  seed: number,
  nChans: number,
  rateHz: number,
  sampleRate: number,
  nSamples: number,
  deadSamples = 0,
): number[][] {
  const random = mulberry32(seed);
  const trains: number[][] = [];
  for (let c = 0; c < nChans; c++) {
    const train: number[] = [];
    // exponential inter-spike intervals: Δ = −ln(1 − u)·fs/rate
    let t = -Math.log(1 - random()) * (sampleRate / rateHz);
    while (t < nSamples) {
      train.push(Math.floor(t));
      t += deadSamples - Math.log(1 - random()) * (sampleRate / rateHz);
    }
    trains.push(train);
  }
  return trains;
}

/** A 32-bit hash of three integers (multiply-xorshift mixing), the seed of one channel's noise chunk. */
function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  return (h ^ (h >>> 15)) | 0;
}

function perChannel(v: number | ArrayLike<number>, n: number): Float64Array {
  return typeof v === "number"
    ? new Float64Array(n).fill(v)
    : Float64Array.from({ length: n }, (_, c) => v[c]);
}

function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
