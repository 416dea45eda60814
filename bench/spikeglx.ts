// bench:spikeglx — online spike detection on a SpikeGLX stream (analysis/spikes): how many channels at 30 kHz one
// core (this main thread) keeps up with in real time. 10 s of synthesized 384-channel int16 data in 50 ms blocks
// (controller/simulate/continuous.ts, made once up front, outside the timing: noise σ 10 ADC units, 8σ spikes at
// 15 Hz per channel, a common-mode sine) go through a fresh OnlineSpikeDetector with its defaults (median CAR,
// 4.5σ, 1 ms refractory, 1 s noise window) per round. Throughput in channel-samples/s ÷ 30 000 = channels in real
// time. Baseline, in the same run: a plain copy of the same blocks (Int16Array.set into one buffer). Rounds
// interleave detector and copy; medians of each.
//
// Then the whole input of `ephysloop bridge spikeglx` (controller/bridges/spikeglx/input.ts) on the same data: FETCH
// over TCP from the emulated command server (controller/simulate/spikeglx-server.ts), the detector, the word stream,
// the bridge core (a real outbox file): AP samples read and handed on per second of one core, as channels at 30 kHz.
//
//   npm run bench:spikeglx             (BENCH_QUICK=1: 4 s of data and 3 rounds instead of 10 s and 5)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OnlineSpikeDetector } from "../analysis/spikes/index.ts";
import { BridgeCore } from "../controller/bridges/core/bridge-core.ts";
import { Outbox } from "../controller/bridges/core/outbox.ts";
import { parseSpikeGlxMap } from "../controller/bridges/spikeglx/channel-map.ts";
import { SpikeGlxInput } from "../controller/bridges/spikeglx/input.ts";
import { SpikeGlxClient } from "../controller/bridges/spikeglx/remote-api.ts";
import { ContinuousSynth, poissonTrains } from "../controller/simulate/continuous.ts";
import { SpikeGlxServer } from "../controller/simulate/spikeglx-server.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const SECONDS = QUICK ? 4 : 10;
const ROUNDS = QUICK ? 3 : 5;
const CHANNELS = 384;
const RATE = 30000;
const BLOCK = RATE / 20; // 50 ms

const log = (line: string) => console.log(line);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const made = performance.now();
const nSamples = SECONDS * RATE;
const synth = new ContinuousSynth({
  nChans: CHANNELS,
  sampleRate: RATE,
  seed: 1,
  noiseSigma: 10,
  amplitude: 80,
  spikes: poissonTrains(2, CHANNELS, 15, RATE, nSamples, 90),
  commonMode: { amplitude: 50, hz: 9 },
});
const blocks: Int16Array[] = [];
for (let s = 0; s < nSamples; s += BLOCK) blocks.push(synth.read(s, BLOCK));
log(
  `data: ${CHANNELS} channels × ${SECONDS} s at ${RATE / 1000} kHz in ${blocks.length} blocks of 50 ms ` +
    `(${((nSamples * CHANNELS * 2) / 2 ** 20).toFixed(0)} MiB), synthesized in ${((performance.now() - made) / 1000).toFixed(1)} s`,
);

const sink = new Int16Array(BLOCK * CHANNELS * 2);
function copyRound(): number {
  const t0 = performance.now();
  for (let k = 0; k < blocks.length; k++) sink.set(blocks[k], (k & 1) * BLOCK * CHANNELS);
  return (performance.now() - t0) / 1000;
}
let detections = 0;
let slowestBlockMs = 0;
function detectRound(): number {
  const d = new OnlineSpikeDetector({ nChans: CHANNELS, sampleRate: RATE });
  detections = 0;
  const t0 = performance.now();
  for (let k = 0; k < blocks.length; k++) {
    const b0 = performance.now();
    detections += d.push(k * BLOCK, blocks[k], BLOCK).length;
    slowestBlockMs = Math.max(slowestBlockMs, performance.now() - b0);
  }
  return (performance.now() - t0) / 1000;
}

detectRound(); // warm-up (JIT)
copyRound();
slowestBlockMs = 0;
const detectTimes: number[] = [];
const copyTimes: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  detectTimes.push(detectRound());
  copyTimes.push(copyRound());
}
const detect = median(detectTimes);
const copy = median(copyTimes);
const channelSamples = nSamples * CHANNELS;
const channels = channelSamples / detect / RATE;
log(
  `detector: ${detect.toFixed(3)} s for ${SECONDS} s of data (rounds ${detectTimes.map((t) => t.toFixed(3)).join(", ")}) = ` +
    `${(channelSamples / detect / 1e6).toFixed(1)} M channel-samples/s, ${detections} detections ` +
    `(${(detections / CHANNELS / (SECONDS - 1)).toFixed(1)} per channel-second after the 1 s window); ` +
    `slowest block ${slowestBlockMs.toFixed(1)} ms (the window's close included) of 50 ms`,
);
log(`copy: ${copy.toFixed(4)} s (rounds ${copyTimes.map((t) => t.toFixed(4)).join(", ")})`);

// The bridge's whole input over TCP: the server holds the same data, all acquired once the input has started.
const all = new Int16Array(nSamples * CHANNELS);
for (const [k, b] of blocks.entries()) all.set(b, k * BLOCK * CHANNELS);
let acquired = 0;
const server = await SpikeGlxServer.start({
  port: 0,
  ringSeconds: SECONDS + 1,
  streams: {
    imec: [
      {
        sampleRate: RATE,
        nChans: CHANNELS,
        acqChans: [CHANNELS, 0, 0],
        count: () => acquired,
        read: (from, n, chans) => {
          if (chans.length === CHANNELS) return all.slice(from * CHANNELS, (from + n) * CHANNELS);
          const out = new Int16Array(n * chans.length);
          for (let i = 0; i < n; i++)
            for (let j = 0; j < chans.length; j++)
              out[i * chans.length + j] = all[(from + i) * CHANNELS + chans[j]];
          return out;
        },
      },
    ],
    ni: {
      sampleRate: 25000,
      nChans: 1,
      acqChans: [0, 0, 0, 1],
      count: () => Math.floor((acquired * 25000) / RATE),
      read: (_from, n, chans) => new Int16Array(n * chans.length),
    },
  },
});
const dir = mkdtempSync(join(tmpdir(), "bench-spikeglx-"));
const outbox = new Outbox(join(dir, "outbox.db"));
const map = parseSpikeGlxMap(
  `wordChannel: 0\neventLines: [0, 1, 2, 3, 4, 5, 6, 7]\nchannels:\n${Array.from({ length: CHANNELS }, (_, i) => `  - { id: ch${i}, apChannel: ${i} }`).join("\n")}\n`,
);
const core = new BridgeCore({
  channelIds: map.channels.map((c) => c.id),
  words: { eventLines: map.eventLines },
  outbox,
  link: { send: () => {}, notice: () => {} },
});
const client = await SpikeGlxClient.connect("127.0.0.1", server.port);
// The input's own polling loop, with no pause between polls: it reads as fast as it can.
const input = new SpikeGlxInput({ client, map, core, maxFetchSamples: BLOCK, pollMs: 0 });
await input.start();
acquired = nSamples;
const t0 = performance.now();
while (input.stats.apSamples < nSamples) await new Promise((r) => setImmediate(r));
const inputS = (performance.now() - t0) / 1000;
await input.stop();
const inputChannels = (nSamples * CHANNELS) / inputS / RATE;
log(
  `bridge input (FETCH of 50 ms blocks over TCP, detection, word stream, core): ${inputS.toFixed(2)} s for ${SECONDS} s ` +
    `of 384 channels = ${inputChannels.toFixed(0)} channels at 30 kHz in real time, ${input.stats.detections} detections`,
);
await client.close();
await server.stop();
outbox.close();
rmSync(dir, { recursive: true, force: true });
log(`spikeglx: ${channels.toFixed(0)} channels at 30 kHz in real time (${(detect / copy).toFixed(1)}× copy)`);
