// Random controls for a salient mask: masks of the same pixel count and, as far as the silhouette allows, the same
// shape, placed at random on the object's own pixels (its silhouette) and off the salient region itself.
import { mulberry32, type Random, randomInt, shuffleInPlace } from "../random.ts";
import { FragmentError, requirePixels } from "./errors.ts";

export interface RandomMaskOptions {
  /** Masks to make (≥ 1). */
  count: number;
  /** Integer seed of mulberry32; the same seed gives the same masks, mask i whatever `count`. */
  seed: number;
}

/**
 * `count` binary masks, each with exactly as many pixels as `shape`, every one on `silhouette`. Each is made by
 * (1) translating all of shape's pixels rigidly so that their centroid (rounded) lands on an anchor drawn
 * uniformly from the allowed pixels, keeping those that land on allowed pixels (the anchor itself if none does);
 * (2) growing 4-connected, breadth-first, from the kept pixels through allowed pixels, each ring in a seeded
 * random order, until the count is reached. "Allowed" is the silhouette minus the salient mask: if the growth is
 * walled in, it restarts from a random unused allowed pixel; only when the silhouette off the salient mask is used
 * up (so a mask overlaps the salient one only when the silhouette leaves no other room) does it grow onto the
 * salient mask's own pixels.
 * Throws EPHYS_SILHOUETTE_TOO_SMALL when the silhouette has fewer pixels than shape; EPHYS_BAD_FRAGMENT on bad
 * sizes or options or an empty shape.
 */
export function randomMasks(
  shape: ArrayLike<number>,
  silhouette: ArrayLike<number>,
  height: number,
  width: number,
  options: RandomMaskOptions,
): Uint8Array[] {
  const fn = "randomMasks";
  requirePixels(fn, "shape", shape, height, width);
  requirePixels(fn, "silhouette", silhouette, height, width);
  const { count, seed } = options;
  if (!(Number.isInteger(count) && count >= 1)) {
    throw new FragmentError("EPHYS_BAD_FRAGMENT", `${fn}: count: expected an integer ≥ 1; found ${count}`);
  }
  if (!Number.isInteger(seed)) {
    throw new FragmentError("EPHYS_BAD_FRAGMENT", `${fn}: seed: expected an integer; found ${seed}`);
  }
  const n = height * width;
  const shapePixels: number[] = [];
  let onSilhouette = 0;
  let offShape = 0;
  for (let p = 0; p < n; p++) {
    if (shape[p]) shapePixels.push(p);
    if (silhouette[p]) {
      onSilhouette++;
      if (!shape[p]) offShape++;
    }
  }
  const k = shapePixels.length;
  if (k === 0)
    throw new FragmentError("EPHYS_BAD_FRAGMENT", `${fn}: shape: expected at least one pixel; found none`);
  if (onSilhouette < k) {
    throw new FragmentError(
      "EPHYS_SILHOUETTE_TOO_SMALL",
      `${fn}: silhouette: expected at least the shape's ${k} pixels to place it on; found ${onSilhouette}`,
    );
  }

  // The shape as offsets from its rounded centroid.
  let cy = 0;
  let cx = 0;
  for (const p of shapePixels) {
    cy += Math.floor(p / width);
    cx += p % width;
  }
  cy = Math.round(cy / k);
  cx = Math.round(cx / k);
  const offsets = shapePixels.map((p) => [Math.floor(p / width) - cy, (p % width) - cx] as const);

  const random = mulberry32(seed);
  const masks: Uint8Array[] = [];
  for (let m = 0; m < count; m++) {
    // Allowed first: the silhouette off the salient mask (all of the silhouette when it lies under the mask).
    const allowed = new Uint8Array(n);
    for (let p = 0; p < n; p++) allowed[p] = silhouette[p] && (offShape === 0 || !shape[p]) ? 1 : 0;
    masks.push(placeOne(offsets, allowed, silhouette, height, width, k, random));
  }
  return masks;
}

function placeOne(
  offsets: readonly (readonly [number, number])[],
  allowed: Uint8Array,
  silhouette: ArrayLike<number>,
  height: number,
  width: number,
  k: number,
  random: Random,
): Uint8Array {
  const n = height * width;
  const mask = new Uint8Array(n);
  const anchor = pickUnused(allowed, mask, random);
  const ay = Math.floor(anchor / width);
  const ax = anchor % width;
  let ring: number[] = [];
  for (const [dy, dx] of offsets) {
    const y = ay + dy;
    const x = ax + dx;
    if (y < 0 || y >= height || x < 0 || x >= width) continue;
    const p = y * width + x;
    if (allowed[p]) {
      mask[p] = 1;
      ring.push(p);
    }
  }
  if (ring.length === 0) {
    mask[anchor] = 1;
    ring.push(anchor);
  }
  let area = ring.length;

  const queued = Uint8Array.from(mask);
  let next: number[] = [];
  const visit = (q: number) => {
    if (allowed[q] && !queued[q]) {
      queued[q] = 1;
      next.push(q);
    }
  };
  while (area < k) {
    next = [];
    for (const p of ring) {
      const y = Math.floor(p / width);
      const x = p % width;
      if (y > 0) visit(p - width);
      if (y < height - 1) visit(p + width);
      if (x > 0) visit(p - 1);
      if (x < width - 1) visit(p + 1);
    }
    if (next.length === 0) {
      // Walled in: start a new patch on an unused allowed pixel, or, when none is left, let the growth onto the
      // rest of the silhouette (the salient mask's pixels) from everything placed so far.
      if (hasUnused(allowed, mask)) {
        const seedPixel = pickUnused(allowed, mask, random);
        mask[seedPixel] = 1;
        queued[seedPixel] = 1;
        area++;
        ring = [seedPixel];
      } else {
        for (let p = 0; p < n; p++) allowed[p] = silhouette[p] ? 1 : 0;
        ring = [];
        for (let p = 0; p < n; p++) if (mask[p]) ring.push(p);
      }
      continue;
    }
    shuffleInPlace(next, random);
    ring = [];
    for (const q of next) {
      if (area === k) break;
      mask[q] = 1;
      area++;
      ring.push(q);
    }
  }
  return mask;
}

function hasUnused(allowed: Uint8Array, mask: Uint8Array): boolean {
  for (let p = 0; p < allowed.length; p++) if (allowed[p] && !mask[p]) return true;
  return false;
}

/** A uniformly drawn pixel that is allowed and not yet in the mask (the caller knows one exists). */
function pickUnused(allowed: Uint8Array, mask: Uint8Array, random: Random): number {
  const free: number[] = [];
  for (let p = 0; p < allowed.length; p++) if (allowed[p] && !mask[p]) free.push(p);
  return free[randomInt(random, free.length)];
}
