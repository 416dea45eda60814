// A simulated day's truth appendix end to end: the virtual rig's neurons (controller/simulate/neurons.ts) written as
// the simulator writes them into the session folder, the report step reading them against the stored models and
// phase-2 choices, and truth.csv beside report.html — its numbers recomputed here from the simulator's seeds alone:
// the location from the first two draws of mulberry32(seed × 1000 + k + 1), the weights as the top eigenvector of
// A_inᵀA_in − A_outᵀA_out by dense power iteration, the oracle's choices by sorting the drives a·w.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SIMULATION_TRUTH_FILE } from "../../analysis/simulation-truth.ts";
import { syntheticFeatureMaps } from "../../analysis/synthetic-neurons.ts";
import { loadConfig } from "../../config/index.ts";
import { reportDir, writeSessionReport } from "../../controller/day/steps/report.ts";
import { buildGroundTruth, writeTruthFile } from "../../controller/simulate/neurons.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { parseProtocol } from "../../protocols/load.ts";
import { createDemoSession, smallDemoProtocol } from "./stored-session.ts";

const dir = mkdtempSync(join(tmpdir(), "ephys-truth-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SEED = 7;
const EXTENT = 0.5;
const [H, W, C] = [5, 5, 12];
const ids = [
  ...Array.from({ length: 16 }, (_, i) => `bodies/b${i}`),
  ...Array.from({ length: 14 }, (_, i) => `objects/o${i}`),
  ...Array.from({ length: 8 }, (_, i) => `control-bodies/c${i}`),
];
const category = (id: string) => (id.startsWith("objects/") ? "object" : "body");
const features = syntheticFeatureMaps(ids.length, H, W, C, 42, 0.05);
const CHANNELS = ["ch001", "ch002", "ch003"];

/** mulberry32, written out here (the simulator's seeds are the contract, not its code). */
function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Features of image i at (x, y) by bilinear interpolation (grid_sample, align_corners=True). */
function sample(i: number, x: number, y: number): number[] {
  const px = ((x + 1) / 2) * (W - 1);
  const py = ((y + 1) / 2) * (H - 1);
  const x0 = Math.min(Math.floor(px), W - 2);
  const y0 = Math.min(Math.floor(py), H - 2);
  const fx = px - x0;
  const fy = py - y0;
  const at = (yy: number, xx: number, j: number) => features.data[((i * H + yy) * W + xx) * C + j];
  return Array.from(
    { length: C },
    (_, j) =>
      (1 - fx) * (1 - fy) * at(y0, x0, j) +
      fx * (1 - fy) * at(y0, x0 + 1, j) +
      (1 - fx) * fy * at(y0 + 1, x0, j) +
      fx * fy * at(y0 + 1, x0 + 1, j),
  );
}

const dot = (a: number[], b: ArrayLike<number>) => a.reduce((s, v, j) => s + v * b[j], 0);

/** The neuron of channel k recomputed: location, unit weights (top eigenvector, signed), drive per stimulus. */
function expectedNeuron(k: number) {
  const random = mulberry(SEED * 1000 + k + 1);
  const location: [number, number] = [2 * EXTENT * random() - EXTENT, 2 * EXTENT * random() - EXTENT];
  const a = ids.map((_, i) => sample(i, location[0], location[1]));
  const m = Array.from({ length: C }, () => new Array(C).fill(0));
  a.forEach((row, i) => {
    const sign = category(ids[i]) === "body" ? 1 : -1;
    for (let p = 0; p < C; p++) for (let q = 0; q < C; q++) m[p][q] += sign * row[p] * row[q];
  });
  // Power iteration on M + cI (c = Frobenius norm: every eigenvalue shifted ≥ 0, the top one stays on top).
  const c = Math.sqrt(m.flat().reduce((s, v) => s + v * v, 0));
  let v = Array.from({ length: C }, (_, j) => 1 + j / C);
  for (let it = 0; it < 20000; it++) {
    const next = m.map((row, p) => dot(row, v) + c * v[p]);
    const n = Math.sqrt(dot(next, next));
    v = next.map((x) => x / n);
  }
  const drive0 = a.map((row) => dot(row, v));
  const inDrive = drive0.filter((_, i) => category(ids[i]) === "body").reduce((s, d) => s + d, 0);
  if (inDrive < 0) v = v.map((x) => -x);
  const drive = a.map((row) => dot(row, v));
  return { location, weights: v, drive, a };
}

describe("the truth appendix of a simulated day", () => {
  it("matches the neurons recomputed from the simulator's seeds: location error, weight cosine, selection hits", async () => {
    const truth = await buildGroundTruth({
      channels: CHANNELS,
      stimuli: ids.map((id) => ({ id, path: `/nowhere/${id}.png`, category: category(id) })),
      preferredCategory: "body",
      baselineRate: 8,
      peakRate: 100,
      seed: SEED,
      features,
      receptiveFieldExtent: EXTENT,
    });
    // A stored session: the models (perturbed truths), and phase-2 choices a selection might have made.
    const store = new SessionStore(join(dir, "ephysloop.db"));
    const sessionId = "sim-day";
    const text = smallDemoProtocol();
    createDemoSession(store, sessionId, text);
    store.insertStimuli(
      sessionId,
      ids.map((id, i) => ({
        id,
        setId: id.split("/")[0],
        category: category(id),
        role: id.startsWith("bodies/") ? "preferred" : id.startsWith("objects/") ? "object" : "control",
        path: `/nowhere/${id}.png`,
        sha256: i.toString(16).padStart(64, "0"),
      })),
    );
    store.upsertChannels(
      sessionId,
      CHANNELS.map((id, index) => ({ id, probe: "A", index })),
    );
    const random = mulberry(99);
    const fitted = CHANNELS.map((channelId, k) => ({
      channelId,
      location: [0.3 * k - 0.3, 0.1 * k] as [number, number],
      sigma: [0.1, 0.1],
      weights: Array.from({ length: C }, () => random() - 0.5),
      bias: 3,
      bestEpoch: 0,
      valLossCurve: [1],
      testR: 0.5,
    }));
    store.saveModels(
      sessionId,
      fitted.map((params) => ({
        channelId: params.channelId,
        kind: "gaussian-readout",
        params,
        metrics: {},
      })),
    );
    const objects = ids.filter((id) => id.startsWith("objects/"));
    const controls = ids.filter((id) => id.startsWith("control-bodies/"));
    const choices = CHANNELS.flatMap((channelId, k) => [
      ...objects
        .slice(k, k + 3)
        .map((stimulusId) => ({ channelId, stimulusId, rule: "top-object", score: 0 })),
      ...objects
        .slice(8, 10)
        .map((stimulusId) => ({ channelId, stimulusId, rule: "bottom-object", score: 0 })),
      ...objects
        .slice(2 * k, 2 * k + 2)
        .map((stimulusId) => ({ channelId, stimulusId, rule: "similar-object", score: 0 })),
      ...controls
        .slice(k, k + 2)
        .map((stimulusId) => ({ channelId, stimulusId, rule: "top-control", score: 0 })),
      ...controls
        .slice(5, 7)
        .map((stimulusId) => ({ channelId, stimulusId, rule: "bottom-control", score: 0 })),
    ]);
    store.saveSelections(sessionId, choices);
    const config = loadConfig({ env: {}, flags: { dataDir: dir } });
    await writeTruthFile(
      join(reportDir(config, sessionId), SIMULATION_TRUTH_FILE),
      truth.truth,
      "0".repeat(64),
    );

    const files = await writeSessionReport(store, sessionId, {
      config,
      protocol: parseProtocol(text),
      now: "2024-01-01T00:00:00Z",
    });
    const csv = readFileSync(join(reportDir(config, sessionId), "truth.csv"), "utf8")
      .trim()
      .split("\n");
    const head = csv[0].split(",");
    expect(head.slice(0, 5)).toEqual([
      "channel",
      "location_error",
      "weight_cosine",
      "selection_hits",
      "selection_total",
    ]);
    const rows = new Map(csv.slice(1).map((line) => [line.split(",")[0], line.split(",")]));
    const col = (name: string) => head.indexOf(name);

    let allHits = 0;
    for (const [k, channelId] of CHANNELS.entries()) {
      const n = expectedNeuron(k);
      const row = rows.get(channelId)!;
      const fit = fitted[k];
      const locationError = Math.hypot(fit.location[0] - n.location[0], fit.location[1] - n.location[1]);
      expect(Number(row[col("location_error")]), channelId).toBeCloseTo(locationError, 3);
      const cosine = dot(fit.weights, n.weights) / Math.sqrt(dot(fit.weights, fit.weights));
      expect(Number(row[col("weight_cosine")]), channelId).toBeCloseTo(cosine, 3);
      // Oracle: the k highest / lowest drives of the pool, or the highest similarity to the best body.
      const drive = new Map(ids.map((id, i) => [id, n.drive[i]]));
      const bodies = ids.filter((id) => id.startsWith("bodies/"));
      const best = bodies.reduce((b, id) => (drive.get(id)! > drive.get(b)! ? id : b));
      const ref = n.a[ids.indexOf(best)].map((v, j) => v * n.weights[j] ** 2);
      const simil = (id: string) => {
        const x = n.a[ids.indexOf(id)];
        const nx = Math.sqrt(x.reduce((s, v, j) => s + (v * n.weights[j]) ** 2, 0));
        const nr = Math.sqrt(n.a[ids.indexOf(best)].reduce((s, v, j) => s + (v * n.weights[j]) ** 2, 0));
        return dot(x, ref) / (nx * nr);
      };
      let hits = 0;
      let total = 0;
      for (const rule of ["top-object", "bottom-object", "similar-object", "top-control", "bottom-control"]) {
        const mine = choices
          .filter((c) => c.channelId === channelId && c.rule === rule)
          .map((c) => c.stimulusId);
        const pool = rule.endsWith("-object") ? objects : controls;
        const score = rule.startsWith("similar") ? simil : (id: string) => drive.get(id)!;
        const sorted = [...pool].sort((x, y) => score(y) - score(x));
        const oracle = new Set(
          rule.startsWith("bottom") ? sorted.slice(-mine.length) : sorted.slice(0, mine.length),
        );
        const h = mine.filter((id) => oracle.has(id)).length;
        expect(row[col(`${rule.replace("-", "_")}_hits`)], `${channelId} ${rule}`).toBe(
          `${h}/${mine.length}`,
        );
        hits += h;
        total += mine.length;
      }
      expect(Number(row[col("selection_hits")])).toBe(hits);
      expect(Number(row[col("selection_total")])).toBe(total);
      allHits += hits;
    }
    expect(allHits).toBeGreaterThan(0); // the choices above do hit the oracle somewhere: the count is exercised
    const html = readFileSync(files.path, "utf8");
    expect(html).toContain('id="truth"');
    store.close();
  }, 60_000);

  it("shows no appendix, and says why, when the truth was written for another protocol", async () => {
    const store = new SessionStore(join(dir, "ephysloop.db"));
    const sessionId = "sim-day-2";
    const text = smallDemoProtocol();
    createDemoSession(store, sessionId, text);
    const config = loadConfig({ env: {}, flags: { dataDir: dir } });
    const truth = await buildGroundTruth({
      channels: ["ch001"],
      stimuli: ids.map((id) => ({ id, path: `/nowhere/${id}.png`, category: category(id) })),
      preferredCategory: "body",
      baselineRate: 8,
      peakRate: 100,
      seed: SEED,
      features,
    });
    await writeTruthFile(
      join(reportDir(config, sessionId), SIMULATION_TRUTH_FILE),
      truth.truth,
      "f".repeat(64),
    );
    const files = await writeSessionReport(store, sessionId, { config, protocol: parseProtocol(text) });
    const html = readFileSync(files.path, "utf8");
    expect(html).not.toContain('id="truth"');
    expect(html).toContain("was written for another protocol");
    store.close();
  });
});
