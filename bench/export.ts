// NWB export: MB/s written and peak memory for a session of 384 channels and 8 × 475 presentations, against
// writing the same arrays to .npy files in the same run.
//
// The session is built in a temporary SessionStore through its own methods: 475 stimuli (the 76 demo images,
// cycled, so every template is decoded and written), 384 channels, 8 blocks of 475 presentations (2 % voided) 450 ms
// apart (200 ms on, 250 ms off, as the demo protocol), each with one acquisition message of Poisson spikes at
// 10–40 Hz in the −75…250 ms window, as the bridges send them.
// Baseline, same process, same store: the same arrays — each unit's spike times (float64, presentation order, the
// same two-pass read of the store), their index, obs_intervals, presentation trial ids and spike counts, the trials'
// columns and every template (hashed and decoded by the same generator) — written to .npy files with positional writes from per-unit
// buffers of the same size. So the ratio is what HDF5 through h5wasm (and NWB's structure) costs over a flat file.
// The export runs as the day and `ephysloop export` run it: in a worker thread (its own store connection, h5wasm
// loaded outside tsx's loader). Memory: each writer again alone in a fresh process, its peak resident set size
// (worker threads included; process.resourceUsage().maxRSS) next to the process's size at start; the NWB export of
// a session with 1/4 of the presentations shows whether the peak grows with the session.
//
//   npm run bench:export        (BENCH_BLOCKS=8 blocks of 475, BENCH_CHANNELS=384; BENCH_QUICK=1: 2 blocks, 96 channels)
// Over 400 lines: a benchmark is one script a lab runs and reads top to bottom: the session it builds, the NWB
// and .npy writers it times, the report.

import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { mulberry32, type Random } from "../analysis/random.ts";
import { exportSessionNwbInWorker } from "../controller/export/nwb/export-job.ts";
import { decodedTemplates } from "../controller/export/shown-images.ts";
import { trialDataPages } from "../controller/export/trial-data-pages.ts";
import { SessionStore, type StimulusRecord } from "../controller/store/store.ts";
import { sha256File } from "../stimuli/hash.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? (QUICK ? 2 : 8));
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? (QUICK ? 96 : 384));
const STIMULI = 475;
const PRE_MS = 75;
const POST_MS = 250;
const CHUNK = 4096;
const log = (s: string) => console.log(s);
const MB = 1e6;

/** The demo protocol (its windows, −75…250 ms, are the spike window) with the bench's block count. */
const protocolText = readFileSync("protocols/demo.yaml", "utf8").replace(
  "  repetitions: 6\n  order",
  `  repetitions: ${BLOCKS}\n  order`,
);

function poissonTrain(random: Random, rateHz: number): number[] {
  const out: number[] = [];
  const gap = () => -Math.log(1 - random()) * (1000 / rateHz);
  for (let t = -PRE_MS + gap(); t < POST_MS; t += gap()) out.push(t);
  return out;
}

async function buildSession(
  dir: string,
  blocks: number,
): Promise<{ store: SessionStore; sessionId: string }> {
  const store = new SessionStore(join(dir, `bench-${blocks}.db`));
  const sessionId = `bench-${blocks}`;
  store.createSession({
    id: sessionId,
    protocolName: "demo",
    protocolPath: join(process.cwd(), "protocols", "demo.yaml"),
    protocolText,
    protocolSha256: "0".repeat(64),
    codeVersion: "bench",
    software: { node: process.version },
    seed: 1,
    subject: "M1",
    rig: "bench",
  });
  const files = ["bodies", "objects", "control-bodies"].flatMap((set) =>
    readdirSync(join("stimuli", "demo", set))
      .filter((f) => f.endsWith(".png"))
      .map((f) => join(process.cwd(), "stimuli", "demo", set, f)),
  );
  const hashes = new Map<string, string>();
  for (const f of files) hashes.set(f, await sha256File(f));
  const stimuli: StimulusRecord[] = Array.from({ length: STIMULI }, (_, i) => {
    const path = files[i % files.length];
    return {
      id: `set/img-${i}`,
      setId: "set",
      category: "body",
      role: "preferred",
      path,
      sha256: hashes.get(path)!,
    };
  });
  store.insertStimuli(sessionId, stimuli);
  const channels = Array.from({ length: CHANNELS }, (_, i) => ({
    id: `ch${i}`,
    probe: `probe${i >> 7}`,
    index: i,
  }));
  store.upsertChannels(sessionId, channels);
  const random = mulberry32(7);
  const rates = channels.map(() => 10 + 30 * random());
  const t0 = Date.parse(store.getSession(sessionId)!.created_at);
  let seq = 0;
  let onset = t0 + 1000;
  for (let block = 0; block < blocks; block++) {
    const batch = [];
    for (let s = 0; s < STIMULI; s++) {
      const trialId = store.nextTrialId(sessionId);
      store.recordTrial(sessionId, {
        trialId,
        phase: 1,
        block,
        stimulusId: stimuli[(s * 7 + block) % STIMULI].id,
        eventCode: 10,
        status: "pending",
      });
      onset += 450;
      if (random() < 0.02) {
        store.settleTrial(sessionId, trialId, { status: "voided", reason: "fixation break" });
        continue;
      }
      store.settleTrial(sessionId, trialId, {
        status: "shown",
        onsetMs: onset,
        offsetMs: onset + 200,
        droppedFrames: 0,
      });
      batch.push({
        seq: ++seq,
        trialId,
        channels: channels.map((c, i) => {
          const spikes = new Float32Array(poissonTrain(random, rates[i]));
          return { channelId: c.id, counts: { response: spikes.length }, spikes };
        }),
      });
      if (batch.length === 50) store.ingest(sessionId, batch.splice(0));
    }
    store.ingest(sessionId, batch);
  }
  return { store, sessionId };
}

/** Time a writer in this process. */
async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = performance.now();
  const value = await work();
  return { value, seconds: (performance.now() - t) / 1000 };
}

interface ChildRun {
  writer: "npy" | "nwb";
  db: string;
  sessionId: string;
  out: string;
}

/** A writer alone in a fresh process: its peak resident set size (worker threads included) and the start's. */
function inChild(run: ChildRun): { startMB: number; peakMB: number; bytes: number; seconds: number } {
  const out = execFileSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_CHILD: JSON.stringify(run) },
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

async function child(run: ChildRun): Promise<void> {
  const startMB = process.memoryUsage().rss / MB;
  const t = performance.now();
  let bytes: number;
  if (run.writer === "npy") {
    const store = new SessionStore(run.db);
    mkdirSync(run.out, { recursive: true });
    bytes = await exportNpy(store, run.sessionId, run.out);
    store.close();
  } else
    bytes = (
      await exportSessionNwbInWorker({ dbPath: run.db, sessionId: run.sessionId, path: run.out, options: {} })
    ).bytes;
  const seconds = (performance.now() - t) / 1000;
  const peakMB = (process.resourceUsage().maxRSS * 1024) / MB;
  console.log(JSON.stringify({ startMB, peakMB, bytes, seconds }));
}

/** A .npy v1.0 header for a little-endian array of `descr` ('<f8', '<u4', '<i4', '|u1') and `shape`. */
function npyHeader(descr: string, shape: number[]): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = Buffer.alloc(10 + dict.length + pad + 1, 0x20);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(header);
  header.writeUInt16LE(dict.length + pad + 1, 8);
  header.write(dict, 10, "latin1");
  header[header.length - 1] = 0x0a;
  return header;
}

type Typed = Float64Array | Uint32Array | Int32Array | Uint8Array;

/** A pre-sized .npy file written at positions: the baseline's counterpart of RegionWriter. */
class NpyRegions {
  private readonly fd: number;
  private readonly base: number;
  private readonly at: number[];
  private readonly buffers: Typed[];
  private readonly filled: number[];
  constructor(
    path: string,
    descr: string,
    private readonly make: (n: number) => Typed,
    lengths: number[],
    private readonly width: number,
  ) {
    const total = lengths.reduce((a, b) => a + b, 0);
    const header = npyHeader(descr, width > 1 ? [total, width] : [total]);
    this.fd = openSync(path, "w");
    writeSync(this.fd, header);
    this.base = header.length;
    this.at = [];
    let at = 0;
    for (const n of lengths) {
      this.at.push(at);
      at += n;
    }
    this.buffers = lengths.map(() => make(0));
    this.filled = lengths.map(() => 0);
  }
  push(k: number, values: ArrayLike<number>): void {
    if (this.buffers[k].length === 0) this.buffers[k] = this.make(CHUNK * this.width);
    for (let i = 0; i < values.length; i++) {
      this.buffers[k][this.filled[k]++] = values[i];
      if (this.filled[k] === this.buffers[k].length) this.flush(k);
    }
  }
  private flush(k: number): void {
    const b = this.buffers[k];
    const bytes = Buffer.from(b.buffer, b.byteOffset, this.filled[k] * b.BYTES_PER_ELEMENT);
    writeSync(this.fd, bytes, 0, bytes.length, this.base + this.at[k] * this.width * b.BYTES_PER_ELEMENT);
    this.at[k] += this.filled[k] / this.width;
    this.filled[k] = 0;
  }
  close(): void {
    for (let k = 0; k < this.buffers.length; k++) this.flush(k);
    closeSync(this.fd);
  }
}

function writeNpy(path: string, descr: string, data: Typed, shape: number[]): void {
  const fd = openSync(path, "w");
  writeSync(fd, npyHeader(descr, shape));
  writeSync(fd, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  closeSync(fd);
}

/** The same arrays as the NWB file's units, trials and templates, as .npy files in `dir`. */
async function exportNpy(store: SessionStore, sessionId: string, dir: string): Promise<number> {
  const t0 = Date.parse(store.getSession(sessionId)!.created_at);
  const channels = store.channels(sessionId);
  const unitOf = new Map(channels.map((c, u) => [c.id, u]));
  const trials = store.trials(sessionId);
  const onsets = new Map<number, number>();
  for (const t of trials)
    if (t.status === "shown" && t.onsetMs !== undefined) onsets.set(t.trialId, t.onsetMs);
  const until = store.lastTrialDataRowId(sessionId);
  const nSpikes = new Array<number>(channels.length).fill(0);
  const nWindows = new Array<number>(channels.length).fill(0);
  for await (const rows of trialDataPages(store, sessionId, { until, spikes: false }))
    for (const row of rows) {
      if (!onsets.has(row.trialId) || !row.offsets) continue;
      for (let c = 0; c < row.channelIds.length; c++) {
        const u = unitOf.get(row.channelIds[c])!;
        nSpikes[u] += row.offsets[c + 1] - row.offsets[c];
        nWindows[u]++;
      }
    }
  const spikes = new NpyRegions(join(dir, "spike_times.npy"), "<f8", (n) => new Float64Array(n), nSpikes, 1);
  const windows = new NpyRegions(
    join(dir, "obs_intervals.npy"),
    "<f8",
    (n) => new Float64Array(n),
    nWindows,
    2,
  );
  const ids = new NpyRegions(
    join(dir, "presentation_trial_id.npy"),
    "<i4",
    (n) => new Int32Array(n),
    nWindows,
    1,
  );
  const counts = new NpyRegions(
    join(dir, "presentation_spike_count.npy"),
    "<u4",
    (n) => new Uint32Array(n),
    nWindows,
    1,
  );
  let scratch = new Float64Array(256);
  for await (const rows of trialDataPages(store, sessionId, { until, spikes: true }))
    for (const row of rows) {
      const onset = onsets.get(row.trialId);
      if (onset === undefined || !row.offsets || !row.spikes) continue;
      for (let c = 0; c < row.channelIds.length; c++) {
        const u = unitOf.get(row.channelIds[c])!;
        const from = row.offsets[c];
        const k = row.offsets[c + 1] - from;
        if (scratch.length < k) scratch = new Float64Array(2 * k);
        const times = scratch.subarray(0, k);
        for (let i = 0; i < k; i++) times[i] = (onset - t0 + row.spikes[from + i]) / 1000;
        times.sort();
        spikes.push(u, times);
        windows.push(u, [(onset - t0 - PRE_MS) / 1000, (onset - t0 + POST_MS) / 1000]);
        ids.push(u, [row.trialId]);
        counts.push(u, [k]);
      }
    }
  for (const w of [spikes, windows, ids, counts]) w.close();
  const ends = (lengths: number[]) => {
    let at = 0;
    return Uint32Array.from(lengths, (n) => (at += n));
  };
  writeNpy(join(dir, "spike_times_index.npy"), "<u4", ends(nSpikes), [channels.length]);
  writeNpy(join(dir, "obs_intervals_index.npy"), "<u4", ends(nWindows), [channels.length]);
  const sec = (ms: number | undefined) => (ms === undefined ? Number.NaN : (ms - t0) / 1000);
  writeNpy(
    join(dir, "trials_start.npy"),
    "<f8",
    Float64Array.from(trials, (t) => sec(t.onsetMs)),
    [trials.length],
  );
  writeNpy(
    join(dir, "trials_stop.npy"),
    "<f8",
    Float64Array.from(trials, (t) => sec(t.offsetMs)),
    [trials.length],
  );
  writeNpy(
    join(dir, "trials_id.npy"),
    "<i4",
    Int32Array.from(trials, (t) => t.trialId),
    [trials.length],
  );
  const presented = new Set(trials.map((t) => t.stimulusId));
  let i = 0;
  for await (const { image } of decodedTemplates(store.stimuli(sessionId).filter((s) => presented.has(s.id))))
    if (image) writeNpy(join(dir, `template-${i++}.npy`), "|u1", image.data, [image.height, image.width, 3]);
  return readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-export-"));
  try {
    const built = performance.now();
    const full = await buildSession(dir, BLOCKS);
    const quarter = await buildSession(dir, Math.max(1, BLOCKS / 4));
    log(
      `session: ${CHANNELS} channels, ${BLOCKS} × ${STIMULI} presentations (and a ¼ session); built in ${((performance.now() - built) / 1000).toFixed(1)} s`,
    );
    // Throughput, both writers in this process on the same store.
    mkdirSync(join(dir, "npy"));
    const npy = await timed(() => exportNpy(full.store, full.sessionId, join(dir, "npy")));
    const npyRate = npy.value / MB / npy.seconds;
    log(
      `.npy: ${(npy.value / MB).toFixed(1)} MB in ${npy.seconds.toFixed(2)} s = ${npyRate.toFixed(1)} MB/s`,
    );
    const nwb = await timed(() =>
      exportSessionNwbInWorker({
        dbPath: full.store.db.name,
        sessionId: full.sessionId,
        path: join(dir, "bench.nwb"),
        options: {},
      }),
    );
    const r = nwb.value;
    const rate = r.bytes / MB / nwb.seconds;
    log(
      `nwb: ${(r.bytes / MB).toFixed(1)} MB (${r.spikes} spikes, ${r.trials} presentations, ${r.templates} images) in ` +
        `${nwb.seconds.toFixed(2)} s = ${rate.toFixed(1)} MB/s (in a worker thread, as the day and the command run it)`,
    );
    full.store.close();
    quarter.store.close();
    // Peak memory, each writer alone in a fresh process (the same code; tsx's own footprint is the start).
    const runs: Array<[string, ChildRun]> = [
      [
        ".npy, full",
        { writer: "npy", db: full.store.db.name, sessionId: full.sessionId, out: join(dir, "npy-child") },
      ],
      [
        "nwb, ¼",
        { writer: "nwb", db: quarter.store.db.name, sessionId: quarter.sessionId, out: join(dir, "q.nwb") },
      ],
      [
        "nwb, full",
        { writer: "nwb", db: full.store.db.name, sessionId: full.sessionId, out: join(dir, "f.nwb") },
      ],
    ];
    for (const [name, run] of runs) {
      const c = inChild(run);
      log(
        `peak memory ${name}: ${c.peakMB.toFixed(0)} MB resident (process start ${c.startMB.toFixed(0)} MB) ` +
          `writing ${(c.bytes / MB).toFixed(1)} MB in ${c.seconds.toFixed(2)} s`,
      );
    }
    log(`export: ${rate.toFixed(1)} MB/s (${(rate / npyRate).toFixed(2)}× .npy)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.BENCH_CHILD) await child(JSON.parse(process.env.BENCH_CHILD) as ChildRun);
else await main();
