// fitting: every channel's Gaussian readout on the phase-1 responses, in one batched job on a worker thread,
// with the protocol's seeded train/validation/test split (and silhouette augmentation when it asks); the models,
// their metrics and the split go to the store.
import { join } from "node:path";
import { splitStimuli } from "../../../analysis/readout/index.ts";
import { median } from "../../../analysis/stats/index.ts";
import { resolvePaths } from "../../../config/index.ts";
import { writeSilhouettes } from "../../../stimuli/index.ts";
import { runComputeJob } from "../../compute/compute-jobs.ts";
import { backboneSpec, byRole, computeProgress, featureRoot, image } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";
import { meanRates } from "../rates.ts";

/**
 * The phase-1 images, their seeded split (model.split, the protocol's seed) and, when the protocol asks for
 * silhouette augmentation, the silhouettes of the training images (files under <dataDir>/silhouettes, written
 * once) with the row of each one's source image: a silhouette is trained on its source image's response, as in
 * Lappe et al. Validation and test images get none, so held-out scores stay held out.
 */
export async function fitImages(ctx: StepContext) {
  const p = ctx.loaded.protocol;
  const preferred = byRole(ctx.store.stimuli(ctx.sessionId), "preferred");
  const split = splitStimuli(
    preferred.map((s) => s.id),
    p.model.split,
    p.seed,
  );
  if (!p.model.augmentation.silhouettes) return { preferred, split, extraTraining: undefined };
  const dir = join(resolvePaths(ctx.config).dataDir, "silhouettes");
  const silhouettes = await writeSilhouettes(
    split.rows.train.map((r) => image(preferred[r])),
    dir,
  );
  return {
    preferred,
    split,
    extraTraining: {
      images: silhouettes.map(image),
      targetRows: [...split.rows.train],
    },
  };
}

export async function fitStep(ctx: StepContext, signal?: AbortSignal): Promise<void> {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const { preferred, split, extraTraining } = await fitImages(ctx);
  const rates = ctx.rates(1);
  const channels = store
    .channels(sessionId)
    .map((c) => c.id)
    .filter((id) => rates.has(id));
  if (channels.length === 0) throw new Error("no channel has phase-1 data");
  const ids = preferred.map((s) => s.id);
  store.saveSplits(sessionId, {
    ...Object.fromEntries(split.train.map((id) => [id, "train" as const])),
    ...Object.fromEntries(split.validation.map((id) => [id, "validation" as const])),
    ...Object.fromEntries(split.test.map((id) => [id, "test" as const])),
  });
  const targets = channels.map((channelId) => {
    const m = meanRates(rates.get(channelId), ids);
    // A stimulus without a shown trial for this channel takes the channel's mean response.
    const seen = m.filter((v) => !Number.isNaN(v));
    const fallback = seen.reduce((a, b) => a + b, 0) / Math.max(1, seen.length);
    return { channelId, responses: Array.from(m, (v) => (Number.isNaN(v) ? fallback : v)) };
  });
  const started = Date.now();
  const result = await runComputeJob(
    {
      kind: "fit",
      backbone: backboneSpec(ctx),
      featureRoot: featureRoot(ctx),
      images: preferred.map(image),
      channels: targets,
      split: split.rows,
      penalty: p.model.penalty,
      learningRate: p.model.learningRate,
      init: p.model.init,
      epochs: p.model.epochs,
      seed: p.seed,
      extraTraining,
    },
    computeProgress(ctx),
    signal,
  );
  const readouts = result.readouts!;
  store.saveModels(
    sessionId,
    readouts.map((r) => ({
      channelId: r.channelId,
      kind: "gaussian-readout",
      params: r,
      metrics: {
        testR: r.testR,
        bestEpoch: r.bestEpoch,
        finalValLoss: r.valLossCurve.at(-1) ?? null,
        bestValLoss: r.bestValLoss ?? null,
        meanValLoss: r.meanValLoss ?? null,
        // The validation images are predicted worse than by the training mean: the model explains nothing.
        worseThanMean:
          r.bestValLoss !== undefined && r.meanValLoss !== undefined && r.bestValLoss > r.meanValLoss,
        seconds: (Date.now() - started) / 1000,
        silhouettes: extraTraining?.images.length ?? 0,
      },
    })),
  );
  // The report's median and format (analysis/stats median, 3 decimals): the log and the report agree.
  const rs = readouts.map((r) => r.testR).filter((r): r is number => r !== null);
  log.info(
    `fitted ${readouts.length} readouts in ${((Date.now() - started) / 1000).toFixed(1)} s; median held-out r ${rs.length ? median(rs).toFixed(3) : "n/a"} over ${rs.length} channels`,
  );
}
