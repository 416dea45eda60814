// The SpikeGLX input of the bridge: polls SpikeGLX's Remote Command API (remote-api.ts) for the imec probe's AP
// band and the NI/OneBox digital word, detects multi-unit spikes online (analysis/spikes), and hands spikes and
// event words to the bridge core on the imec clock, in sample order. Each poll:
//   1. the AP samples acquired since the last poll (FETCH of the mapped channels) → the detector → spikes;
//   2. the word stream up to the instant of the last AP sample read (MAPSAMPLE imec → word stream), one channel:
//      each change of the word, mapped back onto the imec clock (MAPSAMPLE word stream → imec);
//   3. words and spikes merged by sample; the core's clock advanced to the last AP sample.
// A word change that maps past the AP samples read waits for the next poll, so the core never sees a spike behind
// its clock. SpikeGLX answers a FETCH older than its ring buffer with "ERROR FETCH: Too late." (never clamps): the
// bridge then reads on from the newest samples and says which span was lost (a notice), never guesses. FETCH returns
// the channels asked for ascending, whatever the order asked (remote-api.ts): the map's AP channels are read sorted.
import { OnlineSpikeDetector } from "../../../analysis/spikes/index.ts";
import type { BridgeCore } from "../core/bridge-core.ts";
import { JS_IMEC, type SpikeGlxMap, wordJs } from "./channel-map.ts";
import { type SpikeGlxClient, SpikeGlxError } from "./remote-api.ts";

export interface SpikeGlxInputOptions {
  client: SpikeGlxClient;
  map: SpikeGlxMap;
  core: BridgeCore;
  /** Wall ms between polls; default 20. */
  pollMs?: number;
  /** At most this many AP samples per FETCH; default 30000 (1 s). */
  maxFetchSamples?: number;
  /** The channels' noise goes to the daemon (a notice: event log, dashboard) once the detector is ready and then
   *  every this many seconds of acquisition; default 60. */
  noiseReportS?: number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export interface SpikeGlxInputStats {
  polls: number;
  apSamples: number;
  detections: number;
  words: number;
  /** AP samples SpikeGLX had acquired but the bridge had not read, at the last poll. */
  behindSamples: number;
}

export class SpikeGlxInput {
  readonly stats: SpikeGlxInputStats = { polls: 0, apSamples: 0, detections: 0, words: 0, behindSamples: 0 };
  private detector: OnlineSpikeDetector | null = null;
  /** The mapped AP channels, ascending (as FETCH returns them), and each one's index in the map. */
  private readonly apChannels: number[];
  private readonly mapIndex: number[];
  private readonly wordJs: number;
  private apDone = -1;
  private wordDone = -1;
  private lastWord = 0;
  private pending: Array<{ sample: number; word: number }> = [];
  private noiseReportedAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: SpikeGlxInputOptions) {
    const order = o.map.channels.map((c, i) => ({ ap: c.apChannel, i })).sort((a, b) => a.ap - b.ap);
    this.apChannels = order.map((x) => x.ap);
    this.mapIndex = order.map((x) => x.i);
    this.wordJs = wordJs(o.map);
  }

  /** Reads the imec rate into the core and starts polling from the samples acquired now. */
  async start(): Promise<void> {
    const { client, map, core } = this.o;
    const rate = await client.getStreamSampleRate(JS_IMEC, map.probe);
    if (!(rate > 0)) throw new Error(`SpikeGLX imec stream ${map.probe}: sample rate ${rate}`);
    core.setSampleRate(rate);
    this.detector = new OnlineSpikeDetector({
      nChans: this.apChannels.length,
      sampleRate: rate,
      ...map.detection,
    });
    this.apDone = await client.getStreamSampleCount(JS_IMEC, map.probe);
    this.wordDone = await client.mapSample(this.wordJs, map.wordStream.ip, this.apDone, JS_IMEC, map.probe);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.loop?.catch(() => {});
  }

  /** The detector's noise σ per mapped channel (ADC units), for the monitor. */
  noise(): Float64Array {
    const out = new Float64Array(this.apChannels.length);
    const sd = this.detector?.noise();
    if (sd)
      this.mapIndex.forEach((m, k) => {
        out[m] = sd[k];
      });
    return out;
  }

  private async run(): Promise<void> {
    const every = this.o.pollMs ?? 20;
    while (!this.stopped) {
      const t0 = Date.now();
      try {
        await this.poll();
      } catch (e) {
        if (this.stopped) return;
        this.o.core.notice({
          code: "EPHYS_SPIKEGLX_POLL",
          message: `SpikeGLX poll failed: ${(e as Error).message}; trying again`,
        });
        await new Promise((r) => setTimeout(r, 500));
      }
      const wait = every - (Date.now() - t0);
      if (wait > 0 && !this.stopped) await new Promise((r) => (this.timer = setTimeout(r, wait)));
    }
  }

  /** One poll (also called directly by tests). */
  async poll(): Promise<void> {
    const { client, map, core } = this.o;
    const detector = this.detector;
    if (!detector) throw new Error("SpikeGlxInput.poll before start");
    this.stats.polls++;
    const count = await client.getStreamSampleCount(JS_IMEC, map.probe);
    if (count <= this.apDone) return;
    const want = Math.min(count - this.apDone, this.o.maxFetchSamples ?? 30000);
    let ap: Awaited<ReturnType<SpikeGlxClient["fetch"]>>;
    try {
      ap = await client.fetch(JS_IMEC, map.probe, this.apDone, want, this.apChannels);
    } catch (e) {
      if (!(e instanceof SpikeGlxError && /too late/i.test(e.message))) throw e;
      // Gone from SpikeGLX's ring buffer: read on from the newest samples, and say what was lost.
      const now = await client.getStreamSampleCount(JS_IMEC, map.probe);
      core.notice({
        code: "EPHYS_SPIKEGLX_GAP",
        message: `AP samples ${this.apDone}..${now - 1} were gone from SpikeGLX's buffer before the bridge read them (it fell ${((now - this.apDone) / core.sampleRate).toFixed(2)} s behind); trials in that span get no spikes`,
      });
      this.apDone = now;
      this.wordDone = await client.mapSample(this.wordJs, map.wordStream.ip, now, JS_IMEC, map.probe);
      core.spike(now - 1, []);
      return;
    }
    if (ap.nSamples === 0) return;
    const end = ap.headCount + ap.nSamples;
    this.stats.behindSamples = count - end;
    this.stats.apSamples += ap.nSamples;
    const spikes = detector.push(ap.headCount, ap.data, ap.nSamples);
    this.stats.detections += spikes.length;
    this.apDone = end;
    if (detector.ready && end - this.noiseReportedAt >= (this.o.noiseReportS ?? 60) * core.sampleRate) {
      this.noiseReportedAt = end;
      core.notice({ code: "EPHYS_SPIKEGLX_NOISE", message: noiseSummary(this.noise(), map) });
    }
    // The word stream up to the same instant, one channel.
    const wordEnd = await client.mapSample(this.wordJs, map.wordStream.ip, end, JS_IMEC, map.probe);
    while (this.wordDone < wordEnd) {
      const n = Math.min(wordEnd - this.wordDone, this.o.maxFetchSamples ?? 30000);
      const w = await client.fetch(this.wordJs, map.wordStream.ip, this.wordDone, n, [map.wordChannel]);
      if (w.nSamples === 0) break;
      for (let i = 0; i < w.nSamples; i++) {
        const word = w.data[i] & 0xffff;
        if (word === this.lastWord) continue;
        this.lastWord = word;
        const sample = await client.mapSample(
          JS_IMEC,
          map.probe,
          w.headCount + i,
          this.wordJs,
          map.wordStream.ip,
        );
        this.pending.push({ sample, word });
      }
      this.wordDone = w.headCount + w.nSamples;
    }
    // Merge by sample: words first at a tie (an onset's own spikes come after it).
    const words = this.pending.filter((x) => x.sample < end);
    this.pending = this.pending.filter((x) => x.sample >= end);
    let k = 0;
    for (const s of spikes) {
      while (k < words.length && words[k].sample <= s.sample) this.word(words[k++]);
      core.spike(s.sample, [this.mapIndex[s.channel]]);
    }
    while (k < words.length) this.word(words[k++]);
    core.spike(end - 1, []);
  }

  private word(w: { sample: number; word: number }): void {
    this.stats.words++;
    this.o.core.ttlWord("word", 0, w.sample, BigInt(w.word));
  }
}

/**
 * The channels' noise σ (ADC units) in one sentence: the median and range over the mapped channels, and the channels
 * far from the median (a broken or shorted site reads flat, a noisy one high), at most 20 of them named.
 */
export function noiseSummary(sd: Float64Array, map: SpikeGlxMap): string {
  const sorted = Float64Array.from(sd).sort();
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  const odd: string[] = [];
  sd.forEach((v, i) => {
    if (v > 3 * median || v < median / 3) odd.push(`${map.channels[i].id} ${v.toFixed(1)}`);
  });
  return (
    `noise σ (MAD/0.6745, ADC units) over ${sd.length} channels: median ${median.toFixed(1)}, ` +
    `range ${sorted[0].toFixed(1)}–${sorted[sorted.length - 1].toFixed(1)}` +
    (odd.length
      ? `; ${odd.length} channel(s) outside a third to three times the median (flat: broken or shorted site; high: noise): ${odd.slice(0, 20).join(", ")}${odd.length > 20 ? ", …" : ""}`
      : "; none outside a third to three times the median")
  );
}
