// Public API of the statistics: correlation, rank tests (Mann–Whitney, Kruskal–Wallis, Wilcoxon signed-rank),
// reliability and response rates (pure functions).

export { type Correlation, fisherZInterval, pearson, spearman } from "./correlation.ts";
export { normalQuantile, tTwoSidedP } from "./distributions.ts";
export { BAD_STATS_INPUT, StatsInputError } from "./errors.ts";
export { type KruskalWallisResult, kruskalWallis } from "./kruskalWallis.ts";
export {
  type Alternative,
  EXACT_WORK_LIMIT,
  exactUpperTail,
  type MannWhitneyMethod,
  type MannWhitneyOptions,
  type MannWhitneyResult,
  mannWhitneyU,
} from "./mannWhitney.ts";
export { median } from "./median.ts";
export { type ProjectedReliability, projectedReliability } from "./projected-reliability.ts";
export { averageRanks, tieTerm } from "./ranks.ts";
export { isResponsive, meanRates, netRate, netRateOf, type RateTable } from "./rates.ts";
export {
  noiseCorrectedR2,
  type SplitHalfOptions,
  type SplitHalfResult,
  spearmanBrown,
  splitHalfReliability,
} from "./reliability.ts";
export {
  SIGNED_RANK_EXACT_MAX,
  type SignedRankMethod,
  type SignedRankOptions,
  type SignedRankResult,
  wilcoxonSignedRank,
} from "./signedRank.ts";
