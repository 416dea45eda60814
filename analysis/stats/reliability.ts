// Split-half reliability of trial-averaged responses (Spearman–Brown corrected) and the noise-corrected R².
import { mulberry32, shuffleInPlace } from "../random.ts";
import { pearson } from "./correlation.ts";
import { StatsInputError } from "./errors.ts";

export interface SplitHalfOptions {
  /** Number of random half splits of the repetitions; integer ≥ 1, default 100. */
  splits?: number;
  /** Seed of the mulberry32 stream that draws the splits; integer, default 0. */
  seed?: number;
}

export interface SplitHalfResult {
  /** Mean over usable splits of the Spearman–Brown corrected r, r_sb = 2r/(1+r) clipped to [−1, 1]. */
  reliability: number;
  /** Mean over usable splits of the uncorrected half-vs-half Pearson r. */
  meanR: number;
  /** Splits with ≥ 3 stimuli that have a value in both halves (the others are skipped). */
  splitsUsed: number;
}

/**
 * Spearman–Brown prophecy for doubling the test length, r_sb = 2r / (1 + r), clipped to [−1, 1]: for
 * r < −1/3 the formula leaves the range of a correlation (r = −1 diverges), and −1 is reported instead.
 */
export function spearmanBrown(r: number): number {
  if (!(Number.isFinite(r) && r >= -1 && r <= 1)) {
    throw new StatsInputError("spearmanBrown", "r", String(r), "a correlation in [-1, 1]");
  }
  return r <= -1 / 3 ? -1 : Math.min(1, (2 * r) / (1 + r));
}

// repeats: stimuli × repetitions, NaN (or a short row) = missing repeat. Per split, the repetition indices are
// shuffled (Fisher–Yates on one mulberry32(seed) stream), the first ⌊R/2⌋ form half A and the rest half B,
// each stimulus is averaged over its present repeats in each half (stimuli absent from a half are left out),
// and the half means are Pearson-correlated (constant half means give r = 0, as pearson).
// Degenerate input: < 3 stimuli, < 2 repetitions, ±Infinity, bad options, or no usable split → throws EPHYS_BAD_STATS_INPUT.
export function splitHalfReliability(
  repeats: ArrayLike<ArrayLike<number>>,
  options: SplitHalfOptions = {},
): SplitHalfResult {
  const fn = "splitHalfReliability";
  const splits = options.splits ?? 100;
  const seed = options.seed ?? 0;
  if (!(Number.isInteger(splits) && splits >= 1)) {
    throw new StatsInputError(fn, "options.splits", String(splits), "an integer ≥ 1");
  }
  if (!Number.isInteger(seed)) throw new StatsInputError(fn, "options.seed", String(seed), "an integer");
  if (repeats === null || typeof repeats !== "object" || !(repeats.length >= 3)) {
    throw new StatsInputError(
      fn,
      "repeats",
      `${repeats?.length ?? String(repeats)} stimuli`,
      "≥ 3 stimuli (rows)",
    );
  }
  let reps = 0;
  for (let s = 0; s < repeats.length; s++) {
    const row = repeats[s];
    if (row === null || typeof row !== "object" || typeof row.length !== "number") {
      throw new StatsInputError(
        fn,
        `repeats[${s}]`,
        String(row),
        "an array of spike counts or rates (NaN = missing)",
      );
    }
    for (let j = 0; j < row.length; j++) {
      const v = row[j];
      if (typeof v !== "number" || v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY) {
        throw new StatsInputError(
          fn,
          `repeats[${s}][${j}]`,
          String(v),
          "a finite number or NaN for a missing repeat",
        );
      }
    }
    reps = Math.max(reps, row.length);
  }
  if (reps < 2)
    throw new StatsInputError(fn, "repeats", `${reps} repetition(s)`, "≥ 2 repetitions (columns)");

  const random = mulberry32(seed);
  const half = Math.floor(reps / 2);
  const inA = new Uint8Array(reps);
  let sumR = 0;
  let sumSb = 0;
  let used = 0;
  for (let split = 0; split < splits; split++) {
    const order = shuffleInPlace(
      Array.from({ length: reps }, (_, j) => j),
      random,
    );
    inA.fill(0);
    for (let j = 0; j < half; j++) inA[order[j]] = 1;
    const a: number[] = [];
    const b: number[] = [];
    for (let s = 0; s < repeats.length; s++) {
      const row = repeats[s];
      let sa = 0;
      let na = 0;
      let sb = 0;
      let nb = 0;
      for (let j = 0; j < row.length; j++) {
        const v = row[j];
        if (Number.isNaN(v)) continue;
        if (inA[j]) {
          sa += v;
          na++;
        } else {
          sb += v;
          nb++;
        }
      }
      if (na > 0 && nb > 0) {
        a.push(sa / na);
        b.push(sb / nb);
      }
    }
    if (a.length < 3) continue;
    const { r } = pearson(a, b);
    sumR += r;
    sumSb += spearmanBrown(r);
    used++;
  }
  if (used === 0) {
    throw new StatsInputError(
      fn,
      "repeats",
      "no split with ≥ 3 stimuli present in both halves",
      "enough non-missing repeats",
    );
  }
  return { reliability: sumSb / used, meanR: sumR / used, splitsUsed: used };
}

// Noise-corrected R² = R² / reliability, with reliability the Spearman–Brown split-half r of the trial-averaged
// responses (the ceiling on a model's r² with them); not clipped (can exceed 1 by noise). reliability ≤ 0 throws.
export function noiseCorrectedR2(r2: number, reliability: number): number {
  if (!Number.isFinite(r2)) throw new StatsInputError("noiseCorrectedR2", "r2", String(r2), "a finite R²");
  if (!(Number.isFinite(reliability) && reliability > 0 && reliability <= 1)) {
    throw new StatsInputError(
      "noiseCorrectedR2",
      "reliability",
      String(reliability),
      "a reliability in (0, 1]",
    );
  }
  return r2 / reliability;
}
