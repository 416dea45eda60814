// The daemon's feature preparation and fit step on a real store, real demo photographs and the small resnet50-w8
// fixture network: features of every stimulus (and of the training silhouettes when the protocol asks) computed
// once in `preparing`; the fit trains on silhouettes only when model.augmentation.silhouettes is on (each with
// its source image's response), and recovers known readouts either way.
// The channels are shape-driven model neurons, the premise of the augmentation (body-patch neurons respond to a
// body's silhouette as to the body): a known sparse readout of the features of the image's silhouette, so an
// image and its silhouette drive a channel alike.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { computeFeatures, createFeatureExtractor } from "../../analysis/features/index.ts";
import {
  type FeatureMaps,
  type GaussianReadout,
  type GaussianReadoutJSON,
  predict,
  readoutFromJSON,
  selectImages,
} from "../../analysis/readout/index.ts";
import { buildReport } from "../../analysis/report/index.ts";
import { pearson } from "../../analysis/stats/index.ts";
import { sparseGroundTruthReadout } from "../../analysis/synthetic-neurons.ts";
import { loadConfig } from "../../config/index.ts";
import { type StepContext, stepContext } from "../../controller/day/context.ts";
import { fitStep } from "../../controller/day/steps/fit.ts";
import { hashProtocolStimuli, prepareFeatures } from "../../controller/day/steps/prepare.ts";
import { assembleReportData } from "../../controller/day/steps/report.ts";
import { type Logger, silentLogger } from "../../controller/log.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { loadProtocol } from "../../protocols/load.ts";
import { writeSilhouettes } from "../../stimuli/silhouette.ts";
import { FIXTURES } from "../analysis/backbone-fixtures.ts";
import { simulatedProtocol } from "./simulated-day.ts";

const WEIGHTS = join(FIXTURES, "resnet50-w8.safetensors");
const CHANNELS = 4;

/** The readout settings of protocols/body-patch.yaml (the defaults the day runs with). */
const defaults = loadProtocol(new URL("../../protocols/body-patch.yaml", import.meta.url).pathname).protocol
  .model;

/**
 * Every demo image is a phase-1 image here (76: split 56 / 10 / 10), so the fit has enough to learn from; the
 * readout is fitted with body-patch.yaml's penalty, learning rate and epochs.
 */
function protocolFile(dir: string, silhouettes: boolean): string {
  return simulatedProtocol(dir, {
    replace: [
      ["role: object", "role: preferred"],
      ["role: control", "role: preferred"],
      ["split: { train: 28, validation: 6, test: 6 }", "split: { train: 56, validation: 10, test: 10 }"],
      ["augmentation: { silhouettes: false }", `augmentation: { silhouettes: ${silhouettes} }`],
      ["penalty: { kind: l1/2, weight: 0.1 }", `penalty: { kind: l1/2, weight: ${defaults.penalty.weight} }`],
      ["learningRate: 1.0e-2", `learningRate: ${defaults.learningRate}`],
      ["epochs: 300", `epochs: ${defaults.epochs}`],
    ],
  });
}

interface Day {
  ctx: StepContext;
  dataDir: string;
  truths: GaussianReadout[];
  /** Features of the stimuli and of their silhouettes, in the session's stimulus order. */
  imageMaps: FeatureMaps;
  shapeMaps: FeatureMaps;
  events: (type: string) => Array<{ subtype: string; data: Record<string, unknown> }>;
}

/** A session whose channels are known sparse readouts of the fixture network's layer4.1 features. */
async function day(silhouettes: boolean, log: Logger = silentLogger): Promise<Day> {
  const dataDir = mkdtempSync(join(tmpdir(), "ephys-fit-"));
  const loaded = loadProtocol(protocolFile(dataDir, silhouettes));
  const config = loadConfig({
    env: {},
    // The kind is what the lab declares (the fixture is a random network); the day records it with the file.
    flags: {
      dataDir,
      "weights.path": WEIGHTS,
      "weights.variant": "torchvision",
      "weights.kind": silhouettes ? "robust" : "standard",
    },
  });
  const store = new SessionStore(join(dataDir, "ephysloop.db"));
  const sessionId = `fit-${silhouettes}`;
  store.createSession({
    id: sessionId,
    protocolName: loaded.protocol.name,
    protocolPath: loaded.path,
    protocolText: loaded.text,
    protocolSha256: loaded.sha256,
    codeVersion: "0.1.0+test",
    software: {},
    seed: loaded.protocol.seed,
    subject: "M1",
    rig: "rig-A",
  });
  const stimuli = await hashProtocolStimuli(loaded);
  store.insertStimuli(sessionId, stimuli);
  const channelIds = Array.from({ length: CHANNELS }, (_, k) => `ch${k}`);
  store.upsertChannels(
    sessionId,
    channelIds.map((id, index) => ({ id, probe: "A", index })),
  );
  // Known readouts over the network's features: each channel's rate has a 10 spikes/s sd around 40 spikes/s.
  const extractor = await createFeatureExtractor({
    arch: "resnet50",
    variant: "torchvision",
    layer: loaded.protocol.model.layer,
    weightsPath: WEIGHTS,
  });
  const shapes = await writeSilhouettes(stimuli, join(dataDir, "truth-silhouettes"));
  const [maps, imageMaps] = await Promise.all([
    computeFeatures({ images: shapes, extractor }),
    computeFeatures({ images: stimuli, extractor }),
  ]).finally(() => extractor.dispose());
  const truths = channelIds.map((id, k) => sparseGroundTruthReadout(maps.c, 6, 300 + k, id));
  const rates = truths.map((gt) => {
    const v = predict(gt, maps);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length) || 1;
    return Array.from(v, (x) => 40 + (10 * (x - m)) / sd);
  });
  // One shown trial per image; response window 200 ms, no baseline spikes: net rate = count / 0.2 s.
  let seq = 0;
  stimuli.forEach((s, i) => {
    const trialId = store.nextTrialId(sessionId);
    store.recordTrial(sessionId, {
      trialId,
      phase: 1,
      block: 0,
      stimulusId: s.id,
      eventCode: i + 1,
      status: "pending",
    });
    store.settleTrial(sessionId, trialId, {
      status: "shown",
      onsetMs: 500 * trialId,
      offsetMs: 500 * trialId + 200,
      droppedFrames: 0,
    });
    store.ingest(sessionId, [
      {
        seq: ++seq,
        trialId,
        channels: channelIds.map((channelId, k) => ({
          channelId,
          counts: { baseline: 0, response: Math.round(rates[k][i] * 0.2) },
        })),
      },
    ]);
  });
  const ctx: StepContext = stepContext({ store, sessionId, loaded, config, log });
  const events = (type: string) =>
    store
      .events(sessionId)
      .filter((e) => e.type === type)
      .map((e) => ({ subtype: e.subtype, data: JSON.parse(e.content) as Record<string, unknown> }));
  return { ctx, dataDir, truths, imageMaps, shapeMaps: maps, events };
}

/**
 * Pearson r of each fitted readout with its channel's noise-free response on the session's test images, from the
 * images' features (as the day predicts) and from their silhouettes' features (the truth's own input).
 */
function heldOutR(d: Day): { images: number[]; silhouettes: number[] } {
  const { store, sessionId } = d.ctx;
  const splits = store.splits(sessionId);
  const rows = store.stimuli(sessionId).flatMap((s, i) => (splits[s.id] === "test" ? [i] : []));
  expect(rows).toHaveLength(10);
  const images = selectImages(d.imageMaps, rows);
  const shapes = selectImages(d.shapeMaps, rows);
  const models = store.models(sessionId).map((m) => readoutFromJSON(m.params as GaussianReadoutJSON));
  const truth = (id: string) => d.truths.find((t) => t.channelId === id)!;
  return {
    images: models.map((m) => pearson(predict(m, images), predict(truth(m.channelId), shapes)).r),
    silhouettes: models.map((m) => pearson(predict(m, shapes), predict(truth(m.channelId), shapes)).r),
  };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function expectRecovered(rs: { images: number[]; silhouettes: number[] }): void {
  expect(median(rs.images)).toBeGreaterThan(0.7);
  expect(Math.min(...rs.images)).toBeGreaterThan(0.4);
  expect(median(rs.silhouettes)).toBeGreaterThan(0.8);
}

describe("preparing and fitting with and without silhouette augmentation", () => {
  it("trains on the training images' silhouettes when the protocol asks, and recovers the readouts", async () => {
    const d = await day(true);
    await prepareFeatures(d.ctx);
    expect(d.events("backbone")[0].data).toMatchObject({ weightsSource: WEIGHTS, weightsKind: "robust" });
    const [ready] = d.events("features");
    expect(ready.subtype).toBe("ready");
    // 76 stimuli + 56 silhouettes (one per training image), all computed now; nothing computed twice.
    expect(ready.data).toMatchObject({ images: 76 + 56, computed: 76 + 56, cached: 0 });
    await prepareFeatures(d.ctx);
    expect(d.events("features")[1].data).toMatchObject({ images: 132, computed: 0, cached: 132 });

    await fitStep(d.ctx);
    const silhouettes = readdirSync(join(d.dataDir, "silhouettes"));
    const splits = d.ctx.store.splits(d.ctx.sessionId);
    const trainSha = d.ctx.store
      .stimuli(d.ctx.sessionId)
      .filter((s) => splits[s.id] === "train")
      .map((s) => `${s.sha256}.png`);
    expect(silhouettes.sort()).toEqual(trainSha.sort()); // training images only: held-out images stay unseen
    expect(d.events("fit").find((e) => e.subtype === "augmentation")?.data).toMatchObject({
      silhouettes: 56,
    });
    const models = d.ctx.store.models(d.ctx.sessionId);
    expect(models).toHaveLength(CHANNELS);
    for (const m of models) expect(m.metrics).toMatchObject({ silhouettes: 56 });
    const rs = heldOutR(d);
    console.log(
      `fit with silhouettes: held-out r with the truth ${rs.images.map((r) => r.toFixed(3)).join(", ")}; ` +
        `on the silhouettes ${rs.silhouettes.map((r) => r.toFixed(3)).join(", ")}`,
    );
    // Measured (10 test images): r 0.50–0.88 from the images' features, 0.83–0.96 from the silhouettes'.
    expectRecovered(rs);
  }, 240_000);

  it("uses no silhouettes when the protocol does not ask, and recovers the readouts", async () => {
    const lines: string[] = [];
    const d = await day(
      false,
      pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line).msg) }),
    );
    await prepareFeatures(d.ctx);
    expect(d.events("features")[0].data).toMatchObject({ images: 76, computed: 76 });
    // Provenance (#25): the weights that ran — file, sha256 (also the session's weights_sha256) and declared kind.
    expect(d.events("backbone")[0]).toMatchObject({
      subtype: "loaded",
      data: {
        weightsSource: WEIGHTS,
        weightsKind: "standard",
        weightsSha256: d.ctx.store.getSession(d.ctx.sessionId)!.weights_sha256,
      },
    });
    await fitStep(d.ctx);
    expect(() => readdirSync(join(d.dataDir, "silhouettes"))).toThrow(/ENOENT/);
    expect(d.events("fit").some((e) => e.subtype === "augmentation")).toBe(false);
    for (const m of d.ctx.store.models(d.ctx.sessionId)) expect(m.metrics).toMatchObject({ silhouettes: 0 });
    const rs = heldOutR(d);
    console.log(
      `fit without silhouettes: held-out r with the truth ${rs.images.map((r) => r.toFixed(3)).join(", ")}; ` +
        `on the silhouettes ${rs.silhouettes.map((r) => r.toFixed(3)).join(", ")}`,
    );
    // Measured: r 0.57–0.88 from the images' features, 0.73–0.999 from the silhouettes'.
    expectRecovered(rs);
    // The fit's log line and the report give the same median held-out r (4 channels: the middle two's mean).
    const logged = lines.map((l) => l.match(/median held-out r (\S+) over (\d+) channels/)).find(Boolean);
    expect(logged?.[2]).toBe(String(CHANNELS));
    const html = await buildReport(
      await assembleReportData(d.ctx.store, d.ctx.sessionId, { config: d.ctx.config }),
    );
    expect(html).toContain(`median r = ${logged![1]} over ${CHANNELS} channels`);
  }, 240_000);
});
