// selecting: per channel, the model's predicted responses to every object and control body; the top, bottom and
// most similar objects and control bodies, and a retest set of phase-1 images (a worker thread); the union is
// phase 2's stimulus list, stored as selections with their rule and score.
import type { GaussianReadoutJSON } from "../../../analysis/readout/index.ts";
import { runComputeJob } from "../../compute/compute-jobs.ts";
import { backboneSpec, byRole, featureRoot, image } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";
import { meanRates } from "../rates.ts";

export async function selectStep(ctx: StepContext, signal?: AbortSignal): Promise<void> {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const stimuli = store.stimuli(sessionId);
  const phase1 = byRole(stimuli, "preferred");
  const rates = ctx.rates(1);
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
