// Each channel's model applied to the phase-2 objects, from the feature cache (the prepare step put every protocol
// stimulus there), against the recorded mean net rates: the object prediction r that gates the shared-feature maps
// (analysis/checks/object-prediction.ts). The visualize step stores it with the model's metrics (objectR, objectP,
// objectN, objectCriticalR, minObjectR, objectPasses), where the report and channels.csv read the same number.
import { join } from "node:path";
import { type ObjectPrediction, objectPrediction } from "../../analysis/checks/object-prediction.ts";
import { cacheDir, entryPath, readEntry } from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/index.ts";
import { type GaussianReadoutJSON, predict, readoutFromJSON } from "../../analysis/readout/index.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import type { Protocol } from "../../protocols/index.ts";
import type { StimulusRecord } from "../store/store.ts";
import { meanRates, type RateTable } from "./rates.ts";

/** Features of `stimuli` (in order) from the cache; null when any entry is missing or the shapes differ. */
export async function cachedFeatures(
  config: Config,
  protocol: Protocol,
  weightsSha256: string | null,
  stimuli: Array<{ sha256: string }>,
): Promise<FeatureMaps | null> {
  if (!weightsSha256 || stimuli.length === 0) return null;
  try {
    const m = protocol.model;
    const dir = cacheDir(join(resolvePaths(config).dataDir, "features"), {
      weightsSha256,
      arch: m.backbone,
      variant: config.weights.path ? config.weights.variant : m.variant,
      layer: m.layer,
      imageSize: m.imageSize,
    });
    const entries = [];
    for (const s of stimuli) {
      const e = await readEntry(entryPath(dir, s.sha256));
      if (!e) return null;
      entries.push(e);
    }
    const { h, w, c } = entries[0];
    if (entries.some((e) => e.h !== h || e.w !== w || e.c !== c)) return null;
    const data = new Float32Array(entries.length * h * w * c);
    for (const [i, e] of entries.entries()) data.set(e.data, i * h * w * c);
    return { n: entries.length, h, w, c, data };
  } catch {
    return null;
  }
}

export interface ChannelObjectPrediction extends ObjectPrediction {
  channelId: string;
  points: Array<{ stimulusId: string; predicted: number; recorded: number }>;
}

/**
 * Per readout: its predictions for every object recorded in phase 2 on its channel against the recorded mean net
 * rates, and their correlation. Null when the objects' features are not all in the cache.
 */
export async function objectPredictions(
  opts: { config: Config; protocol: Protocol; weightsSha256: string | null },
  readouts: GaussianReadoutJSON[],
  objects: StimulusRecord[],
  rates2: RateTable,
): Promise<ChannelObjectPrediction[] | null> {
  const shown = objects.filter((s) => [...rates2.values()].some((m) => (m.get(s.id)?.length ?? 0) > 0));
  const maps = await cachedFeatures(opts.config, opts.protocol, opts.weightsSha256, shown);
  if (!maps)
    return shown.length === 0
      ? readouts.map((r) => ({ ...objectPrediction([]), channelId: r.channelId, points: [] }))
      : null;
  return readouts.map((r) => {
    const predicted = predict(readoutFromJSON(r), maps);
    const recorded = meanRates(
      rates2.get(r.channelId),
      shown.map((s) => s.id),
    );
    const points = shown.flatMap((s, i) =>
      Number.isFinite(recorded[i])
        ? [{ stimulusId: s.id, predicted: predicted[i], recorded: recorded[i] }]
        : [],
    );
    return { ...objectPrediction(points), channelId: r.channelId, points };
  });
}
