// MonitorState against a real SQLite store and a real /monitor-style WebSocket on loopback: the numbers it
// publishes (PSTH, net rates, test/retest r) against the test's own computation from the raw spikes, throttled
// publication, trials voided after their data arrived, and alerts written as event records.
import { mkdtempSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { mulberry32 } from "../../analysis/random.ts";
import { splitHalfReliability } from "../../analysis/stats/index.ts";
import type { IngestedTrial } from "../../controller/acquisition/acquisition-hub.ts";
import { MonitorState } from "../../controller/monitor/monitor-state.ts";
import { planBlocks } from "../../controller/scheduler/blocks.ts";
import { poissonTrain } from "../../controller/simulate/bridge.ts";
import { packSpikes, windowTable } from "../../controller/store/packed.ts";
import { SessionStore } from "../../controller/store/store.ts";
import type { ChannelDetail, ChannelLive, MonitorServerMessage } from "../../controller/wire/monitor.ts";
import { loadProtocol } from "../../protocols/load.ts";
import { pearsonR } from "../by-hand.ts";

// demo.yaml's windows (−75..25 / 50..250 ms, 10 ms bins) on the test day's 6 repetitions (the demo day has 4).
const demo = loadProtocol("protocols/demo.yaml").protocol;
const protocol = { ...demo, presentation: { ...demo.presentation, repetitions: 6 } };
const SID = "s1";
const STIMULI = Array.from({ length: 12 }, (_, i) => `bodies/b${i}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

let store: SessionStore;
let state: MonitorState;
let wss: WebSocketServer;
let client: WebSocket;
let received: MonitorServerMessage[];
let nextTrial = 1;
/** What the test sent: phase → channel → stimulus → per-trial net rates (spikes/s), computed here. */
let sentNet: Map<string, number[]>;
const random = mulberry32(11);

/** Poisson-ish spikes: `rate` spikes/s in the response period (50..250 ms), 5 spikes/s elsewhere in −75..250. */
function spikes(rate: number): number[] {
  const out: number[] = [];
  for (let t = -75; t < 250; t += 1) if (random() < ((t >= 50 ? rate : 5) * 1) / 1000) out.push(t + random());
  return out;
}

function trial(
  phase: 1 | 2,
  stimulusId: string,
  channels: Record<string, number[]>,
  status: "shown" | "pending" = "shown",
): IngestedTrial {
  const trialId = nextTrial++;
  store.recordTrial(SID, { trialId, phase, block: 1, stimulusId, eventCode: 1, status });
  const counts = (s: number[]) => ({
    baseline: s.filter((t) => t >= -75 && t < 25).length,
    response: s.filter((t) => t >= 50 && t < 250).length,
  });
  for (const [ch, s] of Object.entries(channels)) {
    const key = `${phase}/${ch}/${stimulusId}`;
    const c = counts(s);
    sentNet.set(key, [...(sentNet.get(key) ?? []), c.response / 0.2 - c.baseline / 0.1]);
  }
  return packSpikes(
    trialId,
    trialId,
    channels,
    windowTable({ baseline: protocol.windows.baseline, response: protocol.windows.response }),
  );
}

const ofType = <T extends MonitorServerMessage["type"]>(type: T) =>
  received.filter((m): m is Extract<MonitorServerMessage, { type: T }> => m.type === type);

/** Publish now and wait for the resulting channels message. */
async function flushed(): Promise<ChannelLive[]> {
  const before = ofType("channels").length;
  state.flush();
  await until("the channels message", () => ofType("channels").length > before);
  await tick();
  return ofType("channels").at(-1)!.channels;
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

beforeEach(async () => {
  store = new SessionStore(join(mkdtempSync(join(tmpdir(), "ephys-monitor-state-")), "s.db"));
  store.createSession({
    id: SID,
    protocolName: "demo",
    protocolPath: "x",
    protocolText: "",
    protocolSha256: "0",
    codeVersion: "t",
    software: {},
    seed: 7,
  });
  store.upsertChannels(
    SID,
    ["a", "b", "c"].map((id, index) => ({ id, probe: "p", index })),
  );
  state = new MonitorState({ store, sessionId: SID, protocol, throttleMs: 100, stabilityEveryMs: 0 });
  wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  wss.on("connection", (ws) => state.attach(ws));
  await new Promise((r) => wss.once("listening", r));
  received = [];
  sentNet = new Map();
  client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  client.on("message", (raw) => received.push(JSON.parse(raw.toString())));
  await new Promise((r) => client.once("open", r));
  await until("the snapshot", () => ofType("snapshot").length === 1);
});

afterEach(async () => {
  client.close();
  state.close();
  await new Promise((r) => wss.close(r));
  store.close();
});

describe("MonitorState", () => {
  it("starts with a snapshot of every channel waiting and the protocol's thresholds", () => {
    const snap = ofType("snapshot")[0];
    expect(snap.channels.map((c) => [c.id, c.status])).toEqual([
      ["a", "waiting"],
      ["b", "waiting"],
      ["c", "waiting"],
    ]);
    expect(snap.thresholds).toEqual({ stabilityMinR: 0.6, splitHalfMinR: 0.5, responsivenessMinRate: 5 });
  });

  it("publishes a channel's PSTH and net rate equal to the test's own binning of the raw spikes", async () => {
    const all: number[][] = [];
    for (let i = 0; i < 30; i++) {
      const s = spikes(40);
      all.push(s);
      state.ingest([trial(1, STIMULI[i % STIMULI.length], { a: s, b: [], c: [] })]);
    }
    client.send(JSON.stringify({ type: "focus", channelId: "a" }));
    await until("the detail", () => ofType("channel").length > 0);
    const d: ChannelDetail = ofType("channel").at(-1)!.detail;
    // Bins of 10 ms from −75 ms, spikes/s = count / (trials × 0.01 s).
    const expected = new Array(33).fill(0);
    for (const s of all) for (const t of s) expected[Math.floor((t + 75) / 10)]++;
    expect(d.psth.trials).toBe(30);
    expect(d.psth.rates).toEqual(expected.map((n) => Math.round((n / (30 * 0.01)) * 100) / 100));
    // Net rate: response count / 0.2 s − baseline count / 0.1 s, averaged over trials.
    const net = all.map(
      (s) =>
        s.filter((t) => t >= 50 && t < 250).length / 0.2 - s.filter((t) => t >= -75 && t < 25).length / 0.1,
    );
    expect(d.live.netRate).toBeCloseTo(net.reduce((a, b) => a + b, 0) / net.length, 2);
    expect(d.live.trials).toBe(30);
    expect(d.responses.reduce((n, r) => n + r.n, 0)).toBe(30);
  });

  it("throttles: many ingests in one turn give one channels message, the next one waits for the interval", async () => {
    for (let i = 0; i < 50; i++)
      state.ingest([trial(1, STIMULI[i % 12], { a: spikes(30), b: spikes(30), c: spikes(30) })]);
    await until("a channels message", () => ofType("channels").length === 1);
    const first = Date.now();
    state.ingest([trial(1, STIMULI[0], { a: spikes(30), b: spikes(30), c: spikes(30) })]);
    await until("the second channels message", () => ofType("channels").length === 2);
    expect(Date.now() - first).toBeGreaterThanOrEqual(60); // throttleMs 100, minus what passed before `first`
    expect(ofType("channels")[1].channels.find((c) => c.id === "a")!.trials).toBe(51);
  });

  it("takes back a trial that is voided after its data arrived", async () => {
    state.ingest([trial(1, STIMULI[0], { a: spikes(30), b: [], c: [] })]);
    const t = trial(1, STIMULI[1], { a: spikes(30), b: [], c: [] }, "pending");
    state.ingest([t]);
    state.flush();
    await until("2 trials", () => ofType("channels").at(-1)?.channels[0].trials === 2);
    store.settleTrial(SID, t.trialId, { status: "voided", reason: "fixation break" });
    await until("1 trial", () => ofType("channels").at(-1)?.channels[0].trials === 1);
  });

  it("alerts once when a channel stops firing, and again only after it fired", async () => {
    for (let i = 0; i < 25; i++)
      state.ingest([trial(1, STIMULI[i % 12], { a: spikes(30), b: spikes(30), c: [] })]);
    const live = await flushed();
    let silent = store.events(SID).filter((e) => e.type === "alert" && e.subtype === "channel-silent");
    expect(silent.map((e) => JSON.parse(e.content).channelId)).toEqual(["c"]);
    expect(live.find((c) => c.id === "c")!.status).toBe("silent");
    for (let i = 0; i < 5; i++) state.ingest([trial(1, STIMULI[i], { a: spikes(30), b: spikes(30), c: [] })]);
    state.flush();
    silent = store.events(SID).filter((e) => e.type === "alert" && e.subtype === "channel-silent");
    expect(silent).toHaveLength(1);
    state.ingest([trial(1, STIMULI[0], { a: spikes(30), b: spikes(30), c: [1, 60] })]);
    expect((await flushed()).find((c) => c.id === "c")!.status).not.toBe("silent");
    for (let i = 0; i < 20; i++)
      state.ingest([trial(1, STIMULI[i % 12], { a: spikes(30), b: spikes(30), c: [] })]);
    state.flush();
    silent = store.events(SID).filter((e) => e.type === "alert" && e.subtype === "channel-silent");
    expect(silent).toHaveLength(2);
    // Alerts are streamed to the page as event records through the store (the daemon relays them).
    expect(ofType("snapshot")[0].alerts).toEqual([]);
  });

  it("phase 1: healthy simulated channels never alert; injected unstable ones do, most before the phase ends", async () => {
    // A phase-1 day as the demo's: 40 images × 6 repeats in seeded blocks, spikes from the virtual rig's generator
    // (Poisson, 60 ms latency, 200 ms stimulus, 8 spikes/s baseline). Ten healthy channels with image rates spread
    // over 8..100 spikes/s like the demo's category neurons; three faulty ones: u0 and u1 answer each trial with
    // the spikes of the previous one (the monitor page's injected fault), u2 fires at a rate drawn afresh per trial.
    const images = Array.from({ length: 40 }, (_, i) => `bodies/p${i}`);
    const order = planBlocks(images, protocol.presentation.repetitions, 5, 1).flat();
    const rng = mulberry32(2024);
    const healthy = Array.from({ length: 10 }, (_, c) => `h${c}`);
    const tuning = new Map(healthy.map((id) => [id, images.map(() => 8 + 92 * (0.1 + 0.8 * rng()))]));
    const fire = (rate: number) =>
      poissonTrain(rng, -75, 250, (t) => (t >= 60 && t < 260 ? rate : 8)).map((t) => t);
    // True reliability of each healthy channel's 6-trial mean net rate (Poisson noise, windows −75..25 / 50..250).
    for (const id of healthy) {
      const rates = tuning.get(id)!;
      const mean = rates.map((r) => (0.19 * r + 0.08) / 0.2 - 8);
      const m = mean.reduce((x, y) => x + y, 0) / mean.length;
      const signal = mean.reduce((x, y) => x + (y - m) ** 2, 0) / (mean.length - 1);
      const noise = rates.reduce((x, r) => x + ((0.19 * r + 0.08) * 25 + 80) / rates.length, 0);
      const rho1 = signal / (signal + noise);
      expect((6 * rho1) / (1 + 5 * rho1), id).toBeGreaterThan(0.7);
    }
    const previous: Record<string, number[]> = { u0: [], u1: [] };
    const splitHalfFlagged = new Set<string>(); // what the running split-half r < threshold rule would have said
    for (const [t, image] of order.entries()) {
      const i = images.indexOf(image);
      const channels: Record<string, number[]> = {};
      for (const id of healthy) channels[id] = fire(tuning.get(id)![i]);
      for (const id of ["u0", "u1"] as const) {
        const own = fire(tuning.get(healthy[0])![i]);
        channels[id] = previous[id];
        previous[id] = own;
      }
      channels.u2 = fire(8 + 92 * rng());
      state.ingest([trial(1, image, channels)]);
      if ((t + 1) % 5 === 0) {
        await flushed();
        for (const id of healthy) {
          const rows = images.map((img) => sentNet.get(`1/${id}/${img}`) ?? []).filter((r) => r.length > 0);
          const twice = rows.filter((r) => r.length >= 2).length;
          if (twice >= 10 && splitHalfReliability(rows, { splits: 20, seed: 1 }).reliability < 0.5)
            splitHalfFlagged.add(id);
        }
      }
    }
    const live = ofType("channels").at(-1)!.channels; // published after the last trial (240 = 48 × 5)
    const alerts = store
      .events(SID)
      .filter((e) => e.subtype === "channel-unstable")
      .map((e) => JSON.parse(e.content));
    expect(alerts.filter((a) => healthy.includes(a.channelId))).toEqual([]);
    expect(alerts.map((a) => a.channelId).sort()).toEqual(["u0", "u1", "u2"]);
    for (const a of alerts) {
      expect(a).toMatchObject({ phase: 1, measure: "split-half r", threshold: 0.5, repeats: 6, alpha: 0.05 });
      expect(a.value).toBeLessThan(0.5);
    }
    // Most were called by the confidence bound while trials were still to come, not only at the end.
    expect(alerts.filter((a) => a.trialsPerStimulus < 6 && a.upper < 0.5).length).toBeGreaterThanOrEqual(2);
    for (const c of live)
      if (healthy.includes(c.id)) {
        expect(c.status).toBe("ok");
        expect(c.splitHalf!).toBeGreaterThan(0.6);
      } else if (c.id.startsWith("u")) expect(c.status).toBe("unstable");
    // The rule this replaces (running split-half r of the trials so far against the threshold) flagged healthy
    // channels on the way: the mid-phase reliability of k < 6 trials is lower than that of the 6-trial mean.
    expect(splitHalfFlagged.size).toBeGreaterThan(0);
  }, 60_000);

  it("phase 2: running test/retest r over the stored retest stimuli equals Pearson r of the mean net rates", async () => {
    const tuning = STIMULI.map((_, i) => 10 + 8 * i);
    const scrambled = [...tuning].reverse();
    for (let rep = 0; rep < 2; rep++)
      for (let i = 0; i < STIMULI.length; i++)
        state.ingest([trial(1, STIMULI[i], { a: spikes(tuning[i]), b: spikes(tuning[i]), c: spikes(30) })]);
    store.saveSelections(
      SID,
      ["a", "b", "c"].flatMap((channelId) =>
        STIMULI.map((stimulusId) => ({ channelId, stimulusId, rule: "retest", score: null })),
      ),
    );
    store.saveSnapshot(SID, "phase2.running", {});
    for (let rep = 0; rep < 2; rep++)
      for (let i = 0; i < STIMULI.length; i++)
        state.ingest([
          trial(2, STIMULI[i], { a: spikes(tuning[i]), b: spikes(scrambled[i]), c: spikes(30) }),
        ]);
    const live = await flushed();
    // Reference: mean net rate per stimulus in each phase from the spikes the test sent, then Pearson r by its definition.
    const means = (phase: 1 | 2, ch: string) =>
      STIMULI.map((id) => {
        const net = sentNet.get(`${phase}/${ch}/${id}`)!;
        return net.reduce((x, y) => x + y, 0) / net.length;
      });
    for (const ch of ["a", "b"]) {
      const c = live.find((x) => x.id === ch)!;
      expect(c.retestN).toBe(12);
      expect(c.retestR!).toBeCloseTo(pearsonR(means(1, ch), means(2, ch)), 3);
    }
    expect(live.find((x) => x.id === "a")!.status).toBe("ok");
    expect(live.find((x) => x.id === "b")!.status).toBe("unstable");
    const alert = store
      .events(SID)
      .find((e) => e.subtype === "channel-unstable" && JSON.parse(e.content).phase === 2);
    expect(JSON.parse(alert!.content)).toMatchObject({
      channelId: "b",
      measure: "test/retest r",
      threshold: 0.6,
    });
  });

  it("alerts when the acquisition bridge, the rig box or the display goes away (after the event, as its own record)", async () => {
    const a = store.appendEvent(SID, "acquisition", "disconnected", {});
    const r = store.appendEvent(SID, "rig", "lost", { reason: "unplugged" });
    store.appendEvent(SID, "display", "disconnected", {});
    await tick();
    const alerts = store.events(SID).filter((e) => e.type === "alert");
    expect(alerts.map((e) => e.subtype)).toEqual(["acquisition-lost", "rig-lost", "display-lost"]);
    expect(alerts[0].id).toBeGreaterThan(r);
    expect(alerts[0].id).toBeGreaterThan(a);
    expect(JSON.parse(alerts[1].content).message).toContain("unplugged");
  });

  it("alerts when fixation breaks spike above 3× their running mean, with the summary's rates", async () => {
    // demo protocol: 4 stimuli per fixation → a window of 80 presentations.
    let shown = 0;
    let voided = 0;
    const progress = () =>
      store.appendEvent(SID, "progress", "phase1", { phase: 1, shown, planned: 1000, voided });
    progress();
    for (let i = 0; i < 80; i++) {
      voided += 1; // 5 %: 1 in 20 presentations, a progress record every 80
      shown += 19;
      if (i % 4 === 3) progress();
    }
    await tick();
    expect(store.events(SID, 0, 10_000).some((e) => e.subtype === "fixation-breaks")).toBe(false);
    for (let i = 0; i < 20; i++) {
      voided += 1; // 33 %
      shown += 2;
      progress();
    }
    await tick();
    const spikes = store.events(SID, 0, 10_000).filter((e) => e.subtype === "fixation-breaks");
    expect(spikes).toHaveLength(1);
    const c = JSON.parse(spikes[0].content);
    expect(c.recent).toBeGreaterThan(3 * c.baseline);
    await until("the summary", () => ofType("summary").at(-1)?.summary.shown === shown);
    const summary = ofType("summary").at(-1)!.summary;
    expect(summary.breakRate).toBeCloseTo(voided / (shown + voided), 10);
    expect(summary).toMatchObject({ phase: 1, shown, voided, planned: 1000 });
  });

  it("says phase 3's plan is still growing until the runner's progress says it is complete", async () => {
    store.appendEvent(SID, "progress", "phase3", {
      phase: 3,
      shown: 96,
      planned: 96,
      voided: 0,
      complete: false,
    });
    await until("the growing plan", () => ofType("summary").at(-1)?.summary.phase === 3);
    expect(ofType("summary").at(-1)!.summary).toMatchObject({ planned: 96, planComplete: false, etaS: null });
    store.appendEvent(SID, "progress", "phase3", {
      phase: 3,
      shown: 192,
      planned: 192,
      voided: 0,
      complete: true,
    });
    await until("the complete plan", () => ofType("summary").at(-1)?.summary.shown === 192);
    expect(ofType("summary").at(-1)!.summary).toMatchObject({ planned: 192, planComplete: true, etaS: 0 });
  });

  it("maps the fit's per-channel validation losses to the channels with phase-1 data, in order", async () => {
    state.ingest([trial(1, STIMULI[0], { a: spikes(30), c: spikes(30) })]);
    store.appendEvent(SID, "progress", "fit", {
      stage: "fit",
      epoch: 7,
      bestValLoss: [0.5, 0.25],
      active: 2,
    });
    await until("the fit message", () => ofType("fit").length === 1);
    expect(ofType("fit")[0].fit).toMatchObject({
      stage: "fit",
      epoch: 7,
      active: 2,
      channels: [
        { id: "a", bestValLoss: 0.5 },
        { id: "c", bestValLoss: 0.25 },
      ],
    });
  });

  it("answers a focus on an unknown channel with an error and a bad message with EPHYS_BAD_MESSAGE", async () => {
    client.send(JSON.stringify({ type: "focus", channelId: "nope" }));
    client.send("{");
    await until("two errors", () => ofType("error").length === 2);
    expect(ofType("error").map((e) => e.code)).toEqual(["EPHYS_UNKNOWN_CHANNEL", "EPHYS_BAD_MESSAGE"]);
  });
});
