// bench:bridge — the Open Ephys bridge at 384 channels, 30 kHz: the Event Broadcaster's JSON messages (built by
// the emulator's encoder, fed to the bridge's input without a socket) → bridge core → outbox → /acquisition →
// daemon hub (writer thread, SQLite file). Measures the sustained trials/s when the stream is fed as fast as the
// bridge takes it, against the direct /acquisition path (ready spikes messages) in the same run. Not yet here: the
// onset-to-ack latency at real-time pace (median, p99; DESIGN: p99 under postMs + 50 ms).
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { WebSocket, WebSocketServer } from "ws";
import { mulberry32 } from "../analysis/random.ts";
import { AcquisitionHub } from "../controller/acquisition/acquisition-hub.ts";
import { encodeSpike, encodeTtl } from "../controller/bridges/openephys/broadcast-format.ts";
import { parseChannelMap } from "../controller/bridges/openephys/channel-map.ts";
import { startOpenEphysBridge } from "../controller/bridges/openephys/command.ts";
import { startWriterWorker } from "../controller/store/ingest-writer.ts";
import { SessionStore } from "../controller/store/store.ts";
import { acquisitionHello } from "../controller/wire/acquisition.ts";

const CH = 384;
const RATE = 30000;
const FIRING = 20; // spikes/s per channel (multi-unit, realistic)
const TRIAL_MS = 450; // onset to onset on the acquisition clock (200 ms stimulus + 250 ms ISI)
const QUICK = process.env.BENCH_QUICK === "1";
const TOKEN = "bench-token";
const windows = { baseline: { startMs: -75, endMs: 25 }, response: { startMs: 50, endMs: 250 } };

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
  } as Parameters<SessionStore["createSession"]>[0]);
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
    },
  };
}

const map = parseChannelMap(
  `eventLines: [0, 1, 2, 3, 4, 5, 6, 7]\nchannels:\n${Array.from({ length: CH }, (_, i) => `  - { id: ch${i}, electrode: "Electrode ${i + 1}" }`).join("\n")}\n`,
);
const wave = new Float32Array(40).fill(-5);
const spikeFrame = (e: number, s: number) =>
  encodeSpike(
    {
      stream: "example_data",
      streamId: 0,
      sourceNode: 105,
      electrode: `Electrode ${e + 1}`,
      channelIndex: e,
      channelType: 1,
      sampleRate: RATE,
      sampleNumber: s,
      sortedId: 0,
      thresholds: [-50],
      waveform: wave,
      samplesPerChannel: 40,
      prePeakSamples: 8,
    },
    "json",
  );
const ttlFrame = (s: number, line: number, state: boolean) =>
  encodeTtl(
    {
      stream: "example_data",
      streamId: 0,
      sourceNode: 100,
      channelName: "TTL Input",
      channelIndex: 0,
      sampleRate: RATE,
      sampleNumber: s,
      line,
      state,
      word: 0n,
    },
    "json",
  );

/** The stream of one block [from, to): spikes of every channel, and the onset word's lines at `onset`. */
function block(
  random: () => number,
  from: number,
  to: number,
  onsets: Array<{ sample: number; code: number }>,
) {
  const ev: Array<[number, [Buffer, Buffer]]> = [];
  const p = (FIRING * (to - from)) / RATE;
  for (let e = 0; e < CH; e++) {
    let n = 0;
    for (let L = Math.exp(-p), q = random(); q > L; q *= random()) n++;
    for (let k = 0; k < n; k++) {
      const s = from + Math.floor(random() * (to - from));
      ev.push([s, spikeFrame(e, s)]);
    }
  }
  for (const o of onsets)
    for (let b = 0; b < 8; b++)
      if (o.code & (1 << b)) {
        ev.push([o.sample, ttlFrame(o.sample, b, true)]);
        ev.push([o.sample + 300, ttlFrame(o.sample + 300, b, false)]);
      }
  return ev
    .filter(([s]) => s >= from && s < to)
    .sort((a, b) => a[0] - b[0])
    .map(([, f]) => f);
}

async function bridgeRun(realTime: boolean, trials: number) {
  const dir = mkdtempSync(join(tmpdir(), "bench-bridge-"));
  const d = await daemon(dir);
  const sent = new Map<number, number>();
  const b = startOpenEphysBridge({
    zmq: "tcp://127.0.0.1:1",
    url: d.url,
    token: TOKEN,
    channelMap: map,
    outboxPath: join(dir, "o.db"),
  });
  await new Promise<void>((r) => {
    const t = setInterval(() => b.link.connected && (clearInterval(t), r()), 5);
  });
  const acked = new Set<number>();
  const origAcked = b.outbox.acked.bind(b.outbox);
  b.outbox.acked = (seq: number) => {
    origAcked(seq);
    acked.add(seq);
  };
  b.core.setWindow({ preMs: 75, postMs: 250 });
  const random = mulberry32(3);
  const blockSamples = 300; // 10 ms blocks, as the GUI processes them
  const trialSamples = (TRIAL_MS * RATE) / 1000;
  const pending: Array<{ sample: number; code: number }> = [];
  let nextOnset = trialSamples;
  let announced = 0;
  const t0 = performance.now();
  const onsetWall = new Map<number, number>(); // trialId → wall time the onset sample was fed
  for (let from = 0; acked.size < trials; from += blockSamples) {
    const to = from + blockSamples;
    const onsets: Array<{ sample: number; code: number }> = [];
    if (nextOnset < to && announced < trials) {
      const code = 1 + (announced % 200);
      const trialId = d.announce(code);
      announced++;
      onsets.push({ sample: nextOnset, code });
      pending.push({ sample: nextOnset, code });
      onsetWall.set(trialId, realTime ? t0 + (nextOnset / RATE) * 1000 : performance.now());
      nextOnset += trialSamples;
    }
    for (const f of block(random, from, to, onsets)) b.input.handle(f);
    if (realTime) {
      const due = t0 + (to / RATE) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    } else await new Promise((r) => setImmediate(r));
    for (const seq of acked) if (!sent.has(seq)) sent.set(seq, performance.now());
    if (from > (trials + 10) * trialSamples * 4) break;
  }
  const elapsed = (performance.now() - t0) / 1000;
  await b.stop();
  await d.close();
  return { elapsed, trials: acked.size, sent };
}

async function directRun(trials: number) {
  const dir = mkdtempSync(join(tmpdir(), "bench-direct-"));
  const d = await daemon(dir);
  const ws = new WebSocket(`${d.url}/acquisition`);
  const channels = Array.from({ length: CH }, (_, i) => ({ id: `ch${i}`, probe: "p", index: i }));
  await new Promise<void>((r) => ws.on("open", () => r()));
  ws.send(JSON.stringify({ type: "hello", role: "acquisition", version: 1, token: TOKEN, channels }));
  const random = mulberry32(3);
  let acks = 0;
  let done: () => void = () => {};
  ws.on("message", (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === "ack" && ++acks === trials) done();
  });
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  const finished = new Promise<void>((r) => {
    done = r;
  });
  for (let i = 1; i <= trials; i++) {
    const trialId = d.announce(1 + (i % 200));
    const ch: Record<string, number[]> = {};
    for (let c = 0; c < CH; c++) {
      const n = Math.round(FIRING * 0.325 * (0.5 + random()));
      ch[`ch${c}`] = Array.from({ length: n }, () => Math.round((random() * 325 - 75) * 30) / 30).sort(
        (a, b) => a - b,
      );
    }
    ws.send(JSON.stringify({ type: "spikes", seq: i, trialId, channels: ch }));
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await finished;
  const elapsed = (performance.now() - t0) / 1000;
  ws.close();
  await d.close();
  return trials / elapsed;
}

const fast = QUICK ? 60 : 200;
const direct = await directRun(fast);
const burst = await bridgeRun(false, fast);
const bridgeRate = burst.trials / burst.elapsed;
console.log(`direct /acquisition: ${direct.toFixed(0)} trials/s (${fast} trials, ${CH} channels)`);
console.log(
  `bridge, stream fed as fast as taken: ${bridgeRate.toFixed(1)} trials/s (${burst.trials} trials; acquisition runs ${((burst.trials * TRIAL_MS) / 1000 / burst.elapsed).toFixed(1)}× real time)`,
);
console.log(
  `bridge: ${bridgeRate.toFixed(1)} trials/s (${(bridgeRate / direct).toFixed(3)}× direct /acquisition)`,
);
