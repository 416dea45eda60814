// A channel's quality checks after phase 2, each with every number behind it, and the keep/exclude decision:
// test/retest stability, body selectivity (Mann-Whitney U on per-stimulus means: the channel's own selected objects
// against its own control bodies, two-sided, as Lappe et al. 2024), responsiveness, split-half reliability, and
// Kruskal-Wallis across the phase-1 bodies (does the channel tell the bodies apart at all).
import { isResponsive, kruskalWallis, mannWhitneyU, pearson, splitHalfReliability } from "../stats/index.ts";

/** Per-trial net rates (spikes/s) per stimulus id. */
export type TrialRates = Map<string, number[]>;

export interface ChannelCheckInput {
  channelId: string;
  phase1: TrialRates;
  phase2: TrialRates;
  /** Phase-1 stimuli shown again in phase 2. */
  retestIds: string[];
  /** Objects chosen for this channel (top, bottom, similar). */
  objectIds: string[];
  /** Control bodies chosen for this channel (top, bottom, similar). */
  controlIds: string[];
  seed: number;
}

export interface Thresholds {
  stabilityMinR: number;
  selectivityAlpha: number;
  responsivenessMinRate: number;
  splitHalfMinR: number;
  kruskalWallisMaxP: number;
}

export interface CheckResult {
  channelId: string;
  name: "stability" | "selectivity" | "responsiveness" | "split-half" | "kruskal-wallis";
  value: number | null;
  threshold: number;
  passed: boolean;
  details: Record<string, unknown>;
}

export interface ChannelDecision {
  channelId: string;
  included: boolean;
  reason: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Running test/retest r over the retest stimuli seen in both phases so far (null while fewer than 3). */
export function retestStability(
  phase1: TrialRates,
  phase2: TrialRates,
  retestIds: string[],
): { r: number | null; n: number } {
  const both = retestIds.filter(
    (id) => (phase1.get(id)?.length ?? 0) > 0 && (phase2.get(id)?.length ?? 0) > 0,
  );
  if (both.length < 3) return { r: null, n: both.length };
  const r = pearson(
    both.map((id) => mean(phase1.get(id)!)),
    both.map((id) => mean(phase2.get(id)!)),
  ).r;
  return { r, n: both.length };
}

export function checkChannel(
  input: ChannelCheckInput,
  t: Thresholds,
): { results: CheckResult[]; decision: ChannelDecision } {
  const { channelId } = input;
  const results: CheckResult[] = [];
  const trials1 = [...input.phase1.values()].reduce((n, xs) => n + xs.length, 0);
  if (trials1 === 0) return withoutData(channelId, t);

  const stab = retestStability(input.phase1, input.phase2, input.retestIds);
  results.push({
    channelId,
    name: "stability",
    value: stab.r,
    threshold: t.stabilityMinR,
    passed: stab.r !== null && stab.r > t.stabilityMinR,
    details: { retestStimuli: stab.n, measure: "Pearson r of mean net rates, phase 1 vs phase 2" },
  });

  // One value per stimulus (its mean net rate over the phase-2 repeats), not per trial: the repeats of one image
  // are not independent samples of the category.
  const perStimulus = (ids: string[]) =>
    ids
      .map((id) => input.phase2.get(id) ?? [])
      .filter((xs) => xs.length > 0)
      .map(mean);
  const objects = perStimulus(input.objectIds);
  const controls = perStimulus(input.controlIds);
  if (objects.length > 0 && controls.length > 0) {
    const mw = mannWhitneyU(controls, objects, { alternative: "two-sided" });
    const bodiesHigher = mean(controls) > mean(objects);
    results.push({
      channelId,
      name: "selectivity",
      value: mw.p,
      threshold: t.selectivityAlpha,
      // A significant difference with the bodies on top: a body-selective site.
      passed: mw.p < t.selectivityAlpha && bodiesHigher,
      details: {
        u: mw.u,
        method: mw.method,
        test: "Mann-Whitney U, two-sided, on per-stimulus mean net rates (phase 2)",
        direction: bodiesHigher ? "control bodies higher" : "selected objects higher",
        nControlStimuli: controls.length,
        nObjectStimuli: objects.length,
        meanControl: mean(controls),
        meanObject: mean(objects),
      },
    });
  } else
    results.push({
      channelId,
      name: "selectivity",
      value: null,
      threshold: t.selectivityAlpha,
      passed: false,
      details: { reason: "no phase-2 trials of objects or control bodies" },
    });

  const ids1 = [...input.phase1.keys()].filter((id) => input.phase1.get(id)!.length > 0);
  const means1 = ids1.map((id) => mean(input.phase1.get(id)!));
  const best = Math.max(...means1);
  results.push({
    channelId,
    name: "responsiveness",
    value: best,
    threshold: t.responsivenessMinRate,
    passed: isResponsive(means1, t.responsivenessMinRate),
    details: { measure: "largest mean net rate over phase-1 stimuli (spikes/s)" },
  });

  const reps = Math.max(...ids1.map((id) => input.phase1.get(id)!.length));
  let split: number | null = null;
  if (ids1.length >= 3 && reps >= 2) {
    const matrix = ids1.map((id) => {
      const row = input.phase1.get(id)!;
      return Array.from({ length: reps }, (_, i) => (i < row.length ? row[i] : Number.NaN));
    });
    try {
      split = splitHalfReliability(matrix, { splits: 100, seed: input.seed }).reliability;
    } catch {
      split = null;
    }
  }
  results.push({
    channelId,
    name: "split-half",
    value: split,
    threshold: t.splitHalfMinR,
    passed: split !== null && split > t.splitHalfMinR,
    details: {
      measure: "Spearman-Brown corrected split-half r over phase-1 repeats",
      splits: 100,
      repetitions: reps,
    },
  });

  const groups = ids1.map((id) => input.phase1.get(id)!).filter((g) => g.length > 0);
  const kw = groups.length >= 2 ? kruskalWallis(...groups) : null;
  results.push({
    channelId,
    name: "kruskal-wallis",
    value: kw?.p ?? null,
    threshold: t.kruskalWallisMaxP,
    passed: kw !== null && kw.p < t.kruskalWallisMaxP,
    details: kw
      ? {
          test: "Kruskal-Wallis H across the phase-1 bodies (per-trial net rates)",
          h: kw.h,
          df: kw.df,
          stimuli: groups.length,
        }
      : { reason: "fewer than 2 stimuli" },
  });

  const failed = results.filter((r) => !r.passed);
  const fmt = (v: number | null) =>
    v === null ? "n/a" : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(3);
  const reason =
    failed.length === 0
      ? "passed every check"
      : `failed ${failed.map((r) => `${r.name} (${fmt(r.value)} vs ${r.threshold})`).join(", ")}`;
  return { results, decision: { channelId, included: failed.length === 0, reason } };
}

/** A channel that never received spike data in phase 1: every check unanswered, excluded with that reason. */
function withoutData(
  channelId: string,
  t: Thresholds,
): { results: CheckResult[]; decision: ChannelDecision } {
  const reason = "no spike data in phase 1";
  const thresholds: Record<CheckResult["name"], number> = {
    stability: t.stabilityMinR,
    selectivity: t.selectivityAlpha,
    responsiveness: t.responsivenessMinRate,
    "split-half": t.splitHalfMinR,
    "kruskal-wallis": t.kruskalWallisMaxP,
  };
  const results = Object.entries(thresholds).map(([name, threshold]) => ({
    channelId,
    name: name as CheckResult["name"],
    value: null,
    threshold,
    passed: false,
    details: { reason },
  }));
  return { results, decision: { channelId, included: false, reason: `excluded: ${reason}` } };
}
