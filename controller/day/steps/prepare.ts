// Preparing a session: read every stimulus set of the protocol, hash each file, store them with their event codes;
// then compute the features of every stimulus (and of the silhouettes the fit will train on) into the cache, so
// the animal never waits for them between the phases.
import { type LoadedProtocol, loadProtocol, resolveManifest } from "../../../protocols/index.ts";
import { hashStimulusSet } from "../../../stimuli/index.ts";
import { runComputeJob } from "../../compute/compute-jobs.ts";
import type { SessionStore, StimulusRecord } from "../../store/store.ts";
import { backboneSpec, computeProgress, featureRoot, image } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";
import { fitImages } from "./fit.ts";

/** Session stimulus id: "<set id>/<image id>", unique across the protocol's sets. */
export const stimulusKey = (setId: string, imageId: string) => `${setId}/${imageId}`;

export async function hashProtocolStimuli(loaded: LoadedProtocol): Promise<StimulusRecord[]> {
  const out: StimulusRecord[] = [];
  for (const set of loaded.protocol.stimulusSets) {
    const hashed = await hashStimulusSet(resolveManifest(loaded, set.manifest));
    for (const img of hashed.images)
      out.push({
        id: stimulusKey(set.id, img.id),
        setId: set.id,
        category: set.category,
        role: set.role,
        path: img.path,
        sha256: img.sha256,
      });
  }
  return out;
}

export async function prepareStimuli(
  store: SessionStore,
  sessionId: string,
  protocolPath: string,
): Promise<StimulusRecord[]> {
  const existing = store.stimuli(sessionId);
  if (existing.length > 0) return existing; // already prepared before a restart
  const stimuli = await hashProtocolStimuli(loadProtocol(protocolPath));
  store.insertStimuli(sessionId, stimuli);
  store.appendEvent(sessionId, "stimuli", "hashed", { count: stimuli.length });
  return stimuli;
}

/** Event code of each stimulus: its 1-based position in the session's stimulus list. */
export function eventCodes(stimuli: ReadonlyArray<{ id: string }>): Map<string, number> {
  return new Map(stimuli.map((s, i) => [s.id, i + 1]));
}

/**
 * Features of every stimulus of the session and of the training silhouettes (when the protocol asks for them),
 * computed where missing on the feature pool in a worker thread; cached entries are never computed again.
 */
export async function prepareFeatures(ctx: StepContext, signal?: AbortSignal): Promise<void> {
  const stimuli = ctx.store.stimuli(ctx.sessionId);
  const { extraTraining } = await fitImages(ctx);
  const images = [...stimuli.map(image), ...(extraTraining?.images ?? [])];
  const started = Date.now();
  const result = await runComputeJob(
    { kind: "features", backbone: backboneSpec(ctx), featureRoot: featureRoot(ctx), images },
    computeProgress(ctx),
    signal,
  );
  const f = result.features!;
  ctx.store.appendEvent(ctx.sessionId, "features", "ready", f);
  ctx.log.info(
    `features of ${f.images} images ready in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
      `(${f.cached} cached, ${f.computed} computed)`,
  );
}
