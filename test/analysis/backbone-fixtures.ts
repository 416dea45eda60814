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

/** Reader of the arrays of one fixture: a float32 copy (uint8 images widened) and the stored shape. */
function arrayReader(
  name: string,
  bin: Buffer,
  entries: ArrayEntry[],
): (arrayName: string) => { data: Float32Array; shape: [number, number, number, number] } {
  const arrays = new Map(entries.map((a) => [a.name, a]));
  return (arrayName) => {
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
  };
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
  return {
    arch: meta.arch,
    variant: meta.variant,
    shape: meta.shape,
    weightsPath: join(FIXTURES, meta.weights),
    cases: meta.cases,
    array: arrayReader(name, readFileSync(join(FIXTURES, meta.bin)), meta.arrays),
  };
}

/** Input-gradient references for the VJP graph (<name>-vjp.json, see test/reference/backbone_reference.py). */
export interface VjpReference {
  arch: Arch;
  variant: Variant;
  shape: ResNetShape;
  weightsPath: string;
  /** Size of every image here. */
  height: number;
  width: number;
  /** Array name of the two images [2, height, width, 3] (uint8). */
  images: string;
  /** Every tap: a dense cotangent [1, h, w, C] for image 0 and its gradient [1, height, width, 3]. */
  everyTap: Record<string, { cotangent: string; gradient: string }>;
  /** Both images, one dense cotangent each ([2, h, w, C]) at `tap`, and the gradients [2, height, width, 3]. */
  batch: { tap: string; cotangent: string; gradient: string };
  /** k = 3 readouts [3, C] at `location` of image 0 at `tap`, and their gradients [3, height, width, 3]. */
  readout: { tap: string; location: [number, number]; weights: string; gradient: string };
  array(name: string): { data: Float32Array; shape: [number, number, number, number] };
}

export function loadVjpReference(name: string): VjpReference {
  const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}-vjp.json`), "utf8")) as Omit<
    VjpReference,
    "weightsPath" | "array"
  > & { weights: string; bin: string; arrays: ArrayEntry[] };
  const { weights, bin, arrays, ...rest } = meta;
  return {
    ...rest,
    weightsPath: join(FIXTURES, weights),
    array: arrayReader(name, readFileSync(join(FIXTURES, bin)), arrays),
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
