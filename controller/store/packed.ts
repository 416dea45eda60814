// One acquisition message as the store keeps it (the store owns this row format; the ingest path builds it): the channel ids in message order, a [channel][window] table of
// counts, and (for `spikes` messages) every channel's spike times back to back as float64 (exactly the numbers
// the bridge sent) with an offset table.
// Built by the fast parser (spikes-parser.ts) or from a zod-validated message, and carrying a digest of the
// message's data so that a repeated seq with other data can be told from a plain duplicate.

import type { ResponseWindow } from "../../protocols/index.ts";
import type { TrialOnset } from "../wire/acquisition.ts";

/** A window a `counts` message did not name (it counts as 0 but is not stored as a name). */
export const ABSENT = 0xffffffff;

export interface PackedTrial {
  kind: "spikes" | "counts";
  seq: number;
  trialId: number;
  channelIds: string[];
  /** Window names, the columns of `counts`. */
  windows: string[];
  /** counts[c × windows.length + w]; ABSENT where a counts message did not name window w for channel c. */
  counts: Uint32Array;
  /** Channel c's spikes are spikes[offsets[c] .. offsets[c + 1]); null for counts messages. */
  offsets: Uint32Array | null;
  /** Spike times, ms from stimulus onset, exactly as sent (float64). */
  spikes: Float64Array | null;
  /** 16 hex digits over type, trial and every channel's data, independent of the order of channels and windows. */
  digest: string;
  /** The spikes message's onset (timing QA); not part of the digest. */
  onset?: TrialOnset;
}

/** The protocol's windows as parallel arrays, the form the counting loops take. */
export interface WindowTable {
  names: string[];
  starts: Float64Array;
  ends: Float64Array;
}

export function windowTable(windows: Record<string, ResponseWindow>): WindowTable {
  const names = Object.keys(windows);
  return {
    names,
    starts: Float64Array.from(names, (n) => windows[n].startMs),
    ends: Float64Array.from(names, (n) => windows[n].endMs),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Digest: two 32-bit murmur3 lanes. Each channel is hashed on its own (id bytes, then its values); channel hashes
// are added up, so the digest does not depend on the order of the channels in the message.

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;

export function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, 0x1b873593);
  let y = h ^ x;
  y = (y << 13) | (y >>> 19);
  return (Math.imul(y, 5) + 0xe6546b64) | 0;
}

export function fmix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Running hash of one channel: feed the id's bytes, then values; `lanes` returns [a, b]. */
export class ChannelHash {
  a = SEED_A;
  b = SEED_B;
  n = 0;

  reset(): void {
    this.a = SEED_A;
    this.b = SEED_B;
    this.n = 0;
  }

  byte(v: number): void {
    this.a = mix(this.a, v);
    this.b = mix(this.b, v ^ 0x5a);
  }

  /** The exact float64 value (bits), so 1.5 and 1.50 hash alike and 1.5 and 1.5000001 do not. */
  value(v: number): void {
    f64[0] = v;
    this.a = mix(mix(this.a, u32[0]), u32[1]);
    this.b = mix(mix(this.b, u32[1]), u32[0]);
    this.n++;
  }

  finishA(): number {
    return fmix(this.a ^ this.n);
  }

  finishB(): number {
    return fmix(this.b ^ this.n);
  }
}

export function hashString(h: ChannelHash, s: string): void {
  let ascii = true;
  for (let i = 0; i < s.length && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
  if (ascii) for (let i = 0; i < s.length; i++) h.byte(s.charCodeAt(i));
  else for (const byte of Buffer.from(s, "utf8")) h.byte(byte);
  h.byte(0); // end of the string
}

export function finishDigest(
  kind: "spikes" | "counts",
  trialId: number,
  sumA: number,
  sumB: number,
  channels: number,
): string {
  let a = mix(mix(mix(SEED_A, kind === "spikes" ? 1 : 2), trialId | 0), sumA);
  let b = mix(mix(mix(SEED_B, kind === "spikes" ? 1 : 2), Math.floor(trialId / 2 ** 32)), sumB);
  a = fmix(a ^ channels);
  b = fmix(b ^ channels);
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------------------------
// Packing from parsed messages (the zod path and the store's object-form API).

/** A validated `spikes` message → PackedTrial, counting spikes in the protocol's windows. */
export function packSpikes(
  seq: number,
  trialId: number,
  channels: Record<string, readonly number[]>,
  windows: WindowTable,
): PackedTrial {
  const ids = Object.keys(channels);
  const nW = windows.names.length;
  let total = 0;
  for (const id of ids) total += channels[id].length;
  const spikes = new Float64Array(total);
  const offsets = new Uint32Array(ids.length + 1);
  const counts = new Uint32Array(ids.length * nW);
  const h = new ChannelHash();
  let sumA = 0;
  let sumB = 0;
  let pos = 0;
  for (let c = 0; c < ids.length; c++) {
    const times = channels[ids[c]];
    h.reset();
    hashString(h, ids[c]);
    offsets[c] = pos;
    for (const t of times) {
      spikes[pos++] = t;
      h.value(t);
      for (let w = 0; w < nW; w++) if (t >= windows.starts[w] && t < windows.ends[w]) counts[c * nW + w]++;
    }
    sumA = (sumA + h.finishA()) | 0;
    sumB = (sumB + h.finishB()) | 0;
  }
  offsets[ids.length] = pos;
  return {
    kind: "spikes",
    seq,
    trialId,
    channelIds: ids,
    windows: windows.names.slice(),
    counts,
    offsets,
    spikes,
    digest: finishDigest("spikes", trialId, sumA, sumB, ids.length),
  };
}

/** A validated `counts` message → PackedTrial; the windows are the names the message uses, in first-seen order. */
export function packCounts(
  seq: number,
  trialId: number,
  channels: Record<string, Record<string, number>>,
): PackedTrial {
  const ids = Object.keys(channels);
  const names: string[] = [];
  const column = new Map<string, number>();
  for (const id of ids)
    for (const name of Object.keys(channels[id]))
      if (!column.has(name)) {
        column.set(name, names.length);
        names.push(name);
      }
  const counts = new Uint32Array(ids.length * names.length).fill(ABSENT);
  const h = new ChannelHash();
  const hw = new ChannelHash();
  let sumA = 0;
  let sumB = 0;
  for (let c = 0; c < ids.length; c++) {
    h.reset();
    hashString(h, ids[c]);
    // Windows are hashed one by one and added up, so their order within the channel does not matter either.
    let wa = 0;
    let wb = 0;
    for (const [name, n] of Object.entries(channels[ids[c]])) {
      counts[c * names.length + column.get(name)!] = n;
      hw.reset();
      hashString(hw, name);
      hw.value(n);
      wa = (wa + hw.finishA()) | 0;
      wb = (wb + hw.finishB()) | 0;
    }
    h.value(wa);
    h.value(wb);
    sumA = (sumA + h.finishA()) | 0;
    sumB = (sumB + h.finishB()) | 0;
  }
  return {
    kind: "counts",
    seq,
    trialId,
    channelIds: ids,
    windows: names,
    counts,
    offsets: null,
    spikes: null,
    digest: finishDigest("counts", trialId, sumA, sumB, ids.length),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading packed data back.

/** Channel c's counts as {window name: n}, leaving out windows a counts message did not name. */
export function countsOf(p: Pick<PackedTrial, "windows" | "counts">, c: number): Record<string, number> {
  const out: Record<string, number> = {};
  const nW = p.windows.length;
  for (let w = 0; w < nW; w++) {
    const n = p.counts[c * nW + w];
    if (n !== ABSENT) out[p.windows[w]] = n;
  }
  return out;
}

/** Channel c's spike times (a view, no copy), or undefined for counts-only data. */
export function spikesOf(p: Pick<PackedTrial, "offsets" | "spikes">, c: number): Float64Array | undefined {
  if (!p.offsets || !p.spikes) return undefined;
  return p.spikes.subarray(p.offsets[c], p.offsets[c + 1]);
}

/** The same data restricted to the channels at `keep` (indices into channelIds), e.g. those not yet stored. */
export function subsetChannels(p: PackedTrial, keep: number[]): PackedTrial {
  const nW = p.windows.length;
  const counts = new Uint32Array(keep.length * nW);
  keep.forEach((c, i) => {
    counts.set(p.counts.subarray(c * nW, (c + 1) * nW), i * nW);
  });
  let offsets: Uint32Array | null = null;
  let spikes: Float64Array | null = null;
  if (p.offsets && p.spikes) {
    const src = p.offsets;
    offsets = new Uint32Array(keep.length + 1);
    let total = 0;
    for (const c of keep) total += src[c + 1] - src[c];
    spikes = new Float64Array(total);
    let pos = 0;
    keep.forEach((c, i) => {
      offsets![i] = pos;
      spikes!.set(p.spikes!.subarray(src[c], src[c + 1]), pos);
      pos += src[c + 1] - src[c];
    });
    offsets[keep.length] = pos;
  }
  return { ...p, channelIds: keep.map((c) => p.channelIds[c]), counts, offsets, spikes };
}

/**
 * Per-channel records (counts given, spike times optional but all or none) → PackedTrial, for code that holds
 * data in object form (tests, tools). The digest covers the spike times when given, else the counts.
 */
export function packRecords(
  seq: number,
  trialId: number,
  channels: ReadonlyArray<{ channelId: string; counts: Record<string, number>; spikes?: ArrayLike<number> }>,
): PackedTrial {
  const withSpikes = channels.filter((c) => c.spikes !== undefined).length;
  if (withSpikes === 0)
    return packCounts(seq, trialId, Object.fromEntries(channels.map((c) => [c.channelId, c.counts])));
  if (withSpikes !== channels.length)
    throw Object.assign(
      new Error(
        `packRecords: trial ${trialId} has spike times for ${withSpikes} of ${channels.length} channels; expected all or none`,
      ),
      { code: "EPHYS_BAD_ARGUMENT" },
    );
  const counted = packCounts(seq, trialId, Object.fromEntries(channels.map((c) => [c.channelId, c.counts])));
  const times = packSpikes(
    seq,
    trialId,
    Object.fromEntries(channels.map((c) => [c.channelId, Array.from(c.spikes!)])),
    { names: [], starts: new Float64Array(0), ends: new Float64Array(0) },
  );
  return { ...counted, kind: "spikes", offsets: times.offsets, spikes: times.spikes, digest: times.digest };
}
