// Ground-truth neurons of the virtual rig. By default category-selective model neurons over the backbone's
// features (Lappe et al. 2024: w = top eigenvector of A_inᵀA_in − A_outᵀA_out at a random location), so the day's
// models can recover them; or a cheap image statistic (an 8×8 colour thumbnail) where no backbone is wanted.
// Fault flags make channels unstable between phases or non-selective, to exercise the checks.
import { mulberry32 } from "../../analysis/random.ts";
import type { FeatureMaps } from "../../analysis/readout/feature-maps.ts";
import { syntheticCategoryNeuron } from "../../analysis/synthetic-neurons.ts";
import { loadImageRGB } from "../../stimuli/image.ts";

export interface GroundTruth {
  /** Expected firing rate (spikes/s) of a channel in the response period of a stimulus, in phase 1 or 2. */
  rate(channelId: string, stimulusId: string, phase: 1 | 2): number;
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

export async function buildGroundTruth(o: NeuronOptions): Promise<GroundTruth> {
  const phase1 = new Map<string, Map<string, number>>();
  const phase2 = new Map<string, Map<string, number>>();
  const ids = o.stimuli.map((s) => s.id);
  for (const [k, ch] of o.channels.entries()) {
    const selective = !o.nonSelective?.includes(k);
    let rates: number[];
    if (o.features) {
      const random = mulberry32(o.seed * 7919 + k);
      // A non-selective site: its "category" is a random half of the images, not the preferred category.
      const inCategory = o.stimuli.map((s) =>
        selective ? s.category === o.preferredCategory : random() < 0.5,
      );
      const neuron = syntheticCategoryNeuron(o.features, inCategory, {
        seed: o.seed * 1000 + k + 1,
        baselineRate: o.baselineRate,
        peakRate: o.peakRate,
        channelId: ch,
      });
      rates = Array.from(neuron.rates);
    } else rates = await thumbnailRates(o, k, selective);
    phase1.set(ch, new Map(ids.map((id, i) => [id, rates[i]])));
    if (o.unstable?.includes(k)) {
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
  };
}
