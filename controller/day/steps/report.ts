// The report step: assemble ReportData from the session store (and the feature cache, for object predictions),
// build the self-contained HTML page (analysis/report, pure) and write it to <dataDir>/sessions/<id>/report.html,
// recorded as an artifact of kind "report"; at the end of the day also <session>.nwb beside it (controller/export).
// The `ephysloop report` command writes the report for any stored session (`ephysloop export` the NWB file).
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { EphysError } from "../../../analysis/errors.ts";
import { cacheDir, entryPath, readEntry } from "../../../analysis/features/store.ts";
import type { GaussianReadoutJSON } from "../../../analysis/readout/index.ts";
import { predict, readoutFromJSON } from "../../../analysis/readout/index.ts";
import {
  buildReport,
  type ReportConcepts,
  type ReportData,
  type ReportImage,
  type ReportObjectPredictions,
  type ReportOptionalAnalysis,
  type ReportPhaseTrials,
  type ReportResponses,
  type ReportSharedFeature,
  weightsThatRan,
} from "../../../analysis/report/index.ts";
import { rigQa } from "../../../analysis/report/rig-qa.ts";
import { type Config, resolvePaths } from "../../../config/index.ts";
import { parseProtocol } from "../../../protocols/load.ts";
import type { Protocol } from "../../../protocols/schema.ts";
import { CONCEPT_FILES } from "../../compute/concepts-job.ts";
import { writeSessionNwb } from "../../export/session-nwb.ts";
import type { SessionStore, StimulusRecord } from "../../store/store.ts";
import type { StepContext } from "../context.ts";
import { meanRates, type RateTable, trialRates } from "../rates.ts";

export class ReportStepError extends EphysError<"EPHYS_NO_SESSION" | "EPHYS_REPORT_ABORTED"> {}

export interface ReportFiles {
  /** Absolute path of report.html. */
  path: string;
  /** The id of the "report" artifact. */
  artifactId: number;
  bytes: number;
  sha256: string;
  figures: number;
}

export interface AssembleOptions {
  config: Config;
  /** The session's protocol; parsed from the stored protocol text when absent. */
  protocol?: Protocol;
  /** ISO time stamp for the report (default now). */
  now?: string;
  /**
   * How the day ended, from the day machine (the report is its last step, so the stored state still says
   * reporting/failing/aborting); without it the stored state and reasons are shown.
   */
  outcome?: DayOutcome;
}

/** The day's end as the machine tells the report: done, failed (with the reason) or aborted (by whom). */
export interface DayOutcome {
  outcome: "done" | "failed" | "aborted";
  reason: string | null;
}

const IMAGE_MIME: Record<string, ReportImage["mime"]> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
};
const OPTIONAL_TITLES: Record<string, string> = {
  optvis: "Feature visualization",
  "feature-visualization": "Feature visualization",
  concepts: "Concept maps",
  "concept-maps": "Concept maps",
  "integrated-gradients": "Integrated-gradients saliency",
};
// "concepts" has its own section (analysis/report/concepts-section.ts).
const NOT_OPTIONAL = new Set(["saliency", "report", "report-pdf", "concepts"]);
const MAX_IMAGES_PER_ITEM = 8;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const finiteOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const asRecord = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

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
async function imagesAt(path: string | null): Promise<Array<{ name: string; image: ReportImage }>> {
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

/** Predictions of each readout for the given objects from the cached backbone features; null when any is missing. */
async function cachedPredictions(
  config: Config,
  protocol: Protocol,
  weightsSha256: string | null,
  readouts: GaussianReadoutJSON[],
  objects: StimulusRecord[],
): Promise<Map<string, Float32Array> | null> {
  if (!weightsSha256 || objects.length === 0 || readouts.length === 0) return null;
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
    const maps = { n: entries.length, h, w, c, data };
    return new Map(readouts.map((r) => [r.channelId, predict(readoutFromJSON(r), maps)]));
  } catch {
    return null;
  }
}

/** Per channel: model predictions vs phase-2 recorded mean rates for the objects shown in phase 2. */
async function objectPredictions(
  store: SessionStore,
  sessionId: string,
  opts: { config: Config; protocol: Protocol; weightsSha256: string | null },
  readouts: GaussianReadoutJSON[],
  objects: StimulusRecord[],
  rates2: RateTable,
): Promise<ReportObjectPredictions[]> {
  const shown = objects.filter((s) => [...rates2.values()].some((m) => (m.get(s.id)?.length ?? 0) > 0));
  const cached = await cachedPredictions(opts.config, opts.protocol, opts.weightsSha256, readouts, shown);
  const selections = store.selections(sessionId);
  const out: ReportObjectPredictions[] = [];
  for (const r of readouts) {
    const recorded = meanRates(
      rates2.get(r.channelId),
      shown.map((s) => s.id),
    );
    const fromCache = cached?.get(r.channelId);
    if (fromCache) {
      const points = shown.flatMap((s, i) =>
        Number.isFinite(recorded[i])
          ? [{ stimulusId: s.id, predicted: fromCache[i], recorded: recorded[i] }]
          : [],
      );
      if (points.length)
        out.push({
          channelId: r.channelId,
          source: "the readout applied to the cached backbone features of every phase-2 object",
          points,
        });
      continue;
    }
    // Without the feature cache: the predicted responses stored with the selection (top and bottom objects).
    const byId = new Map<string, number>();
    for (const c of selections)
      if (
        c.channelId === r.channelId &&
        (c.rule === "top-object" || c.rule === "bottom-object") &&
        c.score !== null
      )
        byId.set(c.stimulusId, c.score);
    const points = shown.flatMap((s, i) => {
      const p = byId.get(s.id);
      return p !== undefined && Number.isFinite(recorded[i])
        ? [{ stimulusId: s.id, predicted: p, recorded: recorded[i] }]
        : [];
    });
    if (points.length)
      out.push({
        channelId: r.channelId,
        source: "predicted responses stored with the phase-2 selection (top and bottom objects)",
        points,
      });
  }
  return out;
}

/** Fig. 3b data: each channel's visualized objects against its mean object and mean body responses in phase 2. */
function responses(
  channels: string[],
  stimuli: StimulusRecord[],
  rates2: RateTable,
  visualizedOf: (channelId: string) => string[],
): ReportResponses[] {
  const objects = stimuli.filter((s) => s.category === "object" || s.role === "object");
  const bodies = stimuli.filter((s) => s.category === "body" && s.role !== "object");
  const out: ReportResponses[] = [];
  for (const id of channels) {
    const table = rates2.get(id);
    if (!table) continue;
    const meansOf = (set: StimulusRecord[]) =>
      Array.from(
        meanRates(
          table,
          set.map((s) => s.id),
        ),
      ).filter((v) => Number.isFinite(v));
    const o = meansOf(objects);
    const b = meansOf(bodies);
    const visualized = visualizedOf(id).flatMap((sid) => {
      const xs = table.get(sid);
      return xs?.length ? [{ stimulusId: sid, rate: mean(xs) }] : [];
    });
    out.push({
      channelId: id,
      visualized,
      meanObject: o.length ? mean(o) : null,
      meanBody: b.length ? mean(b) : null,
      nObjects: o.length,
      nBodies: b.length,
    });
  }
  return out;
}

/** The newest "concepts" artifact: its clusters.json and montage (see controller/session/concepts-job.ts). */
async function conceptsOf(store: SessionStore, sessionId: string): Promise<ReportConcepts | null> {
  const a = store.artifacts(sessionId, "concepts").at(-1);
  if (!a?.path) return null;
  const meta = asRecord(a.meta);
  let summary: Record<string, unknown>;
  try {
    summary = asRecord(JSON.parse(await readFile(join(a.path, CONCEPT_FILES.clusters), "utf8")));
  } catch (e) {
    return {
      images: Number(meta.images ?? 0),
      nodes: Number(meta.nodes ?? 0),
      channels: Number(meta.channels ?? 0),
      settings: meta,
      eigenvalues: [],
      montage: null,
      concepts: [],
      channelTable: [],
      note: `${CONCEPT_FILES.clusters} could not be read from ${a.path} (${(e as Error).message})`,
    };
  }
  const montage = (await imagesAt(join(a.path, CONCEPT_FILES.montage)))[0]?.image ?? null;
  const list = (v: unknown) => (Array.isArray(v) ? (v as unknown[]).map(asRecord) : []);
  return {
    images: Number(summary.images),
    nodes: Number(summary.nodes),
    channels: Number(summary.channels),
    settings: asRecord(summary.settings),
    eigenvalues: Array.isArray(summary.eigenvalues) ? (summary.eigenvalues as number[]) : [],
    montage,
    concepts: list(summary.concepts).map((c) => ({
      id: Number(c.id),
      fraction: Number(c.fraction),
      color: (Array.isArray(c.color) ? c.color : [0, 0, 0]) as [number, number, number],
      channels: Array.isArray(c.channels) ? (c.channels as string[]) : [],
      topImages: list(c.topImages).map((t) => String(t.imageId)),
    })),
    channelTable: list(summary.channelTable).map((c) => ({
      channelId: String(c.channelId),
      dominant: Number(c.dominant),
      distribution: Array.isArray(c.distribution) ? (c.distribution as number[]) : [],
    })),
  };
}

/**
 * Captions of a channel's synthesized images (an "optvis" artifact): the model's prediction stored with them and,
 * for those shown in phase 2 as stimuli (role "synthesized"), the recorded mean net rate — predicted vs recorded.
 */
function synthesizedCaptions(
  images: ReportImage[],
  folder: string,
  meta: Record<string, unknown>,
  stimuli: StimulusRecord[],
  rates: Map<string, number[]> | undefined,
): void {
  const stored = Array.isArray(meta.images) ? (meta.images as Array<Record<string, unknown>>) : [];
  for (const im of images) {
    const name = im.caption ?? "";
    const predicted = finiteOrNull(stored.find((e) => e.file === name)?.predicted);
    if (predicted === null) continue;
    const stimulus = stimuli.find((s) => s.role === "synthesized" && s.path === join(folder, name));
    const trials = stimulus ? (rates?.get(stimulus.id) ?? []) : [];
    im.caption =
      `${name}: predicted ${predicted.toFixed(1)} spikes/s` +
      (trials.length
        ? `, recorded ${mean(trials).toFixed(1)} spikes/s (${trials.length} trials)`
        : stimulus
          ? ", not yet recorded"
          : " (not a phase-2 stimulus)");
  }
}

/** Everything the report shows, read from the store (and the feature cache); no HTML here. */
export async function assembleReportData(
  store: SessionStore,
  sessionId: string,
  opts: AssembleOptions,
): Promise<ReportData> {
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

  const events = allEvents(store, sessionId);
  const o = opts.outcome;
  const abortedBy = o ? (o.outcome === "aborted" ? o.reason : null) : row.aborted_by;
  const voidReason = new Map<number, string>();
  for (const e of events)
    if (e.type === "trial" && e.subtype === "voided") {
      const c = asRecord(JSON.parse(e.content));
      if (typeof c.trialId === "number")
        voidReason.set(c.trialId, typeof c.reason === "string" ? c.reason : "");
    }

  let software: Record<string, string> = {};
  try {
    software = Object.fromEntries(
      Object.entries(asRecord(JSON.parse(row.software))).map(([k, v]) => [k, String(v)]),
    );
  } catch {
    notes.push("The stored software versions are not valid JSON.");
  }

  const channels = store.channels(sessionId);
  const trials = store.trials(sessionId);
  const withData = channels.length ? store.trialsWithData(sessionId, channels.length) : new Set<number>();
  const phases: ReportPhaseTrials[] = ([1, 2] as const).flatMap((phase) => {
    const mine = trials.filter((t) => t.phase === phase);
    if (mine.length === 0) return [];
    const voidReasons: Record<string, number> = {};
    for (const t of mine)
      if (t.status === "voided") {
        const r = voidReason.get(t.trialId) ?? "";
        voidReasons[r] = (voidReasons[r] ?? 0) + 1;
      }
    return [
      {
        phase,
        shown: mine.filter((t) => t.status === "shown").length,
        voided: mine.filter((t) => t.status === "voided").length,
        pending: mine.filter((t) => t.status === "pending").length,
        withData: mine.filter((t) => t.status === "shown" && withData.has(t.trialId)).length,
        voidReasons,
      },
    ];
  });

  const rig = rigQa(
    trials.map((t) => ({ ...t, voidReason: voidReason.get(t.trialId) })),
    store.eyeCalibrations(sessionId).map((c) => ({
      id: c.id,
      createdAt: c.createdAt,
      points: c.points.length,
      rmsDeg: c.rmsDeg,
      maxDeg: c.maxDeg,
    })),
  );

  const stimuli = store.stimuli(sessionId);
  const models = store.models(sessionId);
  const readouts = models
    .filter((m) => m.kind === "gaussian-readout")
    .map((m) => m.params as GaussianReadoutJSON);
  const nTest = Object.values(store.splits(sessionId)).filter((s) => s === "test").length;
  const rates2: RateTable = protocol ? trialRates(store, sessionId, protocol, 2) : new Map();

  // Saliency artifacts: the shared-feature panels, and which objects were visualized per channel.
  const saliency = store.artifacts(sessionId, "saliency");
  const sharedFeatures: ReportSharedFeature[] = [];
  for (const a of saliency) {
    const meta = asRecord(a.meta);
    const objectId = String(meta.objectId ?? "");
    const bodyId = String(meta.bodyId ?? "");
    const images = await imagesAt(a.path);
    const pick = (id: string, word: string) =>
      images.find((f) => id && f.name.includes(id))?.image ??
      images.find((f) => f.name.toLowerCase().includes(word))?.image ??
      null;
    const objectImage = pick(objectId, "object");
    const bodyImage = pick(bodyId, "body");
    if (objectImage) objectImage.caption = `object ${objectId} with saliency overlay`;
    if (bodyImage) bodyImage.caption = `body ${bodyId} with saliency overlay`;
    sharedFeatures.push({
      channelId: a.channelId ?? "(no channel)",
      objectId,
      bodyId,
      s: finiteOrNull(meta.s),
      k: finiteOrNull(meta.k),
      dropped: finiteOrNull(meta.dropped),
      normOut: finiteOrNull(meta.normOut),
      normIn: finiteOrNull(meta.normIn),
      objectImage,
      bodyImage,
      note: !a.path
        ? "no overlay folder stored with this artifact"
        : images.length === 0
          ? `no overlay images found in ${a.path}`
          : undefined,
    });
  }
  const selections = store.selections(sessionId);
  const visualizedOf = (channelId: string) => {
    const fromSaliency = sharedFeatures
      .filter((f) => f.channelId === channelId && f.objectId)
      .map((f) => f.objectId);
    if (fromSaliency.length) return [...new Set(fromSaliency)];
    return [
      ...new Set(
        selections
          .filter((c) => c.channelId === channelId && c.rule === "top-object")
          .map((c) => c.stimulusId),
      ),
    ];
  };

  const optional = new Map<string, ReportOptionalAnalysis>();
  for (const a of store.artifacts(sessionId)) {
    if (NOT_OPTIONAL.has(a.kind)) continue;
    const section = optional.get(a.kind) ?? {
      kind: a.kind,
      title: OPTIONAL_TITLES[a.kind] ?? a.kind,
      items: [],
    };
    optional.set(a.kind, section);
    const images = (await imagesAt(a.path))
      .slice(0, MAX_IMAGES_PER_ITEM)
      .map((f) => ({ ...f.image, caption: f.image.caption ?? f.name }));
    if (a.kind === "optvis" && a.path && a.channelId)
      synthesizedCaptions(images, a.path, asRecord(a.meta), stimuli, rates2.get(a.channelId));
    section.items.push({ channelId: a.channelId, meta: asRecord(a.meta), images });
  }

  const m = protocol?.model;
  return {
    generatedAt: opts.now ?? new Date().toISOString(),
    session: {
      id: row.id,
      protocolName: row.protocol_name,
      protocolPath: row.protocol_path,
      protocolSha256: row.protocol_sha256,
      protocolText: row.protocol_text,
      codeVersion: row.code_version,
      software,
      seed: row.seed,
      rig: row.rig,
      subject: row.subject,
      backbone: m
        ? {
            arch: m.backbone,
            variant: opts.config.weights.path ? opts.config.weights.variant : m.variant,
            layer: m.layer,
            imageSize: m.imageSize,
            weightsPath: opts.config.weights.path ?? null,
          }
        : null,
      weightsSha256: row.weights_sha256,
      // #25 provenance: the weights that ran (file, sha256, kind), from the backbone/loaded records.
      weights: weightsThatRan(
        events
          .filter((e) => e.type === "backbone" && e.subtype === "loaded")
          .map((e) => JSON.parse(e.content)),
      ),
      createdAt: row.created_at,
      startedAt: row.started_at,
      endedAt: row.ended_at,
      state: o ? o.outcome : row.state,
      failedReason: o?.outcome === "failed" ? o.reason : row.failed_reason,
      abortedBy,
      stateHistory: events
        .filter((e) => e.type === "state")
        .map((e) => ({ state: e.subtype, at: new Date(e.t).toISOString() })),
    },
    trials: phases,
    rig,
    channels,
    checks: store.checkResults(sessionId).map((c) => ({ ...c, details: asRecord(c.details) })),
    decisions: store.decisions(sessionId),
    models: models.map((mm) => {
      const p = asRecord(mm.params);
      const metrics = asRecord(mm.metrics);
      return {
        channelId: mm.channelId,
        kind: mm.kind,
        testR: finiteOrNull(p.testR ?? metrics.testR),
        nTest,
        bestEpoch: finiteOrNull(p.bestEpoch ?? metrics.bestEpoch),
        valLossCurve: Array.isArray(p.valLossCurve)
          ? (p.valLossCurve as unknown[]).map((v) => (typeof v === "number" ? v : Number.NaN))
          : [],
      };
    }),
    objectPredictions: protocol
      ? await objectPredictions(
          store,
          sessionId,
          { config: opts.config, protocol, weightsSha256: row.weights_sha256 },
          readouts,
          stimuli.filter((s) => s.role === "object"),
          rates2,
        )
      : [],
    responses: responses(
      channels.map((c) => c.id),
      stimuli,
      rates2,
      visualizedOf,
    ),
    sharedFeatures,
    optionalAnalyses: [...optional.values()],
    concepts: await conceptsOf(store, sessionId),
    notes,
  };
}

/** The report's folder for a session: <dataDir>/sessions/<sessionId>. */
export function reportDir(config: Config, sessionId: string): string {
  return join(resolvePaths(config).dataDir, "sessions", sessionId);
}

/** Assemble, build and write report.html (atomically), and record it as an artifact of kind "report". */
export async function writeSessionReport(
  store: SessionStore,
  sessionId: string,
  opts: AssembleOptions & { signal?: AbortSignal },
): Promise<ReportFiles> {
  const data = await assembleReportData(store, sessionId, opts);
  if (opts.signal?.aborted)
    throw new ReportStepError("EPHYS_REPORT_ABORTED", "report: aborted before the page was built");
  const html = await buildReport(data);
  const dir = reportDir(opts.config, sessionId);
  await mkdir(dir, { recursive: true });
  const path = join(dir, "report.html");
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(temp, html);
  await rename(temp, path);
  const bytes = Buffer.byteLength(html);
  const sha256 = createHash("sha256").update(html).digest("hex");
  const figures = (html.match(/<figure class="chart"/g) ?? []).length;
  const artifactId = store.addArtifact(sessionId, {
    kind: "report",
    path,
    meta: {
      format: "html",
      bytes,
      sha256,
      figures,
      state: data.session.state,
      generatedAt: data.generatedAt,
    },
  });
  return { path, artifactId, bytes, sha256, figures };
}

/**
 * The day's report step (reporting, failing, aborting): writes report.html and, beside it, <session>.nwb (artifact
 * "nwb"), and logs their paths. A failed NWB export is logged and recorded as an event; it does not fail the day.
 */
export async function reportStep(
  ctx: StepContext,
  outcome: DayOutcome,
  signal?: AbortSignal,
): Promise<ReportFiles> {
  const files = await writeSessionReport(ctx.store, ctx.sessionId, {
    config: ctx.config,
    protocol: ctx.loaded.protocol,
    outcome,
    signal,
  });
  ctx.log.info(`report: ${files.path} (${(files.bytes / 1024).toFixed(0)} kB, ${files.figures} figures)`);
  // A day that ended before its first presentation has nothing to share: no NWB file (its report says why).
  if (ctx.store.trials(ctx.sessionId).length === 0) {
    ctx.log.info("nwb: no presentations in this session; no NWB file");
    return files;
  }
  try {
    const nwb = await writeSessionNwb(
      ctx.store,
      ctx.sessionId,
      join(dirname(files.path), `${ctx.sessionId}.nwb`),
      {
        config: ctx.config,
      },
    );
    ctx.log.info(`nwb: ${nwb.path} (${(nwb.bytes / 1e6).toFixed(1)} MB, ${nwb.spikes} spikes)`);
  } catch (e) {
    const err = e as Error & { code?: string };
    ctx.log.error(`nwb: ${err.message}`);
    ctx.store.appendEvent(ctx.sessionId, "export", "nwb-failed", {
      code: err.code ?? null,
      message: err.message,
    });
  }
  return files;
}
