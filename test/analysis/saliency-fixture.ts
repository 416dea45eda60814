// Loader for the PyTorch/SciPy reference written by test/reference/saliency_reference.py.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SALIENCY_FIXTURES = join(import.meta.dirname, "..", "fixtures", "saliency");

export interface SaliencyCase {
  name: string;
  method: "gradient" | "ig" | "unweighted";
  sigma: number;
  epsilon: number;
  igSteps: number;
  k: number;
  indices: number[];
  dropped: number;
  normOut: number;
  normIn: number;
  outMap: string;
  inMap: string;
}

export interface SaliencyFixture {
  weightsPath: string;
  arch: "resnet18";
  variant: "torchvision";
  tap: string;
  location: [number, number];
  weights: number[];
  s: number;
  cases: SaliencyCase[];
  smooth: Array<{ sigma: number; array: string }>;
  array(name: string): { data: Float32Array; shape: number[] };
  /** Image i of the fixture as {width, height, data} (RGB 0..255). */
  image(i: number): { width: number; height: number; data: Float32Array };
}

export function loadSaliencyFixture(): SaliencyFixture {
  const meta = JSON.parse(readFileSync(join(SALIENCY_FIXTURES, "saliency.json"), "utf8"));
  const bin = readFileSync(join(SALIENCY_FIXTURES, meta.bin));
  const arrays = new Map<string, { shape: number[]; offset: number }>(
    meta.arrays.map((a: { name: string; shape: number[]; offset: number }) => [a.name, a]),
  );
  const array = (name: string) => {
    const a = arrays.get(name);
    if (!a) throw new Error(`saliency fixture has no array ${name}`);
    const count = a.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(count);
    const view = new DataView(bin.buffer, bin.byteOffset + a.offset, count * 4);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
    return { data, shape: a.shape };
  };
  return {
    ...meta,
    weightsPath: join(SALIENCY_FIXTURES, meta.network),
    array,
    image(i) {
      const { data, shape } = array(`image${i}`);
      return { height: shape[0], width: shape[1], data };
    },
  };
}

/** Pearson correlation. */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** ‖a − b‖ / ‖b‖. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}
