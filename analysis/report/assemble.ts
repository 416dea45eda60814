// The report's data from the session's stored rows (ReportSource → ReportData), pure: the controller reads the
// store, the feature cache and the artifact files (controller/day/steps/report.ts); everything computed from them
// — presentations per phase, provenance, models, predictions, responses, rig QA — is computed here.
import { asRecord, concepts, finiteOrNull, optionalAnalyses } from "./assemble-artifacts.ts";
import { retest, selection } from "./assemble-phase2.ts";
import { objectPredictions, responses } from "./assemble-responses.ts";
import { channelSummary } from "./channel-table.ts";
import { rigQa } from "./rig-qa.ts";
import type { ReportSource } from "./source.ts";
import type { ReportData, ReportPhaseTrials, ReportSession } from "./types.ts";
import { weightsThatRan } from "./weights.ts";

/** Trial id → the reason stored with its "voided" event. */
export function voidReasons(events: ReportSource["events"]): Map<number, string> {
  const out = new Map<number, string>();
  for (const e of events)
    if (e.type === "trial" && e.subtype === "voided") {
      let c: Record<string, unknown> = {};
      try {
        c = asRecord(JSON.parse(e.content));
      } catch {
        continue;
      }
      if (typeof c.trialId === "number") out.set(c.trialId, typeof c.reason === "string" ? c.reason : "");
    }
  return out;
}

function phaseTrials(src: ReportSource, voidReason: Map<number, string>): ReportPhaseTrials[] {
  return ([1, 2, 3] as const).flatMap((phase) => {
    const mine = src.trials.filter((t) => t.phase === phase);
    if (mine.length === 0) return [];
    const reasons: Record<string, number> = {};
    for (const t of mine)
      if (t.status === "voided") {
        const r = voidReason.get(t.trialId) ?? "";
        reasons[r] = (reasons[r] ?? 0) + 1;
      }
    return [
      {
        phase,
        shown: mine.filter((t) => t.status === "shown").length,
        voided: mine.filter((t) => t.status === "voided").length,
        pending: mine.filter((t) => t.status === "pending").length,
        withData: mine.filter((t) => t.status === "shown" && src.trialsWithData.has(t.trialId)).length,
        voidReasons: reasons,
      },
    ];
  });
}

/** Provenance: the stored session, with the final state, reasons and end time from the outcome when told one. */
function session(src: ReportSource, notes: string[]): ReportSession {
  const row = src.session;
  const o = src.outcome;
  let software: Record<string, string> = {};
  try {
    software = Object.fromEntries(
      Object.entries(asRecord(JSON.parse(row.softwareJson))).map(([k, v]) => [k, String(v)]),
    );
  } catch {
    notes.push("The stored software versions are not valid JSON.");
  }
  const p = src.protocol;
  return {
    id: row.id,
    protocolName: row.protocolName,
    protocolPath: row.protocolPath,
    protocolSha256: row.protocolSha256,
    protocolText: row.protocolText,
    codeVersion: row.codeVersion,
    software,
    seed: row.seed,
    rig: row.rig,
    subject: row.subject,
    probe: row.probe,
    depthUm: row.depthUm,
    region: row.region,
    backbone: p
      ? {
          arch: p.model.backbone,
          variant: p.weights.path ? p.weights.variant : p.model.variant,
          layer: p.model.layer,
          imageSize: p.model.imageSize,
          weightsPath: p.weights.path,
        }
      : null,
    weightsSha256: row.weightsSha256,
    // #25 provenance: the weights that ran (file, sha256, kind), from the backbone/loaded records.
    weights: weightsThatRan(
      src.events
        .filter((e) => e.type === "backbone" && e.subtype === "loaded")
        .map((e) => JSON.parse(e.content)),
    ),
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    endedAt: row.endedAt ?? o?.endedAt ?? null,
    state: o ? o.outcome : row.state,
    // An aborted day's reason (e.g. "electrode drift") is the stored one; the outcome's reason names who aborted.
    failedReason: o?.outcome === "failed" ? o.reason : row.failedReason,
    abortedBy: o ? (o.outcome === "aborted" ? o.reason : null) : row.abortedBy,
    stateHistory: history(src),
  };
}

const REPORT_STATE = { done: "reporting", failed: "failing", aborted: "aborting" } as const;

/**
 * The states the event log holds; told the outcome, the report step's own state is added when the log does not
 * have it yet (the machine starts the step before the state is stored), at the time the day ended.
 */
function history(src: ReportSource): Array<{ state: string; at: string }> {
  const out = src.events
    .filter((e) => e.type === "state")
    .map((e) => ({ state: e.subtype, at: new Date(e.t).toISOString() }));
  const o = src.outcome;
  const at = src.session.endedAt ?? o?.endedAt;
  const ended = [REPORT_STATE[o?.outcome ?? "done"], "done", "failed", "aborted"];
  if (o && at && !out.some((h) => ended.includes(h.state))) out.push({ state: REPORT_STATE[o.outcome], at });
  return out;
}

/** Channels the visualize step skipped, with its reason (the last one logged per channel). */
function skippedChannels(events: ReportSource["events"]): Array<{ channelId: string; reason: string }> {
  const out = new Map<string, { channelId: string; reason: string }>();
  for (const e of events) {
    if (e.type !== "visualize" || e.subtype !== "channel-skipped") continue;
    let c: Record<string, unknown>;
    try {
      c = asRecord(JSON.parse(e.content));
    } catch {
      continue;
    }
    if (typeof c.channelId === "string")
      out.set(c.channelId, { channelId: c.channelId, reason: String(c.reason ?? "") });
  }
  return [...out.values()];
}

/** Everything the report shows, from the stored rows; no HTML here (build-report.ts). */
export function assembleReport(src: ReportSource): ReportData {
  const notes = [...src.notes];
  const voidReason = voidReasons(src.events);
  const nTest = Object.values(src.splits).filter((s) => s === "test").length;
  const shared = src.sharedFeatures.panels;
  const visualizedOf = (channelId: string) => {
    const fromSaliency = shared.filter((f) => f.channelId === channelId && f.objectId).map((f) => f.objectId);
    if (fromSaliency.length) return [...new Set(fromSaliency)];
    return [
      ...new Set(
        src.selections
          .filter((c) => c.channelId === channelId && c.rule === "top-object")
          .map((c) => c.stimulusId),
      ),
    ];
  };
  const data: ReportData = {
    generatedAt: src.now,
    session: session(src, notes),
    trials: phaseTrials(src, voidReason),
    rig: rigQa(
      src.trials.map((t) => ({ ...t, voidReason: voidReason.get(t.trialId) })),
      src.calibrations,
      src.protocol?.stimulusMs ?? null,
      src.protocol?.simulationTimeScale ?? null,
    ),
    channels: src.channels,
    checks: src.checks.map((c) => ({ ...c, details: asRecord(c.details) })),
    decisions: src.decisions,
    models: src.models.map((m) => {
      const p = asRecord(m.params);
      const metrics = asRecord(m.metrics);
      return {
        channelId: m.channelId,
        kind: m.kind,
        testR: finiteOrNull(p.testR ?? metrics.testR),
        nTest,
        bestEpoch: finiteOrNull(p.bestEpoch ?? metrics.bestEpoch),
        // Stored by the visualize step (controller/day/object-predictions.ts): the r that gates the maps.
        objectR: finiteOrNull(metrics.objectR),
        objectN: typeof metrics.objectN === "number" ? metrics.objectN : undefined,
        valLossCurve: Array.isArray(p.valLossCurve)
          ? (p.valLossCurve as unknown[]).map((v) => (typeof v === "number" ? v : Number.NaN))
          : [],
      };
    }),
    objectPredictions: src.protocol ? objectPredictions(src) : [],
    responses: responses(
      src.channels.map((c) => c.id),
      src.stimuli,
      src.rates2,
      visualizedOf,
    ),
    sharedFeatures: shared,
    sharedFeatureScale: src.sharedFeatures.scale,
    sharedFeatureSkips: skippedChannels(src.events),
    minObjectR: src.protocol?.minObjectR ?? null,
    truth: src.truth,
    causal: src.causal ?? null,
    optionalAnalyses: optionalAnalyses(src),
    concepts: concepts(src.concepts),
    selection: selection(src),
    retest: retest(src),
    psth: src.psth,
    notes,
  };
  data.channelSummary = channelSummary(data);
  return data;
}
