// The report's reader: the session's rows from the store (and, through report-media.ts, the artifacts' images,
// thumbnails, cached object features, the concept summary and the spike times), as the plain ReportSource that
// analysis/report assembles (pure). Nothing is computed here beyond what reading needs.

import { join } from "node:path";
import { EphysError } from "../../../analysis/errors.ts";
import type { ReportSource } from "../../../analysis/report/index.ts";
import { asRecord, readoutsOf, shownObjects } from "../../../analysis/report/index.ts";
import type { RateTable } from "../../../analysis/stats/index.ts";
import { type Config, resolvePaths } from "../../../config/index.ts";
import type { Protocol } from "../../../protocols/index.ts";
import { parseProtocol } from "../../../protocols/index.ts";
import type { SessionStore } from "../../store/store.ts";
import { trialRates } from "../rates.ts";
import { causalReport } from "./report-causal.ts";
import { conceptFiles, imagesAt, objectFeatures, psthOf, thumbnails } from "./report-media.ts";
import { sharedFeaturePanels } from "./report-shared-features.ts";
import { simulationTruth } from "./report-truth.ts";

export class ReportStepError extends EphysError<"EPHYS_NO_SESSION" | "EPHYS_REPORT_ABORTED"> {}

export interface AssembleOptions {
  config: Config;
  /** The session's protocol; parsed from the stored protocol text when absent. */
  protocol?: Protocol;
  /** ISO time stamp for the report (default now). */
  now?: string;
  /**
   * How the day ended, from the day machine (the report step starts before the machine's new state is stored, so
   * the stored row may still show the state before); without it the stored state and reasons are shown.
   */
  outcome?: DayOutcome;
  /** The phase's rate table when the caller has it (the day's step context); read from the store otherwise. */
  rates?: (phase: 1 | 2 | 3) => RateTable;
}

/** The day's end as the machine tells the report: done, failed (with the reason) or aborted (by whom). */
export interface DayOutcome {
  outcome: "done" | "failed" | "aborted";
  reason: string | null;
  /** When the day ended (default: when the report step began), for a store that has no end time yet. */
  endedAt?: string;
}

/** The report's folder for a session: <dataDir>/sessions/<sessionId> (report.html, channels.csv, truth.csv, NWB). */
export function reportDir(config: Config, sessionId: string): string {
  return join(resolvePaths(config).dataDir, "sessions", sessionId);
}

/** Every event of the session, paged. */
function allEvents(store: SessionStore, sessionId: string) {
  const out = [];
  for (let after = 0; ; ) {
    const page = store.events(sessionId, after, 5000);
    out.push(...page);
    if (page.length < 5000) return out;
    after = page[page.length - 1].id;
  }
}

/** The session's stored rows, artifact files and cached features: what analysis/report assembles the report from. */
export async function readReportSource(
  store: SessionStore,
  sessionId: string,
  opts: AssembleOptions,
): Promise<ReportSource> {
  const row = store.getSession(sessionId);
  if (!row)
    throw new ReportStepError(
      "EPHYS_NO_SESSION",
      `session: no session ${JSON.stringify(sessionId)} in the store`,
    );
  const notes: string[] = [];
  let protocol = opts.protocol;
  if (!protocol) {
    try {
      protocol = parseProtocol(row.protocol_text, row.protocol_path);
    } catch (e) {
      notes.push(
        `The stored protocol text could not be parsed (${(e as Error).message}); response rates are not shown.`,
      );
    }
  }
  const channels = store.channels(sessionId);
  const stimuli = store.stimuli(sessionId);
  const rates = (phase: 1 | 2 | 3): RateTable =>
    protocol ? (opts.rates?.(phase) ?? trialRates(store, sessionId, protocol, phase)) : new Map();
  const rates2 = rates(2);
  const trials = store.trials(sessionId);
  const selections = store.selections(sessionId);
  const models = store.models(sessionId);
  const readouts = readoutsOf(models);
  const artifacts = [];
  // The concepts folder is read by conceptFiles and the saliency folders by sharedFeaturePanels; other kinds
  // without images (report, nwb) read as none.
  for (const a of store.artifacts(sessionId))
    if (!["concepts", "saliency", "fragments", "causal-test"].includes(a.kind))
      artifacts.push({ ...a, images: await imagesAt(a.path) });
  return {
    now: opts.now ?? new Date().toISOString(),
    session: {
      id: row.id,
      createdAt: row.created_at,
      protocolName: row.protocol_name,
      protocolPath: row.protocol_path,
      protocolText: row.protocol_text,
      protocolSha256: row.protocol_sha256,
      codeVersion: row.code_version,
      softwareJson: row.software,
      seed: row.seed,
      rig: row.rig,
      subject: row.subject,
      probe: row.probe,
      depthUm: row.depth_um,
      region: row.region,
      weightsSha256: row.weights_sha256,
      state: row.state,
      failedReason: row.failed_reason,
      abortedBy: row.aborted_by,
      startedAt: row.started_at,
      endedAt: row.ended_at,
    },
    outcome: opts.outcome,
    protocol: protocol
      ? {
          stimulusMs: protocol.presentation.stimulusMs,
          simulationTimeScale: protocol.simulation?.timeScale ?? null,
          windows: protocol.windows,
          psthBinMs: protocol.windows.psthBinMs,
          model: protocol.model,
          weights: { path: opts.config.weights.path ?? null, variant: opts.config.weights.variant },
          minObjectR: protocol.visualization.minObjectR,
        }
      : null,
    notes,
    events: allEvents(store, sessionId),
    channels,
    trials,
    trialsWithData: channels.length ? store.trialsWithData(sessionId, channels.length) : new Set(),
    calibrations: store.eyeCalibrations(sessionId).map((c) => ({
      id: c.id,
      createdAt: c.createdAt,
      points: c.points.length,
      rmsDeg: c.rmsDeg,
      maxDeg: c.maxDeg,
    })),
    stimuli,
    models,
    splits: store.splits(sessionId),
    selections,
    checks: store.checkResults(sessionId),
    decisions: store.decisions(sessionId),
    rates1: rates(1),
    rates2,
    thumbnails: await thumbnails(stimuli, new Set(selections.map((c) => c.stimulusId))),
    psth: protocol ? psthOf(store, sessionId, protocol, trials, stimuli, channels) : null,
    objectFeatures: protocol
      ? await objectFeatures(opts.config, protocol, row.weights_sha256, shownObjects(stimuli, rates2))
      : null,
    artifacts,
    sharedFeatures: await sharedFeaturePanels({
      store,
      sessionId,
      config: opts.config,
      protocol,
      weightsSha256: row.weights_sha256,
      stimuli,
      readouts,
      metrics: new Map(models.map((m) => [m.channelId, asRecord(m.metrics)])),
      rates1: rates(1),
      rates2,
    }),
    truth: await simulationTruth(
      reportDir(opts.config, sessionId),
      row.protocol_sha256,
      readouts,
      selections,
      stimuli,
      notes,
    ),
    concepts: await conceptFiles(store, sessionId),
    causal: await causalReport(store, sessionId, stimuli),
  };
}
