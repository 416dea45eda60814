// A Neuropixels rig as SpikeGLX records it, for the demo and the tests: an imec probe's AP band (30 kHz, int16) on
// which the virtual rig's neurons fire (spike waveforms on noise, controller/simulate/continuous.ts), and an NI
// stream (25 kHz nominal, its own slightly fast clock, started earlier) whose digital word channel carries the rig
// box's event words and the photodiode's TTL (a comparator on the photodiode, wired to one NI line). Both streams
// run at their rate / timeScale samples per wall second. SpikeGlxServer (spikeglx-server.ts) serves them through
// the Remote Command API; MAPSAMPLE maps counts between the two clocks as SpikeGLX's sync does. Every presentation
// and spike is kept as ground truth.
import { mulberry32, type Random } from "../../analysis/random.ts";
import { ContinuousSynth } from "./continuous.ts";
import type { StreamSource } from "./spikeglx-server.ts";

export interface SpikeGlxRigOptions {
  channels: number;
  /** Expected rate (spikes/s) of a channel while a stimulus drives it; baselineRate otherwise. */
  rate: (channel: number, stimulusId: string) => number;
  baselineRate: number;
  /** Response latency after the photodiode onset and response duration, ms (acquisition clock). */
  latencyMs: number;
  responseMs: number;
  /** Wall time per acquisition time (the protocol's simulation timeScale); 1 = real time. */
  timeScale?: number;
  /** The NI clock's error against its nominal 25 kHz (parts per million), and its head start (s). */
  niDriftPpm?: number;
  niLeadS?: number;
  /** Event word lines and the photodiode line of the NI digital word (bit = line). */
  eventLines?: number[];
  photodiodeLine?: number;
  wordPulseMs?: number;
  photodiodeLatencyMs?: number;
  photodiodeJitterMs?: number;
  /** Noise σ and spike amplitude (trough), ADC units (Neuropixels 1.0: ~2.34 µV per unit at gain 500). */
  noiseSd?: number;
  spikeAmplitude?: number;
  /** No spike of a channel within this many ms of its last (the neurons' refractory period). */
  deadTimeMs?: number;
  /** The streams' counts trail wall time by this much (the acquisition's buffering), ms of wall time. */
  lagMs?: number;
  seed?: number;
}

export const IMEC_RATE = 30000;
export const NI_RATE = 25000;
/** NI stream layout: two analog channels (unused here) and the digital word, saved last as SpikeGLX does. */
export const NI_ANALOG = 2;
export const NI_WORD_CHANNEL = NI_ANALOG;
/** A spike's waveform reaches this many samples before its trough (continuous.ts: 0.5 ms): generate that far ahead. */
const WAVEFORM_AFTER = Math.round(0.5e-3 * IMEC_RATE) + 1;

export interface SpikeGlxPresentation {
  code: number;
  /** NI samples: the word's rise and the photodiode's rise. */
  wordNiSample: number;
  photodiodeNiSample: number;
  /** The photodiode onset on the imec clock (where the neurons' latency counts from). */
  photodiodeImecSample: number;
  stimulusId: string | null;
}

interface WordChange {
  sample: number;
  value: number;
}

export class SpikeGlxRig {
  readonly presentations: SpikeGlxPresentation[] = [];
  /** Spike samples of each channel on the imec clock, in order (ground truth). */
  readonly spikes: number[][];
  readonly imec: StreamSource;
  readonly ni: StreamSource;
  private readonly o: Required<SpikeGlxRigOptions>;
  private readonly random: Random;
  private readonly t0 = performance.now();
  private readonly niRate: number;
  private readonly synth: ContinuousSynth;
  private generated = 0;
  private readonly lastSpike: number[];
  private readonly drive: Array<{ from: number; to: number; stimulusId: string }> = [];
  /** The NI digital word's changes, in sample order (value = the word from that sample on). */
  private readonly changes: WordChange[] = [{ sample: 0, value: 0 }];
  private readonly shownEarly: string[] = [];

  constructor(o: SpikeGlxRigOptions) {
    this.o = {
      timeScale: 1,
      niDriftPpm: 40,
      niLeadS: 0.25,
      eventLines: [0, 1, 2, 3, 4, 5, 6, 7],
      photodiodeLine: 8,
      wordPulseMs: 10,
      photodiodeLatencyMs: 12,
      photodiodeJitterMs: 4,
      noiseSd: 10,
      spikeAmplitude: 90,
      deadTimeMs: 1.5,
      lagMs: 30,
      seed: 1,
      ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
    } as Required<SpikeGlxRigOptions>;
    this.random = mulberry32(this.o.seed);
    this.niRate = NI_RATE * (1 + this.o.niDriftPpm * 1e-6);
    this.spikes = Array.from({ length: o.channels }, () => []);
    this.lastSpike = Array.from({ length: o.channels }, () => Number.NEGATIVE_INFINITY);
    this.synth = new ContinuousSynth({
      nChans: o.channels,
      sampleRate: IMEC_RATE,
      seed: this.o.seed + 17,
      noiseSigma: this.o.noiseSd,
      amplitude: this.o.spikeAmplitude,
      spikes: (c, from, to) => spikesIn(this.spikes[c], from, to),
    });
    this.imec = {
      sampleRate: IMEC_RATE,
      nChans: o.channels + 1, // the AP channels and the sync channel SpikeGLX saves last (reads 0 here)
      acqChans: [o.channels, 0, 1],
      count: () => this.imecCount(),
      read: (from, n, channels) => {
        this.generate(from + n + WAVEFORM_AFTER);
        const all = this.synth.read(from, n);
        const k = channels.length;
        const out = new Int16Array(n * k);
        channels.forEach((ch, j) => {
          if (ch >= o.channels) return;
          for (let i = 0; i < n; i++) out[i * k + j] = all[i * o.channels + ch];
        });
        return out;
      },
    };
    this.ni = {
      sampleRate: this.niRate,
      nChans: NI_ANALOG + 1,
      acqChans: [0, 0, NI_ANALOG, 1],
      count: () => this.niCount(),
      read: (from, n, channels) => this.readNi(from, n, channels),
    };
  }

  /** Acquisition seconds since the imec stream started, `lagMs` of wall time ago (0: now). */
  private acquisitionS(lagMs: number): number {
    return Math.max(0, (performance.now() - this.t0 - lagMs) / this.o.timeScale / 1000);
  }

  /** Imec samples acquired so far (the imec stream starts at wall t0; counts trail wall time by lagMs). */
  imecCount(): number {
    return Math.floor(this.acquisitionS(this.o.lagMs) * IMEC_RATE);
  }

  /** NI samples acquired so far: its clock started niLeadS earlier and runs niDriftPpm fast. */
  niCount(lagMs = this.o.lagMs): number {
    return Math.floor((this.acquisitionS(lagMs) + this.o.niLeadS) * this.niRate);
  }

  /** MAPSAMPLE between the two clocks: the same instant's count on the other stream. */
  niToImec(niSample: number): number {
    return Math.round((niSample / this.niRate - this.o.niLeadS) * IMEC_RATE);
  }

  imecToNi(imecSample: number): number {
    return Math.round((imecSample / IMEC_RATE + this.o.niLeadS) * this.niRate);
  }

  /** The rig box put `code` on the NI digital lines: the word for wordPulseMs, then the photodiode's pulse. */
  eventWord(code: number): void {
    const start = Math.max(this.niCount(0) + 1, this.changes[this.changes.length - 1].sample + 1);
    let word = 0;
    this.o.eventLines.forEach((line, bit) => {
      if (code & (1 << bit)) word |= 1 << line;
    });
    const ms = (x: number) => Math.round((x * this.niRate) / 1000);
    const pd = start + ms(this.o.photodiodeLatencyMs + this.random() * this.o.photodiodeJitterMs);
    const pdBit = 1 << this.o.photodiodeLine;
    const pulseEnd = start + ms(this.o.wordPulseMs);
    const pdEnd = pd + ms(this.o.responseMs);
    // Changes after `start` from this presentation only (a presentation ends before the next word: the ISI).
    const events = [
      { sample: start, set: word, clear: 0 },
      { sample: pulseEnd, set: 0, clear: word },
      { sample: pd, set: pdBit, clear: 0 },
      { sample: pdEnd, set: 0, clear: pdBit },
    ].sort((a, b) => a.sample - b.sample);
    let value = this.valueAt(start - 1);
    for (const e of events) {
      value = (value | e.set) & ~e.clear;
      this.changes.push({ sample: e.sample, value });
    }
    this.presentations.push({
      code,
      wordNiSample: start,
      photodiodeNiSample: pd,
      photodiodeImecSample: this.niToImec(pd),
      stimulusId: null,
    });
    const early = this.shownEarly.shift();
    if (early !== undefined) this.show(early);
  }

  /** The display shows `stimulusId`: the newest presentation without one gets it, and its neurons respond. */
  show(stimulusId: string): void {
    const p = [...this.presentations].reverse().find((x) => x.stimulusId === null);
    if (!p) {
      this.shownEarly.push(stimulusId);
      return;
    }
    p.stimulusId = stimulusId;
    const from = p.photodiodeImecSample + Math.round((this.o.latencyMs * IMEC_RATE) / 1000);
    this.drive.push({ from, to: from + Math.round((this.o.responseMs * IMEC_RATE) / 1000), stimulusId });
  }

  private valueAt(sample: number): number {
    let lo = 0;
    let hi = this.changes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.changes[mid].sample <= sample) lo = mid;
      else hi = mid - 1;
    }
    return this.changes[lo].value;
  }

  private readNi(from: number, n: number, channels: number[]): Int16Array {
    const out = new Int16Array(n * channels.length);
    channels.forEach((ch, j) => {
      if (ch !== NI_WORD_CHANNEL) return; // the analog inputs read 0
      for (let i = 0; i < n; i++) out[i * channels.length + j] = this.valueAt(from + i);
    });
    return out;
  }

  private rateAt(c: number, sample: number): number {
    for (let i = this.drive.length - 1; i >= 0; i--) {
      const d = this.drive[i];
      if (sample >= d.from && sample < d.to) return this.o.rate(c, d.stimulusId);
    }
    return this.o.baselineRate;
  }

  /** Spikes up to `upTo` (imec samples): Poisson at the driven rate by thinning, with a dead time. */
  private generate(upTo: number): void {
    if (upTo <= this.generated) return;
    const from = this.generated;
    this.generated = upTo;
    let peak = this.o.baselineRate;
    for (const d of this.drive)
      for (let c = 0; c < this.o.channels; c++) peak = Math.max(peak, this.o.rate(c, d.stimulusId));
    const dead = (this.o.deadTimeMs * IMEC_RATE) / 1000;
    for (let c = 0; c < this.o.channels; c++) {
      let t = from;
      for (;;) {
        t += (-Math.log(1 - this.random()) / peak) * IMEC_RATE;
        if (t >= upTo) break;
        const s = Math.floor(t);
        if (s - this.lastSpike[c] < dead) continue;
        if (this.random() * peak < this.rateAt(c, s)) {
          this.spikes[c].push(s);
          this.lastSpike[c] = s;
        }
      }
    }
    while (this.drive.length && this.drive[0].to < from - IMEC_RATE) this.drive.shift();
  }
}

/** The spikes of a sorted list in [from, to). */
function spikesIn(list: number[], from: number, to: number): number[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  const out: number[] = [];
  for (let i = lo; i < list.length && list[i] < to; i++) out.push(list[i]);
  return out;
}

/** The channel map a lab would write for this rig (docs/spikeglx.md): AP channel i → ch00(i+1). */
export function spikeGlxRigChannelMap(channels: number, detection: string[] = []): string {
  const lines = [
    "probe: 0",
    "wordStream: { type: ni, ip: 0 }",
    `wordChannel: ${NI_WORD_CHANNEL}`,
    "eventLines: [0, 1, 2, 3, 4, 5, 6, 7]",
    "photodiodeLine: 8",
    ...(detection.length ? ["detection:", ...detection.map((d) => `  ${d}`)] : []),
    "channels:",
  ];
  for (let i = 0; i < channels; i++)
    lines.push(`  - { id: ch${String(i + 1).padStart(3, "0")}, apChannel: ${i} }`);
  return `${lines.join("\n")}\n`;
}
