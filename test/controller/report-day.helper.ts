// A realistic simulated recording day written into a real SessionStore through the store's own methods: channels,
// stimuli, phase-1 and phase-2 presentations (some voided by fixation breaks), Poisson spike counts via ingest,
// readout models with held-out r, phase-2 selections, the real channel checks (one channel is unresponsive and
// fails), saliency and optional-analysis artifacts with PNG overlays. Also a day aborted during phase 1.
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { mulberry32, type Random, shuffleInPlace } from "../../analysis/random.ts";
import { splitStimuli } from "../../analysis/readout/splits.ts";
import { pearson } from "../../analysis/stats/index.ts";
import { type Config, loadConfig } from "../../config/index.ts";
import { type StepContext, stepContext } from "../../controller/day/context.ts";
import { checkStep } from "../../controller/day/steps/check.ts";
import { silentLogger } from "../../controller/log.ts";
import { SessionStore, type StimulusRecord } from "../../controller/store/store.ts";
import { type LoadedProtocol, loadProtocol } from "../../protocols/load.ts";

export const CHANNELS = ["ch0", "ch1", "ch2", "ch3", "ch4", "ch5"];
/** The channel with no stimulus-driven response: it fails the checks. */
export const DEAD_CHANNEL = "ch4";

const sha = (i: number) => i.toString(16).padStart(64, "0");

export interface FakeDay {
  store: SessionStore;
  config: Config;
  loaded: LoadedProtocol;
  ctx: StepContext;
  sessionId: string;
  stimuli: StimulusRecord[];
}

function newSession(store: SessionStore, loaded: LoadedProtocol, id: string): void {
  store.createSession({
    id,
    protocolName: loaded.protocol.name,
    protocolPath: loaded.path,
    protocolText: loaded.text,
    protocolSha256: loaded.sha256,
    codeVersion: "0.1.0+test",
    software: { node: process.version, xstate: "5.x", "better-sqlite3": "12.x" },
    seed: loaded.protocol.seed,
    subject: "M1",
    rig: "rig-A",
    probe: "Neuropixels 1.0 #18194823132",
    depthUm: 3150,
    region: "MSB body patch, left hemisphere",
  });
  store.setWeightsHash(id, "ab".repeat(32));
}

/** The demo set's images (real photographs), so that the report's thumbnails show real stimuli. */
const demoImages = (folder: string) => {
  const dir = new URL(`../../stimuli/demo/${folder}/`, import.meta.url).pathname;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".png"))
    .sort()
    .map((f) => join(dir, f));
};

function makeStimuli(): StimulusRecord[] {
  let i = 1;
  const mk = (prefix: string, n: number, setId: string, category: string, role: string, folder: string) => {
    const files = demoImages(folder);
    return Array.from({ length: n }, (_, k) => ({
      id: `${prefix}${k}`,
      setId,
      category,
      role,
      path: files[k % files.length],
      sha256: sha(i++),
    }));
  };
  return [
    ...mk("body", 40, "bodies", "body", "preferred", "bodies"),
    ...mk("obj", 14, "objects", "object", "object", "objects"),
    ...mk("ctl", 6, "control-bodies", "body", "control", "control-bodies"),
  ];
}

/** Per channel and stimulus, the true mean net rate (spikes/s): bodies drive the live channels more than objects. */
function tuning(random: Random, stimuli: StimulusRecord[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const ch of CHANNELS) {
    const m = new Map<string, number>();
    for (const s of stimuli) {
      const u = random();
      m.set(s.id, ch === DEAD_CHANNEL ? 0 : s.category === "body" ? 10 + 90 * u : 2 + 16 * u);
    }
    out.set(ch, m);
  }
  return out;
}

/** Present `ids` for `reps` blocks (a fixation break voids a trial, re-queued in its block), ingesting counts. */
function runPhase(
  store: SessionStore,
  sessionId: string,
  phase: 1 | 2,
  ids: string[],
  reps: number,
  truth: Map<string, Map<string, number>>,
  random: Random,
  seq: { n: number },
  stopAfter = Number.POSITIVE_INFINITY,
): void {
  let presented = 0;
  for (let block = 0; block < reps; block++) {
    const queue = shuffleInPlace([...ids], random);
    while (queue.length) {
      if (presented++ >= stopAfter) return;
      const stimulusId = queue.shift()!;
      const trialId = store.nextTrialId(sessionId);
      store.recordTrial(sessionId, { trialId, phase, block, stimulusId, eventCode: 10, status: "pending" });
      if (random() < 0.05) {
        store.settleTrial(sessionId, trialId, { status: "voided", reason: "fixation break" });
        queue.push(stimulusId);
        continue;
      }
      // The display reports its frames; the photodiode sees the patch ~8 ms later; now and then a frame drops.
      const dropped = random() < 0.04 ? 1 : 0;
      const onsetMs = trialId * 500;
      const pdOnsetMs = onsetMs + 7 + 2 * random();
      store.settleTrial(sessionId, trialId, {
        status: "shown",
        onsetMs,
        offsetMs: onsetMs + 200 + dropped * FRAME_MS,
        droppedFrames: dropped,
        pdOnsetMs,
        pdOffsetMs: pdOnsetMs + 200 + dropped * FRAME_MS,
      });
      store.ingest(sessionId, [
        {
          seq: ++seq.n,
          trialId,
          channels: CHANNELS.map((channelId) => {
            const spikes = spikeTrain(random, truth.get(channelId)!.get(stimulusId)!);
            return { channelId, counts: countWindows(spikes), spikes };
          }),
        },
      ]);
    }
  }
}

const FRAME_MS = 1000 / 60;
const SPAN = { startMs: -75, endMs: 250 };
const BASELINE_RATE = 8;

/** The response's time course: nothing before 50 ms, a transient peak near 80 ms and a sustained part. */
const rawShape = (t: number) =>
  t < 50 ? 0 : Math.min(1, (t - 50) / 15) * (0.55 + 1.6 * Math.exp(-((t - 80) ** 2) / (2 * 25 ** 2)));
const grid = Array.from({ length: 400 }, (_, k) => rawShape(50 + k / 2));
const SHAPE_MEAN = grid.reduce((a, b) => a + b, 0) / grid.length;
/** The time course scaled to mean 1 over the response window 50..250 ms (so the window's rate is the truth). */
const shape = (t: number) => rawShape(t) / SHAPE_MEAN;
const SHAPE_MAX = Math.max(...grid) / SHAPE_MEAN;

/** Spike times (ms from onset) over the span: baseline 8 spikes/s plus `rate` × shape(t) (Poisson, by thinning). */
function spikeTrain(random: Random, rate: number): number[] {
  const peak = BASELINE_RATE + rate * SHAPE_MAX;
  const out: number[] = [];
  for (let t = SPAN.startMs; ; ) {
    t += (-Math.log(1 - random()) / peak) * 1000;
    if (t >= SPAN.endMs) return out;
    if (random() * peak < BASELINE_RATE + rate * shape(t)) out.push(Math.round(t * 1000) / 1000);
  }
}

/** Counts in the demo protocol's windows (start ≤ t < end), as the daemon counts spike messages. */
function countWindows(spikes: number[]): Record<string, number> {
  const inside = (a: number, b: number) => spikes.filter((t) => t >= a && t < b).length;
  return { baseline: inside(-75, 25), response: inside(50, 250) };
}

async function overlayPng(r: number, g: number, b: number): Promise<Buffer> {
  const w = 96;
  const raw = Buffer.alloc(w * w * 3);
  for (let y = 0; y < w; y++)
    for (let x = 0; x < w; x++) {
      const d = Math.exp(-((x - 48) ** 2 + (y - 40) ** 2) / 500);
      raw.set(
        [Math.round(r * (1 - d) + 255 * d), Math.round(g * (1 - d) + 40 * d), Math.round(b * (1 - d))],
        (y * w + x) * 3,
      );
    }
  return sharp(raw, { raw: { width: w, height: w, channels: 3 } })
    .png()
    .toBuffer();
}

function context(
  store: SessionStore,
  sessionId: string,
  loaded: LoadedProtocol,
  dataDir: string,
): { config: Config; ctx: StepContext } {
  const config = loadConfig({ env: {}, flags: { dataDir } });
  return { config, ctx: stepContext({ store, sessionId, loaded, config, log: silentLogger }) };
}

const snap = (store: SessionStore, id: string, state: string, extra: Record<string, unknown> = {}) =>
  store.saveSnapshot(id, state, {
    value: state,
    context: { sessionId: id, pauseReason: null, failedReason: null, abortedBy: null, ...extra },
  });

/**
 * A complete day up to the report step (state "reporting"), in a new store at `dir`/ephysloop.db. With
 * `reportingStored: false` the store's last state is "visualizing", as the day machine leaves it when it starts
 * the report step (the step runs before the machine's new state is stored).
 */
export async function fakeDay(
  dir: string,
  seed = 11,
  o: { reportingStored?: boolean } = {},
): Promise<FakeDay> {
  const loaded = loadProtocol(new URL("../../protocols/demo.yaml", import.meta.url).pathname);
  const store = new SessionStore(join(dir, "ephysloop.db"));
  const sessionId = "day-20240517";
  newSession(store, loaded, sessionId);
  const random = mulberry32(seed);
  const stimuli = makeStimuli();
  store.insertStimuli(sessionId, stimuli);
  store.upsertChannels(
    sessionId,
    CHANNELS.map((id, index) => ({ id, probe: "A", index })),
  );
  const truth = tuning(random, stimuli);
  const seq = { n: 0 };
  snap(store, sessionId, "preparing");
  snap(store, sessionId, "phase1.running");
  const bodies = stimuli.filter((s) => s.role === "preferred").map((s) => s.id);
  runPhase(store, sessionId, 1, bodies, 4, truth, random, seq);

  // Fit: splits, and per channel a readout whose predictions are the truth plus model error.
  snap(store, sessionId, "fitting");
  // This day's 40 bodies split as the demo's test day does (testDaySets in simulated-day.ts), not demo.yaml's 89.
  const split = splitStimuli(bodies, { train: 28, validation: 6, test: 6 }, loaded.protocol.seed);
  store.saveSplits(sessionId, {
    ...Object.fromEntries(split.train.map((id) => [id, "train" as const])),
    ...Object.fromEntries(split.validation.map((id) => [id, "validation" as const])),
    ...Object.fromEntries(split.test.map((id) => [id, "test" as const])),
  });
  const predicted = (ch: string, id: string) =>
    truth.get(ch)!.get(id)! + (random() - 0.5) * (ch === DEAD_CHANNEL ? 10 : 14);
  const phase1Counts = store.counts(sessionId, 1);
  const recordedMean = (ch: string, id: string) => {
    const rows = phase1Counts.filter((r) => r.channel_id === ch && r.stimulus_id === id);
    return rows.reduce((a, r) => a + r.counts.response / 0.2 - r.counts.baseline / 0.1, 0) / rows.length;
  };
  store.saveModels(
    sessionId,
    CHANNELS.map((ch, i) => {
      const testR = pearson(
        split.test.map((id) => predicted(ch, id)),
        split.test.map((id) => recordedMean(ch, id)),
      ).r;
      const epochs = 60 + 20 * i;
      const valLossCurve = Array.from(
        { length: epochs },
        (_, e) => 50 * Math.exp(-e / 15) + 8 + (e > epochs - 15 ? (e - epochs + 15) * 0.05 : 0),
      );
      const bestEpoch = epochs - 15;
      return {
        channelId: ch,
        kind: "gaussian-readout",
        params: {
          channelId: ch,
          location: [0.1 * i - 0.2, 0.05],
          sigma: [0.1, 0.1],
          weights: Array.from({ length: 8 }, () => random()),
          bias: 3,
          bestEpoch,
          valLossCurve,
          testR,
        },
        metrics: { testR, bestEpoch, finalValLoss: valLossCurve.at(-1), seconds: 12 },
      };
    }),
  );

  // Select: 3 top and 3 bottom objects and one similar per channel (scores = predicted rates), 3 + 3 controls, a
  // shared retest subset.
  snap(store, sessionId, "selecting");
  const objects = stimuli.filter((s) => s.role === "object").map((s) => s.id);
  const controls = stimuli.filter((s) => s.role === "control").map((s) => s.id);
  const choices: Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }> = [];
  for (const ch of CHANNELS) {
    const ranked = objects.map((id) => ({ id, p: predicted(ch, id) })).sort((a, b) => b.p - a.p);
    for (const o of ranked.slice(0, 3))
      choices.push({ channelId: ch, stimulusId: o.id, rule: "top-object", score: o.p });
    for (const o of ranked.slice(-3))
      choices.push({ channelId: ch, stimulusId: o.id, rule: "bottom-object", score: o.p });
    choices.push({ channelId: ch, stimulusId: ranked[4].id, rule: "similar-object", score: 0.8 });
    const rc = controls.map((id) => ({ id, p: predicted(ch, id) })).sort((a, b) => b.p - a.p);
    // 3 + 3 of the 6 control bodies: enough stimuli for the per-stimulus selectivity test to reach p < 0.05.
    for (const c of rc.slice(0, 3))
      choices.push({ channelId: ch, stimulusId: c.id, rule: "top-control", score: c.p });
    for (const c of rc.slice(-3))
      choices.push({ channelId: ch, stimulusId: c.id, rule: "bottom-control", score: c.p });
  }
  for (const id of bodies.slice(0, 12))
    choices.push({ channelId: "*", stimulusId: id, rule: "retest", score: 0 });
  store.saveSelections(sessionId, choices);

  snap(store, sessionId, "phase2.running");
  const phase2 = [...new Set(choices.map((c) => c.stimulusId))];
  runPhase(store, sessionId, 2, phase2, 4, truth, random, seq);

  snap(store, sessionId, "checking");
  const { config, ctx } = context(store, sessionId, loaded, dir);
  checkStep(ctx);

  // Visualize: a saliency artifact with object/body overlays for every included channel; one optional analysis.
  snap(store, sessionId, "visualizing");
  const included = store.decisions(sessionId).filter((d) => d.included);
  for (const [i, d] of included.entries()) {
    const top = choices.find((c) => c.channelId === d.channelId && c.rule === "top-object")!.stimulusId;
    const body = bodies[i];
    const folder = join(dir, "saliency", d.channelId);
    mkdirSync(folder, { recursive: true });
    await sharp(await overlayPng(60, 120, 200)).toFile(join(folder, `${top}-object-overlay.png`));
    await sharp(await overlayPng(90, 170, 90)).toFile(join(folder, `${body}-body-overlay.png`));
    const s = 0.55 + 0.05 * i;
    store.addArtifact(sessionId, {
      channelId: d.channelId,
      kind: "saliency",
      path: folder,
      meta: { s, k: 64, dropped: 0.012, normOut: 3.1 + i, normIn: 4.2, objectId: top, bodyId: body },
    });
  }
  const optFolder = join(dir, "optvis", "ch0");
  mkdirSync(optFolder, { recursive: true });
  await sharp(await overlayPng(200, 100, 50)).toFile(join(optFolder, "synth-0.png"));
  store.addArtifact(sessionId, {
    channelId: "ch0",
    kind: "optvis",
    path: optFolder,
    meta: { objective: "channel ch0 readout", steps: 256 },
  });
  if (o.reportingStored !== false) snap(store, sessionId, "reporting");
  return { store, config, loaded, ctx, sessionId, stimuli };
}

/** A day aborted by the operator half-way through phase 1: no models, no selections, no checks. */
export async function abortedDay(dir: string, seed = 5): Promise<FakeDay> {
  const loaded = loadProtocol(new URL("../../protocols/demo.yaml", import.meta.url).pathname);
  const store = new SessionStore(join(dir, "ephysloop.db"));
  const sessionId = "day-aborted";
  newSession(store, loaded, sessionId);
  const random = mulberry32(seed);
  const stimuli = makeStimuli();
  store.insertStimuli(sessionId, stimuli);
  store.upsertChannels(
    sessionId,
    CHANNELS.map((id, index) => ({ id, probe: "A", index })),
  );
  const truth = tuning(random, stimuli);
  snap(store, sessionId, "preparing");
  snap(store, sessionId, "phase1.running");
  const bodies = stimuli.filter((s) => s.role === "preferred").map((s) => s.id);
  runPhase(store, sessionId, 1, bodies, 4, truth, random, { n: 0 }, 70);
  // The presentation on screen when the operator aborted: announced, never settled, voided on the way out.
  store.recordTrial(sessionId, {
    trialId: store.nextTrialId(sessionId),
    phase: 1,
    block: 1,
    stimulusId: bodies[0],
    eventCode: 10,
    status: "pending",
  });
  store.voidPendingTrials(sessionId, "session aborted");
  store.saveSnapshot(
    sessionId,
    "aborted",
    {
      value: "aborted",
      context: { sessionId, pauseReason: null, failedReason: null, abortedBy: "operator (API)" },
    },
    "electrode drift; stopped by the experimenter",
    "operator (API)",
  );
  const { config, ctx } = context(store, sessionId, loaded, dir);
  return { store, config, loaded, ctx, sessionId, stimuli };
}
