// A byte-level parser for the canonical `spikes` message, straight from the frame's bytes into a PackedTrial:
// no JS objects or arrays per channel, spike times written as float64, window counts and the digest computed in
// the same pass. It accepts only a strict subset of JSON — plain ASCII keys, the four fields of the schema, numbers
// of at most 15 significant digits without an exponent — and returns null for anything else, which then goes
// through JSON.parse and zod (and gets their error text). What it accepts it parses to exactly the values
// JSON.parse gives (a time outside the accepted span also goes the slow way, which words the error): an integer mantissa below 10^15 divided by 10^k (k ≤ 15) is one correctly rounded IEEE
// division of two exactly representable numbers (Clinger's fast path), which is the correctly rounded decimal.
import { ChannelHash, finishDigest, type PackedTrial, type WindowTable } from "../store/packed.ts";

const MAX_SPIKES_PER_CHANNEL = 100_000; // as the zod schema (controller/wire/acquisition.ts)
const MAX_ID_LENGTH = 64;
const POW10 = Float64Array.from({ length: 16 }, (_, k) => 10 ** k);

const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const EMPTY = Buffer.alloc(0);
const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlnum = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** CHANNEL_ID_PATTERN (controller/wire/acquisition.ts) on bytes [start, end): an alphanumeric, then [A-Za-z0-9_.:-]. */
function isChannelId(b: Buffer, start: number, end: number): boolean {
  if (!isAlnum(b[start])) return false;
  for (let k = start + 1; k < end; k++) {
    const c = b[k];
    if (!(isAlnum(c) || c === 0x5f || c === DOT || c === COLON || c === MINUS)) return false;
  }
  return true;
}

export class SpikesParser {
  private spikes = new Float64Array(1 << 16);
  private offsets = new Uint32Array(1 << 10);
  private counts = new Uint32Array(1 << 11);
  private readonly hash = new ChannelHash();
  private buf: Buffer = Buffer.alloc(0);
  private i = 0;

  /** Spike times outside [lo, hi] ms are refused (acceptedSpan in windows.ts). */
  constructor(
    private readonly windows: WindowTable,
    private readonly span: { lo: number; hi: number } = { lo: -Infinity, hi: Infinity },
  ) {}

  /** The message as a PackedTrial, or null when it is not a plain, valid spikes message (use the slow path). */
  parse(buf: Buffer): PackedTrial | null {
    this.buf = buf;
    this.i = 0;
    try {
      return this.message();
    } finally {
      this.buf = EMPTY;
    }
  }

  private ws(): number {
    const b = this.buf;
    let i = this.i;
    while (i < b.length && isWs(b[i])) i++;
    this.i = i;
    return i < b.length ? b[i] : -1;
  }

  /** A string without escapes or non-ASCII bytes; returns [start, end) of its contents, or -1. */
  private key(): number {
    const b = this.buf;
    if (b[this.i] !== QUOTE) return -1;
    let j = this.i + 1;
    while (j < b.length) {
      const c = b[j];
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return -1;
      j++;
    }
    if (j >= b.length) return -1;
    const start = this.i + 1;
    this.i = j + 1;
    return start;
  }

  private is(start: number, end: number, text: string): boolean {
    if (end - start !== text.length) return false;
    for (let k = 0; k < text.length; k++) if (this.buf[start + k] !== text.charCodeAt(k)) return false;
    return true;
  }

  /** A positive safe integer written with digits only (no sign, fraction, exponent or leading zero), or -1. */
  private positiveInt(): number {
    const b = this.buf;
    let i = this.i;
    if (!isDigit(b[i]) || b[i] === 0x30) return -1;
    let v = 0;
    const start = i;
    while (i < b.length && isDigit(b[i])) v = v * 10 + (b[i++] - 0x30);
    if (i - start > 15) return -1;
    this.i = i;
    return v;
  }

  private message(): PackedTrial | null {
    const b = this.buf;
    if (this.ws() !== OPEN_BRACE) return null;
    this.i++;
    let type = false;
    let seq = -1;
    let trialId = -1;
    let channels = -1;
    let ids: string[] = [];
    for (;;) {
      this.ws();
      const ks = this.key();
      if (ks < 0) return null;
      const ke = this.i - 1;
      if (this.ws() !== COLON) return null;
      this.i++;
      this.ws();
      if (this.is(ks, ke, "type")) {
        if (type) return null;
        const vs = this.key();
        if (vs < 0 || !this.is(vs, this.i - 1, "spikes")) return null;
        type = true;
      } else if (this.is(ks, ke, "seq")) {
        if (seq !== -1) return null;
        seq = this.positiveInt();
        if (seq < 0) return null;
      } else if (this.is(ks, ke, "trialId")) {
        if (trialId !== -1) return null;
        trialId = this.positiveInt();
        if (trialId < 0) return null;
      } else if (this.is(ks, ke, "channels")) {
        if (channels !== -1) return null;
        const parsed = this.channels();
        if (parsed === null) return null;
        ids = parsed;
        channels = ids.length;
      } else return null;
      const c = this.ws();
      this.i++;
      if (c === COMMA) continue;
      if (c === CLOSE_BRACE) break;
      return null;
    }
    if (this.ws() !== -1 || this.i !== b.length) return null;
    if (!type || seq < 0 || trialId < 0 || channels < 0) return null;
    return this.result(seq, trialId, ids);
  }

  private sumA = 0;
  private sumB = 0;
  private total = 0;

  /** The channels object: ids in order; spikes, offsets, counts and the digest sums in the scratch buffers. */
  private channels(): string[] | null {
    const b = this.buf;
    const nW = this.windows.names.length;
    const starts = this.windows.starts;
    const ends = this.windows.ends;
    const h = this.hash;
    if (b[this.i] !== OPEN_BRACE) return null;
    this.i++;
    const ids: string[] = [];
    const seen = new Set<string>();
    let pos = 0;
    this.sumA = 0;
    this.sumB = 0;
    if (this.ws() === CLOSE_BRACE) {
      this.i++;
      this.total = 0;
      this.ensureOffsets(1);
      this.offsets[0] = 0;
      return ids;
    }
    for (;;) {
      this.ws();
      const ks = this.key();
      if (ks < 0) return null;
      const ke = this.i - 1;
      if (ke - ks < 1 || ke - ks > MAX_ID_LENGTH || !isChannelId(b, ks, ke)) return null;
      const id = b.toString("latin1", ks, ke);
      if (seen.has(id)) return null; // JSON.parse keeps the last of duplicate keys: let it
      seen.add(id);
      const c = ids.length;
      ids.push(id);
      this.ensureOffsets(c + 2);
      this.ensureCounts((c + 1) * nW);
      this.offsets[c] = pos;
      h.reset();
      for (let k = ks; k < ke; k++) h.byte(b[k]);
      h.byte(0);
      for (let w = 0; w < nW; w++) this.counts[c * nW + w] = 0;
      if (this.ws() !== COLON) return null;
      this.i++;
      if (this.ws() !== OPEN_BRACKET) return null;
      this.i++;
      const first = pos;
      if (this.ws() === CLOSE_BRACKET) this.i++;
      else
        for (;;) {
          // One number: -?(0|[1-9][0-9]*)(\.[0-9]+)? with at most 15 digits in all.
          let i = this.i;
          let neg = false;
          if (b[i] === MINUS) {
            neg = true;
            i++;
          }
          let d = b[i];
          if (!isDigit(d)) return null;
          let m = 0;
          let digits = 0;
          if (d === 0x30) {
            i++;
            d = b[i];
            if (isDigit(d)) return null;
            digits = 1;
          } else
            while (isDigit(d)) {
              m = m * 10 + (d - 0x30);
              digits++;
              d = b[++i];
            }
          let frac = 0;
          if (d === DOT) {
            d = b[++i];
            if (!isDigit(d)) return null;
            while (isDigit(d)) {
              m = m * 10 + (d - 0x30);
              frac++;
              d = b[++i];
            }
          }
          if (digits + frac > 15 || d === 0x65 || d === 0x45) return null;
          let v = frac ? m / POW10[frac] : m;
          if (neg) v = -v;
          if (v < this.span.lo || v > this.span.hi) return null;
          this.i = i;
          if (pos - first >= MAX_SPIKES_PER_CHANNEL) return null;
          if (pos >= this.spikes.length) this.growSpikes();
          this.spikes[pos++] = v;
          h.value(v);
          for (let w = 0; w < nW; w++) if (v >= starts[w] && v < ends[w]) this.counts[c * nW + w]++;
          const sep = isWs(d) ? this.ws() : d;
          this.i++;
          if (sep === COMMA) {
            this.ws();
            continue;
          }
          if (sep === CLOSE_BRACKET) break;
          return null;
        }
      this.sumA = (this.sumA + h.finishA()) | 0;
      this.sumB = (this.sumB + h.finishB()) | 0;
      const sep = this.ws();
      this.i++;
      if (sep === COMMA) continue;
      if (sep === CLOSE_BRACE) break;
      return null;
    }
    this.offsets[ids.length] = pos;
    this.total = pos;
    return ids;
  }

  private result(seq: number, trialId: number, ids: string[]): PackedTrial {
    const nW = this.windows.names.length;
    return {
      kind: "spikes",
      seq,
      trialId,
      channelIds: ids,
      windows: this.windows.names.slice(),
      counts: this.counts.slice(0, ids.length * nW),
      offsets: this.offsets.slice(0, ids.length + 1),
      spikes: this.spikes.slice(0, this.total),
      digest: finishDigest("spikes", trialId, this.sumA, this.sumB, ids.length),
    };
  }

  private growSpikes(): void {
    const next = new Float64Array(this.spikes.length * 2);
    next.set(this.spikes);
    this.spikes = next;
  }

  private ensureOffsets(n: number): void {
    if (n <= this.offsets.length) return;
    const next = new Uint32Array(Math.max(n, this.offsets.length * 2));
    next.set(this.offsets);
    this.offsets = next;
  }

  private ensureCounts(n: number): void {
    if (n <= this.counts.length) return;
    const next = new Uint32Array(Math.max(n, this.counts.length * 2));
    next.set(this.counts);
    this.counts = next;
  }
}
