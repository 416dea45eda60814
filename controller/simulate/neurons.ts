// Ground-truth neurons of the virtual rig. By default category-selective model neurons over the backbone's
// features (Lappe et al. 2024: w = top eigenvector of A_inᵀA_in − A_outᵀA_out at a random location), so the day's
// models can recover them; or a cheap image statistic (an 8×8 colour thumbnail) where no backbone is wanted.
// Fault flags make channels unstable between phases or non-selective, to exercise the checks.
// Every neuron is kept (location, weights, gain, category rule), so images the protocol does not list — phase-3
// fragments, synthesized images — get rates from their own features when the day shows them (addImages).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { EphysError } from "../../analysis/errors.ts";
import { mulberry32 } from "../../analysis/random.ts";
import {
  extractAtLocation,
  type FeatureMaps,
  type GaussianReadout,
  type Location,
  predict,
} from "../../analysis/readout/index.ts";
import { similarityToReference } from "../../analysis/similarity.ts";
import type { SimulationTruth, TrueNeuron } from "../../analysis/simulation-truth.ts";
import { syntheticCategoryNeuron } from "../../analysis/synthetic-neurons.ts";
import { loadImageRGB } from "../../stimuli/index.ts";

/**
 * How the neurons answer an image the protocol does not list: "features" = from its own backbone features (or
 * thumbnail statistic), as every protocol image; "parent" = a fragment exactly as the image it was cut from.
 */
export type NewImagesMode = "features" | "parent";

/** An image the protocol does not list (a phase-3 fragment, a synthesized image), as the neurons learn it. */
export interface NewImage {
  id: string;
  /**
   * The image's category for the neurons' in-category rule: a fragment's is its parent's (a fragment of a body is
   * a body). null: its parent's where the neurons know the parent, else outside every category (synthesized).
   */
  category: string | null;
  /** The stimulus it was cut from (a fragment's parent). */
  parentId?: string;
  /** The image file: thumbnail neurons compute their statistic from it (required for them). */
  path?: string;
}

export class NeuronsError extends EphysError<"EPHYS_BAD_NEW_IMAGE"> {}

export interface GroundTruth {
  /**
   * Expected firing rate (spikes/s) of a channel in the response period of a stimulus, in phase 1, 2 or 3 (phase 3
   * as phase 2: an unstable channel's scrambling holds); the baseline for a stimulus the neurons do not know.
   */
  rate(channelId: string, stimulusId: string, phase: 1 | 2 | 3): number;
  /** Whether the neurons have rates for the stimulus (a protocol stimulus or one added). */
  knows(stimulusId: string): boolean;
  /**
   * Whether addImages needs the image's backbone features: false for a known image, a fragment answered as its
   * known parent (newImages "parent"), and thumbnail neurons (they read `path`).
   */
  needsFeatures(image: NewImage): boolean;
  /**
   * Rates for new images (known ids are left as they are). `features`: one row per image of `images`, in order, by
   * the extractor (and image size) of the protocol's features; required when any image needsFeatures.
   * Throws NeuronsError (EPHYS_BAD_NEW_IMAGE) for missing features or a missing path.
   */
  addImages(images: readonly NewImage[], features?: FeatureMaps): Promise<void>;
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
  /** How images the protocol does not list are answered (addImages; default "features"). */
  newImages?: NewImagesMode;
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

/** A thumbnail neuron: a random unit direction over the statistic, sigmoid tuning, weaker outside its category. */
interface ThumbnailNeuron {
  w: Float64Array;
  selective: boolean;
}

function thumbnailNeuron(o: NeuronOptions, k: number, selective: boolean): ThumbnailNeuron {
  const random = mulberry32(o.seed * 1000 + k + 1);
  const w = Float64Array.from({ length: THUMB * THUMB * 3 }, () => random() * 2 - 1);
  const wn = Math.hypot(...w);
  return { w: w.map((x) => x / wn), selective };
}

function thumbnailRate(
  o: NeuronOptions,
  n: ThumbnailNeuron,
  f: Float64Array,
  category: string | null,
): number {
  let dot = 0;
  for (let i = 0; i < n.w.length; i++) dot += n.w[i] * f[i];
  const tuning = 1 / (1 + Math.exp(-6 * dot));
  const factor = !n.selective || category === o.preferredCategory ? 1 : 0.35;
  return o.baselineRate + (o.peakRate - o.baselineRate) * tuning * factor;
}

/** A backbone neuron: its readout (bias 0), gain, and which images count as in its category. */
interface BackboneNeuron {
  readout: Pick<GaussianReadout, "location" | "weights" | "bias">;
  gain: number;
  selective: boolean;
  /** Per stimulus id: in the neuron's category (the preferred one, or a non-selective site's random half). */
  inCategory: Map<string, boolean>;
}

/**
 * Rates of a backbone neuron to every image of `features`: baseline + gain·ReLU(a(x)·w) (rounded to float32, as
 * syntheticCategoryNeuron's), and outside its category the part above baseline × objectGain.
 */
function backboneRates(
  o: NeuronOptions,
  n: BackboneNeuron,
  features: FeatureMaps,
  inCategory: readonly boolean[],
): number[] {
  const g = o.objectGain ?? 1;
  return Array.from(predict(n.readout, features), (d, i) => {
    const r = Math.fround(o.baselineRate + n.gain * Math.max(0, d));
    return inCategory[i] ? r : o.baselineRate + g * (r - o.baselineRate);
  });
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
  const backbone: BackboneNeuron[] = [];
  const thumbnail: ThumbnailNeuron[] = [];
  const bodyRows = o.stimuli.flatMap((s, i) => (s.category === o.preferredCategory ? [i] : []));
  // Each protocol image's statistic once (thumbnail neurons), not once per neuron.
  const statistics = o.features ? [] : await Promise.all(o.stimuli.map((s) => imageStatistics(s.path)));
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
      backbone.push({
        readout: neuron.readout,
        gain: neuron.gain,
        selective,
        inCategory: new Map(ids.map((id, i) => [id, inCategory[i]])),
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
      const neuron = thumbnailNeuron(o, k, selective);
      thumbnail.push(neuron);
      rates = o.stimuli.map((s, i) => thumbnailRate(o, neuron, statistics[i], s.category));
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

  // New images: a fragment answered as its parent ("parent" mode) is an alias, resolved at every rate() call, so
  // it has exactly the parent's rate in each phase; every other new image gets rates of its own, the same in every
  // phase (an unstable channel's scrambling is a permutation of the protocol's stimuli only).
  const mode = o.newImages ?? "features";
  const alias = new Map<string, string>();
  const categoryOf = new Map<string, string | null>(o.stimuli.map((s) => [s.id, s.category]));
  const knows = (id: string) => categoryOf.has(id);
  const asParent = (img: NewImage) => mode === "parent" && img.parentId !== undefined && knows(img.parentId);
  const needsFeatures = (img: NewImage) => !!o.features && !knows(img.id) && !asParent(img);
  const setRate = (k: number, id: string, rate: number) => {
    phase1.get(o.channels[k])!.set(id, rate);
    phase2.get(o.channels[k])!.set(id, rate);
  };
  const addImages = async (images: readonly NewImage[], features?: FeatureMaps): Promise<void> => {
    if (features && features.n !== images.length)
      throw new NeuronsError(
        "EPHYS_BAD_NEW_IMAGE",
        `features: expected one row per new image (${images.length}); found ${features.n}`,
      );
    const missing = images.filter(needsFeatures);
    if (missing.length && !features)
      throw new NeuronsError(
        "EPHYS_BAD_NEW_IMAGE",
        `the backbone neurons need the features of ${missing.length} new image(s) (${missing[0].id}, …); none given`,
      );
    if (o.features && features && (features.h !== o.features.h || features.w !== o.features.w))
      throw new NeuronsError(
        "EPHYS_BAD_NEW_IMAGE",
        `features: expected ${o.features.h}×${o.features.w} maps (the protocol's extractor and image size); found ${features.h}×${features.w}`,
      );
    const fresh = images.map((img, i) => !knows(img.id) && images.findIndex((x) => x.id === img.id) === i);
    const own = images.map((img, i) => fresh[i] && !asParent(img));
    // Categories in order (an image's parent may come earlier in the same batch).
    const batch = new Map<string, string | null>();
    const category = images.map((img) => {
      const parent = img.parentId ?? "";
      const c = img.category ?? batch.get(parent) ?? categoryOf.get(parent) ?? null;
      batch.set(img.id, c);
      return c;
    });
    if (o.features) {
      // Per neuron: the in-category flags, then the rates of the new rows from their own features.
      for (const [k, n] of backbone.entries()) {
        const flags = images.map((img, i) => {
          const flag = n.selective
            ? category[i] === o.preferredCategory
            : (n.inCategory.get(img.parentId ?? "") ?? false);
          if (fresh[i]) n.inCategory.set(img.id, flag);
          return flag;
        });
        const rates = own.some(Boolean) ? backboneRates(o, n, features!, flags) : [];
        images.forEach((img, i) => {
          if (own[i]) setRate(k, img.id, rates[i]);
        });
      }
    } else {
      for (const [i, img] of images.entries()) {
        if (!own[i]) continue;
        if (!img.path)
          throw new NeuronsError(
            "EPHYS_BAD_NEW_IMAGE",
            `${img.id}: the thumbnail neurons need the image's file (path); none given`,
          );
        const f = await imageStatistics(img.path);
        for (const [k, n] of thumbnail.entries()) setRate(k, img.id, thumbnailRate(o, n, f, category[i]));
      }
    }
    images.forEach((img, i) => {
      if (!fresh[i]) return;
      if (!own[i]) alias.set(img.id, img.parentId!);
      categoryOf.set(img.id, category[i]);
    });
  };
  const resolve = (id: string) => {
    let s = id;
    for (let next = alias.get(s); next !== undefined; next = alias.get(s)) s = next;
    return s;
  };
  return {
    rate: (channelId, stimulusId, phase) =>
      (phase === 1 ? phase1 : phase2).get(channelId)?.get(resolve(stimulusId)) ?? o.baselineRate,
    knows,
    needsFeatures,
    addImages,
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
