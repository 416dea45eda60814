// Loader for the NumPy/SciPy/PyTorch reference written by test/reference/optvis_reference.py.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const OPTVIS_FIXTURES = join(import.meta.dirname, "..", "fixtures", "optvis");

export interface FourierCase {
  n: number;
  height: number;
  width: number;
  re: string;
  im: string;
  scale: string;
  planes: string;
  image: string;
}

export interface RenderCase {
  kind: "pixels" | "fourier";
  n: number;
  height: number;
  width: number;
  features: number;
  location: [number, number];
  readoutBias: number;
  diversity: number;
  l2: number;
  tv: number;
  steps: number;
  learningRate: number;
  convWeight: string;
  convBias: string;
  readoutWeights: string;
  initial?: string;
  initialRe?: string;
  initialIm?: string;
  images: string;
  trace: string;
  final: string;
}

export interface OptvisFixture {
  colorMatrix: number[][];
  fourier: FourierCase[];
  transforms: {
    input: string;
    rotations: Array<{ degrees: number; output: string }>;
    resizes: Array<{ height: number; width: number; output: string }>;
  };
  render: RenderCase[];
  array(name: string): { data: Float32Array; shape: number[] };
}

export function loadOptvisFixture(): OptvisFixture {
  const meta = JSON.parse(readFileSync(join(OPTVIS_FIXTURES, "optvis.json"), "utf8"));
  const bin = readFileSync(join(OPTVIS_FIXTURES, meta.bin));
  const arrays = new Map<string, { shape: number[]; offset: number }>(
    meta.arrays.map((a: { name: string; shape: number[]; offset: number }) => [a.name, a]),
  );
  return {
    ...meta,
    array(name: string) {
      const a = arrays.get(name);
      if (!a) throw new Error(`optvis fixture has no array ${name}`);
      const count = a.shape.reduce((x, y) => x * y, 1);
      const data = new Float32Array(count);
      const view = new DataView(bin.buffer, bin.byteOffset + a.offset, count * 4);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
      return { data, shape: a.shape };
    },
  };
}

/** max |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** median |a − b|. */
export function medianAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  const d = Array.from(a, (v, i) => Math.abs(v - b[i])).sort((x, y) => x - y);
  return d[Math.floor(d.length / 2)];
}

/** Cosine of the angle between two vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}
