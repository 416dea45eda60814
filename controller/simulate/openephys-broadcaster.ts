// An Open Ephys GUI with its Event Broadcaster, for the demo and the tests: a ZMQ PUB socket sending what the plugin
// sends (controller/bridges/openephys/broadcast-format.ts; JSON or raw binary) for an acquisition board whose digital
// inputs carry the rig box's event words, a Crossing Detector turning the photodiode into a TTL line, and a Spike
// Detector on the virtual rig's neurons. The acquisition clock runs at sampleRate / timeScale samples per wall
// second (the simulated day runs faster than real time); messages go out in sample order, lagMs of wall time after
// the samples they describe, as the GUI's processing blocks do. Every presentation and spike is kept as ground truth.
// With a strobe line, the box's word lines may settle one after another (lineSkewMs) and the strobe rises once they
// hold the whole word: the acquisition system's record of a box that cannot set all lines in the same sample.
import * as zmq from "zeromq";
import { mulberry32, type Random } from "../../analysis/random.ts";
import { type BroadcastFormat, encodeSpike, encodeTtl } from "../bridges/openephys/broadcast-format.ts";

export interface BroadcasterOptions {
  /** Where to bind (the GUI binds tcp://*:5557); default tcp://127.0.0.1:* (any free port). */
  endpoint?: string;
  format: BroadcastFormat;
  sampleRate?: number;
  /** Wall time per acquisition time (the protocol's simulation timeScale); 1 = real time. */
  timeScale?: number;
  electrodes: number;
  /** Expected rate (spikes/s) of an electrode while a stimulus drives it; baselineRate otherwise. */
  rate: (electrode: number, stimulusId: string) => number;
  baselineRate: number;
  /** Neuron response latency after the photodiode onset, and response duration, ms (acquisition clock). */
  latencyMs: number;
  responseMs: number;
  /** Event word lines (LSB first) on the acquisition board's TTL channel; the photodiode's line. */
  eventLines?: number[];
  photodiodeLine?: number;
  /** A strobe line on the same TTL channel: it rises once every word line holds the word. */
  strobeLine?: number;
  /** Bit i of the word changes i × lineSkewMs after bit 0 (a box that sets its lines one by one); default 0. */
  lineSkewMs?: number;
  /** How long the box holds a word before returning the lines to 0, ms. */
  wordPulseMs?: number;
  /** Photodiode onset after the event word, ms, plus a uniform jitter in [0, jitterMs). */
  photodiodeLatencyMs?: number;
  photodiodeJitterMs?: number;
  /** Leave out the event word of these EVT numbers (1-based): a dropped TTL. */
  dropWords?: ReadonlySet<number>;
  seed?: number;
  /** Wall ms between sends, and how far behind wall time the sent samples are. */
  tickMs?: number;
  lagMs?: number;
}

type Settings = Required<Omit<BroadcasterOptions, "dropWords" | "endpoint" | "strobeLine">> &
  Pick<BroadcasterOptions, "dropWords" | "strobeLine">;

export interface PresentationTruth {
  /** 1-based count of EVT codes received. */
  evt: number;
  code: number;
  /** Where the word is whole (the strobe's rise with a strobe line); null when it was dropped (fault injection). */
  wordSample: number | null;
  photodiodeSample: number;
  stimulusId: string | null;
  spurious?: boolean;
}

interface Change {
  sample: number;
  node: number;
  line: number;
  state: boolean;
}

export const STREAM = "example_data";
const ACQ_NODE = 100;
const CROSSING_NODE = 104;
const SPIKE_NODE = 105;

/** The channel map a lab would write for this emulator (docs/openephys.md). */
export function emulatorChannelMap(
  electrodes: number,
  o: { photodiode?: boolean; binary?: boolean; strobeLine?: number } = {},
): string {
  const lines = [
    `stream: ${o.binary ? 0 : STREAM}`,
    ...(o.binary ? ["sampleRate: 30000"] : []),
    "eventLines: [0, 1, 2, 3, 4, 5, 6, 7]",
    ...(o.photodiode === false ? [] : ["photodiodeLine: 8"]),
    ...(o.strobeLine === undefined ? [] : [`strobeLine: ${o.strobeLine}`]),
    "channels:",
  ];
  for (let i = 0; i < electrodes; i++)
    lines.push(
      `  - { id: ch${String(i + 1).padStart(3, "0")}, electrode: "Electrode ${i + 1}", spikeChannel: ${i} }`,
    );
  return `${lines.join("\n")}\n`;
}

export class OpenEphysBroadcaster {
  readonly presentations: PresentationTruth[] = [];
  /** Spike sample numbers of each electrode, in order. */
  readonly spikes: number[][];
  private readonly socket = new zmq.Publisher({ sendHighWaterMark: 1_000_000 });
  private readonly o: Settings;
  private readonly random: Random;
  private readonly t0 = performance.now();
  private sent = 0;
  private changes: Change[] = [];
  private acqWord = 0n;
  private pdWord = 0n;
  /** Per electrode: next candidate spike sample (thinning at the peak rate). */
  private readonly next: number[];
  private readonly drive: Array<{ from: number; to: number; stimulusId: string }> = [];
  private timer: NodeJS.Timeout | null = null;
  private evts = 0;
  /** Stimuli shown before their word arrived (the display's show and the box's EVT travel different ways). */
  private readonly shownEarly: string[] = [];
  private sending = Promise.resolve();
  endpoint = "";

  private constructor(o: BroadcasterOptions) {
    // An option given as undefined takes its default (a caller passing its own optional settings through must not
    // turn the photodiode's time into NaN: such a photodiode never rises and the neurons never respond).
    const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    this.o = {
      sampleRate: 30000,
      timeScale: 1,
      eventLines: [0, 1, 2, 3, 4, 5, 6, 7],
      photodiodeLine: 8,
      lineSkewMs: 0,
      wordPulseMs: 10,
      photodiodeLatencyMs: 12,
      photodiodeJitterMs: 0,
      seed: 1,
      tickMs: 5,
      lagMs: 30,
      ...given,
    } as Settings;
    checkOptions(this.o);
    this.random = mulberry32(this.o.seed);
    this.spikes = Array.from({ length: o.electrodes }, () => []);
    this.next = Array.from({ length: o.electrodes }, () => 0);
  }

  static async start(o: BroadcasterOptions): Promise<OpenEphysBroadcaster> {
    const b = new OpenEphysBroadcaster(o);
    await b.socket.bind(o.endpoint ?? "tcp://127.0.0.1:*");
    b.endpoint = b.socket.lastEndpoint ?? "";
    b.timer = setInterval(() => b.tick(), b.o.tickMs);
    return b;
  }

  /** The acquisition sample now (not yet sent: sending lags by lagMs). */
  sampleNow(): number {
    return Math.floor((((performance.now() - this.t0) / this.o.timeScale) * this.o.sampleRate) / 1000);
  }

  private ms(ms: number): number {
    return Math.round((ms * this.o.sampleRate) / 1000);
  }

  /** The rig box put `code` on the digital inputs (it got `EVT code`): the word, then the photodiode. */
  eventWord(code: number): void {
    const evt = ++this.evts;
    const start = Math.max(this.sampleNow(), this.sent + 1);
    const dropped = this.o.dropWords?.has(evt) ?? false;
    const at = dropped ? this.wordEnd(start) : this.word(start, code);
    const pd = at + this.ms(this.o.photodiodeLatencyMs + this.random() * this.o.photodiodeJitterMs);
    this.changes.push({ sample: pd, node: CROSSING_NODE, line: this.o.photodiodeLine, state: true });
    this.changes.push({
      sample: pd + this.ms(this.o.responseMs),
      node: CROSSING_NODE,
      line: this.o.photodiodeLine,
      state: false,
    });
    this.presentations.push({
      evt,
      code,
      wordSample: dropped ? null : at,
      photodiodeSample: pd,
      stimulusId: null,
    });
    const early = this.shownEarly.shift();
    if (early !== undefined) this.show(early);
  }

  /** A code no presentation sent (a glitch on the digital inputs). */
  spuriousWord(code: number): void {
    const at = this.word(Math.max(this.sampleNow(), this.sent + 1), code);
    this.presentations.push({
      evt: 0,
      code,
      wordSample: at,
      photodiodeSample: -1,
      stimulusId: null,
      spurious: true,
    });
  }

  /**
   * The display shows `stimulusId`: the newest presentation without a stimulus gets it (its neurons respond). The
   * daemon sends the show after the box has the code, but the two reach the emulator by different ways (a serial
   * line, or the demo's IPC, and a WebSocket): a show that comes first waits for its word.
   */
  show(stimulusId: string): void {
    const p = [...this.presentations].reverse().find((x) => x.stimulusId === null && !x.spurious);
    if (!p) {
      this.shownEarly.push(stimulusId);
      return;
    }
    p.stimulusId = stimulusId;
    const from = p.photodiodeSample + this.ms(this.o.latencyMs);
    this.drive.push({ from, to: from + this.ms(this.o.responseMs), stimulusId });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sending;
    this.socket.close();
  }

  /**
   * Puts `code` on the event lines from `start` (bit i at i × lineSkewMs), with the strobe's rise once all hold it,
   * and every line back to 0 wordPulseMs later; returns the sample where the word is whole (the strobe's rise).
   */
  private word(start: number, code: number): number {
    const at = this.wordEnd(start);
    const off = at + this.ms(this.o.wordPulseMs);
    this.o.eventLines.forEach((line, bit) => {
      if (code & (1 << bit)) {
        this.changes.push({
          sample: start + this.ms(bit * this.o.lineSkewMs),
          node: ACQ_NODE,
          line,
          state: true,
        });
        this.changes.push({ sample: off, node: ACQ_NODE, line, state: false });
      }
    });
    const strobe = this.o.strobeLine;
    if (strobe !== undefined) {
      this.changes.push({ sample: at, node: ACQ_NODE, line: strobe, state: true });
      this.changes.push({ sample: off, node: ACQ_NODE, line: strobe, state: false });
    }
    return at;
  }

  /** Where a word begun at `start` is whole: after the last line's change, and one sample later for the strobe. */
  private wordEnd(start: number): number {
    const last = start + this.ms((this.o.eventLines.length - 1) * this.o.lineSkewMs);
    return this.o.strobeLine === undefined ? start : last + 1;
  }

  /** The last sample already published (ground truth up to here is final). */
  get publishedUpTo(): number {
    return this.sent;
  }

  private rateAt(e: number, sample: number): number {
    for (let i = this.drive.length - 1; i >= 0; i--) {
      const d = this.drive[i];
      if (sample >= d.from && sample < d.to) return this.o.rate(e, d.stimulusId);
    }
    return this.o.baselineRate;
  }

  private tick(): void {
    const upTo = Math.floor(
      (((performance.now() - this.t0 - this.o.lagMs) / this.o.timeScale) * this.o.sampleRate) / 1000,
    );
    if (upTo <= this.sent) return;
    const from = this.sent;
    this.sent = upTo;
    // Spikes: a Poisson process per electrode at the driven rate (thinning under the peak rate).
    const peak = Math.max(this.o.baselineRate, ...this.driveRates());
    const events: Array<{ sample: number; kind: 0 | 1; e: number; change?: Change }> = [];
    for (let e = 0; e < this.o.electrodes; e++) {
      let t = Math.max(this.next[e], from);
      for (;;) {
        t += (-Math.log(1 - this.random()) / peak) * this.o.sampleRate;
        if (t > upTo) break;
        const s = Math.floor(t);
        if (s <= from) continue;
        if (this.random() * peak < this.rateAt(e, s)) events.push({ sample: s, kind: 1, e });
      }
      this.next[e] = upTo;
    }
    const due = this.changes.filter((c) => c.sample <= upTo).sort((a, b) => a.sample - b.sample);
    this.changes = this.changes.filter((c) => c.sample > upTo);
    for (const c of due) events.push({ sample: c.sample, kind: 0, e: 0, change: c });
    events.sort((a, b) => a.sample - b.sample || a.kind - b.kind);
    while (this.drive.length && this.drive[0].to < from - this.ms(1000)) this.drive.shift();
    const frames: Array<[Buffer, Buffer]> = [];
    for (const ev of events) {
      if (ev.kind === 1) {
        this.spikes[ev.e].push(ev.sample);
        frames.push(this.spikeFrame(ev.e, ev.sample));
      } else frames.push(this.ttlFrame(ev.change!));
    }
    if (frames.length === 0) return;
    this.sending = this.sending.then(async () => {
      for (const f of frames) await this.socket.send(f);
    });
  }

  private driveRates(): number[] {
    const out: number[] = [];
    for (const d of this.drive)
      for (let e = 0; e < this.o.electrodes; e++) out.push(this.o.rate(e, d.stimulusId));
    return out;
  }

  private ttlFrame(c: Change): [Buffer, Buffer] {
    const bit = 1n << BigInt(c.line);
    let word: bigint;
    if (c.node === ACQ_NODE) word = this.acqWord = c.state ? this.acqWord | bit : this.acqWord & ~bit;
    else word = this.pdWord = c.state ? this.pdWord | bit : this.pdWord & ~bit;
    return encodeTtl(
      {
        stream: STREAM,
        streamId: 0,
        sourceNode: c.node,
        channelName: c.node === ACQ_NODE ? "TTL Input" : "Crossing detector output",
        channelIndex: 0,
        sampleRate: this.o.sampleRate,
        sampleNumber: c.sample,
        line: c.line,
        state: c.state,
        word,
      },
      this.o.format,
    );
  }

  private readonly waveform = Float32Array.from({ length: 40 }, (_, i) =>
    i === 9 ? -80 : i === 8 ? -60 : -5,
  );

  private spikeFrame(e: number, sample: number): [Buffer, Buffer] {
    return encodeSpike(
      {
        stream: STREAM,
        streamId: 0,
        sourceNode: SPIKE_NODE,
        electrode: `Electrode ${e + 1}`,
        channelIndex: e,
        channelType: 1,
        sampleRate: this.o.sampleRate,
        sampleNumber: sample,
        sortedId: 0,
        thresholds: [-50],
        waveform: this.waveform,
        samplesPerChannel: 40,
        prePeakSamples: 8,
      },
      this.o.format,
    );
  }
}

/** Every option of the emulator, checked: the message names the option, the value and what was expected. */
function checkOptions(o: Settings): void {
  const fail = (name: string, expected: string, value: unknown) => {
    throw Object.assign(
      new Error(
        `Open Ephys emulator: ${name}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
      ),
      { code: "EPHYS_BAD_OPTION" },
    );
  };
  const positive = ["sampleRate", "timeScale", "tickMs"] as const;
  for (const k of positive) if (!(Number.isFinite(o[k]) && o[k] > 0)) fail(k, "a number > 0", o[k]);
  const nonNegative = [
    "baselineRate",
    "latencyMs",
    "responseMs",
    "wordPulseMs",
    "lineSkewMs",
    "photodiodeLatencyMs",
    "photodiodeJitterMs",
    "lagMs",
  ] as const;
  for (const k of nonNegative) if (!(Number.isFinite(o[k]) && o[k] >= 0)) fail(k, "a number >= 0", o[k]);
  if (!(Number.isInteger(o.electrodes) && o.electrodes >= 1))
    fail("electrodes", "an integer >= 1", o.electrodes);
  const isLine = (l: unknown) => Number.isInteger(l) && (l as number) >= 0 && (l as number) < 64;
  if (!Array.isArray(o.eventLines) || o.eventLines.length === 0 || !o.eventLines.every(isLine))
    fail("eventLines", "a non-empty list of TTL lines 0..63", o.eventLines);
  if (!isLine(o.photodiodeLine)) fail("photodiodeLine", "a TTL line 0..63", o.photodiodeLine);
  if (o.strobeLine !== undefined && (!isLine(o.strobeLine) || o.eventLines.includes(o.strobeLine)))
    fail("strobeLine", "a TTL line 0..63 that is not an event line", o.strobeLine);
}
