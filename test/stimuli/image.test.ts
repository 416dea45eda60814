import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { encodePng, ImageError, loadImageRGB, toUint8 } from "../../stimuli/image.ts";

// Fixtures from test/reference/stimuli_reference.py (PIL 9.4 Image.LANCZOS reductions, numpy alpha compositing).
const fixtures = resolve("test/fixtures/stimuli");
const ref = JSON.parse(readFileSync(join(fixtures, "reference.json"), "utf8")) as {
  pattern: {
    file: string;
    width: number;
    height: number;
    patch: { x0: number; y0: number; x1: number; y1: number; rgb: number[] };
  };
  resize: Array<{ name: string; width: number; height: number }>;
  alphaRamp: { file: string; flat: string; width: number; height: number };
};
const pattern = join(fixtures, ref.pattern.file);
const demoImage = resolve("stimuli/demo/bodies/body-horse.png");
const tmp = mkdtempSync(join(tmpdir(), "ephys-image-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function expectBadImage(p: Promise<unknown>): Promise<ImageError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ImageError) return err;
    throw err;
  }
  throw new Error("expected an ImageError");
}

describe("loadImageRGB", () => {
  it.each(ref.resize)("reduces like PIL's Lanczos ($name)", async ({ name, width, height }) => {
    const want = readFileSync(join(fixtures, `${name}.u8`));
    const got = await loadImageRGB(pattern, { width, height }, { fit: "fill" });
    expect([got.width, got.height, got.data.length]).toEqual([width, height, width * height * 3]);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got.data[i] - want[i]);
      sum += d;
      max = Math.max(max, d);
    }
    // Both are antialiased Lanczos-3 reductions; measured: mean 0.23, max 2 (8-bit rounding and edge handling).
    expect(sum / want.length).toBeLessThan(0.5);
    expect(max).toBeLessThanOrEqual(3);
  });

  it("keeps a uniform colour patch exactly (away from its edges) and returns HWC RGB", async () => {
    const { patch } = ref.pattern;
    const got = await loadImageRGB(pattern, { width: 40, height: 25 }, { fit: "fill" });
    const sx = 40 / ref.pattern.width;
    const sy = 25 / ref.pattern.height;
    // Lanczos-3 support at this reduction is 3 output pixels; stay 4 inside the patch's scaled edges.
    const xs = [Math.ceil(patch.x0 * sx) + 4, Math.floor(patch.x1 * sx) - 5];
    const ys = [Math.ceil(patch.y0 * sy) + 4, Math.floor(patch.y1 * sy) - 5];
    expect(xs[1]).toBeGreaterThan(xs[0]);
    for (let y = ys[0]; y <= ys[1]; y++) {
      for (let x = xs[0]; x <= xs[1]; x++) {
        const i = (y * 40 + x) * 3;
        for (let c = 0; c < 3; c++) expect(Math.abs(got.data[i + c] - patch.rgb[c])).toBeLessThanOrEqual(1);
      }
    }
  });

  it("flattens alpha onto gray 128 like straight-alpha compositing", async () => {
    const want = readFileSync(join(fixtures, ref.alphaRamp.flat));
    const got = await loadImageRGB(join(fixtures, ref.alphaRamp.file));
    expect([got.width, got.height]).toEqual([ref.alphaRamp.width, ref.alphaRamp.height]);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got.data[i] - want[i])).toBeLessThanOrEqual(1);
  });

  it("resizes a 224 px demo stimulus to 112 px with the gray background intact", async () => {
    const native = await loadImageRGB(demoImage);
    expect([native.width, native.height]).toEqual([224, 224]);
    const img = await loadImageRGB(demoImage, 112);
    expect([img.width, img.height, img.data.length]).toEqual([112, 112, 112 * 112 * 3]);
    for (const [x, y] of [
      [0, 0],
      [111, 0],
      [0, 111],
      [111, 111],
    ]) {
      expect(Array.from(img.data.slice((y * 112 + x) * 3, (y * 112 + x) * 3 + 3))).toEqual([128, 128, 128]);
    }
    let nonGray = 0;
    for (let i = 0; i < img.data.length; i++) if (img.data[i] !== 128) nonGray++;
    expect(nonGray).toBeGreaterThan(img.data.length * 0.1);
  });

  it("fits a non-square image inside the square, padded with background gray", async () => {
    const img = await loadImageRGB(pattern, 50); // 97×61 → 50×31 content, 9–10 rows of padding above and below
    expect([img.width, img.height]).toEqual([50, 50]);
    const row = (y: number) => Array.from(img.data.slice(y * 150, y * 150 + 150));
    expect(new Set(row(0))).toEqual(new Set([128]));
    expect(new Set(row(49))).toEqual(new Set([128]));
    expect(new Set(row(25)).size).toBeGreaterThan(5);
    const cover = await loadImageRGB(pattern, 50, { fit: "cover" });
    expect(new Set(Array.from(cover.data.slice(0, 150))).size).toBeGreaterThan(5);
  });

  it("expands grayscale to RGB", async () => {
    const file = join(tmp, "gray.png");
    await sharp(Buffer.from([0, 50, 100, 150, 200, 250]), { raw: { width: 3, height: 2, channels: 1 } })
      .png()
      .toFile(file);
    const img = await loadImageRGB(file);
    expect(Array.from(img.data)).toEqual([0, 50, 100, 150, 200, 250].flatMap((v) => [v, v, v]));
  });

  it("throws EPHYS_BAD_IMAGE naming the file for a corrupt PNG, a text file named .png and a missing file", async () => {
    const truncated = join(tmp, "truncated.png");
    const bytes = readFileSync(demoImage);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const scrambled = join(tmp, "scrambled.png");
    const s = Buffer.from(bytes);
    for (let i = 200; i < s.length - 100; i += 7) s[i] ^= 0x5a; // IDAT data (and its CRC) garbled
    writeFileSync(scrambled, s);
    const text = join(tmp, "notes.png");
    copyFileSync(resolve("package.json"), text);
    for (const file of [truncated, scrambled, text, join(tmp, "absent.png")]) {
      const err = await expectBadImage(loadImageRGB(file, 224));
      expect(err.code).toBe("EPHYS_BAD_IMAGE");
      expect(err.file).toBe(file);
      expect(err.message).toContain(file);
      expect(err.message).toMatch(/sharp said: \S/);
    }
  });

  it("rejects a nonsense size with a RangeError naming it", async () => {
    await expect(loadImageRGB(pattern, 0)).rejects.toThrow(/size\.width/);
    await expect(loadImageRGB(pattern, { width: 10, height: 2.5 })).rejects.toThrow(/size\.height.*2\.5/);
  });
});

describe("encodePng", () => {
  it("round-trips RGB and gray bytes losslessly", async () => {
    const w = 13;
    const h = 7;
    const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
    const png = await encodePng(rgb, w, h);
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    const file = join(tmp, "roundtrip.png");
    writeFileSync(file, png);
    const back = await loadImageRGB(file);
    expect([back.width, back.height]).toEqual([w, h]);
    expect(Array.from(toUint8(back))).toEqual(Array.from(rgb));
    const gray = new Uint8Array(w * h).map((_, i) => (i * 11) % 256);
    writeFileSync(file, await encodePng(gray, w, h, 1));
    const g = await loadImageRGB(file);
    expect(Array.from(g.data.filter((_, i) => i % 3 === 1))).toEqual(Array.from(gray));
  });

  it("rejects a pixel buffer of the wrong length", async () => {
    await expect(encodePng(new Uint8Array(10), 2, 2)).rejects.toThrow(
      /pixels\.length: expected 2×2×3 = 12; found 10/,
    );
  });
});
