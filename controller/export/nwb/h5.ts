// HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly; its Node build writes straight to the file
// system): typed datasets and attributes with explicit HDF5 types, UTF-8 variable-length text, object references,
// and a writer that fills pre-sized regions of a chunked dataset from many buffered streams (one per unit).
import h5wasm, { type Dataset, type File, type Group, type Reference } from "h5wasm/node";
import { EphysError } from "../../../analysis/errors.ts";

export type { Dataset, File, Group, Reference };

/** The HDF5 types this exporter writes (h5wasm dtype strings, little-endian). */
export const H5 = {
  f64: "<d",
  f32: "<f",
  i64: "<q",
  i32: "<i",
  u32: "<I",
  u64: "<Q",
  u8: "<B",
  i8: "<b",
  /** Variable-length UTF-8 string. */
  text: "S",
  ref: "Reference",
} as const;
export type NumericType = Exclude<(typeof H5)[keyof typeof H5], "S" | "Reference">;

export type NumericArray = Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array | Int8Array;

/** Create (truncate) an HDF5 file at `path`; the WebAssembly module loads once per process. */
export async function createH5(path: string): Promise<File> {
  await h5wasm.ready;
  return new h5wasm.File(path, "w");
}

export function textAttr(on: Group | Dataset, name: string, value: string | string[]): void {
  on.create_attribute(name, value, Array.isArray(value) ? [value.length] : null, H5.text);
}

export function refAttr(on: Group | Dataset, name: string, target: Group | Dataset): void {
  on.create_attribute(name, target.create_reference(), null, H5.ref);
}

export function numberAttr(on: Group | Dataset, name: string, value: number, type: NumericType): void {
  on.create_attribute(name, value, null, type);
}

/** A scalar text dataset, or a 1-D one from an array. */
export function textDataset(group: Group, name: string, value: string | string[]): Dataset {
  return group.create_dataset({
    name,
    data: value,
    shape: Array.isArray(value) ? [value.length] : [],
    dtype: H5.text,
  });
}

/** A numeric dataset of `type` from a typed array (row-major `shape`; default 1-D). */
export function numericDataset(
  group: Group,
  name: string,
  data: NumericArray | number[],
  type: NumericType,
  shape: number[] = [data.length],
): Dataset {
  return group.create_dataset({ name, data: data as NumericArray, shape, dtype: type });
}

export function scalarDataset(group: Group, name: string, value: number, type: NumericType): Dataset {
  return group.create_dataset({ name, data: value, shape: [], dtype: type });
}

/** A 1-D dataset of object references. */
export function refDataset(group: Group, name: string, targets: Array<Group | Dataset>): Dataset {
  const refs: Reference[] = targets.map((t) => t.create_reference());
  return group.create_dataset({ name, data: refs, shape: [refs.length], dtype: H5.ref });
}

/** An empty chunked dataset of `rows` × `width` (width 1: 1-D) to be filled by slices. */
export function chunkedDataset(
  group: Group,
  name: string,
  type: NumericType,
  rows: number,
  width: number,
  chunkRows: number,
): Dataset {
  const twoD = width > 1;
  const ds = group.create_dataset({
    name,
    data: emptyOf(type),
    shape: twoD ? [0, width] : [0],
    maxshape: twoD ? [null, width] : [null],
    chunks: twoD ? [chunkRows, width] : [chunkRows],
    dtype: type,
  });
  if (rows > 0) ds.resize(twoD ? [rows, width] : [rows]);
  return ds;
}

function emptyOf(type: NumericType): NumericArray {
  switch (type) {
    case H5.f64:
      return new Float64Array(0);
    case H5.f32:
      return new Float32Array(0);
    case H5.u32:
      return new Uint32Array(0);
    case H5.u8:
      return new Uint8Array(0);
    case H5.i8:
      return new Int8Array(0);
    default:
      return new Int32Array(0);
  }
}

export class RegionOverflowError extends EphysError<"EPHYS_NWB_REGION"> {
  constructor(message: string) {
    super("EPHYS_NWB_REGION", message);
  }
}

/**
 * Fills a chunked dataset whose rows are cut into consecutive regions, one per stream (a unit's spike times, its
 * observation intervals): `push(stream, rows)` appends rows to that stream's region. Each stream keeps at most one
 * chunk of rows in memory and writes when the rows it holds reach a chunk boundary of the file, so HDF5 writes whole
 * chunks without reading them back (only the chunks shared by two neighbouring regions are written twice). Memory:
 * streams × chunkRows × width values, whatever the size of the dataset.
 */
export class RegionWriter {
  private readonly start: number[];
  private readonly end: number[];
  /** Next row of each stream's region to write to the file. */
  private readonly written: number[];
  private readonly buffers: Array<Float64Array | null>;
  private readonly filled: number[];
  private readonly one = new Float64Array(1);

  constructor(
    private readonly ds: Dataset,
    lengths: readonly number[],
    private readonly width: number,
    private readonly chunkRows: number,
  ) {
    this.start = [];
    this.end = [];
    let at = 0;
    for (const n of lengths) {
      this.start.push(at);
      at += n;
      this.end.push(at);
    }
    this.written = [...this.start];
    this.buffers = lengths.map(() => null);
    this.filled = lengths.map(() => 0);
  }

  /** Append `values` (rows × width, row-major) to stream `k`'s region. */
  push(k: number, values: ArrayLike<number>): void {
    const w = this.width;
    const typed = ArrayBuffer.isView(values) ? (values as unknown as Float64Array) : null;
    let buffer = this.buffers[k];
    if (!buffer) {
      buffer = new Float64Array(this.chunkRows * w);
      this.buffers[k] = buffer;
    }
    let rows = values.length / w;
    let from = 0;
    while (rows > 0) {
      const at = this.written[k] + this.filled[k];
      if (at >= this.end[k])
        throw new RegionOverflowError(
          `stream ${k}: more rows than the ${this.end[k] - this.start[k]} counted for its region`,
        );
      // Rows until the next chunk boundary of the file or the end of the region: then the buffer is written.
      const untilWrite = Math.min(this.chunkRows - (at % this.chunkRows), this.end[k] - at);
      const n = Math.min(rows, untilWrite);
      const to = this.filled[k] * w;
      const m = n * w;
      if (typed && m > 16) buffer.set(typed.subarray(from * w, from * w + m), to);
      else for (let i = 0; i < m; i++) buffer[to + i] = values[from * w + i];
      this.filled[k] += n;
      from += n;
      rows -= n;
      if (n === untilWrite) this.flush(k);
    }
  }

  /** Append one row of width 1. */
  pushOne(k: number, value: number): void {
    this.one[0] = value;
    this.push(k, this.one);
  }

  /** Write what every stream holds; each region must be complete. */
  finish(): void {
    for (let k = 0; k < this.start.length; k++) {
      this.flush(k);
      if (this.written[k] !== this.end[k])
        throw new RegionOverflowError(
          `stream ${k}: ${this.written[k] - this.start[k]} rows written, ${this.end[k] - this.start[k]} counted`,
        );
      this.buffers[k] = null;
    }
  }

  private flush(k: number): void {
    const n = this.filled[k];
    if (n === 0) return;
    const from = this.written[k];
    const data = this.buffers[k]!.subarray(0, n * this.width);
    const rows: [number, number] = [from, from + n];
    this.ds.write_slice(this.width > 1 ? [rows, []] : [rows], data);
    this.written[k] += n;
    this.filled[k] = 0;
  }
}
