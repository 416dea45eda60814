// Silhouettes of stimuli shown on a uniform background: the shape's mask, and the shape as a black silhouette
// on the background gray (the paper's silhouette augmentation for model training).
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256File } from "./hash.ts";
import { BACKGROUND_GRAY, encodePng, loadImageRGB, type RGBImage, toUint8 } from "./image.ts";

export interface SilhouetteOptions {
  /** Euclidean RGB distance (0..441) from the background colour above which a pixel is shape. Default 16. */
  threshold?: number;
  /** Width in pixels of the border ring whose median colour is the background. Default 2. */
  borderWidth?: number;
  /** Shape components (8-connected) smaller than this many pixels are specks and removed. Default 0.05 % of the image, at least 4. */
  minSpeckArea?: number;
  /** Radius of the square closing that bridges hairline gaps before holes are filled. Default 1 (3×3). */
  closeRadius?: number;
}

function median(values: Float32Array): number {
  const sorted = values.slice().sort();
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** Per-channel median colour of the pixels within `borderWidth` of the image's edge. */
export function estimateBackground(image: RGBImage, borderWidth = 2): [number, number, number] {
  const { width: w, height: h, data } = image;
  const b = Math.max(1, Math.min(borderWidth, Math.floor(Math.min(w, h) / 2)));
  const ring: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (y < b || y >= h - b || x < b || x >= w - b) ring.push((y * w + x) * 3);
    }
  }
  const out: [number, number, number] = [0, 0, 0];
  const values = new Float32Array(ring.length);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < ring.length; i++) values[i] = data[ring[i] + c];
    out[c] = median(values);
  }
  return out;
}

/** Square (Chebyshev) max or min filter of radius r, separable; pixels outside the image count as `outside`. */
function morph(
  mask: Uint8Array,
  w: number,
  h: number,
  r: number,
  dilate: boolean,
  outside: 0 | 1,
): Uint8Array {
  const pick = dilate ? 1 : 0;
  const tmp = new Uint8Array(mask.length);
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 1 - pick;
      for (let dx = -r; dx <= r && v !== pick; dx++) {
        const xx = x + dx;
        const m = xx < 0 || xx >= w ? outside : mask[y * w + xx];
        if (m === pick) v = pick;
      }
      tmp[y * w + x] = v;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 1 - pick;
      for (let dy = -r; dy <= r && v !== pick; dy++) {
        const yy = y + dy;
        const m = yy < 0 || yy >= h ? outside : tmp[yy * w + x];
        if (m === pick) v = pick;
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

/** Remove 8-connected components of 1s smaller than minArea (in place). */
function removeSpecks(mask: Uint8Array, w: number, h: number, minArea: number): void {
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  const component: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] !== 1 || seen[start]) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    component.length = 0;
    while (top > 0) {
      const p = stack[--top];
      component.push(p);
      const px = p % w;
      const py = (p - px) / w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = py + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = px + dx;
          if (xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (mask[q] === 1 && !seen[q]) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    if (component.length < minArea) for (const p of component) mask[p] = 0;
  }
}

/** Set to 1 every 0-pixel not 4-connected to the image border (in place). */
function fillHoles(mask: Uint8Array, w: number, h: number): void {
  const outside = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  let top = 0;
  const seed = (p: number): void => {
    if (mask[p] === 0 && !outside[p]) {
      outside[p] = 1;
      stack[top++] = p;
    }
  };
  for (let x = 0; x < w; x++) {
    seed(x);
    seed((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    seed(y * w);
    seed(y * w + w - 1);
  }
  while (top > 0) {
    const p = stack[--top];
    const x = p % w;
    if (x > 0) seed(p - 1);
    if (x < w - 1) seed(p + 1);
    if (p >= w) seed(p - w);
    if (p < (h - 1) * w) seed(p + w);
  }
  for (let p = 0; p < mask.length; p++) if (mask[p] === 0 && !outside[p]) mask[p] = 1;
}

/**
 * Mask (1 = shape, 0 = background; H×W, row-major) of the shape in an image on a uniform background:
 * background = median border colour; shape = pixels farther than `threshold` from it; then specks removed,
 * a small closing, and holes filled.
 */
export function silhouetteMask(image: RGBImage, options: SilhouetteOptions = {}): Uint8Array {
  const { width: w, height: h, data } = image;
  if (data.length !== w * h * 3) {
    throw new RangeError(
      `silhouetteMask: data.length: expected ${w}×${h}×3 = ${w * h * 3}; found ${data.length}`,
    );
  }
  const threshold = options.threshold ?? 16;
  const minArea = options.minSpeckArea ?? Math.max(4, Math.round(0.0005 * w * h));
  const r = options.closeRadius ?? 1;
  const [br, bg, bb] = estimateBackground(image, options.borderWidth ?? 2);
  let mask: Uint8Array = new Uint8Array(w * h);
  const t2 = threshold * threshold;
  for (let p = 0, i = 0; p < mask.length; p++, i += 3) {
    const dr = data[i] - br;
    const dg = data[i + 1] - bg;
    const db = data[i + 2] - bb;
    mask[p] = dr * dr + dg * dg + db * db > t2 ? 1 : 0;
  }
  removeSpecks(mask, w, h, minArea);
  if (r > 0) mask = morph(morph(mask, w, h, r, true, 0), w, h, r, false, 1);
  fillHoles(mask, w, h);
  return mask;
}

export interface SilhouetteImageOptions {
  /** Gray level of the background. Default BACKGROUND_GRAY (128). */
  background?: number;
  /** Gray level of the shape. Default 0 (black). */
  shape?: number;
}

/** The shape as a uniform (black) silhouette on the uniform background gray, same size as `image`. */
export function silhouetteImage(
  image: RGBImage,
  mask: Uint8Array,
  options: SilhouetteImageOptions = {},
): RGBImage {
  const { width: w, height: h } = image;
  if (mask.length !== w * h) {
    throw new RangeError(`silhouetteImage: mask.length: expected ${w}×${h} = ${w * h}; found ${mask.length}`);
  }
  const bgValue = options.background ?? BACKGROUND_GRAY;
  const shapeValue = options.shape ?? 0;
  const data = new Float32Array(w * h * 3);
  for (let p = 0; p < mask.length; p++) {
    const v = mask[p] ? shapeValue : bgValue;
    data[3 * p] = v;
    data[3 * p + 1] = v;
    data[3 * p + 2] = v;
  }
  return { width: w, height: h, data };
}

/** PNG bytes of the silhouette of an image file, at the file's own size (mask, then the shape in black on gray). */
export async function silhouettePng(path: string, options: SilhouetteOptions = {}): Promise<Buffer> {
  const image = await loadImageRGB(path);
  const sil = silhouetteImage(image, silhouetteMask(image, options));
  return encodePng(toUint8(sil), sil.width, sil.height);
}

/** An image file named by its content: the silhouette of the stimulus `sourceId`. */
export interface SilhouetteFile {
  id: string;
  sourceId: string;
  path: string;
  sha256: string;
}

/**
 * Silhouettes of `images` as PNG files in `dir`, one per source file content: `<source sha256>.png`, written once
 * (atomically: a temp file renamed into place) and reused afterwards. Ids are `<source id>#silhouette`; each
 * file's own sha256 comes with it (the feature cache's key).
 */
export async function writeSilhouettes(
  images: ReadonlyArray<{ id: string; path: string; sha256: string }>,
  dir: string,
  options: SilhouetteOptions = {},
): Promise<SilhouetteFile[]> {
  await mkdir(dir, { recursive: true });
  const out: SilhouetteFile[] = [];
  for (const img of images) {
    const path = join(dir, `${img.sha256}.png`);
    const present = await stat(path).then(
      (s) => s.isFile() && s.size > 0,
      () => false,
    );
    if (!present) {
      const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
      try {
        await writeFile(temp, await silhouettePng(img.path, options));
        await rename(temp, path);
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
    }
    out.push({ id: `${img.id}#silhouette`, sourceId: img.id, path, sha256: await sha256File(path) });
  }
  return out;
}
