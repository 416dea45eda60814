// The feature cache on disk, and computeFeatures: features for a list of stimuli, read from the cache where
// present, computed in batches (and cached) where not.
//
// Layout: <root>/<weights sha256[0..16]>-<arch>-<variant>-<layer>-<size>/<stimulus sha256>.f16, one file per image,
// and key.json in each folder naming the full key. A stimulus is found by the sha256 of its file, so a renamed
// image hits the cache and an edited one misses it.
//
// Why float16 on disk: it halves the disk and the read time (a ResNet-50 layer4.1 map of a 224 px image is 7·7·2048
// values: 200 kB instead of 400 kB). Features at a tap come after a ReLU, so they are ≥ 0 and far inside half's
// range (max 65504; anything beyond is refused, EPHYS_FEATURE_RANGE); half's rounding error (≤ 2^-11 ≈ 4.9e-4
// relative) is far below the trial-to-trial noise of neural data; the readout fit upcasts to float32.
//
// Entry format (little endian): "EPHYSF16", uint32 version (1), uint32 h, w, c, then h·w·c binary16 values, NHWC.
// Entries are written to a temp file in the same folder and renamed into place, so a crash never leaves a
// half-written entry under an entry's name (a leftover temp file is never read). Entries that fail their checks
// (size, header, shape) are recomputed and replaced. Present entries are never recomputed: the computation resumes.
// Over 400 lines: the cache's file format and the one function that reads, computes and writes through it;
// they change together.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";
import type { Arch, Variant } from "../backbone/description.ts";
import type { FeatureMaps } from "../readout/index.ts";
import { FeatureError } from "./errors.ts";
import type { FeatureExtractor } from "./extract.ts";
import { decodeFloat16, encodeFloat16, FLOAT16_MAX } from "./float16.ts";

const MAGIC = Buffer.from("EPHYSF16", "latin1");
const VERSION = 1;
const HEADER_BYTES = 24;
const LITTLE = endianness() === "LE";

export interface FeatureCacheKey {
  weightsSha256: string;
  arch: Arch;
  variant: Variant;
  layer: string;
  /** Side of the square model input, pixels. */
  imageSize: number;
}

/** One feature map of one image, NHWC without the N. */
export interface FeatureEntry {
  h: number;
  w: number;
  c: number;
  data: Float32Array;
}

/** The folder holding the entries of one key. */
export function cacheDir(root: string, key: FeatureCacheKey): string {
  if (!/^[0-9a-f]{64}$/.test(key.weightsSha256)) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `weightsSha256: got ${JSON.stringify(key.weightsSha256)}, expected 64 lowercase hex digits`,
    );
  }
  if (!/^layer\d+\.\d+$/.test(key.layer)) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `layer: got ${JSON.stringify(key.layer)}, expected e.g. layer4.1`,
    );
  }
  return join(
    root,
    `${key.weightsSha256.slice(0, 16)}-${key.arch}-${key.variant}-${key.layer}-${key.imageSize}`,
  );
}

/** The entry file of one stimulus (by its file's sha256) in a key's folder. */
export function entryPath(dir: string, stimulusSha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(stimulusSha256)) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `sha256: got ${JSON.stringify(stimulusSha256)}, expected 64 lowercase hex digits of the image file`,
    );
  }
  return join(dir, `${stimulusSha256}.f16`);
}

/** Header + float16 data of one entry. Throws EPHYS_FEATURE_RANGE for values half cannot hold. */
export function encodeEntry(entry: FeatureEntry, what = "features"): Buffer {
  const { h, w, c, data } = entry;
  if (data.length !== h * w * c) {
    throw new FeatureError(
      "EPHYS_BAD_FEATURE_REQUEST",
      `${what}: ${data.length} values; expected h·w·c = ${h * w * c}`,
    );
  }
  const out = Buffer.alloc(HEADER_BYTES + data.length * 2);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(VERSION, 8);
  out.writeUInt32LE(h, 12);
  out.writeUInt32LE(w, 16);
  out.writeUInt32LE(c, 20);
  const halves = new Uint16Array(out.buffer, out.byteOffset + HEADER_BYTES, data.length);
  encodeFloat16(data, halves);
  for (let i = 0; i < halves.length; i++) {
    if ((halves[i] & 0x7c00) === 0x7c00) {
      throw new FeatureError(
        "EPHYS_FEATURE_RANGE",
        `${what}[${i}] is ${data[i]}; expected a finite value within ±${FLOAT16_MAX} (float16 cache)`,
      );
    }
  }
  if (!LITTLE) out.subarray(HEADER_BYTES).swap16();
  return out;
}

/** Parse one entry; null when the bytes are not a complete entry (of the expected shape, when given). */
export function decodeEntry(
  bytes: Uint8Array,
  expected?: readonly [number, number, number],
): FeatureEntry | null {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(8) !== VERSION)
    return null;
  const h = buf.readUInt32LE(12);
  const w = buf.readUInt32LE(16);
  const c = buf.readUInt32LE(20);
  if (buf.length !== HEADER_BYTES + h * w * c * 2) return null;
  if (expected && (expected[0] !== h || expected[1] !== w || expected[2] !== c)) return null;
  const raw = Buffer.from(buf.subarray(HEADER_BYTES)); // copy: aligned, and swappable in place
  if (!LITTLE) raw.swap16();
  const halves = new Uint16Array(raw.buffer, raw.byteOffset, h * w * c);
  return { h, w, c, data: decodeFloat16(halves) };
}

/** Read an entry; null when it is missing or not a complete entry of the expected shape. */
export async function readEntry(
  path: string,
  expected?: readonly [number, number, number],
): Promise<FeatureEntry | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return decodeEntry(bytes, expected);
}

/** Write a file atomically: a temp file beside it (never read as an entry), then rename over the name. */
export async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

export async function writeEntry(path: string, entry: FeatureEntry): Promise<void> {
  await writeAtomic(path, encodeEntry(entry, path));
}

/** An image to compute features of; `sha256` is of its file (the cache key). */
export interface StimulusImage {
  id: string;
  path: string;
  sha256: string;
}

export interface FeatureProgress {
  /** Images done (read from the cache or computed). */
  done: number;
  total: number;
  /** Of `done`, read from the cache. */
  cached: number;
  /** Computed images per second so far (0 before the first batch). */
  rate: number;
  /** Seconds left at `rate` (Infinity before the first batch, 0 when done). */
  etaS: number;
}

export interface ComputeFeaturesOptions {
  images: readonly StimulusImage[];
  extractor: FeatureExtractor;
  /** Cache root; absent = no cache (everything computed, nothing written). */
  root?: string;
  /** Side of the square model input (default: the extractor's imageSize). */
  imageSize?: number;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  onProgress?: (progress: FeatureProgress) => void;
  signal?: AbortSignal;
  /** size × size RGB 0..255 HWC of an image file (default: stimuli/image.ts loadImageRGB, Lanczos3, contain). */
  loadImage?: (path: string, size: number) => Promise<Float32Array>;
}

export interface ComputedFeatures extends FeatureMaps {
  /** Images (unique by sha256) read from the cache, and computed now. */
  cached: number;
  computed: number;
  /** The key's cache folder, or null without a cache. */
  dir: string | null;
}

async function defaultLoadImage(path: string, size: number): Promise<Float32Array> {
  const { loadImageRGB } = await import("../../stimuli/image.ts");
  return (await loadImageRGB(path, size)).data;
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function positiveInt(field: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new FeatureError("EPHYS_BAD_FEATURE_REQUEST", `${field}: got ${v}, expected a whole number ≥ 1`);
  }
  return v;
}

function aborted(signal: AbortSignal | undefined, done: number, total: number): void {
  if (signal?.aborted) {
    throw new FeatureError(
      "EPHYS_ABORTED",
      `computeFeatures cancelled after ${done} of ${total} images (cached entries kept; a rerun resumes)`,
    );
  }
}

/**
 * Features of `images` (FeatureMaps in their order): cached entries are read, the rest computed in batches of
 * `batchSize` (the next batch's images are decoded while the current one runs) and written to the cache.
 * Images with the same sha256 are computed once. Cancelling through `signal` throws EPHYS_ABORTED between batches;
 * everything written so far stays valid.
 */
export async function computeFeatures(options: ComputeFeaturesOptions): Promise<ComputedFeatures> {
  const { images, extractor, root, onProgress, signal } = options;
  const size = positiveInt("imageSize", options.imageSize ?? extractor.imageSize);
  const batchSize = positiveInt("batchSize", options.batchSize ?? 8);
  const loadImage = options.loadImage ?? defaultLoadImage;
  const [h, w, c] = extractor.featureShape(size);
  const per = h * w * c;
  const total = images.length;
  const data = new Float32Array(total * per);

  // Positions of each distinct stimulus (by sha256) in `images`.
  const slots = new Map<string, number[]>();
  const firstImage = new Map<string, StimulusImage>();
  images.forEach((img, i) => {
    const key = img.sha256;
    if (!/^[0-9a-f]{64}$/.test(key)) {
      throw new FeatureError(
        "EPHYS_BAD_FEATURE_REQUEST",
        `images[${i}].sha256 (${img.id}): got ${JSON.stringify(key)}, expected 64 lowercase hex digits`,
      );
    }
    if (!slots.has(key)) {
      slots.set(key, []);
      firstImage.set(key, img);
    }
    slots.get(key)!.push(i);
  });
  let done = 0;
  const place = (sha: string, values: Float32Array): void => {
    for (const i of slots.get(sha)!) {
      data.set(values, i * per);
      done++;
    }
  };

  const dir =
    root === undefined
      ? null
      : cacheDir(root, {
          weightsSha256: extractor.weightsSha256,
          arch: extractor.arch,
          variant: extractor.variant,
          layer: extractor.layer,
          imageSize: size,
        });
  const missing: string[] = [];
  if (dir === null) {
    missing.push(...slots.keys());
  } else {
    await mkdir(dir, { recursive: true });
    await writeKeyFile(dir, extractor, size, [h, w, c]);
    await mapLimit([...slots.keys()], 8, async (sha) => {
      const entry = await readEntry(entryPath(dir, sha), [h, w, c]);
      if (entry) place(sha, entry.data);
      else missing.push(sha);
    });
    missing.sort((a, b) => slots.get(a)![0] - slots.get(b)![0]); // compute in the order of `images`
  }
  const cachedImages = done;
  const report = (rate: number): void =>
    onProgress?.({
      done,
      total,
      cached: cachedImages,
      rate,
      etaS: done === total ? 0 : rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY,
    });
  report(0);

  const batches: string[][] = [];
  for (let i = 0; i < missing.length; i += batchSize) batches.push(missing.slice(i, i + batchSize));
  const loadBatch = async (shas: string[]): Promise<Float32Array> => {
    const pixels = new Float32Array(shas.length * size * size * 3);
    await Promise.all(
      shas.map(async (sha, j) => {
        const rgb = await loadImage(firstImage.get(sha)!.path, size);
        if (rgb.length !== size * size * 3) {
          throw new FeatureError(
            "EPHYS_BAD_FEATURE_REQUEST",
            `${firstImage.get(sha)!.path}: loaded ${rgb.length} values, expected ${size}·${size}·3`,
          );
        }
        pixels.set(rgb, j * size * size * 3);
      }),
    );
    return pixels;
  };
  const prefetch = (i: number): Promise<Float32Array> | null => {
    if (i >= batches.length) return null;
    const p = loadBatch(batches[i]);
    p.catch(() => undefined); // awaited below; this keeps an early failure from counting as unhandled
    return p;
  };

  const started = performance.now();
  let computedImages = 0;
  let next = prefetch(0);
  for (let b = 0; b < batches.length; b++) {
    aborted(signal, done, total);
    const shas = batches[b];
    const pixels = await next!;
    next = prefetch(b + 1);
    const maps = await extractor.extract(pixels, shas.length, size);
    if (maps.n !== shas.length || maps.h !== h || maps.w !== w || maps.c !== c) {
      throw new FeatureError(
        "EPHYS_BAD_FEATURE_REQUEST",
        `extractor gave [${maps.n}, ${maps.h}, ${maps.w}, ${maps.c}]; expected [${shas.length}, ${h}, ${w}, ${c}]`,
      );
    }
    const writes: Promise<void>[] = [];
    shas.forEach((sha, j) => {
      const values = maps.data.subarray(j * per, (j + 1) * per);
      if (dir !== null) {
        const entry = { h, w, c, data: values };
        const bytes = encodeEntry(entry, `features of ${firstImage.get(sha)!.path}`);
        writes.push(writeAtomic(entryPath(dir, sha), bytes));
      }
      place(sha, values);
    });
    await Promise.all(writes);
    computedImages += shas.length;
    report(computedImages / ((performance.now() - started) / 1000));
  }
  return { n: total, h, w, c, data, cached: slots.size - missing.length, computed: missing.length, dir };
}

/** How many distinct images (by sha256) of `images` have no cache entry yet for this extractor (and size). */
export async function countMissing(
  images: readonly StimulusImage[],
  extractor: FeatureExtractor,
  root: string,
  imageSize = extractor.imageSize,
): Promise<number> {
  const dir = cacheDir(root, {
    weightsSha256: extractor.weightsSha256,
    arch: extractor.arch,
    variant: extractor.variant,
    layer: extractor.layer,
    imageSize,
  });
  const shas = [...new Set(images.map((img) => img.sha256))];
  let missing = 0;
  await mapLimit(shas, 16, async (sha) => {
    const present = await stat(entryPath(dir, sha)).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!present) missing++;
  });
  return missing;
}

/** key.json: the full key and the entry format, written once per folder (for people and provenance). */
async function writeKeyFile(
  dir: string,
  extractor: FeatureExtractor,
  imageSize: number,
  shape: [number, number, number],
): Promise<void> {
  const path = join(dir, "key.json");
  try {
    await readFile(path);
    return;
  } catch {
    // absent: write it
  }
  const key = {
    weightsSha256: extractor.weightsSha256,
    weightsSource: extractor.weightsSource,
    arch: extractor.arch,
    variant: extractor.variant,
    layer: extractor.layer,
    imageSize,
    featureShape: shape,
    entries: "<stimulus file sha256>.f16",
    format: `"EPHYSF16", uint32 LE version ${VERSION}, h, w, c, then h·w·c float16 LE (NHWC)`,
  };
  await writeAtomic(path, Buffer.from(`${JSON.stringify(key, null, 2)}\n`));
}
