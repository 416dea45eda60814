// Typed arrays ⇄ SQLite blobs for trial_data rows: little-endian uint32 counts and offsets, float64 spike times
// (float32 in stores before schema version 4).
// Blobs are written straight from the arrays' memory, so the host must be little-endian (every platform Node
// ships for today is); the check below refuses to open a store anywhere else rather than write unreadable data.
import { endianness } from "node:os";
import { ABSENT } from "./packed.ts";

if (endianness() !== "LE")
  throw Object.assign(new Error("the session store packs little-endian blobs; this host is big-endian"), {
    code: "EPHYS_UNSUPPORTED_HOST",
  });

/** The bytes of a typed array, without a copy. */
export function blob(a: Uint32Array | Float32Array | Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A blob as uint32s (a view when aligned, else a copy). */
export function u32(b: Buffer): Uint32Array {
  if (b.byteOffset % 4 === 0) return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A blob as float32s (a view when aligned, else a copy). */
export function f32(b: Buffer): Float32Array {
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A blob as float64s (a view when aligned, else a copy). */
export function f64(b: Buffer): Float64Array {
  if (b.byteOffset % 8 === 0) return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * One trial's rows of the version-2 spike_counts table (counts JSON, float32 spike blob or null, all with or all
 * without spikes) as the columns of one trial_data row.
 */
export function packLegacyTrial(
  rows: Array<{ channelId: string; counts: Record<string, number>; spikes: Buffer | null }>,
): {
  channelsJson: string;
  windowsJson: string;
  counts: Buffer;
  offsets: Buffer | null;
  spikes: Buffer | null;
} {
  const names: string[] = [];
  for (const r of rows) for (const name of Object.keys(r.counts)) if (!names.includes(name)) names.push(name);
  const counts = new Uint32Array(rows.length * names.length).fill(ABSENT);
  rows.forEach((r, c) => {
    for (const [name, n] of Object.entries(r.counts)) counts[c * names.length + names.indexOf(name)] = n;
  });
  let offsets: Buffer | null = null;
  let spikes: Buffer | null = null;
  if (rows.every((r) => r.spikes !== null)) {
    const off = new Uint32Array(rows.length + 1);
    rows.forEach((r, c) => {
      off[c + 1] = off[c] + r.spikes!.byteLength / 4;
    });
    offsets = blob(off);
    spikes = Buffer.concat(rows.map((r) => r.spikes!));
  }
  return {
    channelsJson: JSON.stringify(rows.map((r) => r.channelId)),
    windowsJson: JSON.stringify(names),
    counts: blob(counts),
    offsets,
    spikes,
  };
}
