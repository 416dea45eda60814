// Ground-truth neurons of the virtual rig. By default category-selective model neurons over the backbone's
// features (Lappe et al. 2024: w = top eigenvector of A_inᵀA_in − A_outᵀA_out at a random location), so the day's
// models can recover them; or a cheap image statistic (an 8×8 colour thumbnail) where no backbone is wanted.
// Fault flags make channels unstable between phases or non-selective, to exercise the checks.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { mulberry32 } from "../../analysis/random.ts";
import { extractAtLocation, type FeatureMaps, type Location } from "../../analysis/readout/index.ts";
import { similarityToReference } from "../../analysis/similarity.ts";
import type { SimulationTruth, TrueNeuron } from "../../analysis/simulation-truth.ts";
import { syntheticCategoryNeuron } from "../../analysis/synthetic-neurons.ts";
import { loadImageRGB } from "../../stimuli/index.ts";

export interface GroundTruth {
  /** Expected firing rate (spikes/s) of a channel in the response period of a stimulus, in phase 1 or 2. */
  rate(channelId: string, stimulusId: string, phase: 1 | 2): number;
  /** Every neuron as the report's truth appendix compares it with the day's models (analysis/simulation-truth.ts). */
  truth: SimulationTruth;
}

export interface NeuronOptions {
  channels: string[];
  stimuli: Array<{ id: string; path: string; category: string }>;
  preferredCategory: string;
  baselineRate: number;
  peakRate: number;
  seed: number;
  /** Backbone features of `stimuli` (same order): category neurons over them. Absent: thumbnail statistic. */
  features?: FeatureMaps;
  /** Channel indices whose phase-2 responses are scrambled across stimuli. */
  unstable?: number[];
  /** Channel indices whose neurons ignore the category. */
  nonSelective?: number[];
  /** Category neurons' locations are uniform in [−e, e]² (default 0.8). */
  receptiveFieldExtent?: number;
  /** Category neurons' response above baseline to images outside their category is multiplied by this (default 1). */
  objectGain?: number;
}

const THUMB = 8;

export async function imageStatistics(path: string): Promise<Float64Array> {
  const img = await loadImageRGB(path, THUMB);
  const f = new Float64Array(img.data.length);
  let mean = 0;
  for (let i = 0; i < f.length; i++) mean += img.data[i] / f.length;
  let norm = 0;
  for (let i = 0; i < f.length; i++) {
    f[i] = img.data[i] - mean;
    norm += f[i] * f[i];
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < f.length; i++) f[i] /= norm;
  return f;
}

async function thumbnailRates(o: NeuronOptions, k: number, selective: boolean): Promise<number[]> {
  const random = mulberry32(o.seed * 1000 + k + 1);
  const dim = THUMB * THUMB * 3;
  const w = Float64Array.from({ length: dim }, () => random() * 2 - 1);
  const wn = Math.hypot(...w);
  const out: number[] = [];
  for (const s of o.stimuli) {
    const f = await imageStatistics(s.path);
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += (w[i] / wn) * f[i];
    const tuning = 1 / (1 + Math.exp(-6 * dot));
    const category = !selective || s.category === o.preferredCategory ? 1 : 0.35;
    out.push(o.baselineRate + (o.peakRate - o.baselineRate) * tuning * category);
  }
  return out;
}

/** The neurons' truth as JSON at `file` (folders made), stamped with the protocol's sha256 for the report to check. */
export async function writeTruthFile(
  file: string,
  truth: SimulationTruth,
  protocolSha256: string,
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ ...truth, protocolSha256 }));
}

/** A neuron's location: uniform in [−e, e]², the first two draws of its seed (as syntheticCategoryNeuron's default). */
export function neuronLocation(seed: number, extent: number): Location {
  const random = mulberry32(seed);
  return [2 * extent * random() - extent, 2 * extent * random() - extent];
}

export async function buildGroundTruth(o: NeuronOptions): Promise<GroundTruth> {
  const phase1 = new Map<string, Map<string, number>>();
  const phase2 = new Map<string, Map<string, number>>();
  const ids = o.stimuli.map((s) => s.id);
  const extent = o.receptiveFieldExtent ?? 0.8;
  const neurons: TrueNeuron[] = [];
  const bodyRows = o.stimuli.flatMap((s, i) => (s.category === o.preferredCategory ? [i] : []));
  for (const [k, ch] of o.channels.entries()) {
    const selective = !o.nonSelective?.includes(k);
    const unstable = o.unstable?.includes(k) ?? false;
    let rates: number[];
    if (o.features) {
      const random = mulberry32(o.seed * 7919 + k);
      // A non-selective site: its "category" is a random half of the images, not the preferred category.
      const inCategory = o.stimuli.map((s) =>
        selective ? s.category === o.preferredCategory : random() < 0.5,
      );
      const seed = o.seed * 1000 + k + 1;
      const neuron = syntheticCategoryNeuron(o.features, inCategory, {
        seed,
        location: neuronLocation(seed, extent),
        baselineRate: o.baselineRate,
        peakRate: o.peakRate,
        channelId: ch,
      });
      // Outside its category the response above baseline is scaled by objectGain (a body patch answers objects
      // more weakly than their features alone would say); within a category the order of the rates is the drive's.
      const g = o.objectGain ?? 1;
      rates = Array.from(neuron.rates, (r, i) =>
        inCategory[i] ? r : o.baselineRate + g * (r - o.baselineRate),
      );
      // What an oracle knows: the drive a(x)·w of every stimulus, and s(x, top body) at the true readout.
      const { c } = o.features;
      const a = extractAtLocation(o.features, neuron.readout.location);
      const w = neuron.readout.weights;
      const drive = o.stimuli.map((_, i) => {
        let d = 0;
        for (let j = 0; j < c; j++) d += a[i * c + j] * w[j];
        return d;
      });
      let top = bodyRows[0] ?? 0;
      for (const i of bodyRows) if (drive[i] > drive[top]) top = i;
      const similarity = similarityToReference(a, a.subarray(top * c, (top + 1) * c), w);
      neurons.push({
        channelId: ch,
        index: k,
        seed,
        selective,
        unstable,
        location: neuron.readout.location,
        weights: Array.from(w),
        gain: neuron.gain,
        baselineRate: neuron.baselineRate,
        topBody: ids[top],
        drive,
        similarity: Array.from(similarity),
        rate: rates,
      });
    } else {
      rates = await thumbnailRates(o, k, selective);
      neurons.push({
        channelId: ch,
        index: k,
        seed: o.seed * 1000 + k + 1,
        selective,
        unstable,
        location: null,
        weights: null,
        gain: null,
        baselineRate: o.baselineRate,
        topBody: null,
        drive: rates,
        similarity: null,
        rate: rates,
      });
    }
    phase1.set(ch, new Map(ids.map((id, i) => [id, rates[i]])));
    if (unstable) {
      const order = ids.map((_, i) => i);
      const random = mulberry32(o.seed + 31 * k);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      phase2.set(ch, new Map(ids.map((id, i) => [id, rates[order[i]]])));
    } else phase2.set(ch, phase1.get(ch)!);
  }
  return {
    rate: (channelId, stimulusId, phase) =>
      (phase === 1 ? phase1 : phase2).get(channelId)?.get(stimulusId) ?? o.baselineRate,
    truth: {
      format: "ephysloop-simulation-truth",
      version: 1,
      kind: o.features ? "backbone" : "thumbnail",
      seed: o.seed,
      receptiveFieldExtent: extent,
      objectGain: o.objectGain ?? 1,
      stimuli: ids,
      neurons,
    },
  };
}
