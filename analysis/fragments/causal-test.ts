// The causal test of a shared-feature explanation (phase 3): does the highlighted fragment drive the channel more
// than fragments of the same area placed at random on the object? Per channel, then across channels.
import {
  type MannWhitneyResult,
  mannWhitneyU,
  type SignedRankResult,
  StatsInputError,
  wilcoxonSignedRank,
} from "../stats/index.ts";

/** Per-trial net rates (spikes/s above baseline) of one channel, by fragment kind; a kind not shown (or whose
 *  trials were all lost) is empty or absent, and what needs it comes out null. */
export interface FragmentResponses {
  highlighted: readonly number[];
  /** Pooled over every random fragment's presentations. */
  random: readonly number[];
  complement?: readonly number[];
  /** The parent image (shown again, or from its own phase). */
  full?: readonly number[];
}

export interface RankComparison {
  /** Mann–Whitney U of the highlighted trials (the first sample). */
  U: number;
  /** Two-sided p. */
  p: number;
  method: MannWhitneyResult["method"];
}

/** "not tested": no highlighted or no random trials. */
export type CausalVerdict =
  | "highlighted drives more"
  | "no difference"
  | "highlighted drives less"
  | "not tested";

export interface CausalTest {
  /** Highlighted vs random; null without trials of either. */
  vsRandom: RankComparison | null;
  /** Highlighted vs complement; null without trials of either. */
  vsComplement: RankComparison | null;
  /** (mean highlighted − mean random) / |mean full|; null when a mean is missing or mean full is 0. */
  effect: number | null;
  /** (mean highlighted − mean complement) / |mean full|; null likewise. */
  effectComplement: number | null;
  /** By vsRandom: p < alpha, with the direction of U against its null mean n·m/2. */
  verdict: CausalVerdict;
  /** Mean net rate of each kind (null for a kind with no trials). */
  means: Record<"highlighted" | "random" | "complement" | "full", number | null>;
}

// Per stimulus over repeats, trials as the unit: each kind's presentations are independent samples, compared by
// Mann–Whitney U two-sided (SciPy's mannwhitneyu defaults: exact for small untied samples, else normal with
// continuity and tie corrections), as the issue states.
export function causalTest(responses: FragmentResponses, alpha = 0.05): CausalTest {
  const fn = "causalTest";
  if (!(typeof alpha === "number" && alpha > 0 && alpha < 1)) {
    throw new StatsInputError(fn, "alpha", String(alpha), "a level in (0, 1)");
  }
  if (responses === null || typeof responses !== "object") {
    throw new StatsInputError(
      fn,
      "responses",
      String(responses),
      "{ highlighted, random, complement?, full? }",
    );
  }
  const highlighted = checked(fn, "highlighted", responses.highlighted);
  const random = checked(fn, "random", responses.random);
  const complement = checked(fn, "complement", responses.complement ?? []);
  const full = checked(fn, "full", responses.full ?? []);

  const vsRandom = compare(highlighted, random);
  const vsComplement = compare(highlighted, complement);
  const means = {
    highlighted: mean(highlighted),
    random: mean(random),
    complement: mean(complement),
    full: mean(full),
  };
  const scale = means.full === null || means.full === 0 ? null : Math.abs(means.full);
  const effectOver = (other: number | null) =>
    scale === null || means.highlighted === null || other === null
      ? null
      : (means.highlighted - other) / scale;

  let verdict: CausalVerdict = "not tested";
  if (vsRandom) {
    const nullU = (highlighted.length * random.length) / 2;
    verdict =
      vsRandom.p < alpha && vsRandom.U !== nullU
        ? vsRandom.U > nullU
          ? "highlighted drives more"
          : "highlighted drives less"
        : "no difference";
  }
  return {
    vsRandom,
    vsComplement,
    effect: effectOver(means.random),
    effectComplement: effectOver(means.complement),
    verdict,
    means,
  };
}

/**
 * Across channels: the Wilcoxon signed-rank test (two-sided) of the channels' effects against 0. null effects
 * (channels without a usable full-image rate) are left out; at least one non-zero effect must remain.
 */
export function acrossChannels(effects: readonly (number | null)[]): SignedRankResult {
  const fn = "acrossChannels";
  if (!Array.isArray(effects))
    throw new StatsInputError(fn, "effects", String(effects), "an array of numbers or nulls");
  const usable: number[] = [];
  effects.forEach((e, i) => {
    if (e === null) return;
    if (typeof e !== "number" || !Number.isFinite(e)) {
      throw new StatsInputError(fn, `effects[${i}]`, String(e), "a finite effect or null");
    }
    usable.push(e);
  });
  if (!usable.some((e) => e !== 0)) {
    throw new StatsInputError(
      fn,
      "effects",
      `${usable.length} non-null, none non-zero`,
      "at least one non-zero effect",
    );
  }
  return wilcoxonSignedRank(usable);
}

function compare(highlighted: readonly number[], other: readonly number[]): RankComparison | null {
  if (highlighted.length === 0 || other.length === 0) return null;
  const r = mannWhitneyU(highlighted, other, { alternative: "two-sided" });
  return { U: r.u, p: r.p, method: r.method };
}

function checked(fn: string, name: string, values: unknown): readonly number[] {
  if (!Array.isArray(values)) throw new StatsInputError(fn, name, String(values), "an array of net rates");
  values.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new StatsInputError(fn, `${name}[${i}]`, String(v), "a finite net rate");
    }
  });
  return values as readonly number[];
}

function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}
