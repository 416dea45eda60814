// Online spike detection (analysis/spikes): the same detections as the independent numpy reference and as the
// committed fixture; hits and false positives on synthesized data at a stated SNR; any block split alike; the
// refractory period, readiness and refused options. And the synthesizer's reads are a pure function of the range.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EphysError } from "../../analysis/errors.ts";
import { mulberry32 } from "../../analysis/random.ts";
import {
  type Detection,
  type DetectorOptions,
  OnlineSpikeDetector,
  SpikeDetectorError,
} from "../../analysis/spikes/index.ts";
import { ContinuousSynth, poissonTrains } from "../../controller/simulate/continuous.ts";

const PYTHON = "/usr/bin/python3";
const FIXTURE = "test/fixtures/spikes/detect_reference.json";
const dir = mkdtempSync(join(tmpdir(), "spikes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  name: string;
  synth: {
    nChans: number;
    sampleRate: number;
    seed: number;
    noiseSigma: number;
    amplitude: number[];
    rateHz: number;
    spikeSeed: number;
    commonMode: { amplitude: number; hz: number };
  };
  detector: DetectorOptions;
  blocks: Array<[number, number]>;
  expected: Array<[number, number]>;
}

function synthOf(c: Case): ContinuousSynth {
  const [s0, n0] = c.blocks[c.blocks.length - 1];
  const spikes = poissonTrains(
    c.synth.spikeSeed,
    c.synth.nChans,
    c.synth.rateHz,
    c.synth.sampleRate,
    s0 + n0,
    60,
  );
  return new ContinuousSynth({ ...c.synth, spikes });
}

function detectAll(d: OnlineSpikeDetector, blocks: Array<{ start: number; data: Int16Array; n: number }>) {
  const out: Detection[] = [];
  for (const b of blocks) out.push(...d.push(b.start, b.data, b.n));
  return out;
}

const pairs = (ds: Detection[]) => ds.map((d) => [d.sample, d.channel]);

describe("OnlineSpikeDetector against the numpy reference", () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as { cases: Case[] };
  for (const [k, c] of fixture.cases.entries()) {
    it(`${c.name}: the same detections as spike_detect_reference.py and the fixture`, () => {
      const synth = synthOf(c);
      const blocks = c.blocks.map(([start, n]) => ({ start, n, data: synth.read(start, n) }));
      const total = blocks.reduce((a, b) => a + b.data.length, 0);
      const all = new Int16Array(total);
      let at = 0;
      for (const b of blocks) {
        all.set(b.data, at);
        at += b.data.length;
      }
      const bin = join(dir, `case${k}.bin`);
      const params = join(dir, `case${k}.json`);
      writeFileSync(bin, all);
      writeFileSync(
        params,
        JSON.stringify({ ...c.detector, highPassHz: c.detector.highPassHz ?? null, blocks: c.blocks }),
      );
      const ref = JSON.parse(
        execFileSync(PYTHON, ["test/reference/spike_detect_reference.py", params, bin], { encoding: "utf8" }),
      ) as {
        detections: Array<[number, number]>;
        sigma: number[];
      };
      const detector = new OnlineSpikeDetector(c.detector);
      const ours = pairs(detectAll(detector, blocks));
      console.log(
        `${c.name}: ${ours.length} detections, reference ${ref.detections.length}, fixture ${c.expected.length}`,
      );
      if (process.env.SPIKE_FIXTURE_WRITE === "1") {
        c.expected = ref.detections;
        writeFileSync(FIXTURE, `${JSON.stringify(fixture)}\n`);
      }
      expect(ours.length).toBeGreaterThan(100);
      expect(ours).toEqual(ref.detections);
      expect(ours).toEqual(c.expected);
      expect([...detector.noise()]).toEqual(ref.sigma);
    });
  }
});

/** Synthesized data with spikes of amplitude snr·σ on every channel, read in 50 ms blocks. */
function scene(snr: number, seconds: number, nChans = 16, car: "median" | "mean" | "none" = "median") {
  const fs = 30000;
  const n = seconds * fs;
  const spikes = poissonTrains(3, nChans, 15, fs, n, 90);
  const synth = new ContinuousSynth({
    nChans,
    sampleRate: fs,
    seed: 4,
    noiseSigma: 10,
    amplitude: 10 * snr,
    spikes,
    commonMode: { amplitude: 80, hz: 11 },
  });
  const data = synth.read(0, n);
  const detector = new OnlineSpikeDetector({ nChans, sampleRate: fs, car });
  return { fs, n, spikes, data, detector, nChans };
}

function inBlocks(data: Int16Array, nChans: number, sizes: () => number) {
  const total = data.length / nChans;
  const out: Array<{ start: number; data: Int16Array; n: number }> = [];
  for (let s = 0; s < total; ) {
    const n = Math.min(total - s, sizes());
    out.push({ start: s, n, data: data.subarray(s * nChans, (s + n) * nChans) });
    s += n;
  }
  return out;
}

describe("OnlineSpikeDetector on synthesized data", () => {
  it("spikes of 8σ: hit rate ≥ 95 % within ±0.5 ms, false positives < 1 per channel-second", () => {
    const { fs, n, spikes, data, detector, nChans } = scene(8, 12);
    const found = detectAll(
      detector,
      inBlocks(data, nChans, () => 1500),
    );
    const tol = 0.5e-3 * fs;
    const window = fs; // the first second is the noise window
    let hits = 0;
    let truth = 0;
    let falsePositives = 0;
    for (let c = 0; c < nChans; c++) {
      const mine = found.filter((d) => d.channel === c).map((d) => d.sample);
      const used = new Uint8Array(mine.length);
      for (const t of spikes[c]) {
        if (t < window + tol) continue;
        truth++;
        const j = mine.findIndex((s, k) => !used[k] && Math.abs(s - t) <= tol);
        if (j >= 0) {
          used[j] = 1;
          hits++;
        }
      }
      falsePositives += mine.filter((s, k) => !used[k] && s >= window + tol).length;
    }
    const channelSeconds = (nChans * (n - window)) / fs;
    const hitRate = hits / truth;
    const fpRate = falsePositives / channelSeconds;
    console.log(
      `8σ spikes: hit rate ${(100 * hitRate).toFixed(2)} % (${hits}/${truth}) within ±0.5 ms; ` +
        `${falsePositives} false positives in ${channelSeconds} channel-s = ${fpRate.toFixed(3)} per channel-second`,
    );
    expect(hitRate).toBeGreaterThanOrEqual(0.95);
    expect(fpRate).toBeLessThan(1);
  });

  it("one big block, 50 ms blocks and random small ones (1 sample up) give identical detections", () => {
    const { data, nChans } = scene(6, 3);
    const opts = { nChans, sampleRate: 30000, noiseWindowMs: 300, noiseUpdateMs: 20 };
    const random = mulberry32(9);
    const runs = [() => 90000, () => 1500, () => 1 + Math.floor(random() * random() * 700)].map((sizes) =>
      detectAll(new OnlineSpikeDetector(opts), inBlocks(data, nChans, sizes)),
    );
    expect(runs[0].length).toBeGreaterThan(100);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });

  it("respects the refractory period: spike pairs 0.6 ms apart give one detection at 1 ms, two at 0.3 ms", () => {
    const fs = 30000;
    const trains = [Array.from({ length: 40 }, (_, k) => fs + 1000 + k * 600).flatMap((t) => [t, t + 18])];
    const synth = new ContinuousSynth({
      nChans: 1,
      sampleRate: fs,
      seed: 1,
      noiseSigma: 10,
      amplitude: 150,
      spikes: trains,
    });
    const data = synth.read(0, 2 * fs);
    for (const [ms, perPair] of [
      [1, 1],
      [0.3, 2],
    ]) {
      const d = new OnlineSpikeDetector({ nChans: 1, sampleRate: fs, car: "none", refractoryMs: ms });
      const found = d.push(0, data, 2 * fs).map((x) => x.sample);
      expect(found.length).toBe(40 * perPair);
      for (let k = 1; k < found.length; k++) expect(found[k] - found[k - 1]).toBeGreaterThanOrEqual(ms * 30);
    }
  });

  it("detects nothing before ready (the noise window), then is ready exactly after it", () => {
    const { data, nChans } = scene(10, 2);
    const d = new OnlineSpikeDetector({ nChans, sampleRate: 30000, noiseWindowMs: 1000 });
    expect(d.ready).toBe(false);
    expect([...d.noise()].every((s) => s === 0)).toBe(true);
    expect(d.push(0, data, 29999)).toEqual([]);
    expect(d.ready).toBe(false);
    expect(d.push(29999, data.subarray(29999 * nChans), 1)).toEqual([]);
    expect(d.ready).toBe(true);
    expect([...d.noise()].every((s) => s > 8 && s < 12)).toBe(true); // σ = 10 ADC units
    expect(d.push(30000, data.subarray(30000 * nChans), 30000).length).toBeGreaterThan(100);
  });

  it("a gap is allowed (no crossing across it); overlapping blocks are refused", () => {
    const d = new OnlineSpikeDetector({ nChans: 2, sampleRate: 1000, noiseWindowMs: 4, car: "none" });
    const block = Int16Array.from([0, 0, 1, 1, -1, 1, 1, 0]);
    d.push(0, block, 4);
    expect(d.ready).toBe(true);
    // sample 100 is below threshold, but the sample before it was not received: no crossing there
    expect(d.push(100, Int16Array.from([-100, -100, 0, 0, -100, -100]), 3)).toEqual([
      { sample: 102, channel: 0 },
      { sample: 102, channel: 1 },
    ]);
    expect(() => d.push(101, block, 1)).toThrow(SpikeDetectorError);
  });

  it("refuses bad options and blocks with an error naming the field", () => {
    const good = { nChans: 4, sampleRate: 30000 };
    const bad: Array<[Partial<DetectorOptions>, string]> = [
      [{ nChans: 0 }, "options.nChans"],
      [{ nChans: 2.5 }, "options.nChans"],
      [{ sampleRate: -1 }, "options.sampleRate"],
      [{ thresholdK: Number.NaN }, "options.thresholdK"],
      [{ refractoryMs: -1 }, "options.refractoryMs"],
      [{ car: "avg" as "mean" }, "options.car"],
      [{ noiseWindowMs: 0 }, "options.noiseWindowMs"],
      [{ noiseWindowMs: 0.01 }, "options.noiseWindowMs"],
      [{ noiseTimeConstantS: 0 }, "options.noiseTimeConstantS"],
      [{ noiseUpdateMs: -5 }, "options.noiseUpdateMs"],
      [{ highPassHz: 20000 }, "options.highPassHz"],
    ];
    for (const [o, field] of bad) {
      let err: unknown;
      try {
        new OnlineSpikeDetector({ ...good, ...o });
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(SpikeDetectorError);
      expect(err).toBeInstanceOf(EphysError);
      expect((err as SpikeDetectorError).code).toBe("EPHYS_BAD_DETECTOR_INPUT");
      expect((err as Error).message).toContain(field);
    }
    const d = new OnlineSpikeDetector(good);
    expect(() => d.push(0, new Int16Array(7), 2)).toThrow(/push\(nSamples\)/);
    expect(() => d.push(-1, new Int16Array(8), 2)).toThrow(/push\(startSample\)/);
  });
});

describe("ContinuousSynth", () => {
  it("reads any range alike: a sample's value depends on (seed, sample, channel, spikes) only", () => {
    const synth = () =>
      new ContinuousSynth({
        nChans: 3,
        sampleRate: 30000,
        seed: 8,
        noiseSigma: [5, 10, 20],
        amplitude: [100, 0, 50],
        spikes: (c, from, to) => [1000, 1010, 5000].filter((t) => t >= from && t < to && c !== 1),
        commonMode: { amplitude: 30, hz: 50 },
      });
    const whole = synth().read(0, 6000);
    const s = synth();
    for (const [from, n] of [
      [995, 20],
      [4990, 700],
      [255, 2],
      [0, 1],
      [5999, 1],
    ])
      expect(s.read(from, n)).toEqual(whole.subarray(from * 3, (from + n) * 3));
    // σ per channel and the spike's trough
    const noiseOnly = new ContinuousSynth({ nChans: 3, sampleRate: 30000, seed: 8, noiseSigma: [5, 10, 20] });
    const far = noiseOnly.read(6000, 30000);
    const sd = (c: number) => {
      let a = 0;
      for (let i = 0; i < 30000; i++) a += far[i * 3 + c] ** 2;
      return Math.sqrt(a / 30000);
    };
    expect(sd(2)).toBeGreaterThan(19);
    expect(sd(2)).toBeLessThan(21);
    expect(whole[5000 * 3]).toBeLessThan(-60);
  });
});
