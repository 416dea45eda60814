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
// loaded outside tsx's loader). Memory: resident set size of the process (worker included) sampled every 20 ms
// during each writer; a first NWB export of a session with 1/4 of the presentations shows whether the peak grows
// with the session.
//
//   npm run bench:export        (BENCH_BLOCKS=8 blocks of 475, BENCH_CHANNELS=384; BENCH_QUICK=1: 2 blocks, 96 channels)
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
import { mulberry32, type Random } from "../analysis/random.ts";
import { exportSessionNwbInWorker } from "../controller/export/nwb/export-job.ts";
import { decodedTemplates } from "../controller/export/nwb/stimulus-templates.ts";
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

/** Resident set size sampled every 20 ms while `work` runs. */
async function measured<T>(
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number; peakRss: number; startRss: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const t = performance.now();
  try {
    const value = await work();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    return { value, seconds: (performance.now() - t) / 1000, peakRss, startRss };
  } finally {
    clearInterval(timer);
  }
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
    const { store, sessionId } = await buildSession(dir, BLOCKS);
    const small = await buildSession(dir, Math.max(1, BLOCKS / 4));
    const m = process.memoryUsage();
    log(
      `memory before the writers: RSS ${(m.rss / MB).toFixed(0)} MB, JS heap ${(m.heapUsed / MB).toFixed(0)} MB, ` +
        `external ${(m.external / MB).toFixed(0)} MB, array buffers ${(m.arrayBuffers / MB).toFixed(0)} MB; gc ${typeof (globalThis as { gc?: unknown }).gc}`,
    );
    log(
      `session: ${CHANNELS} channels, ${BLOCKS} × ${STIMULI} presentations, ${store.trialData(sessionId, 1)[0].spikes!.length} spikes in the first; built in ${((performance.now() - built) / 1000).toFixed(1)} s`,
    );
    const npyDir = join(dir, "npy");
    mkdirSync(npyDir);
    const npy = await measured(() => exportNpy(store, sessionId, npyDir));
    const npyRate = npy.value / MB / npy.seconds;
    log(
      `.npy: ${(npy.value / MB).toFixed(1)} MB in ${npy.seconds.toFixed(2)} s = ${npyRate.toFixed(1)} MB/s; ` +
        `peak RSS ${(npy.peakRss / MB).toFixed(0)} MB (+${((npy.peakRss - npy.startRss) / MB).toFixed(0)} MB)`,
    );
    const nwbExport = (s: { store: SessionStore; sessionId: string }, file: string) =>
      exportSessionNwbInWorker({
        dbPath: s.store.db.name,
        sessionId: s.sessionId,
        path: join(dir, file),
        options: {},
      });
    const smallRun = await measured(() => nwbExport(small, "small.nwb"));
    const nwb = await measured(() => nwbExport({ store, sessionId }, "bench.nwb"));
    const r = nwb.value;
    const rate = r.bytes / MB / nwb.seconds;
    log(
      `nwb ¼: ${(smallRun.value.bytes / MB).toFixed(1)} MB (${smallRun.value.spikes} spikes) in ${smallRun.seconds.toFixed(2)} s; ` +
        `peak RSS ${(smallRun.peakRss / MB).toFixed(0)} MB`,
    );
    log(
      `nwb: ${(r.bytes / MB).toFixed(1)} MB (${r.spikes} spikes, ${r.trials} presentations, ${r.templates} images) in ` +
        `${nwb.seconds.toFixed(2)} s = ${rate.toFixed(1)} MB/s; peak RSS ${(nwb.peakRss / MB).toFixed(0)} MB ` +
        `(+${((nwb.peakRss - nwb.startRss) / MB).toFixed(0)} MB over the start)`,
    );
    log(
      `peak memory: nwb ${(nwb.peakRss / MB).toFixed(0)} MB for the full session, ${(smallRun.peakRss / MB).toFixed(0)} MB for ¼; .npy ${(npy.peakRss / MB).toFixed(0)} MB`,
    );
    store.close();
    small.store.close();
    log(`export: ${rate.toFixed(1)} MB/s (${(rate / npyRate).toFixed(2)}× .npy)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
