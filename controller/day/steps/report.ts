// The report step, its I/O half: read the session (report-source.ts), let analysis/report assemble and build the
// page (pure), and write report.html and channels.csv to <dataDir>/sessions/<id>/ (artifacts "report" and
// "channels-csv"); at the end of the day also <session>.nwb beside them (controller/export). The `ephysloop report` command writes the report for any stored
// session.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  assembleReport,
  buildReport,
  CSV_COLUMNS,
  channelsCsv,
  type ReportData,
} from "../../../analysis/report/index.ts";
import { truthCsv } from "../../../analysis/simulation-truth.ts";
import { writeSessionNwb } from "../../export/session-nwb.ts";
import type { SessionStore } from "../../store/store.ts";
import type { StepContext } from "../context.ts";
import {
  type AssembleOptions,
  type DayOutcome,
  ReportStepError,
  readReportSource,
  reportDir,
} from "./report-source.ts";
import { TRUTH_CSV } from "./report-truth.ts";

export { type AssembleOptions, type DayOutcome, ReportStepError, reportDir };

export interface ReportFiles {
  /** Absolute path of report.html. */
  path: string;
  /** The id of the "report" artifact. */
  artifactId: number;
  bytes: number;
  sha256: string;
  figures: number;
  /** channels.csv beside the report (artifact "channels-csv"): one row per channel. */
  csv: { path: string; artifactId: number; rows: number };
  /** truth.csv beside the report on a simulated day (artifact "truth-csv"); null on a recorded day. */
  truth: { path: string; artifactId: number } | null;
}

/** Write `text` to `path` through a temporary file beside it (a reader never sees half a file). */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/** Everything the report shows, read from the store (and the feature cache); no HTML here. */
export async function assembleReportData(
  store: SessionStore,
  sessionId: string,
  opts: AssembleOptions,
): Promise<ReportData> {
  return assembleReport(await readReportSource(store, sessionId, opts));
}

/**
 * Assemble, build and write report.html and channels.csv (atomically), recorded as artifacts of kind "report" and
 * "channels-csv".
 */
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
  await writeAtomically(path, html);
  const csvPath = join(dir, "channels.csv");
  const rows = data.channelSummary ?? [];
  await writeAtomically(csvPath, channelsCsv(rows));
  // A simulated day: its models against the simulated neurons, as a table (the report's truth appendix).
  let truth: ReportFiles["truth"] = null;
  if (data.truth) {
    const truthPath = join(dir, TRUTH_CSV);
    await writeAtomically(truthPath, truthCsv(data.truth));
    const artifactId = store.addArtifact(sessionId, {
      kind: "truth-csv",
      path: truthPath,
      meta: { format: "csv", rows: data.truth.channels.length, report: path },
    });
    truth = { path: truthPath, artifactId };
  }
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
  const csvArtifactId = store.addArtifact(sessionId, {
    kind: "channels-csv",
    path: csvPath,
    meta: { format: "csv", rows: rows.length, columns: CSV_COLUMNS.map(([name]) => name), report: path },
  });
  return {
    path,
    artifactId,
    bytes,
    sha256,
    figures,
    csv: { path: csvPath, artifactId: csvArtifactId, rows: rows.length },
    truth,
  };
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
  // The machine starts this step as it enters reporting/failing/aborting, before that state is persisted: the
  // stored row has no end time yet on the first run, so the outcome carries one.
  const files = await writeSessionReport(ctx.store, ctx.sessionId, {
    config: ctx.config,
    protocol: ctx.loaded.protocol,
    outcome: { ...outcome, endedAt: outcome.endedAt ?? new Date().toISOString() },
    rates: (phase) => ctx.rates(phase),
    signal,
  });
  ctx.log.info(
    `report: ${files.path} (${(files.bytes / 1024).toFixed(0)} kB, ${files.figures} figures); ${files.csv.path} (${files.csv.rows} channels)`,
  );
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
