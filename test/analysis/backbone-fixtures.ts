// Loader for the PyTorch reference fixtures written by test/reference/backbone_reference.py.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResNetShape } from "../../analysis/backbone/describe.ts";
import type { Arch, Variant } from "../../analysis/backbone/description.ts";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures", "backbone");

interface ArrayEntry {
  name: string;
  dtype: "f32" | "u8";
  shape: number[];
  offset: number;
}

export interface ReferenceCase {
  image: string;
  height: number;
  width: number;
  features: Record<string, string>;
  gradient?: { tap: string; cotangent: string; gradient: string };
}

export interface ReferenceFixture {
  arch: Arch;
  variant: Variant;
  shape: ResNetShape;
  weightsPath: string;
  cases: ReferenceCase[];
  /** Float32 copy of a stored array (uint8 images widened) and its shape. */
  array(name: string): { data: Float32Array; shape: [number, number, number, number] };
}

export function loadReference(name: string): ReferenceFixture {
  const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8")) as {
    arch: Arch;
    variant: Variant;
    shape: ResNetShape;
    weights: string;
    bin: string;
    cases: ReferenceCase[];
    arrays: ArrayEntry[];
  };
  const bin = readFileSync(join(FIXTURES, meta.bin));
  const arrays = new Map(meta.arrays.map((a) => [a.name, a]));
  return {
    arch: meta.arch,
    variant: meta.variant,
    shape: meta.shape,
    weightsPath: join(FIXTURES, meta.weights),
    cases: meta.cases,
    array(arrayName) {
      const a = arrays.get(arrayName);
      if (!a) throw new Error(`fixture ${name} has no array ${arrayName}`);
      const count = a.shape.reduce((x, y) => x * y, 1);
      const data = new Float32Array(count);
      if (a.dtype === "u8") {
        for (let i = 0; i < count; i++) data[i] = bin[a.offset + i];
      } else {
        const view = new DataView(bin.buffer, bin.byteOffset + a.offset, count * 4);
        for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
      }
      return { data, shape: a.shape as [number, number, number, number] };
    },
  };
}

/** max |a − b| / max |b|. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  if (!(maxRef > 0))
    throw new Error("relativeError: the expected values are all zero (no scale to compare against)");
  return maxDiff / maxRef;
}
