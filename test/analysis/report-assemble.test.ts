// The report's pure assembler (stored rows → ReportData) on hand-made rows: no files, no SQLite. Every expected
// number is worked out here from the rows, not by the functions under test.
import { describe, expect, it } from "vitest";
import { assembleReport } from "../../analysis/report/assemble.ts";
import type { ReportSource } from "../../analysis/report/source.ts";

const PNG = { mime: "image/png" as const, bytes: Uint8Array.from([137, 80, 78, 71]) };

/** A small finished day: 2 channels, 3 bodies in phase 1, 4 objects + 2 control bodies in phase 2. */
function source(over: Partial<ReportSource> = {}): ReportSource {
  const readout = (channelId: string, weights: number[], bias: number, testR: number) => ({
    channelId,
    kind: "gaussian-readout",
    params: {
      channelId,
      location: [0, 0],
      sigma: [0.1, 0.1],
      weights,
      bias,
      bestEpoch: 4,
      valLossCurve: [3, 2, 1.5, 1.2, 1.1, 1.15],
      testR,
    },
    metrics: { testR },
  });
  return {
    now: "2024-05-17T18:00:00.000Z",
    session: {
      id: "s1",
      createdAt: "2024-05-17T09:00:00.000Z",
      protocolName: "demo",
      protocolPath: "/p/demo.yaml",
      protocolText: "name: demo\n",
      protocolSha256: "a".repeat(64),
      codeVersion: "0.1.0",
      softwareJson: JSON.stringify({ node: "v20.1.0", sharp: 0.35 }),
      seed: 7,
      rig: "rig-A",
      subject: "M1",
      probe: "NP1.0 #42",
      depthUm: 3150,
      region: "MSB",
      weightsSha256: "b".repeat(64),
      state: "visualizing",
      failedReason: null,
      abortedBy: null,
      startedAt: "2024-05-17T09:00:01.000Z",
      endedAt: null,
    },
    outcome: { outcome: "done", reason: null, endedAt: "2024-05-17T17:59:00.000Z" },
    protocol: {
      stimulusMs: 200,
      simulationTimeScale: null,
      windows: { baseline: { startMs: -75, endMs: 25 }, response: { startMs: 50, endMs: 250 } },
      psthBinMs: 10,
      model: { backbone: "resnet50", variant: "keras", layer: "layer4.1", imageSize: 224 },
      weights: { path: null, variant: "keras" },
      minObjectR: 0.4,
    },
    notes: [],
    events: [
      { t: Date.parse("2024-05-17T09:00:01.000Z"), type: "state", subtype: "preparing", content: "{}" },
      { t: Date.parse("2024-05-17T09:01:00.000Z"), type: "state", subtype: "phase1.running", content: "{}" },
      {
        t: 1,
        type: "trial",
        subtype: "voided",
        content: JSON.stringify({ trialId: 2, reason: "fixation break" }),
      },
      {
        t: 2,
        type: "trial",
        subtype: "voided",
        content: JSON.stringify({ trialId: 9, reason: "fixation break" }),
      },
      { t: 3, type: "trial", subtype: "voided", content: "not json" },
      {
        t: 4,
        type: "visualize",
        subtype: "channel-skipped",
        content: JSON.stringify({ channelId: "b", reason: "object r 0.12 < 0.4 (n = 3)" }),
      },
      { t: 5, type: "visualize", subtype: "channel-skipped", content: "not json" },
    ],
    channels: [
      { id: "a", probe: "A", index: 0 },
      { id: "b", probe: "A", index: 1 },
    ],
    trials: [
      { trialId: 1, phase: 1, block: 0, stimulusId: "b0", status: "shown", onsetMs: 0, offsetMs: 200 },
      { trialId: 2, phase: 1, block: 0, stimulusId: "b1", status: "voided" },
      { trialId: 3, phase: 1, block: 0, stimulusId: "b1", status: "shown", onsetMs: 900, offsetMs: 1100 },
      { trialId: 4, phase: 1, block: 0, stimulusId: "b2", status: "shown", onsetMs: 1800, offsetMs: 2000 },
      { trialId: 5, phase: 2, block: 0, stimulusId: "o0", status: "shown", onsetMs: 3000, offsetMs: 3200 },
      { trialId: 9, phase: 2, block: 0, stimulusId: "o1", status: "voided" },
      { trialId: 10, phase: 2, block: 0, stimulusId: "o1", status: "pending" },
    ],
    trialsWithData: new Set([1, 3, 5]),
    calibrations: [],
    stimuli: [
      { id: "b0", setId: "bodies", category: "body", role: "preferred", path: "/s/b0.png" },
      { id: "b1", setId: "bodies", category: "body", role: "preferred", path: "/s/b1.png" },
      { id: "b2", setId: "bodies", category: "body", role: "preferred", path: "/s/b2.png" },
      { id: "o0", setId: "objects", category: "object", role: "object", path: "/s/o0.png" },
      { id: "o1", setId: "objects", category: "object", role: "object", path: "/s/o1.png" },
      { id: "o2", setId: "objects", category: "object", role: "object", path: "/s/o2.png" },
      { id: "o3", setId: "objects", category: "object", role: "object", path: "/s/o3.png" },
      { id: "c0", setId: "control", category: "body", role: "control", path: "/s/c0.png" },
      { id: "c1", setId: "control", category: "body", role: "control", path: "/s/c1.png" },
    ],
    models: [readout("a", [1, 2], 3, 0.8), readout("b", [0.5, -1], 10, 0.25)],
    splits: { b0: "train", b1: "validation", b2: "test" },
    selections: [
      { channelId: "a", stimulusId: "o0", rule: "top-object", score: 30 },
      { channelId: "a", stimulusId: "o1", rule: "top-object", score: 25 },
      { channelId: "a", stimulusId: "o2", rule: "bottom-object", score: 2 },
      { channelId: "a", stimulusId: "o3", rule: "similar-object", score: 0.7 },
      { channelId: "a", stimulusId: "c0", rule: "top-control", score: 40 },
      { channelId: "*", stimulusId: "b0", rule: "retest", score: 0.1 },
    ],
    checks: [{ channelId: "a", name: "stability", value: 0.9, threshold: 0.6, passed: true, details: "x" }],
    decisions: [
      { channelId: "a", included: true, reason: "passed all checks" },
      { channelId: "b", included: false, reason: "failed stability" },
    ],
    rates1: new Map(),
    thumbnails: new Map(),
    psth: null,
    rates2: new Map([
      [
        "a",
        new Map([
          ["o0", [10, 20]],
          ["o1", [4]],
          ["o2", [1, 2, 3]],
          ["c0", [50, 70]],
          ["c1", [30]],
        ]),
      ],
      ["b", new Map([["o0", [5, 5]]])],
    ]),
    objectFeatures: null,
    artifacts: [
      {
        kind: "optvis",
        channelId: "a",
        path: "/art/optvis/a",
        meta: { images: [{ file: "synth-0.png", predicted: 42.31 }] },
        images: [{ name: "synth-0.png", image: PNG }],
      },
      { kind: "nwb", channelId: null, path: "/d/s1.nwb", meta: {}, images: [] },
      { kind: "report", channelId: null, path: "/d/report.html", meta: {}, images: [] },
      { kind: "channels-csv", channelId: null, path: "/d/channels.csv", meta: {}, images: [] },
    ],
    sharedFeatures: {
      panels: [
        {
          channelId: "a",
          objectId: "o0",
          bodyId: "b1",
          s: 0.6,
          k: 12,
          dropped: 0.01,
          normOut: 2,
          normIn: 3,
          objectImage: { ...PNG, bytes: Uint8Array.from([1]) },
          bodyImage: PNG,
        },
      ],
      scale: 0.25,
    },
    truth: null,
    concepts: null,
    ...over,
  };
}

describe("assembleReport", () => {
  it("counts each phase's presentations, with the reason of each voided one from the event log", () => {
    const d = assembleReport(source());
    expect(d.trials).toEqual([
      { phase: 1, shown: 3, voided: 1, pending: 0, withData: 2, voidReasons: { "fixation break": 1 } },
      { phase: 2, shown: 1, voided: 1, pending: 1, withData: 1, voidReasons: { "fixation break": 1 } },
    ]);
  });

  it("takes the final state, its reasons and the end time from the outcome when the store has none yet", () => {
    const done = assembleReport(source()).session;
    expect(done.state).toBe("done");
    expect(done.endedAt).toBe("2024-05-17T17:59:00.000Z");
    expect(done.failedReason).toBeNull();
    expect(done.abortedBy).toBeNull();
    expect(done.software).toEqual({ node: "v20.1.0", sharp: "0.35" });
    expect(done.stateHistory).toEqual([
      { state: "preparing", at: "2024-05-17T09:00:01.000Z" },
      { state: "phase1.running", at: "2024-05-17T09:01:00.000Z" },
      // Not in the log yet (the step runs before the machine's state is stored): added at the end time.
      { state: "reporting", at: "2024-05-17T17:59:00.000Z" },
    ]);
    expect([done.probe, done.depthUm, done.region]).toEqual(["NP1.0 #42", 3150, "MSB"]);
    // A stored end time (the first time the day ended) wins over the report step's clock.
    const stored = source();
    stored.session.endedAt = "2024-05-17T17:58:30.000Z";
    expect(assembleReport(stored).session.endedAt).toBe("2024-05-17T17:58:30.000Z");

    const aborted = source({ outcome: { outcome: "aborted", reason: "operator (API)" } });
    aborted.session.failedReason = "electrode drift";
    const a = assembleReport(aborted).session;
    expect([a.state, a.abortedBy, a.failedReason]).toEqual(["aborted", "operator (API)", "electrode drift"]);
    const f = assembleReport(source({ outcome: { outcome: "failed", reason: "fitting: out of memory" } }));
    expect([f.session.state, f.session.failedReason]).toEqual(["failed", "fitting: out of memory"]);
    // Without an outcome (a report written later): the stored state.
    expect(assembleReport(source({ outcome: undefined })).session.state).toBe("visualizing");
  });

  it("notes software versions that are not JSON instead of failing", () => {
    const s = source();
    s.session.softwareJson = "{oops";
    const d = assembleReport(s);
    expect(d.session.software).toEqual({});
    expect(d.notes).toEqual(["The stored software versions are not valid JSON."]);
  });

  it("gives each model its held-out r and n = the test split", () => {
    const d = assembleReport(source());
    expect(d.models.map((m) => [m.channelId, m.testR, m.nTest, m.bestEpoch])).toEqual([
      ["a", 0.8, 1, 4],
      ["b", 0.25, 1, 4],
    ]);
  });

  it("without cached features, compares the stored top/bottom scores with the recorded phase-2 means", () => {
    const d = assembleReport(source());
    // Channel a: o0 (30 vs mean(10, 20)), o1 (25 vs 4), o2 (2 vs mean(1, 2, 3)); o3 is "similar" (an s, not a rate).
    expect(d.objectPredictions).toEqual([
      {
        channelId: "a",
        source: "predicted responses stored with the phase-2 selection (top and bottom objects)",
        points: [
          { stimulusId: "o0", predicted: 30, recorded: 15 },
          { stimulusId: "o1", predicted: 25, recorded: 4 },
          { stimulusId: "o2", predicted: 2, recorded: 2 },
        ],
      },
    ]);
  });

  it("with every shown object's features cached, predicts them with each readout (w·f + b)", () => {
    // Objects shown in phase 2 on any channel: o0, o1, o2 (o3 never recorded). 1×1 maps with 2 features.
    const f: Record<string, [number, number]> = { o0: [1, 2], o1: [0, 4], o2: [3, 0.5] };
    const ids = ["o0", "o1", "o2"];
    const d = assembleReport(
      source({
        objectFeatures: {
          ids,
          maps: { n: 3, h: 1, w: 1, c: 2, data: Float32Array.from(ids.flatMap((id) => f[id])) },
        },
      }),
    );
    const a = d.objectPredictions.find((o) => o.channelId === "a")!;
    expect(a.source).toMatch(/cached backbone features/);
    expect(a.points.map((p) => p.predicted)).toEqual([1 + 4 + 3, 0 + 8 + 3, 3 + 1 + 3]);
    expect(a.points.map((p) => p.recorded)).toEqual([15, 4, 2]);
    const b = d.objectPredictions.find((o) => o.channelId === "b")!;
    expect(b.points).toEqual([{ stimulusId: "o0", predicted: 0.5 - 2 + 10, recorded: 5 }]);
    // Features for another set of objects than those shown: not used.
    const stale = assembleReport(
      source({
        objectFeatures: { ids: ["o0"], maps: { n: 1, h: 1, w: 1, c: 2, data: Float32Array.of(1, 2) } },
      }),
    );
    expect(stale.objectPredictions[0].source).toMatch(/stored with the phase-2 selection/);
  });

  it("sets the visualized objects' responses against the mean object and mean body of phase 2", () => {
    const d = assembleReport(source());
    const a = d.responses.find((r) => r.channelId === "a")!;
    // Objects recorded: o0 15, o1 4, o2 2 → 7; bodies recorded: c0 60, c1 30 → 45.
    expect(a).toEqual({
      channelId: "a",
      visualized: [{ stimulusId: "o0", rate: 15 }],
      meanObject: 7,
      meanBody: 45,
      nObjects: 3,
      nBodies: 2,
    });
    // Channel b has no saliency panel: its top objects (none selected) are "visualized".
    expect(d.responses.find((r) => r.channelId === "b")!.visualized).toEqual([]);
  });

  it("keeps the reader's shared-feature panels and the skipped channels, captions synthesized images, and skips the report's own files", () => {
    const d = assembleReport(source());
    expect(d.sharedFeatures.map((p) => [p.channelId, p.objectId, p.bodyId])).toEqual([["a", "o0", "b1"]]);
    expect(d.sharedFeatureScale).toBe(0.25);
    expect(d.minObjectR).toBe(0.4);
    // The skip event with unreadable content is passed over, not thrown on.
    expect(d.sharedFeatureSkips).toEqual([{ channelId: "b", reason: "object r 0.12 < 0.4 (n = 3)" }]);
    expect(d.truth).toBeNull();
    expect(d.optionalAnalyses.map((a) => a.kind)).toEqual(["optvis"]);
    expect(d.optionalAnalyses[0].items[0].images[0].caption).toBe(
      "synth-0.png: predicted 42.3 spikes/s (not a phase-2 stimulus)",
    );
  });

  it("reads the concept maps' summary, or says why it could not", () => {
    const ok = assembleReport(
      source({
        concepts: {
          meta: {},
          path: "/c",
          montage: null,
          summary: {
            text: JSON.stringify({
              images: 4,
              nodes: 196,
              channels: 2,
              settings: { k: 3 },
              eigenvalues: [1, 0.5],
              concepts: [
                { id: 0, fraction: 0.5, color: [1, 2, 3], channels: ["a"], topImages: [{ imageId: "o0" }] },
              ],
              channelTable: [{ channelId: "a", dominant: 0, distribution: [1] }],
            }),
          },
        },
      }),
    ).concepts!;
    expect([ok.images, ok.nodes, ok.concepts[0].topImages, ok.channelTable[0].channelId]).toEqual([
      4,
      196,
      ["o0"],
      "a",
    ]);
    const bad = assembleReport(
      source({ concepts: { meta: { images: 4 }, path: "/c", montage: null, summary: { text: "{" } } }),
    ).concepts!;
    expect(bad.images).toBe(4);
    expect(bad.note).toMatch(/^clusters\.json could not be read from \/c \(/);
  });

  it("lists each channel's selection in rule order with its score and phase-2 mean; the retest images once", () => {
    const d = assembleReport(source({ thumbnails: new Map([["o0", PNG]]) }));
    expect(d.selection!.channels.map((c) => c.channelId)).toEqual(["a"]);
    expect(
      d.selection!.channels[0].images.map((i) => [i.rule, i.stimulusId, i.score, i.recorded, i.trials]),
    ).toEqual([
      ["top-object", "o0", 30, 15, 2],
      ["top-object", "o1", 25, 4, 1],
      ["bottom-object", "o2", 2, 2, 3],
      ["similar-object", "o3", 0.7, null, 0],
      ["top-control", "c0", 40, 60, 2],
    ]);
    expect(d.selection!.channels[0].images[0].thumbnail).toEqual(PNG);
    expect(d.selection!.channels[0].images[1].thumbnail).toBeNull();
    expect(d.selection!.retest).toEqual([{ stimulusId: "b0", score: 0.1, thumbnail: null }]);
    expect(assembleReport(source({ selections: [] })).selection).toBeNull();
  });

  it("sets each channel's retest images' phase-1 means against their phase-2 means, with r", () => {
    const src = source({
      selections: ["b0", "b1", "b2", "b1"].map((id) => ({
        channelId: "*",
        stimulusId: id,
        rule: "retest",
        score: 0,
      })),
      rates1: new Map([
        [
          "a",
          new Map([
            ["b0", [10]],
            ["b1", [20, 30]],
            ["b2", [5]],
          ]),
        ],
        ["b", new Map([["b0", [1]]])],
      ]),
      rates2: new Map([
        [
          "a",
          new Map([
            ["b0", [12]],
            ["b1", [22]],
            ["b2", [2, 6]],
          ]),
        ],
        ["b", new Map([["b0", [3]]])],
      ]),
    });
    const [a, b] = assembleReport(src).retest!;
    expect(a.points).toEqual([
      { stimulusId: "b0", phase1: 10, phase2: 12 },
      { stimulusId: "b1", phase1: 25, phase2: 22 },
      { stimulusId: "b2", phase1: 5, phase2: 4 },
    ]);
    // r by hand: x − x̄ = (−10/3, 35/3, −25/3), y − ȳ = (−2/3, 28/3, −26/3).
    const sxy = (20 + 980 + 650) / 9;
    const sxx = (100 + 1225 + 625) / 9;
    const syy = (4 + 784 + 676) / 9;
    expect(a.r).toBeCloseTo(sxy / Math.sqrt(sxx * syy), 14);
    expect(a.storedR).toBe(0.9);
    // One retest image in both phases: no r, and no stored check for channel b.
    expect([b.channelId, b.points.length, b.r, b.storedR]).toEqual(["b", 1, null, null]);
  });

  it("sums each channel up for channels.csv: decision, checks, held-out and object r, panels", () => {
    const d = assembleReport(source());
    expect(d.channelSummary).toMatchObject([
      {
        channel: "a",
        included: true,
        stabilityR: 0.9,
        heldoutBodyR: 0.8,
        heldoutBodies: 1,
        objects: 3,
        visualized: true,
      },
      {
        channel: "b",
        included: false,
        stabilityR: null,
        heldoutBodyR: 0.25,
        objectR: null,
        objects: 0,
        visualized: false,
      },
    ]);
    // Object r of channel a over (30, 15), (25, 4), (2, 2).
    const x = [30, 25, 2];
    const y = [15, 4, 2];
    const mx = 19;
    const my = 7;
    const r =
      x.reduce((s, v, i) => s + (v - mx) * (y[i] - my), 0) /
      Math.sqrt(x.reduce((s, v) => s + (v - mx) ** 2, 0) * y.reduce((s, v) => s + (v - my) ** 2, 0));
    expect(d.channelSummary![0].objectR).toBeCloseTo(r, 14);
  });
});
