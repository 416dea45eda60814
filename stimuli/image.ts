// Decoding and resizing stimulus images with sharp (libvips): RGB float arrays for the models, PNGs for artifacts.
//
// Kernel: Lanczos3, which is also sharp's default, chosen and set explicitly. On reduction libvips widens the
// Lanczos kernel by the scale factor, so it is a true antialiasing low-pass (no aliasing of fur and texture
// at 280 → 224 px), and among sharp's kernels it keeps the most detail with the least blur (a=3 lobes)
// for mild ringing; it also matches PIL's Image.LANCZOS, which the tests use as the independent reference.
// On enlargement sharp maps lanczos3 to its bicubic interpolator, and (measured with sharp 0.35 / libvips 8.18)
// samples half an output pixel off PIL's and PyTorch's pixel-centre convention: fine for display, but do not
// enlarge images whose pixels must align with model coordinates (the demo and model sizes only reduce). fastShrinkOnLoad is off so JPEGs are not
// pre-shrunk by DCT scaling (which gives slight moiré), keeping results identical whatever the file format.
import sharp, { type OutputInfo } from "sharp";
import { EphysError } from "../analysis/errors.ts";

/** The uniform background gray of every stimulus (sRGB 128,128,128). */
export const BACKGROUND_GRAY = 128;
export const BACKGROUND_RGB: readonly [number, number, number] = [
  BACKGROUND_GRAY,
  BACKGROUND_GRAY,
  BACKGROUND_GRAY,
];

/** An RGB image, rows top to bottom, HWC order, values 0..255. */
export interface RGBImage {
  width: number;
  height: number;
  data: Float32Array;
}

export class ImageError extends EphysError<"EPHYS_BAD_IMAGE"> {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super("EPHYS_BAD_IMAGE", `${file}: expected a readable image (PNG, JPEG, WebP, ...); ${reason}`);
  }
}

export type ImageSize = number | { width: number; height: number };

export interface LoadImageOptions {
  /**
   * How a non-matching aspect ratio is handled: "contain" (default) fits the whole image and pads with the
   * background gray, "fill" stretches, "cover" crops the centre.
   */
  fit?: "contain" | "fill" | "cover";
}

function checkSize(file: string, size: ImageSize): { width: number; height: number } {
  const s = typeof size === "number" ? { width: size, height: size } : size;
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1 || v > 16384) {
      throw new RangeError(`${file}: size.${k}: expected a whole number of pixels in 1..16384; found ${v}`);
    }
  }
  return s;
}

/**
 * Decode an image file to RGB floats (0..255, HWC), alpha flattened onto BACKGROUND_GRAY; resized with an
 * antialiasing Lanczos3 kernel to `size` (a side length, or width and height) when given, else native size.
 * Throws ImageError (EPHYS_BAD_IMAGE) naming the file and sharp's message for missing, corrupt or non-image files.
 */
export async function loadImageRGB(
  path: string,
  size?: ImageSize,
  options: LoadImageOptions = {},
): Promise<RGBImage> {
  const { data: bytes, width, height } = await loadImageRGBBytes(path, size, options);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = bytes[i];
  return { width, height, data };
}

/** loadImageRGB's pixels as bytes (HWC, 0..255), without the float copy: what a display shows, for files. */
export async function loadImageRGBBytes(
  path: string,
  size?: ImageSize,
  options: LoadImageOptions = {},
): Promise<{ width: number; height: number; data: Uint8Array }> {
  const target = size === undefined ? undefined : checkSize(path, size);
  const background = { r: BACKGROUND_GRAY, g: BACKGROUND_GRAY, b: BACKGROUND_GRAY, alpha: 1 };
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let pipeline = sharp(path, { failOn: "error", limitInputPixels: 100_000_000 })
      .rotate() // honour EXIF orientation, as a viewer would show it
      .flatten({ background })
      .toColourspace("srgb");
    if (target) {
      pipeline = pipeline.resize(target.width, target.height, {
        kernel: "lanczos3",
        fit: options.fit ?? "contain",
        position: "centre",
        background,
        fastShrinkOnLoad: false,
      });
    }
    raw = await pipeline.removeAlpha().raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new ImageError(path, `sharp said: ${(err as Error).message}`);
  }
  const { width, height, channels } = raw.info;
  if (channels !== 3) throw new ImageError(path, `decoded to ${channels} channels, expected 3 (RGB)`);
  return { width, height, data: new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength) };
}

/** Clamp and round a float RGB image (0..255) to bytes. */
export function toUint8(image: RGBImage): Uint8Array {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(image.data[i])));
  return out;
}

/**
 * Encode interleaved bytes as PNG (for artifacts and reports). `channels` is 3 (RGB, default), 1 (gray) or 4 (RGBA).
 */
export async function encodePng(
  pixels: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: 1 | 3 | 4 = 3,
): Promise<Buffer> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: expected positive whole width and height; found ${width}×${height}`);
  }
  if (pixels.length !== width * height * channels) {
    throw new RangeError(
      `encodePng: pixels.length: expected ${width}×${height}×${channels} = ${width * height * channels}; found ${pixels.length}`,
    );
  }
  const buf = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return sharp(buf, { raw: { width, height, channels } }).png({ compressionLevel: 9 }).toBuffer();
}

/**
 * A small JPEG of an image file for a report (flattened on the background gray, fitted into `side`×`side` without
 * cropping); throws ImageError (EPHYS_BAD_IMAGE) for a missing or unreadable file.
 */
export async function thumbnailJpeg(path: string, side = 80, quality = 80): Promise<Buffer> {
  const background = { r: BACKGROUND_GRAY, g: BACKGROUND_GRAY, b: BACKGROUND_GRAY, alpha: 1 };
  try {
    return await sharp(path, { failOn: "error", limitInputPixels: 100_000_000 })
      .rotate()
      .flatten({ background })
      .resize(side, side, { kernel: "lanczos3", fit: "inside", withoutEnlargement: true })
      .jpeg({ quality })
      .toBuffer();
  } catch (err) {
    throw new ImageError(path, `sharp said: ${(err as Error).message}`);
  }
}
