// The visualize step on a real SessionStore (SQLite file) with the w8 ResNet-18 fixture: the pair comes from the
// recorded responses (objects in phase 2, bodies in phase 1), the maps are computed in the worker thread, written to
// <dataDir>/sessions/<id>/saliency/<channel>/ and stored as "saliency" artifacts; excluded channels are not explained,
// and neither are kept channels whose model does not predict the phase-2 objects (object r ≤ minObjectR): every
// model's object r is stored with its metrics, here checked against a Pearson r computed in the test.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { computeFeatures, createFeatureExtractor } from "../../analysis/features/index.ts";
import { readNpy } from "../../analysis/features/npy.ts";
import { SALIENCY_FILES } from "../../controller/commands/saliency.ts";
import { stepContext } from "../../controller/day/context.ts";
import { visualizeStep } from "../../controller/day/steps/visualize.ts";
import { silentLogger } from "../../controller/log.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { parseProtocol } from "../../protocols/load.ts";
import { pearsonR } from "../by-hand.ts";
import {
  createDemoSession,
  DEMO_PROTOCOL,
  insertDemoStimuli,
  saveReadouts,
  smallDemoProtocol,
  W8_RESNET18,
  w8Config,
} from "../controller/stored-session.ts";

const dir = mkdtempSync(join(tmpdir(), "saliency-visualize-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const protocolText = smallDemoProtocol()
  .replace("smoothingSigmaPx: 4", "smoothingSigmaPx: 1.5")
  .replace(/epsilon: [0-9.]+/, "epsilon: 0.01");

const OBJECTS = ["object-basketball", "object-beetle", "object-kettle", "object-binoculars"];
const LOCATION: [number, number] = [0.2, -0.1];
const WEIGHTS = Array.from({ length: 64 }, (_, i) => Math.sin(3 * i + 1));

/** Predicted responses of the readout (LOCATION, WEIGHTS, bias 0) to `maps`' images: bilinear sample · w. */
function predictByHand(maps: { n: number; h: number; w: number; c: number; data: Float32Array }): number[] {
  const px = ((LOCATION[0] + 1) / 2) * (maps.w - 1);
  const py = ((LOCATION[1] + 1) / 2) * (maps.h - 1);
  const x0 = Math.min(Math.floor(px), maps.w - 2);
  const y0 = Math.min(Math.floor(py), maps.h - 2);
  const fx = px - x0;
  const fy = py - y0;
  const taps: Array<[number, number, number]> = [
    [y0, x0, (1 - fx) * (1 - fy)],
    [y0, x0 + 1, fx * (1 - fy)],
    [y0 + 1, x0, (1 - fx) * fy],
    [y0 + 1, x0 + 1, fx * fy],
  ];
  return Array.from({ length: maps.n }, (_, i) => {
    let s = 0;
    for (const [y, x, g] of taps)
      for (let j = 0; j < maps.c; j++)
        s += g * maps.data[((i * maps.h + y) * maps.w + x) * maps.c + j] * WEIGHTS[j];
    return s;
  });
}

async function sessionWithData(sessionId: string) {
  const store = new SessionStore(join(dir, "ephysloop.db"));
  createDemoSession(store, sessionId, protocolText);
  await insertDemoStimuli(store, sessionId, [
    ...OBJECTS.map((id) => ["objects", id, "object"] as const),
    ["bodies", "body-bear", "preferred"],
    ["bodies", "body-bison", "preferred"],
  ]);
  // The prepare step's work: every stimulus's features in the cache, and the weights' hash with the session.
  const extractor = await createFeatureExtractor({
    arch: "resnet18",
    variant: "torchvision",
    layer: "layer4.1",
    imageSize: 64,
    weightsPath: W8_RESNET18,
  });
  const stimuli = store.stimuli(sessionId);
  const objectRows = stimuli.filter((s) => s.role === "object");
  const features = await computeFeatures({ images: objectRows, extractor, root: join(dir, "features") });
  store.setWeightsHash(sessionId, extractor.weightsSha256);
  await extractor.dispose();
  const predicted = predictByHand(features);
  store.upsertChannels(sessionId, [
    { id: "ch1", probe: "A", index: 0 },
    { id: "ch2", probe: "A", index: 1 },
    { id: "ch3", probe: "A", index: 2 },
  ]);
  // Phase-2 spikes per object: ch1 and ch2 in the order of the model's predictions, ch3 in the reverse order;
  // binoculars unrecorded in phase 2. Bodies: bear above bison.
  const recordedIds = objectRows.filter((s) => s.id !== "objects/object-binoculars").map((s) => s.id);
  const order = recordedIds
    .map((id) => ({ id, p: predicted[objectRows.findIndex((s) => s.id === id)] }))
    .sort((a, b) => a.p - b.p);
  const spikes = (channelId: string, stimulusId: string): number => {
    if (stimulusId === "bodies/body-bear") return 30;
    if (stimulusId === "bodies/body-bison") return 10;
    const rank = order.findIndex((o) => o.id === stimulusId);
    return 4 + 2 * (channelId === "ch3" ? order.length - 1 - rank : rank);
  };
  const plan: Array<[1 | 2, string]> = [
    [1, "bodies/body-bear"],
    [1, "bodies/body-bison"],
    ...recordedIds.map((id): [2, string] => [2, id]),
  ];
  let trialId = 0;
  for (const [phase, stimulusId] of plan) {
    for (let rep = 0; rep < 2; rep++) {
      trialId++;
      store.recordTrial(sessionId, { trialId, phase, block: rep, stimulusId, eventCode: 1, status: "shown" });
      store.ingest(sessionId, [
        {
          seq: trialId,
          trialId,
          channels: ["ch1", "ch2", "ch3"].map((channelId) => ({
            channelId,
            counts: { baseline: 0, response: spikes(channelId, stimulusId) + rep },
          })),
        },
      ]);
    }
  }
  saveReadouts(
    store,
    sessionId,
    ["ch1", "ch2", "ch3"].map((channelId) => ({
      channelId,
      location: LOCATION,
      sigma: [0.1, 0.1],
      weights: WEIGHTS,
      bias: 0,
      bestEpoch: 0,
      valLossCurve: [1],
      testR: 0.5,
    })),
  );
  store.saveChecks(
    sessionId,
    [],
    [
      { channelId: "ch1", included: true, reason: "all checks passed" },
      { channelId: "ch2", included: false, reason: "stability" },
      { channelId: "ch3", included: true, reason: "all checks passed" },
    ],
  );
  const config = w8Config(dir);
  const loaded = {
    protocol: parseProtocol(protocolText),
    text: protocolText,
    sha256: "0".repeat(64),
    path: DEMO_PROTOCOL,
  };
  // Expected object r per channel: predictions against mean net rates (response window 200 ms, no baseline).
  const expectedR = (channelId: string) =>
    pearsonR(
      recordedIds.map((id) => predicted[objectRows.findIndex((s) => s.id === id)]),
      recordedIds.map((id) => (spikes(channelId, id) + 0.5) / 0.2),
    );
  return {
    ctx: stepContext({ store, sessionId, loaded, config, log: silentLogger }),
    store,
    sessionId,
    expectedR,
    order,
  };
}

describe("visualizeStep", () => {
  it("explains each included channel whose model predicts objects, with its best recorded pair", async () => {
    const { ctx, store, sessionId, expectedR, order } = await sessionWithData("s1");
    const outcome = await visualizeStep(ctx);
    expect(outcome.done.map((d) => d.channelId)).toEqual(["ch1"]);
    // ch3 passed the checks, but its model predicts the objects in the wrong order.
    expect(outcome.skipped.map((k) => k.channelId)).toEqual(["ch3"]);
    expect(outcome.skipped[0].reason).toMatch(
      /r = -?\d\.\d\d over 3 objects, expected r > 0\.4 \(visualization\.minObjectR\)/,
    );
    // Every model's object r (ch2's too, excluded by the checks) is stored with its metrics.
    const metrics = new Map(
      store.models(sessionId).map((m) => [m.channelId, m.metrics as Record<string, number>]),
    );
    expect(expectedR("ch1")).toBeGreaterThan(0.4);
    expect(expectedR("ch3")).toBeLessThan(0);
    for (const ch of ["ch1", "ch2", "ch3"]) {
      expect(metrics.get(ch)!.objectR, ch).toBeCloseTo(expectedR(ch), 3);
      expect(metrics.get(ch)!.objectN, ch).toBe(3);
    }
    expect(metrics.get("ch3")!.objectPasses).toBe(false);
    const artifacts = store.artifacts(sessionId, "saliency");
    expect(artifacts).toHaveLength(1);
    const a = artifacts[0];
    expect(a.channelId).toBe("ch1");
    expect(a.path).toBe(join(dir, "sessions", sessionId, "saliency", "ch1"));
    const meta = a.meta as Record<string, number | string>;
    // Only recorded images compete: binoculars (no phase-2 trial) never appears.
    expect(["objects/object-basketball", "objects/object-beetle", "objects/object-kettle"]).toContain(
      meta.objectId,
    );
    expect(["bodies/body-bear", "bodies/body-bison"]).toContain(meta.bodyId);
    expect(meta.method).toBe("gradient");
    expect(meta.normOut as number).toBeLessThanOrEqual((meta.s as number) + 1e-6);
    expect(meta.dropped as number).toBeLessThanOrEqual(0.01 * (meta.s as number));
    const summary = JSON.parse(readFileSync(join(a.path!, SALIENCY_FILES.summary), "utf8"));
    expect(summary.topObjectIds).toEqual([...order].reverse().map((o) => o.id));
    expect(summary.topBodyIds).toEqual(["bodies/body-bear", "bodies/body-bison"]);
    // The chosen pair has the highest s among the searched pairs (pairS from cached features ≈ s from tfjs).
    expect(summary.pairS).toBeCloseTo(meta.s as number, 2);
    const map = await readNpy(join(a.path!, SALIENCY_FILES.outMap));
    expect(map.shape).toEqual([64, 64, 3]);
    store.close();
  }, 60_000);

  it("records an event and succeeds when no channel is included", async () => {
    const { ctx, store, sessionId } = await sessionWithData("s2");
    store.saveChecks(
      sessionId,
      [],
      [
        { channelId: "ch1", included: false, reason: "responsiveness" },
        { channelId: "ch3", included: false, reason: "responsiveness" },
      ],
    );
    const before = store.artifacts(sessionId, "saliency").length;
    const outcome = await visualizeStep(ctx);
    expect(outcome).toEqual({ done: [], skipped: [] });
    expect(store.artifacts(sessionId, "saliency")).toHaveLength(before);
    expect(
      store.events(sessionId).some((e) => e.type === "visualize" && e.subtype === "nothing-to-explain"),
    ).toBe(true);
    store.close();
  });
});
