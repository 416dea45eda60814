// testing (phase 3): does the highlighted region carry the channel's response? Per channel and per image of its
// pair, the recorded net rates (of the channel's own part of phase 3) of the highlighted fragment's presentations against those of its random fragments
// (pooled) and of its complement — two-sided Mann-Whitney with the trials of one stimulus as the unit (per stimulus,
// over repeats), analysis/fragments — and the effect (mean highlighted − mean random) over the full image's mean net
// response; across channels, a Wilcoxon signed-rank test of the effects against 0. The model's prediction beside the
// recording for every fragment. One artifact of kind "causal-test" (the newest is the day's), for the report.
import { acrossChannels, type CausalTest, causalTest } from "../../../analysis/fragments/index.ts";
import type { StepContext } from "../context.ts";
import { trialRatesByPart } from "../rates.ts";
import type { FragmentsArtifactMeta } from "./fragment.ts";

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export interface CausalParent extends CausalTest {
  role: "object" | "body";
  parentId: string;
  /** 0: an image of the visualized pair; k ≥ 1: the channel's object of recorded rank k (phase3.topObjects). */
  rank: number;
  /** Mean net rate (spikes/s) and trials of each kind; full: the parent in phase 3, else in its own phase. */
  rates: Record<"highlighted" | "complement" | "random" | "full", { mean: number | null; trials: number }>;
  /** Where the full image's rates come from. */
  fullFrom: "phase 3" | "phase 1" | "phase 2";
}

export interface CausalChannel {
  channelId: string;
  parents: CausalParent[];
  fragments: Array<{
    stimulusId: string;
    parentId: string;
    parentRole: "object" | "body";
    kind: string;
    n: number;
    recorded: number | null;
    trials: number;
    predicted: number | null;
  }>;
}

export interface CausalArtifactMeta {
  alpha: number;
  test: string;
  channels: CausalChannel[];
  /** Signed-rank tests of the per-channel effects against 0, for the objects and for the bodies: the visualized
   *  pair's images only (rank 0), one effect per channel, so that the channels are the independent units. */
  across: Record<"object" | "body", ReturnType<typeof acrossChannels> | null>;
}

export function testFragmentsStep(ctx: StepContext): CausalArtifactMeta | null {
  const { store, sessionId, log } = ctx;
  const spec = ctx.loaded.protocol.phase3;
  if (!spec) return null;
  // Each channel's fragments and parents were shown in its own part of phase 3 (the k-th "fragments" artifact's,
  // blocks k × repetitions on): its trials there, so that a parent another channel shows too counts once per channel.
  const parts = trialRatesByPart(store, sessionId, ctx.loaded.protocol, spec.repetitions);
  const r1 = ctx.rates(1);
  const r2 = ctx.rates(2);
  const channels: CausalChannel[] = [];
  for (const [k, a] of store.artifacts(sessionId, "fragments").entries()) {
    const meta = a.meta as FragmentsArtifactMeta;
    const channelId = a.channelId!;
    const mine = parts.get(k)?.get(channelId);
    const trialsOf = (id: string) => mine?.get(id) ?? [];
    const parents: CausalParent[] = [];
    for (const parent of meta.parents) {
      const frags = meta.fragments.filter((f) => f.parentId === parent.id && f.parentRole === parent.role);
      const of = (kind: string) =>
        frags.filter((f) => f.kind === kind).flatMap((f) => trialsOf(f.stimulusId));
      const highlighted = of("highlighted");
      const complement = of("complement");
      const random = of("random");
      let full = trialsOf(parent.id);
      let fullFrom: CausalParent["fullFrom"] = "phase 3";
      if (full.length === 0) {
        fullFrom = parent.role === "body" ? "phase 1" : "phase 2";
        full = (parent.role === "body" ? r1 : r2).get(channelId)?.get(parent.id) ?? [];
      }
      const result = causalTest({ highlighted, complement, random, full }, spec.alpha);
      parents.push({
        ...result,
        role: parent.role,
        parentId: parent.id,
        rank: parent.rank ?? 0,
        rates: {
          highlighted: { mean: mean(highlighted), trials: highlighted.length },
          complement: { mean: mean(complement), trials: complement.length },
          random: { mean: mean(random), trials: random.length },
          full: { mean: mean(full), trials: full.length },
        },
        fullFrom,
      });
    }
    channels.push({
      channelId,
      parents,
      fragments: meta.fragments.map((f) => ({
        stimulusId: f.stimulusId,
        parentId: f.parentId,
        parentRole: f.parentRole,
        kind: f.kind,
        n: f.n,
        recorded: mean(trialsOf(f.stimulusId)),
        trials: trialsOf(f.stimulusId).length,
        predicted: f.predicted,
      })),
    });
  }
  const across = (role: "object" | "body") => {
    const effects = channels.flatMap((c) =>
      c.parents
        .filter((p) => p.role === role && p.rank === 0 && p.effect !== null)
        .map((p) => p.effect as number),
    );
    return effects.some((e) => e !== 0) ? acrossChannels(effects) : null;
  };
  const result: CausalArtifactMeta = {
    alpha: spec.alpha,
    test: "two-sided Mann-Whitney U per image, the trials of each stimulus as the unit; Wilcoxon signed-rank across channels",
    channels,
    across: { object: across("object"), body: across("body") },
  };
  store.addArtifact(sessionId, { kind: "causal-test", meta: result });
  for (const c of channels)
    for (const p of c.parents)
      log.info(
        `causal test ${c.channelId} ${p.rank ? `object of rank ${p.rank}` : p.role} ${p.parentId}: ${p.verdict} (vs random p = ${p.vsRandom?.p.toPrecision(2) ?? "n/a"})`,
      );
  return result;
}
