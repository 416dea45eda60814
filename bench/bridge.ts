// bench:bridge — the Open Ephys bridge at 384 channels, 30 kHz: the Event Broadcaster's JSON messages (built by the
// emulator's encoder, handed to the bridge's input in 10 ms processing blocks as the GUI sends them) → bridge core →
// outbox (SQLite) → /acquisition → daemon hub (writer thread, SQLite file), against the direct /acquisition path
// (ready spikes messages) in the same run:
// - sustained trials/s: the stream fed as fast as the bridge takes it; direct: messages sent as fast as acked;
// - onset → ack latency at real-time pace (median, p99): from the photodiode onset on the acquisition clock to the
//   daemon's ack of the trial's message; direct: a client that sends each trial at onset + postMs (the earliest a
//   complete window can go). DESIGN.md's budget: p99 under postMs + 50 ms.
// Firing: multi-unit rates of 5–35 spikes/s per channel (mean 20), doubled 50–250 ms after each onset.
// BENCH_QUICK=1: fewer trials.
// Over 400 lines: a benchmark is one script a lab runs and reads top to bottom: the bridge path and the direct
// path, measured side by side.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { WebSocket, WebSocketServer } from "ws";
import { mulberry32, type Random } from "../analysis/random.ts";
import { AcquisitionHub } from "../controller/acquisition/acquisition-hub.ts";
import { encodeSpike, encodeTtl } from "../controller/bridges/openephys/broadcast-format.ts";
import { parseChannelMap } from "../controller/bridges/openephys/channel-map.ts";
import { startOpenEphysBridge } from "../controller/bridges/openephys/command.ts";
import { startWriterWorker } from "../controller/store/ingest-writer.ts";
import { SessionStore } from "../controller/store/store.ts";
import { acquisitionHello } from "../controller/wire/acquisition.ts";

const CH = 384;
const RATE = 30000;
const TRIAL_MS = 450; // onset to onset on the acquisition clock (200 ms stimulus + 250 ms ISI)
const BLOCK = 300; // samples per GUI processing block (10 ms)
const PHOTODIODE_MS = 12; // photodiode rise after the event word
const QUICK = process.env.BENCH_QUICK === "1";
const FAST_TRIALS = QUICK ? 60 : 200;
const REAL_TIME_TRIALS = QUICK ? 20 : 60;
const TOKEN = "bench-token";
const windows = { baseline: { startMs: -75, endMs: 25 }, response: { startMs: 50, endMs: 250 } };
const PRE_MS = 75;
const POST_MS = 250;
const ms = (x: number) => Math.round((x * RATE) / 1000);

/** A daemon's /acquisition side: store, hub with its writer thread, a WebSocket server on loopback. */
async function daemon(dir: string) {
  const store = new SessionStore(join(dir, "d.db"));
  const sessionId = "bench";
  store.createSession({
    id: sessionId,
    protocolName: "bench",
    protocolPath: "bench.yaml",
    protocolText: "",
    protocolSha256: "0",
    codeVersion: "bench",
    software: {},
    seed: 1,
  });
  const hub = new AcquisitionHub({
    store,
    sessionId,
    windows,
    writer: await startWriterWorker(store.db.name),
  });
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 16 << 20 });
  wss.on("connection", (ws) =>
    ws.once("message", (raw) => {
      const hello = acquisitionHello.parse(JSON.parse(raw.toString()));
      hub.attach(ws, hello);
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  let next = 1;
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    announce: (code: number) => {
      const trialId = next++;
      store.recordTrial(sessionId, {
        trialId,
        phase: 1,
        block: 0,
        stimulusId: `s${code}`,
        eventCode: code,
        status: "pending",
      });
      hub.announce({ trialId, eventCode: code, stimulusId: `s${code}` });
      return trialId;
    },
    close: async () => {
      await hub.close();
      wss.close();
      server.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const channelMap = parseChannelMap(
  `eventLines: [0, 1, 2, 3, 4, 5, 6, 7]\nphotodiodeLine: 8\nchannels:\n${Array.from(
    { length: CH },
    (_, i) => `  - { id: ch${i}, electrode: "Electrode ${i + 1}" }`,
  ).join("\n")}\n`,
);

/** Poisson count (Knuth; the means here are small). */
function poisson(random: Random, mean: number): number {
  let n = 0;
  for (let L = Math.exp(-mean), q = random(); q > L; q *= random()) n++;
  return n;
}

/**
 * The GUI's stream for one session: every channel's spikes (its own rate, doubled in each trial's response period)
 * and the TTL changes (event word on lines 0-7, photodiode on line 8 from the Crossing Detector), block by block in
 * sample order. A change scheduled past the current block (a word's lines going back to 0) waits for its block.
 */
class Stream {
  private readonly random: Random;
  private readonly rates: Float64Array;
  private changes: Array<{ sample: number; node: number; line: number; state: boolean }> = [];
  private readonly responses: Array<{ from: number; to: number }> = [];
  private readonly wave = new Float32Array(40).fill(-5);

  constructor(seed: number) {
    this.random = mulberry32(seed);
    this.rates = Float64Array.from({ length: CH }, () => 5 + 30 * this.random());
  }

  /** The rig box puts `code` on the lines at `sample`; the photodiode rises PHOTODIODE_MS later. Returns the onset. */
  word(sample: number, code: number): number {
    for (let b = 0; b < 8; b++)
      if (code & (1 << b)) {
        this.changes.push({ sample, node: 100, line: b, state: true });
        this.changes.push({ sample: sample + ms(10), node: 100, line: b, state: false });
      }
    const onset = sample + ms(PHOTODIODE_MS);
    this.changes.push({ sample: onset, node: 104, line: 8, state: true });
    this.changes.push({ sample: onset + ms(200), node: 104, line: 8, state: false });
    this.responses.push({ from: onset + ms(50), to: onset + ms(250) });
    return onset;
  }

  /** The frames of [from, to), in sample order. */
  block(from: number, to: number): Array<[Buffer, Buffer]> {
    const ev: Array<[number, [Buffer, Buffer]]> = [];
    const response = this.responses.filter((r) => r.to > from && r.from < to);
    for (let e = 0; e < CH; e++) {
      const spans: Array<[number, number]> = [[from, to]];
      for (const r of response) spans.push([Math.max(from, r.from), Math.min(to, r.to)]);
      for (const [a, b] of spans)
        for (let k = poisson(this.random, (this.rates[e] * (b - a)) / RATE); k > 0; k--) {
          const s = a + Math.floor(this.random() * (b - a));
          ev.push([s, this.spikeFrame(e, s)]);
        }
    }
    const due = this.changes.filter((c) => c.sample < to);
    this.changes = this.changes.filter((c) => c.sample >= to);
    for (const c of due) ev.push([c.sample, this.ttlFrame(c)]);
    while (this.responses.length && this.responses[0].to < from) this.responses.shift();
    return ev.sort((a, b) => a[0] - b[0]).map(([, f]) => f);
  }

  private spikeFrame(e: number, sample: number): [Buffer, Buffer] {
    return encodeSpike(
      {
        stream: "example_data",
        streamId: 0,
        sourceNode: 105,
        electrode: `Electrode ${e + 1}`,
        channelIndex: e,
        channelType: 1,
        sampleRate: RATE,
        sampleNumber: sample,
        sortedId: 0,
        thresholds: [-50],
        waveform: this.wave,
        samplesPerChannel: 40,
        prePeakSamples: 8,
      },
      "json",
    );
  }

  private ttlFrame(c: { sample: number; node: number; line: number; state: boolean }): [Buffer, Buffer] {
    return encodeTtl(
      {
        stream: "example_data",
        streamId: 0,
        sourceNode: c.node,
        channelName: c.node === 100 ? "TTL Input" : "Crossing detector output",
        channelIndex: 0,
        sampleRate: RATE,
        sampleNumber: c.sample,
        line: c.line,
        state: c.state,
        word: 0n,
      },
      "json",
    );
  }
}

const codeOf = (k: number) => 1 + (k % 200);

/** The bridge against a daemon; `feed` drives it; returns each trial's onset → ack time (ms of the given clock). */
async function withBridge<T>(
  run: (b: {
    announce: (code: number) => number;
    handle: (frames: [Buffer, Buffer]) => void;
    acked: () => number;
    latencies: (onsetWallOf: (sample: number) => number) => number[];
  }) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "bench-bridge-"));
  const d = await daemon(dir);
  const onsetOfSeq = new Map<number, number>();
  const ackAt = new Map<number, number>();
  const b = startOpenEphysBridge({
    zmq: "tcp://127.0.0.1:1", // nothing there: the bench hands the frames to the input itself
    url: d.url,
    token: TOKEN,
    channelMap,
    outboxPath: join(dir, "outbox.db"),
    onTrialSent: (t) => onsetOfSeq.set(t.seq, t.onsetSample),
    onAck: (seq) => ackAt.set(seq, performance.now()),
    // Notices and errors (none expected); not the link's own closing at the end of a run.
    log: (level, message) =>
      level !== "info" && !/connection closed/.test(message) && console.error(`bridge ${level}: ${message}`),
  });
  await until(() => b.link.connected);
  try {
    return await run({
      announce: d.announce,
      handle: (f) => b.input.handle(f),
      acked: () => ackAt.size,
      latencies: (onsetWallOf) =>
        [...ackAt].map(([seq, at]) => at - onsetWallOf(onsetOfSeq.get(seq) ?? Number.NaN)),
    });
  } finally {
    await b.stop();
    await d.close();
  }
}

/** Waits (polling each ms) until cond holds; throws after timeoutMs. */
async function until(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error("bench: timed out");
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** The stream of `trials` trials, prepared before the clock starts: blocks, with the code to announce before each. */
function prepared(trials: number) {
  const stream = new Stream(3);
  const trialSamples = ms(TRIAL_MS);
  const blocks: Array<{ announce: number | null; frames: Array<[Buffer, Buffer]> }> = [];
  const end = (trials + 1) * trialSamples + ms(POST_MS + 200);
  for (let from = 0, k = 0; from < end; from += BLOCK) {
    const onset = (k + 1) * trialSamples;
    let announce: number | null = null;
    if (k < trials && onset >= from && onset < from + BLOCK) {
      announce = codeOf(k);
      stream.word(onset, announce);
      k++;
    }
    blocks.push({ announce, frames: stream.block(from, from + BLOCK) });
  }
  return blocks;
}

/** Bridge, stream fed as fast as taken: trials/s and how fast the acquisition clock ran. */
async function bridgeFast(trials: number) {
  const blocks = prepared(trials);
  return withBridge(async (b) => {
    const t0 = performance.now();
    for (const [i, blk] of blocks.entries()) {
      if (blk.announce !== null) b.announce(blk.announce);
      for (const f of blk.frames) b.handle(f);
      if (i % 4 === 3) await new Promise((r) => setImmediate(r)); // let the sockets and the writer run
    }
    await until(() => b.acked() >= trials);
    const s = (performance.now() - t0) / 1000;
    return { trialsPerS: trials / s, speed: (blocks.length * BLOCK) / RATE / s };
  });
}

/** Bridge at real-time pace: each block handed over when the acquisition clock has passed its end. */
async function bridgeRealTime(trials: number): Promise<number[]> {
  const stream = new Stream(5);
  const trialSamples = ms(TRIAL_MS);
  return withBridge(async (b) => {
    const t0 = performance.now();
    let k = 0;
    for (let from = 0; k < trials || b.acked() < trials; from += BLOCK) {
      const to = from + BLOCK;
      const onset = (k + 1) * trialSamples;
      // The daemon announces a presentation before its code goes out: here, one block (10 ms) ahead.
      if (k < trials && onset >= to && onset < to + BLOCK) {
        const code = codeOf(k++);
        b.announce(code);
        stream.word(onset, code);
      }
      const wait = t0 + (to / RATE) * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (const f of stream.block(from, to)) b.handle(f);
      if (from > (trials + 5) * trialSamples) throw new Error("bench: the bridge did not ack every trial");
    }
    return b.latencies((sample) => t0 + (sample / RATE) * 1000);
  });
}

/** A trial's spikes as a direct client would send them: the same rates over the window [−preMs, postMs]. */
function directChannels(random: Random, rates: Float64Array): Record<string, number[]> {
  const ch: Record<string, number[]> = {};
  for (let c = 0; c < CH; c++) {
    const n =
      poisson(random, (rates[c] * (PRE_MS + POST_MS)) / 1000) + poisson(random, (rates[c] * 200) / 1000);
    ch[`ch${c}`] = Array.from(
      { length: n },
      () => Math.round((random() * (PRE_MS + POST_MS) - PRE_MS) * 30) / 30,
    ).sort((a, b) => a - b);
  }
  return ch;
}

/** A direct /acquisition client against a daemon. */
async function withDirect<T>(
  run: (c: {
    announce: (code: number) => number;
    send: (text: string) => void;
    acks: Map<number, number>;
  }) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "bench-direct-"));
  const d = await daemon(dir);
  const ws = new WebSocket(`${d.url}/acquisition`);
  const channels = Array.from({ length: CH }, (_, i) => ({ id: `ch${i}`, probe: "p", index: i }));
  await new Promise<void>((r) => ws.on("open", () => r()));
  const acks = new Map<number, number>();
  let welcomed = false;
  ws.on("message", (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === "welcome") welcomed = true;
    if (m.type === "ack") acks.set(m.seq, performance.now());
  });
  ws.send(JSON.stringify({ type: "hello", role: "acquisition", version: 1, token: TOKEN, channels }));
  await until(() => welcomed);
  try {
    return await run({ announce: d.announce, send: (t) => ws.send(t), acks });
  } finally {
    ws.close();
    await d.close();
  }
}

/** Direct: ready messages sent as fast as the daemon acks them. */
async function directFast(trials: number): Promise<number> {
  const random = mulberry32(3);
  const rates = Float64Array.from({ length: CH }, () => 5 + 30 * random());
  const messages = Array.from({ length: trials }, () => directChannels(random, rates));
  return withDirect(async (c) => {
    const t0 = performance.now();
    for (let i = 1; i <= trials; i++) {
      const trialId = c.announce(codeOf(i));
      c.send(JSON.stringify({ type: "spikes", seq: i, trialId, channels: messages[i - 1] }));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => c.acks.size >= trials);
    return trials / ((performance.now() - t0) / 1000);
  });
}

/** Direct at real-time pace: each trial announced 10 ms before its onset and sent at onset + postMs. */
async function directRealTime(trials: number): Promise<number[]> {
  const random = mulberry32(5);
  const rates = Float64Array.from({ length: CH }, () => 5 + 30 * random());
  return withDirect(async (c) => {
    const t0 = performance.now();
    const onsets: number[] = [];
    const at = (wall: number) => new Promise((r) => setTimeout(r, Math.max(0, wall - performance.now())));
    const sends: Array<Promise<void>> = [];
    for (let i = 1; i <= trials; i++) {
      const onset = t0 + i * TRIAL_MS;
      onsets[i] = onset;
      await at(onset - 10);
      const trialId = c.announce(codeOf(i));
      const channels = directChannels(random, rates);
      sends.push(
        at(onset + POST_MS).then(() => c.send(JSON.stringify({ type: "spikes", seq: i, trialId, channels }))),
      );
    }
    await Promise.all(sends);
    await until(() => c.acks.size >= trials);
    return [...c.acks].map(([seq, t]) => t - onsets[seq]);
  });
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

const directRate = await directFast(FAST_TRIALS);
const fast = await bridgeFast(FAST_TRIALS);
const directLatency = await directRealTime(REAL_TIME_TRIALS);
const bridgeLatency = await bridgeRealTime(REAL_TIME_TRIALS);
const [dMed, dP99, bMed, bP99] = [
  quantile(directLatency, 0.5),
  quantile(directLatency, 0.99),
  quantile(bridgeLatency, 0.5),
  quantile(bridgeLatency, 0.99),
];
console.log(
  `${CH} channels at ${RATE / 1000} kHz, multi-unit rates 5–35 spikes/s (doubled 50–250 ms after onset), JSON format`,
);
console.log(
  `direct /acquisition, ready messages as fast as acked: ${directRate.toFixed(0)} trials/s (${FAST_TRIALS} trials)`,
);
console.log(
  `bridge, stream fed as fast as taken: ${fast.trialsPerS.toFixed(1)} trials/s (${FAST_TRIALS} trials; the acquisition clock ran ${fast.speed.toFixed(1)}× real time)`,
);
console.log(
  `onset → ack at real time (${REAL_TIME_TRIALS} trials, postMs ${POST_MS}): bridge median ${bMed.toFixed(1)} ms, p99 ${bP99.toFixed(1)} ms; ` +
    `direct (sent at onset + postMs) median ${dMed.toFixed(1)} ms, p99 ${dP99.toFixed(1)} ms; ` +
    `DESIGN budget p99 < postMs + 50 = ${POST_MS + 50} ms: ${bP99 < POST_MS + 50 ? "met" : "MISSED"}`,
);
console.log(
  `bridge onset-to-ack p99: ${bP99.toFixed(1)} ms (${(bP99 / dP99).toFixed(3)}× direct /acquisition)`,
);
console.log(
  `bridge: ${fast.trialsPerS.toFixed(1)} trials/s (${(fast.trialsPerS / directRate).toFixed(3)}× direct /acquisition)`,
);
