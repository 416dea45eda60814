// The visualize step: for every channel the checks kept and whose model predicts the phase-2 objects (Pearson r of
// predicted and recorded object responses above visualization.minObjectR, stored with every model's metrics as
// objectR: controller/day/object-predictions.ts), the most similar (object, body) pair among its top
// recorded drivers (objects recorded in phase 2, bodies in phase 1) and the shared-feature maps of that pair
// (Lappe et al. 2024), computed in a worker thread (controller/session/saliency-worker.ts). Files go to
// <dataDir>/sessions/<sessionId>/saliency/<channel>/ (see controller/commands/saliency.ts SALIENCY_FILES) and each
// channel's folder is stored as an artifact of kind "saliency". With phase3.topObjects = k, also the maps of the
// channel's next k recorded objects, each with the body most similar to it (subfolders object-<rank>/), for phase 3.
import { join } from "node:path";
import { objectPredictionGate } from "../../../analysis/checks/object-prediction.ts";
import type { GaussianReadoutJSON } from "../../../analysis/readout/index.ts";
import type { SaliencyMethod } from "../../../analysis/saliency/index.ts";
import { resolvePaths } from "../../../config/index.ts";
import type { SaliencySummary } from "../../commands/saliency.ts";
import type { BackboneSpec } from "../../compute/compute-jobs.ts";
import { runMessageJob } from "../../compute/worker-job.ts";
import type { StimulusRecord } from "../../store/store.ts";
import { backboneSpec } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";
import { objectPredictions } from "../object-predictions.ts";
import { meanRates } from "../rates.ts";

export interface SaliencyCandidate {
  id: string;
  path: string;
  sha256: string;
  /** Mean recorded net rate (spikes/s). */
  response: number;
}

export interface SaliencyChannelJob {
  channelId: string;
  readout: GaussianReadoutJSON;
  /** The top recorded objects and bodies, by response descending. */
  objects: SaliencyCandidate[];
  bodies: SaliencyCandidate[];
  outDir: string;
}

export interface SaliencySettings {
  topObjects: number;
  topBodies: number;
  smoothingSigmaPx: number;
  epsilon: number;
  method: SaliencyMethod;
  igSteps: number;
  /** Phase 3's topObjects: maps also for each channel's next that many recorded objects, each with the body most
   *  similar to it (0: the visualized pair only). */
  extraObjects: number;
}

export interface SaliencyJob {
  backbone: BackboneSpec;
  featureRoot: string;
  settings: SaliencySettings;
  channels: SaliencyChannelJob[];
}

/** What the artifact's meta holds. */
export interface SaliencyArtifactMeta {
  s: number;
  k: number;
  dropped: number;
  normOut: number;
  normIn: number;
  objectId: string;
  bodyId: string;
  method: SaliencyMethod;
  epsilon: number;
  sigma: number;
  /** Phase 3's further objects of the channel (phase3.topObjects), each with its own maps in its own folder. */
  extraPairs?: SaliencyExtraPair[];
}

/** A further (object, body) pair of a channel: the object ranked `rank` by recorded response (1 = the best), the
 *  body most similar to it among the channel's top bodies, their maps in `dir` (SALIENCY_FILES). */
export interface SaliencyExtraPair {
  objectId: string;
  bodyId: string;
  rank: number;
  s: number;
  dir: string;
}

export type SaliencyMessage =
  | { type: "progress"; channelId: string; stage: string; done?: number; total?: number }
  | {
      type: "channel";
      channelId: string;
      dir: string;
      objectId: string;
      bodyId: string;
      summary: SaliencySummary;
      extraPairs: SaliencyExtraPair[];
    }
  | { type: "skipped"; channelId: string; code: string; message: string }
  | { type: "done" }
  | { type: "error"; message: string; code?: string };

export interface VisualizeOutcome {
  /** Channels with maps, and the artifact id of each. */
  done: Array<{ channelId: string; artifactId: number; meta: SaliencyArtifactMeta }>;
  /** Channels passed over, with why. */
  skipped: Array<{ channelId: string; reason: string }>;
}

/** Run a saliency job in a worker thread (cancellable through `signal`; at that nice value, see ts-worker.mjs). */
export function runSaliencyJob(
  job: SaliencyJob,
  onMessage: (m: Exclude<SaliencyMessage, { type: "done" | "error" }>) => void,
  signal?: AbortSignal,
  nice?: number,
): Promise<void> {
  return runMessageJob<SaliencyMessage>(
    new URL("../../compute/saliency-worker.ts", import.meta.url),
    nice === undefined ? job : { ...job, __nice: nice },
    onMessage,
    signal,
    "saliency worker",
  );
}

/** The `n` recorded stimuli with the highest mean rate (NaN = not recorded; ties: stored order). */
function topRecorded(stimuli: StimulusRecord[], rates: Float64Array, n: number): SaliencyCandidate[] {
  return stimuli
    .map((s, i) => ({ id: s.id, path: s.path, sha256: s.sha256, response: rates[i], i }))
    .filter((c) => Number.isFinite(c.response))
    .sort((a, b) => b.response - a.response || a.i - b.i)
    .slice(0, n)
    .map(({ i: _, ...c }) => c);
}

export interface VisualizeOptions {
  /** Only these channels (default: every included channel). */
  channels?: string[];
  /** Leave out channels that already have maps (a "saliency" artifact): the explain step after a restart. */
  skipVisualized?: boolean;
  /** Called after each channel's artifact is stored (phase 3 cuts its fragments meanwhile). */
  onChannel?: (channelId: string) => void;
  /** The worker's nice value (phase 3: below the presentation's; see controller/compute/ts-worker.mjs). */
  nice?: number;
}

/**
 * For each included channel (store.decisions), the best recorded pair and its maps; artifacts of kind "saliency".
 * No included channel: an event is recorded and the step succeeds (nothing to explain).
 */
export async function visualizeStep(
  ctx: StepContext,
  signal?: AbortSignal,
  options: VisualizeOptions = {},
): Promise<VisualizeOutcome> {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const v = p.visualization;
  const outcome: VisualizeOutcome = { done: [], skipped: [] };
  const models = store.models(sessionId).filter((m) => m.kind === "gaussian-readout");
  const readouts = new Map(models.map((m) => [m.channelId, m.params as GaussianReadoutJSON]));
  const skip = (channelId: string, reason: string) => {
    outcome.skipped.push({ channelId, reason });
    store.appendEvent(sessionId, "visualize", "channel-skipped", { channelId, reason });
    log.warn(`visualize: channel ${channelId} skipped: ${reason}`);
  };
  // Every model's object prediction, stored with its metrics (the report and channels.csv read it there).
  const scores = await objectPredictions(
    { config: ctx.config, protocol: p, weightsSha256: store.getSession(sessionId)?.weights_sha256 ?? null },
    [...readouts.values()],
    store.stimuli(sessionId).filter((s) => s.role === "object"),
    ctx.rates(2),
  );
  const score = new Map((scores ?? []).map((o) => [o.channelId, o]));
  if (models.length > 0)
    store.saveModels(
      sessionId,
      models.map((m) => {
        const o = score.get(m.channelId);
        const gate = o ? objectPredictionGate(o, v.minObjectR) : null;
        return {
          ...m,
          metrics: {
            ...(m.metrics as Record<string, unknown>),
            objectR: o?.r ?? null,
            objectP: o?.p ?? null,
            objectN: o?.n ?? 0,
            objectCriticalR: o?.criticalR ?? null,
            minObjectR: v.minObjectR,
            objectPasses: gate?.passed ?? false,
          },
        };
      }),
    );
  if (!scores)
    log.warn("visualize: object predictions unavailable (phase-2 object features not in the cache)");
  let included = store
    .decisions(sessionId)
    .filter((d) => d.included)
    .map((d) => d.channelId);
  if (options.channels) included = included.filter((c) => options.channels!.includes(c));
  if (options.skipVisualized) {
    const visualized = new Set(store.artifacts(sessionId, "saliency").map((a) => a.channelId));
    const before = included.length;
    included = included.filter((c) => !visualized.has(c));
    if (included.length < before)
      log.info(`visualize: ${before - included.length} channel(s) have their maps from before a restart`);
    if (included.length === 0) return outcome;
  }
  if (included.length === 0) {
    store.appendEvent(sessionId, "visualize", "nothing-to-explain", {
      reason: options.channels
        ? `none of ${options.channels.join(", ")} is an included channel`
        : "no channel was included by the checks",
    });
    log.info("visualize: no included channel, nothing to explain");
    return outcome;
  }
  const stimuli = store.stimuli(sessionId);
  const objects = stimuli.filter((s) => s.role === "object");
  const bodies = stimuli.filter((s) => s.role === "preferred");
  const r1 = ctx.rates(1);
  const r2 = ctx.rates(2);
  const root = join(resolvePaths(ctx.config).dataDir, "sessions", sessionId, "saliency");
  const extraObjects = p.phase3?.topObjects ?? 0;
  const channels: SaliencyChannelJob[] = [];
  for (const channelId of included) {
    const readout = readouts.get(channelId);
    if (!readout) {
      skip(channelId, "no fitted readout stored");
      continue;
    }
    const o = score.get(channelId);
    const gate = o
      ? objectPredictionGate(o, v.minObjectR)
      : {
          passed: false,
          reason: "its model's object prediction is unknown (object features not in the cache)",
        };
    if (!gate.passed) {
      skip(channelId, gate.reason);
      continue;
    }
    const objs = topRecorded(
      objects,
      meanRates(
        r2.get(channelId),
        objects.map((s) => s.id),
      ),
      Math.max(v.topObjects, extraObjects + 1),
    );
    const bods = topRecorded(
      bodies,
      meanRates(
        r1.get(channelId),
        bodies.map((s) => s.id),
      ),
      v.topBodies,
    );
    if (objs.length === 0 || bods.length === 0) {
      skip(
        channelId,
        `${objs.length} object(s) recorded in phase 2 and ${bods.length} body image(s) in phase 1; expected ≥ 1 of each`,
      );
      continue;
    }
    // Channel ids become folder names: keep them to a safe alphabet.
    channels.push({
      channelId,
      readout,
      objects: objs,
      bodies: bods,
      outDir: join(root, channelId.replace(/[^A-Za-z0-9._-]/g, "_")),
    });
  }
  if (channels.length === 0) return outcome;
  const started = Date.now();
  let lastLog = 0;
  await runSaliencyJob(
    {
      backbone: backboneSpec(ctx),
      featureRoot: join(resolvePaths(ctx.config).dataDir, "features"),
      settings: {
        topObjects: v.topObjects,
        topBodies: v.topBodies,
        smoothingSigmaPx: v.smoothingSigmaPx,
        epsilon: v.epsilon,
        method: v.method,
        igSteps: v.igSteps,
        extraObjects,
      },
      channels,
    },
    (m) => {
      if (m.type === "progress") {
        if (Date.now() - lastLog < 1000) return;
        lastLog = Date.now();
        store.appendEvent(sessionId, "progress", "saliency", m);
        log.info(`saliency ${m.channelId}: ${m.stage}${m.total ? ` ${m.done}/${m.total}` : ""}`);
      } else if (m.type === "skipped") {
        skip(m.channelId, `${m.code}: ${m.message}`);
      } else {
        const s = m.summary;
        const meta: SaliencyArtifactMeta = {
          s: s.s,
          k: s.k,
          dropped: s.dropped,
          normOut: s.normOut,
          normIn: s.normIn,
          objectId: m.objectId,
          bodyId: m.bodyId,
          method: s.method,
          epsilon: s.epsilon,
          sigma: s.sigma,
          ...(m.extraPairs.length ? { extraPairs: m.extraPairs } : {}),
        };
        const artifactId = store.addArtifact(sessionId, {
          channelId: m.channelId,
          kind: "saliency",
          path: m.dir,
          meta,
        });
        outcome.done.push({ channelId: m.channelId, artifactId, meta });
        options.onChannel?.(m.channelId);
        log.info(
          `saliency ${m.channelId}: ${m.objectId} vs ${m.bodyId}, s = ${s.s.toFixed(3)}, k = ${s.k}, dropped ${s.dropped.toExponential(2)}, gradients ${s.gradientSeconds.toFixed(1)} s on ${s.gradientEngine}` +
            (m.extraPairs.length
              ? `; further objects ${m.extraPairs.map((x) => `${x.objectId} vs ${x.bodyId}`).join(", ")}`
              : ""),
        );
      }
    },
    signal,
    options.nice,
  );
  log.info(
    `visualize: ${outcome.done.length} channel(s) in ${((Date.now() - started) / 1000).toFixed(1)} s, ${outcome.skipped.length} skipped`,
  );
  return outcome;
}
