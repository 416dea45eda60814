// Public API of the report: stored results in, one self-contained HTML page out (pure; the controller writes files).

export { assembleReport } from "./assemble.ts";
export { asRecord } from "./assemble-artifacts.ts";
export { readoutsOf, shownObjects } from "./assemble-responses.ts";
export { buildReport } from "./build-report.ts";
export { CSV_COLUMNS, channelsCsv } from "./channel-table.ts";
export { renderChart } from "./charts.ts";
export { criticalR } from "./critical-r.ts";
export { ReportError, type ReportErrorCode } from "./errors.ts";
export { PsthAccumulator, rasterTrials } from "./psth.ts";
export { endedHow, objectCorrelation, whyMissing } from "./sections.ts";
export type { NamedImage, ReportSource } from "./source.ts";
export type {
  PairRate,
  ReportCausal,
  ReportCausalParent,
  ReportCausalTile,
  ReportChannel,
  ReportCheck,
  ReportConcepts,
  ReportData,
  ReportDecision,
  ReportImage,
  ReportModel,
  ReportObjectPredictions,
  ReportOptionalAnalysis,
  ReportPhaseTrials,
  ReportResponses,
  ReportSession,
  ReportSharedFeature,
  ReportWeights,
} from "./types.ts";
export { weightsThatRan } from "./weights.ts";
