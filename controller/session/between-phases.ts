// The day's work between and after the phases, reading from and writing to the store: fit every channel's
// readout (worker thread), choose the phase-2 stimuli (worker thread), and check each channel after phase 2.
import { join } from "node:path";
import { checkChannel } from "../../analysis/checks/channel-checks.ts";
import type { GaussianReadoutJSON } from "../../analysis/readout/index.ts";
import { splitStimuli } from "../../analysis/readout/splits.ts";
import { resolvePaths } from "../../config/index.ts";
import { writeSilhouettes } from "../../stimuli/silhouette.ts";
import type { StimulusRecord } from "../store/store.ts";
import { type BackboneSpec, type ComputeMessage, runComputeJob } from "./compute-jobs.ts";
import type { StepContext } from "./pipeline.ts";
import { meanRates, trialRates } from "./responses.ts";

export function backboneSpec(ctx: StepContext): BackboneSpec {
  const m = ctx.loaded.protocol.model;
  const w = ctx.config.weights;
  return {
    arch: m.backbone,
    // The embedded weights are the Keras ResNet-50; a lab's own .safetensors are torchvision-layout.
    variant: w.path ? w.variant : m.variant,
    layer: m.layer,
    imageSize: m.imageSize,
    weightsPath: w.path,
    weightsKind: w.kind, // #25 provenance: the kind the lab declares, recorded with the file and sha256
    executor: ctx.config.compute.executor,
    tfjsBackend: ctx.config.compute.tfjsBackend,
    threads: ctx.config.compute.threads,
  };
}

export const featureRoot = (ctx: StepContext) => join(resolvePaths(ctx.config).dataDir, "features");
/** The image fields a compute job reads (of a stored stimulus or a silhouette file). */
export const image = (s: { id: string; path: string; sha256: string }) => ({
  id: s.id,
  path: s.path,
  sha256: s.sha256,
});
export const byRole = (stimuli: StimulusRecord[], role: string) => stimuli.filter((s) => s.role === role);

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

/** Progress of a compute job into the event log (at most once a second) and the log; the weights hash stored. */
export function computeProgress(
  ctx: StepContext,
): (m: Extract<ComputeMessage, { type: "progress" }>) => void {
  const { store, sessionId, log } = ctx;
  let lastLog = 0;
  return (m) => {
    if (m.stage === "weights") {
      store.setWeightsHash(sessionId, String(m.weightsSha256));
      store.appendEvent(sessionId, "backbone", "loaded", m);
      log.info(
        `backbone: ${m.executor}, ${String(m.weightsKind)} weights ${String(m.weightsSource)}, sha256 ${String(m.weightsSha256).slice(0, 16)}…`,
      );
      return;
    }
    if (m.stage === "augmentation") {
      store.appendEvent(sessionId, "fit", "augmentation", m);
      log.info(`fit: ${m.silhouettes} silhouette images added to the training set`);
      return;
    }
    if (Date.now() - lastLog < 1000) return;
    lastLog = Date.now();
    store.appendEvent(sessionId, "progress", m.stage, m);
    if (m.stage === "features") log.info(`features ${m.done}/${m.total}`);
    else if (m.stage === "fit") log.info(`fit epoch ${m.epoch}, ${m.active} channel(s) still improving`);
  };
}

export async function fitStep(ctx: StepContext, signal?: AbortSignal): Promise<void> {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const { preferred, split, extraTraining } = await fitImages(ctx);
  const rates = trialRates(store, sessionId, p, 1);
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
  const rs = readouts
    .map((r) => r.testR)
    .filter((r): r is number => r !== null)
    .sort((a, b) => a - b);
  log.info(
    `fitted ${readouts.length} readouts in ${((Date.now() - started) / 1000).toFixed(1)} s; median held-out r ${rs.length ? rs[Math.floor(rs.length / 2)].toFixed(2) : "n/a"}`,
  );
}

export async function selectStep(ctx: StepContext, signal?: AbortSignal): Promise<void> {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const stimuli = store.stimuli(sessionId);
  const phase1 = byRole(stimuli, "preferred");
  const rates = trialRates(store, sessionId, p, 1);
  const readouts = store.models(sessionId).map((m) => m.params as GaussianReadoutJSON);
  const responses = Object.fromEntries(
    readouts.map((r) => [
      r.channelId,
      Array.from(
        meanRates(
          rates.get(r.channelId),
          phase1.map((s) => s.id),
        ),
        (v) => (Number.isNaN(v) ? 0 : v),
      ),
    ]),
  );
  const result = await runComputeJob(
    {
      kind: "select",
      backbone: backboneSpec(ctx),
      featureRoot: featureRoot(ctx),
      phase1: phase1.map(image),
      objects: byRole(stimuli, "object").map(image),
      controls: byRole(stimuli, "control").map(image),
      readouts,
      responses,
      counts: p.selection,
      seed: p.seed,
    },
    () => {},
    signal,
  );
  const sel = result.selection!;
  store.saveSelections(
    sessionId,
    sel.choices.map((c) => ({
      channelId: c.channelId ?? "*",
      stimulusId: c.stimulusId,
      rule: c.rule,
      score: c.score,
    })),
  );
  log.info(`phase 2: ${sel.stimuli.length} stimuli chosen for ${readouts.length} channels`);
}

export function checkStep(ctx: StepContext): void {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const stimuli = store.stimuli(sessionId);
  const controls = new Set(byRole(stimuli, "control").map((s) => s.id));
  const selections = store.selections(sessionId);
  const retestIds = [...new Set(selections.filter((s) => s.rule === "retest").map((s) => s.stimulusId))];
  const r1 = trialRates(store, sessionId, p, 1);
  const r2 = trialRates(store, sessionId, p, 2);
  const results = [];
  const decisions = [];
  for (const { id } of store.channels(sessionId)) {
    const mine = selections.filter((s) => s.channelId === id);
    const { results: rs, decision } = checkChannel(
      {
        channelId: id,
        phase1: r1.get(id) ?? new Map(),
        phase2: r2.get(id) ?? new Map(),
        retestIds,
        objectIds: [...new Set(mine.filter((s) => s.rule.endsWith("-object")).map((s) => s.stimulusId))],
        controlIds: [...new Set(mine.filter((s) => controls.has(s.stimulusId)).map((s) => s.stimulusId))],
        seed: p.seed,
      },
      p.checks,
    );
    results.push(...rs);
    decisions.push(decision);
  }
  store.saveChecks(sessionId, results, decisions);
  const kept = decisions.filter((d) => d.included).length;
  log.info(`checks: ${kept} of ${decisions.length} channels kept`);
}
