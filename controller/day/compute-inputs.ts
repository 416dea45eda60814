// What the day's compute jobs need from the session: the backbone as the protocol and the config name it, the
// feature cache's folder, the images of stored stimuli, and a progress sink that logs and stores the job's progress.
import { join } from "node:path";
import { resolvePaths } from "../../config/index.ts";
import type { BackboneSpec, ComputeMessage } from "../compute/compute-jobs.ts";
import type { StimulusRecord } from "../store/store.ts";
import type { StepContext } from "./context.ts";

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
    device: ctx.config.compute.device,
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
