// Heat-map overlays of saliency maps on their images (pure: RGB bytes; the controller encodes and writes PNGs).
import type { SaliencyImage } from "./shared-features.ts";

export interface RGBBytes {
  width: number;
  height: number;
  /** HWC, 3 bytes per pixel. */
  data: Uint8Array;
}

/** Per-pixel intensity Σ_c |I_c| of an H×W×3 map. */
export function mapIntensity(map: ArrayLike<number>, height: number, width: number): Float64Array {
  const out = new Float64Array(height * width);
  for (let p = 0; p < out.length; p++) {
    out[p] = Math.abs(map[3 * p]) + Math.abs(map[3 * p + 1]) + Math.abs(map[3 * p + 2]);
  }
  return out;
}

/** Red → yellow colormap of t ∈ [0, 1]. */
function redYellow(t: number): [number, number, number] {
  return [255, Math.round(255 * t), 0];
}

/**
 * The image with its map's intensity (divided by `scale`, clipped to [0, 1]) laid over it in red→yellow with
 * alpha 0.85·t; the image itself is dimmed to 60 % so the heat reads.
 */
export function overlayHeatMap(image: SaliencyImage, map: ArrayLike<number>, scale: number): RGBBytes {
  const { width, height } = image;
  const intensity = mapIntensity(map, height, width);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < intensity.length; p++) {
    const t = scale > 0 ? Math.min(1, intensity[p] / scale) : 0;
    const alpha = 0.85 * t;
    const color = redYellow(t);
    for (let c = 0; c < 3; c++) {
      const base = 0.6 * image.data[3 * p + c];
      data[3 * p + c] = Math.max(0, Math.min(255, Math.round((1 - alpha) * base + alpha * color[c])));
    }
  }
  return { width, height, data };
}

/** Images side by side on a gray background with `gap` pixels between them (top-aligned). */
export function sideBySide(images: RGBBytes[], gap = 8, gray = 128): RGBBytes {
  const width = images.reduce((s, im) => s + im.width, 0) + gap * Math.max(0, images.length - 1);
  const height = Math.max(...images.map((im) => im.height));
  const data = new Uint8Array(width * height * 3).fill(gray);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < im.height; y++) {
      data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    }
    x0 += im.width + gap;
  }
  return { width, height, data };
}

/** Overlays of a pair on one shared scale (the larger map maximum), side by side: x_out left, x_in right. */
export function pairOverlay(
  xOut: SaliencyImage,
  outMap: ArrayLike<number>,
  xIn: SaliencyImage,
  inMap: ArrayLike<number>,
): { pair: RGBBytes; out: RGBBytes; in: RGBBytes; scale: number } {
  let scale = 0;
  for (const v of mapIntensity(outMap, xOut.height, xOut.width)) scale = Math.max(scale, v);
  for (const v of mapIntensity(inMap, xIn.height, xIn.width)) scale = Math.max(scale, v);
  const out = overlayHeatMap(xOut, outMap, scale);
  const inn = overlayHeatMap(xIn, inMap, scale);
  return { pair: sideBySide([out, inn]), out, in: inn, scale };
}
