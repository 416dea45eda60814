// Event words and photodiode edges from TTL line changes, for every bridge (Open Ephys today, SpikeGLX later). The
// rig box puts a stimulus's event code on the acquisition system's digital inputs (docs/rig-box.md) and returns the
// lines to zero between codes. An event word is the state of the event lines after every change at one sample
// number, taken when it turns from zero to non-zero, or, with a strobe line, when the strobe rises. The rig-box
// firmware (firmware/rigbox) sends a 16-bit code as two strobed bytes, high byte first, on 8 lines: with
// wordBytes 2, two consecutive strobes make one code, timed at the first. Each TTL source
// (a processor's event channel) keeps its own word; a line's state is the OR over sources, optionally limited to
// one source node for the event lines and one for the photodiode. Pure: no I/O, no clock.

export interface WordOnset {
  kind: "word";
  sample: number;
  code: number;
}

export interface PhotodiodeEdge {
  kind: "photodiode";
  sample: number;
  rising: boolean;
}

export type LineEvent = WordOnset | PhotodiodeEdge;

export interface EventWordOptions {
  /** Lines of the event word, least significant bit first. */
  eventLines: readonly number[];
  strobeLine?: number;
  /** Strobes per code (needs strobeLine): 1 (default), or 2 bytes, high byte first (the rig-box firmware). */
  wordBytes?: 1 | 2;
  /** With wordBytes 2: a high byte whose low byte has not come within this many samples is dropped. Default 300. */
  maxByteGapSamples?: number;
  photodiodeLine?: number;
  /** Only sources of this node count for the event lines and strobe / for the photodiode. */
  eventSourceNode?: number;
  photodiodeSourceNode?: number;
}

interface Source {
  node: number;
  word: bigint;
}

export class EventWordDecoder {
  private readonly sources = new Map<string, Source>();
  private groupSample = Number.NEGATIVE_INFINITY;
  private dirty = false;
  private word = 0;
  private strobe = false;
  private photodiode = false;
  /** wordBytes 2: the high byte read at the first strobe, waiting for the second. */
  private high: { sample: number; byte: number } | null = null;

  constructor(private readonly o: EventWordOptions) {}

  /** One line's change (the JSON format: a line and its new state). Call in the order received. */
  line(sourceKey: string, node: number, sample: number, line: number, state: boolean): LineEvent[] {
    const out = this.beforeChange(sample);
    const s = this.source(sourceKey, node);
    const bit = 1n << BigInt(line);
    s.word = state ? s.word | bit : s.word & ~bit;
    this.afterChange(sample, out);
    return out;
  }

  /** A source's whole TTL word after a change (the binary format carries it). */
  wholeWord(sourceKey: string, node: number, sample: number, word: bigint): LineEvent[] {
    const out = this.beforeChange(sample);
    this.source(sourceKey, node).word = word;
    this.afterChange(sample, out);
    return out;
  }

  /** Nothing more will change at samples before `sample`: the pending change group is read. */
  advance(sample: number): LineEvent[] {
    const out: LineEvent[] = [];
    if (this.dirty && sample > this.groupSample) this.finish(out);
    return out;
  }

  private source(key: string, node: number): Source {
    let s = this.sources.get(key);
    if (!s) {
      s = { node, word: 0n };
      this.sources.set(key, s);
    }
    return s;
  }

  private beforeChange(sample: number): LineEvent[] {
    const out: LineEvent[] = [];
    if (this.dirty && sample !== this.groupSample) this.finish(out);
    return out;
  }

  private afterChange(sample: number, out: LineEvent[]): void {
    this.groupSample = sample;
    this.dirty = true;
    const { photodiodeLine } = this.o;
    if (photodiodeLine !== undefined) {
      const pd = this.lineState(photodiodeLine, this.o.photodiodeSourceNode);
      if (pd !== this.photodiode) {
        this.photodiode = pd;
        out.push({ kind: "photodiode", sample, rising: pd });
      }
    }
  }

  private lineState(line: number, node: number | undefined): boolean {
    const bit = 1n << BigInt(line);
    for (const s of this.sources.values())
      if ((node === undefined || s.node === node) && (s.word & bit) !== 0n) return true;
    return false;
  }

  private finish(out: LineEvent[]): void {
    this.dirty = false;
    const node = this.o.eventSourceNode;
    let word = 0;
    this.o.eventLines.forEach((l, i) => {
      if (this.lineState(l, node)) word += 2 ** i;
    });
    const { strobeLine } = this.o;
    if (strobeLine !== undefined) {
      const strobe = this.lineState(strobeLine, node);
      if (strobe && !this.strobe) this.strobed(word, out);
      this.strobe = strobe;
    } else if (word !== 0 && this.word === 0)
      out.push({ kind: "word", sample: this.groupSample, code: word });
    this.word = word;
  }

  /** A strobe rose with `word` on the lines: a whole code, or one byte of a two-byte code. */
  private strobed(word: number, out: LineEvent[]): void {
    if ((this.o.wordBytes ?? 1) === 1) {
      if (word !== 0) out.push({ kind: "word", sample: this.groupSample, code: word });
      return;
    }
    const gap = this.o.maxByteGapSamples ?? 300;
    if (this.high && this.groupSample - this.high.sample > gap) this.high = null; // its low byte was lost
    if (!this.high) {
      this.high = { sample: this.groupSample, byte: word & 0xff };
      return;
    }
    const code = this.high.byte * 256 + (word & 0xff);
    const sample = this.high.sample;
    this.high = null;
    if (code !== 0) out.push({ kind: "word", sample, code });
  }
}
