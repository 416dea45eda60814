// Ground-truth neurons of the virtual rig: category-selective model neurons over deterministic image statistics
// (a coarse 8×8 colour thumbnail of each image). Each channel prefers a random direction in that space and the
// preferred category (bodies) drives it more. Deterministic given the seed: tests compare against it.
import { mulberry32 } from "../../analysis/random.ts";
import { loadImageRGB } from "../../stimuli/image.ts";

export interface GroundTruth {
  /** Expected firing rate (spikes/s) of a channel in the response period of a stimulus. */
  rate(channelId: string, stimulusId: string): number;
}

export interface NeuronOptions {
  channels: string[];
  stimuli: Array<{ id: string; path: string; category: string }>;
  preferredCategory: string;
  baselineRate: number;
  peakRate: number;
  seed: number;
  /** Channel ids whose responses are shuffled across stimuli in phase 2 (fault injection for the checks). */
  unstable?: string[];
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

export async function buildGroundTruth(o: NeuronOptions): Promise<GroundTruth> {
  const stats = new Map<string, Float64Array>();
  for (const s of o.stimuli) stats.set(s.id, await imageStatistics(s.path));
  const dim = THUMB * THUMB * 3;
  const table = new Map<string, Map<string, number>>();
  o.channels.forEach((ch, k) => {
    const random = mulberry32(o.seed * 1000 + k + 1);
    const w = Float64Array.from({ length: dim }, () => random() * 2 - 1);
    let wn = 0;
    for (const v of w) wn += v * v;
    wn = Math.sqrt(wn);
    const rates = new Map<string, number>();
    for (const s of o.stimuli) {
      const f = stats.get(s.id)!;
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += (w[i] / wn) * f[i];
      const tuning = 1 / (1 + Math.exp(-6 * dot)); // 0..1
      const category = s.category === o.preferredCategory ? 1 : 0.35;
      rates.set(s.id, o.baselineRate + (o.peakRate - o.baselineRate) * tuning * category);
    }
    table.set(ch, rates);
  });
  return {
    rate: (channelId, stimulusId) => table.get(channelId)?.get(stimulusId) ?? o.baselineRate,
  };
}
