// The report's reader: the session's rows from the store, the artifacts' image files, the concept maps' summary
// and the cached backbone features of the phase-2 objects, as the plain ReportSource that analysis/report
// assembles (pure). Nothing is computed here beyond what reading needs.
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { cacheDir, entryPath, readEntry } from "../../../analysis/features/store.ts";
import { shownObjects } from "../../../analysis/report/assemble-responses.ts";
import type { ReportImage } from "../../../analysis/report/index.ts";
import type { NamedImage, ReportSource } from "../../../analysis/report/source.ts";
import type { RateTable } from "../../../analysis/stats/index.ts";
import { type Config, resolvePaths } from "../../../config/index.ts";
import { parseProtocol } from "../../../protocols/load.ts";
import type { Protocol } from "../../../protocols/schema.ts";
import { CONCEPT_FILES } from "../../compute/concepts-job.ts";
import { eyeCalibrations } from "../../store/eye-calibrations.ts";
import type { SessionStore, StimulusRecord } from "../../store/store.ts";
import { trialRates } from "../rates.ts";

export class ReportStepError extends Error {
  constructor(
    readonly code: "EPHYS_NO_SESSION" | "EPHYS_REPORT_ABORTED",
    message: string,
  ) {
    super(message);
    this.name = "ReportStepError";
  }
}

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
  rates?: (phase: 1 | 2) => RateTable;
}

/** The day's end as the machine tells the report: done, failed (with the reason) or aborted (by whom). */
export interface DayOutcome {
  outcome: "done" | "failed" | "aborted";
  reason: string | null;
  /** When the day ended (default: when the report step began), for a store that has no end time yet. */
  endedAt?: string;
}

const IMAGE_MIME: Record<string, ReportImage["mime"]> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
};

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

/** Image files of an artifact path: the file itself, or the images of a folder (sorted by name). */
async function imagesAt(path: string | null): Promise<NamedImage[]> {
  if (!path) return [];
  let files: string[];
  try {
    files = (await stat(path)).isDirectory()
      ? (await readdir(path)).sort().map((f) => join(path, f))
      : [path];
  } catch {
    return [];
  }
  const out = [];
  for (const f of files) {
    const mime = IMAGE_MIME[extname(f).toLowerCase()];
    if (!mime) continue;
    out.push({
      name: f.slice(f.lastIndexOf("/") + 1),
      image: { mime, bytes: new Uint8Array(await readFile(f)) },
    });
  }
  return out;
}

/** The cached backbone features of `objects` stacked in their order; null when any is missing or shapes differ. */
async function cachedFeatures(
  config: Config,
  protocol: Protocol,
  weightsSha256: string | null,
  objects: StimulusRecord[],
): Promise<ReportSource["objectFeatures"]> {
  if (!weightsSha256 || objects.length === 0) return null;
  try {
    const m = protocol.model;
    const dir = cacheDir(join(resolvePaths(config).dataDir, "features"), {
      weightsSha256,
      arch: m.backbone,
      variant: config.weights.path ? config.weights.variant : m.variant,
      layer: m.layer,
      imageSize: m.imageSize,
    });
    const entries = [];
    for (const s of objects) {
      const e = await readEntry(entryPath(dir, s.sha256));
      if (!e) return null;
      entries.push(e);
    }
    const { h, w, c } = entries[0];
    if (entries.some((e) => e.h !== h || e.w !== w || e.c !== c)) return null;
    const data = new Float32Array(entries.length * h * w * c);
    for (const [i, e] of entries.entries()) data.set(e.data, i * h * w * c);
    return { ids: objects.map((s) => s.id), maps: { n: entries.length, h, w, c, data } };
  } catch {
    return null;
  }
}

/** The newest "concepts" artifact's clusters.json and montage (see controller/compute/concepts-job.ts). */
async function conceptFiles(store: SessionStore, sessionId: string): Promise<ReportSource["concepts"]> {
  const a = store.artifacts(sessionId, "concepts").at(-1);
  if (!a?.path) return null;
  let summary: { text: string } | { error: string };
  try {
    summary = { text: await readFile(join(a.path, CONCEPT_FILES.clusters), "utf8") };
  } catch (e) {
    summary = { error: (e as Error).message };
  }
  const montage = (await imagesAt(join(a.path, CONCEPT_FILES.montage)))[0]?.image ?? null;
  return { meta: a.meta, path: a.path, summary, montage };
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
  const rates2 = protocol ? (opts.rates?.(2) ?? trialRates(store, sessionId, protocol, 2)) : new Map();
  const artifacts = [];
  // The concepts folder is read by conceptFiles; other kinds without images (report, nwb) read as none.
  for (const a of store.artifacts(sessionId))
    if (a.kind !== "concepts") artifacts.push({ ...a, images: await imagesAt(a.path) });
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
          model: protocol.model,
          weights: { path: opts.config.weights.path ?? null, variant: opts.config.weights.variant },
        }
      : null,
    notes,
    events: allEvents(store, sessionId),
    channels,
    trials: store.trials(sessionId),
    trialsWithData: channels.length ? store.trialsWithData(sessionId, channels.length) : new Set(),
    calibrations: eyeCalibrations(store.db, sessionId).map((c) => ({
      id: c.id,
      createdAt: c.createdAt,
      points: c.points.length,
      rmsDeg: c.rmsDeg,
      maxDeg: c.maxDeg,
    })),
    stimuli,
    models: store.models(sessionId),
    splits: store.splits(sessionId),
    selections: store.selections(sessionId),
    checks: store.checkResults(sessionId),
    decisions: store.decisions(sessionId),
    rates2,
    objectFeatures: protocol
      ? await cachedFeatures(opts.config, protocol, row.weights_sha256, shownObjects(stimuli, rates2))
      : null,
    artifacts,
    concepts: await conceptFiles(store, sessionId),
  };
}
