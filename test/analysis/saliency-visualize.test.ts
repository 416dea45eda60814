// The visualize step on a real SessionStore (SQLite file) with the w8 ResNet-18 fixture: the pair comes from the
// recorded responses (objects in phase 2, bodies in phase 1), the maps are computed in the worker thread, written to
// <dataDir>/sessions/<id>/saliency/<channel>/ and stored as "saliency" artifacts; excluded channels are not explained.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readNpy } from "../../analysis/features/npy.ts";
import { SALIENCY_FILES } from "../../controller/commands/saliency.ts";
import { stepContext } from "../../controller/day/context.ts";
import { visualizeStep } from "../../controller/day/steps/visualize.ts";
import { silentLogger } from "../../controller/log.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { parseProtocol } from "../../protocols/load.ts";
import {
  createDemoSession,
  DEMO_PROTOCOL,
  insertDemoStimuli,
  saveReadouts,
  smallDemoProtocol,
  w8Config,
} from "../controller/stored-session.ts";

const dir = mkdtempSync(join(tmpdir(), "saliency-visualize-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const protocolText = smallDemoProtocol()
  .replace("smoothingSigmaPx: 4", "smoothingSigmaPx: 1.5")
  .replace(/epsilon: [0-9.]+/, "epsilon: 0.01");

async function sessionWithData(sessionId: string) {
  const store = new SessionStore(join(dir, "ephysloop.db"));
  createDemoSession(store, sessionId, protocolText);
  await insertDemoStimuli(store, sessionId, [
    ["objects", "object-basketball", "object"],
    ["objects", "object-beetle", "object"],
    ["objects", "object-binoculars", "object"],
    ["bodies", "body-bear", "preferred"],
    ["bodies", "body-bison", "preferred"],
  ]);
  store.upsertChannels(sessionId, [
    { id: "ch1", probe: "A", index: 0 },
    { id: "ch2", probe: "A", index: 1 },
  ]);
  // Responses (spikes in the 200 ms response window): binoculars unrecorded in phase 2; beetle the top object.
  const plan: Array<[1 | 2, string, number]> = [
    [1, "bodies/body-bear", 30],
    [1, "bodies/body-bison", 10],
    [2, "objects/object-basketball", 4],
    [2, "objects/object-beetle", 8],
  ];
  let trialId = 0;
  for (const [phase, stimulusId, n] of plan) {
    for (let rep = 0; rep < 2; rep++) {
      trialId++;
      store.recordTrial(sessionId, { trialId, phase, block: rep, stimulusId, eventCode: 1, status: "shown" });
      store.ingest(sessionId, [
        {
          seq: trialId,
          trialId,
          channels: ["ch1", "ch2"].map((channelId) => ({
            channelId,
            counts: { baseline: 0, response: n + rep },
          })),
        },
      ]);
    }
  }
  const weights = Array.from({ length: 64 }, (_, i) => Math.sin(3 * i + 1));
  saveReadouts(
    store,
    sessionId,
    ["ch1", "ch2"].map((channelId) => ({
      channelId,
      location: [0.2, -0.1],
      sigma: [0.1, 0.1],
      weights,
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
    ],
  );
  const config = w8Config(dir);
  const loaded = {
    protocol: parseProtocol(protocolText),
    text: protocolText,
    sha256: "0".repeat(64),
    path: DEMO_PROTOCOL,
  };
  return { ctx: stepContext({ store, sessionId, loaded, config, log: silentLogger }), store, sessionId };
}

describe("visualizeStep", () => {
  it("explains each included channel with its best recorded pair and stores the artifact", async () => {
    const { ctx, store, sessionId } = await sessionWithData("s1");
    const outcome = await visualizeStep(ctx);
    expect(outcome.skipped).toEqual([]);
    expect(outcome.done.map((d) => d.channelId)).toEqual(["ch1"]);
    const artifacts = store.artifacts(sessionId, "saliency");
    expect(artifacts).toHaveLength(1);
    const a = artifacts[0];
    expect(a.channelId).toBe("ch1");
    expect(a.path).toBe(join(dir, "sessions", sessionId, "saliency", "ch1"));
    const meta = a.meta as Record<string, number | string>;
    // Only recorded images compete: binoculars (no phase-2 trial) never appears.
    expect(["objects/object-basketball", "objects/object-beetle"]).toContain(meta.objectId);
    expect(["bodies/body-bear", "bodies/body-bison"]).toContain(meta.bodyId);
    expect(meta.method).toBe("gradient");
    expect(meta.normOut as number).toBeLessThanOrEqual((meta.s as number) + 1e-6);
    expect(meta.dropped as number).toBeLessThanOrEqual(0.01 * (meta.s as number));
    const summary = JSON.parse(readFileSync(join(a.path!, SALIENCY_FILES.summary), "utf8"));
    expect(summary.topObjectIds).toEqual(["objects/object-beetle", "objects/object-basketball"]);
    expect(summary.topBodyIds).toEqual(["bodies/body-bear", "bodies/body-bison"]);
    // The chosen pair has the highest s among the searched pairs (pairS from cached features ≈ s from tfjs).
    expect(summary.pairS).toBeCloseTo(meta.s as number, 2);
    const map = await readNpy(join(a.path!, SALIENCY_FILES.outMap));
    expect(map.shape).toEqual([64, 64, 3]);
    store.close();
  }, 60_000);

  it("records an event and succeeds when no channel is included", async () => {
    const { ctx, store, sessionId } = await sessionWithData("s2");
    store.saveChecks(sessionId, [], [{ channelId: "ch1", included: false, reason: "responsiveness" }]);
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
