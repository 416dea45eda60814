// Phase-2 selection on a simulated day: channels with known readouts over synthetic features, readouts fitted
// from their phase-1 responses, then the selection rules checked against the true responses and exhaustively.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import {
  extractAtLocation,
  type FeatureMaps,
  fitGaussianReadouts,
  type GaussianReadout,
  predict,
  selectImages,
  splitStimuli,
} from "../../analysis/readout/index.ts";
import { retestRows, type SelectionCounts, selectPhase2 } from "../../analysis/selection/index.ts";
import { neuronSimilarity } from "../../analysis/similarity.ts";
import { sparseGroundTruthReadout, syntheticFeatureMaps } from "../../analysis/synthetic-neurons.ts";

const C = 64;
const bodies = syntheticFeatureMaps(200, 7, 7, C, 21);
const objects = syntheticFeatureMaps(300, 7, 7, C, 22);
const controls = syntheticFeatureMaps(80, 7, 7, C, 23);
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const bodyIds = ids("body", 200);
const objectIds = ids("object", 300);
const controlIds = ids("control", 80);
const truths = [0, 1, 2].map((k) => sparseGroundTruthReadout(C, 6, 300 + k, `ch${k}`));
const random = mulberry32(99);
const responses: Record<string, Float32Array> = {};
for (const gt of truths) {
  const clean = predict(gt, bodies);
  responses[gt.channelId] = Float32Array.from(clean, (v) => 15 + 4 * v + 0.2 * (random() - 0.5));
}
const counts: SelectionCounts = {
  topObjects: 2,
  bottomObjects: 2,
  mostSimilarObjects: 2,
  controlTop: 1,
  controlBottom: 1,
  controlMostSimilar: 1,
  retestCount: 40,
};

let fitted: GaussianReadout[];
beforeAll(async () => {
  await tf.setBackend("cpu");
  const split = splitStimuli(bodyIds, { train: 160, validation: 30, test: 10 }, 5);
  fitted = await fitGaussianReadouts(
    {
      features: bodies,
      channels: truths.map((t) => ({ channelId: t.channelId, responses: responses[t.channelId] })),
      split: split.rows,
    },
    { penalty: { kind: "l1/2", weight: 0.01 * 160 }, learningRate: 0.01, epochs: 800, patience: 100 },
  );
}, 60_000);

const input = () => ({
  readouts: fitted,
  phase1: { ids: bodyIds, features: bodies, responses },
  objects: { ids: objectIds, features: objects },
  controls: { ids: controlIds, features: controls },
});

/** Fraction of `values` strictly below values[i] (0 = lowest, → 1 = highest). */
function percentile(values: ArrayLike<number>, i: number): number {
  return Array.from(values).filter((v) => v < values[i]).length / values.length;
}

describe("selectPhase2 on a simulated day", () => {
  it("picks top objects from the top 5 % of true responses and bottom objects from the bottom 5 %", () => {
    const sel = selectPhase2(input(), counts, 1);
    for (const gt of truths) {
      const truthObj = predict(gt, objects);
      const truthCtl = predict(gt, controls);
      const mine = sel.choices.filter((c) => c.channelId === gt.channelId);
      const rows = (rule: string, list: string[]) =>
        mine.filter((c) => c.rule === rule).map((c) => list.indexOf(c.stimulusId));
      expect(rows("top-object", objectIds)).toHaveLength(2);
      for (const i of rows("top-object", objectIds))
        expect(percentile(truthObj, i)).toBeGreaterThanOrEqual(0.95);
      for (const i of rows("bottom-object", objectIds)) expect(percentile(truthObj, i)).toBeLessThan(0.05);
      for (const i of rows("top-control", controlIds))
        expect(percentile(truthCtl, i)).toBeGreaterThanOrEqual(0.9);
      for (const i of rows("bottom-control", controlIds)) expect(percentile(truthCtl, i)).toBeLessThan(0.1);
    }
  });

  it("chooses the objects maximizing s to the channel's top recorded body (checked exhaustively)", () => {
    const sel = selectPhase2(input(), counts, 1);
    for (const r of fitted) {
      const resp = responses[r.channelId];
      const top = resp.indexOf(Math.max(...resp));
      const ref = extractAtLocation(selectImages(bodies, [top]), r.location);
      for (const [set, list, rule, n] of [
        [objects, objectIds, "similar-object", 2],
        [controls, controlIds, "similar-control", 1],
      ] as [FeatureMaps, string[], string, number][]) {
        const a = extractAtLocation(set, r.location);
        const s = list.map((_, i) => neuronSimilarity(a.subarray(i * C, (i + 1) * C), ref, r.weights));
        const best = s
          .map((v, i) => [v, i] as const)
          .sort((x, y) => y[0] - x[0])
          .slice(0, n);
        const chosen = sel.choices.filter((c) => c.channelId === r.channelId && c.rule === rule);
        expect(chosen.map((c) => c.stimulusId)).toEqual(best.map(([, i]) => list[i]));
        for (const [j, c] of chosen.entries()) expect(c.score).toBeCloseTo(best[j][0], 6);
      }
    }
  });

  it("adds a retest subset spread over the response range; the phase-2 list is the deduplicated union", () => {
    const sel = selectPhase2(input(), counts, 1);
    const retest = sel.choices.filter((c) => c.rule === "retest");
    expect(retest).toHaveLength(40);
    expect(new Set(retest.map((c) => c.stimulusId)).size).toBe(40);
    expect(retest.every((c) => c.channelId === null && bodyIds.includes(c.stimulusId))).toBe(true);
    // Mean z-scored response over channels, computed here; one retest image per 5-rank stratum (200 / 40).
    const meanZ = bodyIds.map((_, i) =>
      truths.reduce((acc, gt) => {
        const r = Array.from(responses[gt.channelId]);
        const m = r.reduce((a, b) => a + b, 0) / r.length;
        const sd = Math.sqrt(r.reduce((a, b) => a + (b - m) ** 2, 0) / r.length);
        return acc + (r[i] - m) / sd / truths.length;
      }, 0),
    );
    const rank = new Map(
      [...meanZ.keys()].sort((a, b) => meanZ[a] - meanZ[b]).map((row, k) => [bodyIds[row], k]),
    );
    const strata = retest.map((c) => Math.floor(rank.get(c.stimulusId)! / 5)).sort((a, b) => a - b);
    expect(strata).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (const c of retest) expect(c.score).toBeCloseTo(meanZ[bodyIds.indexOf(c.stimulusId)], 6);
    expect(new Set(sel.stimuli).size).toBe(sel.stimuli.length);
    expect(new Set(sel.choices.map((c) => c.stimulusId))).toEqual(new Set(sel.stimuli));
    expect(selectPhase2(input(), counts, 1)).toEqual(sel);
    expect(selectPhase2(input(), counts, 2).choices.filter((c) => c.rule === "retest")).not.toEqual(retest);
  });

  it("retestRows takes exactly one row from each rank stratum", () => {
    const score = Array.from({ length: 100 }, (_, i) => (i * 37) % 100); // a permutation of 0..99
    const rows = retestRows(score, ids("s", 100), 10, 4);
    const strata = rows.map((r) => Math.floor(score[r] / 10)).sort((a, b) => a - b);
    expect(strata).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(retestRows(score, ids("s", 100), 0, 4)).toEqual([]);
  });

  it("names mismatched inputs with EPHYS_BAD_SELECTION", () => {
    expect(() =>
      selectPhase2({ ...input(), objects: { ids: objectIds.slice(1), features: objects } }, counts, 1),
    ).toThrow(
      expect.objectContaining({
        code: "EPHYS_BAD_SELECTION",
        message: expect.stringMatching(/objects\.ids/),
      }),
    );
    expect(() =>
      selectPhase2({ ...input(), phase1: { ids: bodyIds, features: bodies, responses: {} } }, counts, 1),
    ).toThrow(/phase1\.responses\["ch0"\]/);
  });
});
