// Synthetic images with known segments for the concept tests: a striped red figure (disk, square or triangle, at a
// random place and size) on a green noisy ground, with the figure mask; plus sparse random channel readouts.
import { mulberry32, type Random } from "../../analysis/random.ts";

/** N(0, 1) draws by Box–Muller from a uniform generator. */
export const gaussianSampler = (rnd: Random) => () =>
  Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());

export interface ShapeImages {
  n: number;
  size: number;
  /** n × size × size × 3 RGB bytes. */
  rgb: Uint8Array;
  /** n × size × size, 1 inside the figure. */
  mask: Uint8Array;
}

export function shapeImages(n: number, size: number, seed: number): ShapeImages {
  const rnd = mulberry32(seed);
  const rgb = new Uint8Array(n * size * size * 3);
  const mask = new Uint8Array(n * size * size);
  for (let im = 0; im < n; im++) {
    const shape = im % 3;
    const cx = size * (0.3 + 0.4 * rnd());
    const cy = size * (0.3 + 0.4 * rnd());
    const r = size * (0.16 + 0.1 * rnd());
    const phase = 6 * rnd();
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const dx = x - cx;
        const dy = y - cy;
        const inside =
          shape === 0
            ? dx * dx + dy * dy < r * r
            : shape === 1
              ? Math.abs(dx) < 0.9 * r && Math.abs(dy) < 0.9 * r
              : dy > -r && Math.abs(dx) < 0.6 * (dy + r);
        const p = (im * size + y) * size + x;
        mask[p] = inside ? 1 : 0;
        const noise = 40 * rnd();
        if (inside) {
          const stripe = Math.sin(((x + y) * 0.8 * 128) / size + phase) > 0 ? 60 : 0;
          rgb[p * 3] = 180 + stripe / 2 + noise / 2;
          rgb[p * 3 + 1] = 40 + stripe;
          rgb[p * 3 + 2] = 50 + noise;
        } else {
          rgb[p * 3] = 60 + noise;
          rgb[p * 3 + 1] = 110 + noise + 20 * Math.sin(y * 0.1);
          rgb[p * 3 + 2] = 70 + noise;
        }
      }
  }
  return { n, size, rgb, mask };
}

/**
 * Per feature-map cell (image-major, row-major, as the concept nodes): true when ≥ 75 % of its pixels are figure,
 * false when ≤ 25 %, null (not scored) in between.
 */
export function cellLabels(images: ShapeImages, h: number, w: number): Array<boolean | null> {
  const { n, size, mask } = images;
  const out: Array<boolean | null> = [];
  for (let im = 0; im < n; im++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++) {
        const y0 = Math.floor((r * size) / h);
        const y1 = Math.floor(((r + 1) * size) / h);
        const x0 = Math.floor((c * size) / w);
        const x1 = Math.floor(((c + 1) * size) / w);
        let s = 0;
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += mask[(im * size + y) * size + x];
        const share = s / ((y1 - y0) * (x1 - x0));
        out.push(share >= 0.75 ? true : share <= 0.25 ? false : null);
      }
  return out;
}

/** `channels` readouts over `c` features, each using a random ~`density` share of them with N(0, 1) weights. */
export function sparseReadouts(channels: number, c: number, seed: number, density = 0.05) {
  const rnd = mulberry32(seed);
  const gauss = gaussianSampler(rnd);
  return Array.from({ length: channels }, (_, j) => ({
    channelId: `ch${j}`,
    weights: Array.from({ length: c }, () => (rnd() < density ? gauss() : 0)),
  }));
}

/** Share of scored cells whose concept's majority label (figure or ground) is their own. */
export function conceptPurity(
  labels: ArrayLike<number>,
  truth: Array<boolean | null>,
  concepts: number,
): number {
  const fg = new Array<number>(concepts).fill(0);
  const bg = new Array<number>(concepts).fill(0);
  truth.forEach((t, i) => {
    if (t === true) fg[labels[i]]++;
    else if (t === false) bg[labels[i]]++;
  });
  const total = fg.reduce((a, b) => a + b, 0) + bg.reduce((a, b) => a + b, 0);
  return fg.reduce((s, v, c) => s + Math.max(v, bg[c]), 0) / total;
}
