// The report's reads beyond the store's rows: the artifacts' image files, thumbnails of the selected stimuli, the
// cached backbone features of the phase-2 objects, the concept maps' summary, and the stored spike times paged into
// the PSTH accumulator (analysis/report/psth.ts) so that a day's spikes never sit in memory at once.
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { NamedImage, ReportImage, ReportSource } from "../../../analysis/report/index.ts";
import { PsthAccumulator, rasterTrials } from "../../../analysis/report/index.ts";
import type { Config } from "../../../config/index.ts";
import type { Protocol } from "../../../protocols/index.ts";
import { thumbnailJpeg } from "../../../stimuli/index.ts";
import { spanOf } from "../../acquisition/windows.ts";
import { CONCEPT_FILES } from "../../compute/concepts-job.ts";
import type { SessionStore, StimulusRecord, TrialDataCursor } from "../../store/store.ts";
import { cachedFeatures } from "../object-predictions.ts";

const IMAGE_MIME: Record<string, ReportImage["mime"]> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
};

/** Image files of an artifact path: the file itself, or the images of a folder (sorted by name). */
export async function imagesAt(path: string | null): Promise<NamedImage[]> {
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
export async function objectFeatures(
  config: Config,
  protocol: Protocol,
  weightsSha256: string | null,
  objects: StimulusRecord[],
): Promise<ReportSource["objectFeatures"]> {
  const maps = await cachedFeatures(config, protocol, weightsSha256, objects);
  return maps ? { ids: objects.map((s) => s.id), maps } : null;
}

/** The newest "concepts" artifact's clusters.json and montage (see controller/compute/concepts-job.ts). */
export async function conceptFiles(
  store: SessionStore,
  sessionId: string,
): Promise<ReportSource["concepts"]> {
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

/** Thumbnails of the selected stimuli, by id; a file that cannot be read has none (the report says so). */
export async function thumbnails(
  stimuli: StimulusRecord[],
  ids: Set<string>,
): Promise<Map<string, ReportImage>> {
  const out = new Map<string, ReportImage>();
  for (const s of stimuli) {
    if (!ids.has(s.id)) continue;
    try {
      out.set(s.id, { mime: "image/jpeg", bytes: new Uint8Array(await thumbnailJpeg(s.path)) });
    } catch {
      // no thumbnail: the selection shows "no image"
    }
  }
  return out;
}

/**
 * PSTHs and rasters of the shown presentations from their stored spike times, read page by page (a day's spike
 * times need not fit in memory at once) into the pure accumulator.
 */
export function psthOf(
  store: SessionStore,
  sessionId: string,
  protocol: Protocol,
  trials: Array<{ trialId: number; phase: 1 | 2 | 3; status: string; stimulusId: string }>,
  stimuli: StimulusRecord[],
  channels: Array<{ id: string }>,
): ReportSource["psth"] {
  const category = new Map(stimuli.map((s) => [s.id, s.category]));
  const withData = store.trialsWithData(sessionId, 1);
  const shown = trials.filter((t) => t.status === "shown" && withData.has(t.trialId));
  const { baseline, response, psthBinMs } = protocol.windows;
  const span = spanOf({ baseline, response });
  const acc = new PsthAccumulator({
    binMs: psthBinMs,
    startMs: -span.preMs,
    endMs: span.postMs,
    windows: [
      { name: "baseline", ...baseline },
      { name: "response", ...response },
    ],
    trials: new Map(
      shown.map((t) => [t.trialId, { phase: t.phase, group: category.get(t.stimulusId) ?? "?" }]),
    ),
    raster: rasterTrials(shown),
  });
  const until = store.lastTrialDataRowId(sessionId);
  let after: TrialDataCursor | undefined;
  do {
    const page = store.trialDataPage(sessionId, { after, until, limit: 500 });
    for (const row of page.rows) acc.add(row);
    after = page.next;
  } while (after);
  return acc.result(channels.map((c) => c.id));
}
