// The report's causal-test section from the stored artifacts: the newest "causal-test" (steps/test-fragments.ts)
// with each channel's "fragments" artifact (steps/fragment.ts) for the tiles' images — the parents as the display
// showed them, the fragments as written. Null when the day had no phase 3 (no "fragments" artifact).
import { readFile } from "node:fs/promises";
import type { ReportCausal, ReportCausalTile, ReportImage } from "../../../analysis/report/index.ts";
import { thumbnailJpeg } from "../../../stimuli/index.ts";
import type { SessionStore, StimulusRecord } from "../../store/store.ts";
import type { FragmentsArtifactMeta } from "./fragment.ts";
import type { CausalArtifactMeta } from "./test-fragments.ts";

async function pngFile(path: string): Promise<ReportImage | null> {
  try {
    return { mime: "image/png", bytes: new Uint8Array(await readFile(path)) };
  } catch {
    return null;
  }
}

async function thumb(path: string | undefined): Promise<ReportImage | null> {
  if (!path) return null;
  try {
    return { mime: "image/jpeg", bytes: new Uint8Array(await thumbnailJpeg(path, 112)) };
  } catch {
    return null;
  }
}

export async function causalReport(
  store: SessionStore,
  sessionId: string,
  stimuli: StimulusRecord[],
): Promise<ReportCausal | null> {
  const fragments = store.artifacts(sessionId, "fragments");
  const tests = store.artifacts(sessionId, "causal-test");
  if (fragments.length === 0 && tests.length === 0) return null;
  const test = (tests.at(-1)?.meta ?? null) as CausalArtifactMeta | null;
  const paths = new Map(stimuli.map((s) => [s.id, s.path]));
  const metaOf = new Map(fragments.map((a) => [a.channelId, a.meta as FragmentsArtifactMeta]));
  const settings = fragments[0] ? (fragments[0].meta as FragmentsArtifactMeta).settings : null;
  const channels: ReportCausal["channels"] = [];
  for (const ch of test?.channels ?? []) {
    const meta = metaOf.get(ch.channelId);
    const parents = [];
    for (const q of ch.parents) {
      // Artifacts from before phase3.topObjects have no parentId on their fragments: one parent per role then.
      const frags = ch.fragments.filter(
        (f) => f.parentRole === q.role && (f.parentId ?? q.parentId) === q.parentId,
      );
      const stored = new Map((meta?.fragments ?? []).map((f) => [f.stimulusId, f]));
      const tiles: ReportCausalTile[] = [
        {
          stimulusId: q.parentId,
          kind: "full",
          n: 0,
          image: await thumb(paths.get(q.parentId)),
          recorded: q.rates.full.mean,
          trials: q.rates.full.trials,
          predicted: meta?.parents.find((x) => x.id === q.parentId && x.role === q.role)?.predicted ?? null,
          visible: 1,
        },
      ];
      for (const f of frags)
        tiles.push({
          stimulusId: f.stimulusId,
          kind: f.kind,
          n: f.n,
          image: await pngFile(paths.get(f.stimulusId) ?? ""),
          recorded: f.recorded,
          trials: f.trials,
          predicted: f.predicted,
          visible: stored.get(f.stimulusId)?.visible ?? null,
        });
      parents.push({
        role: q.role,
        parentId: q.parentId,
        rank: q.rank ?? 0,
        verdict: q.verdict,
        vsRandomP: q.vsRandom?.p ?? null,
        vsComplementP: q.vsComplement?.p ?? null,
        effect: q.effect,
        effectComplement: q.effectComplement,
        fullFrom: q.fullFrom,
        tiles,
      });
    }
    channels.push({ channelId: ch.channelId, parents });
  }
  return {
    alpha: test?.alpha ?? 0.05,
    test: test?.test ?? "not run: the day ended before the causal test",
    settings,
    channels,
    across: {
      object: test?.across.object ?? null,
      body: test?.across.body ?? null,
    },
  };
}
