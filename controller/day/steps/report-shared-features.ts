// The report's shared-feature panels from the stored saliency artifacts: the maps themselves (out_map.npy, in_map.npy)
// drawn over their images on one intensity scale for every panel (the largest pixel of any map), the plain images,
// the readout location, the pair's recorded rates with their ranks and the model's predictions, the top features,
// and the share of each map's mass on the image's silhouette. An artifact without maps (older sessions) shows its
// stored overlays, each on its own scale, and says so.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { readNpy } from "../../../analysis/features/index.ts";
import { type GaussianReadoutJSON, predict, readoutFromJSON } from "../../../analysis/readout/index.ts";
import type { PairRate, ReportImage, ReportSharedFeature } from "../../../analysis/report/index.ts";
import { dilateMask, mapIntensity, massOnMask, overlayHeatMap } from "../../../analysis/saliency/index.ts";
import type { Config } from "../../../config/index.ts";
import type { Protocol } from "../../../protocols/index.ts";
import { encodePng, loadImageRGB, type RGBImage, silhouetteMask, toUint8 } from "../../../stimuli/index.ts";
import { SALIENCY_FILES } from "../../commands/saliency.ts";
import type { SessionStore, StimulusRecord } from "../../store/store.ts";
import { cachedFeatures } from "../object-predictions.ts";
import { meanRates, type RateTable } from "../rates.ts";

const asRecord = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const finiteOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

async function png(image: { width: number; height: number; data: Uint8Array }): Promise<ReportImage> {
  return {
    mime: "image/png",
    bytes: new Uint8Array(await encodePng(image.data, image.width, image.height, 3)),
  };
}

async function fileImage(path: string): Promise<ReportImage | null> {
  try {
    return { mime: "image/png", bytes: new Uint8Array(await readFile(path)) };
  } catch {
    return null;
  }
}

/** The first PNG in `dir` (by name) whose name holds `id` (when given), else the word `kind`. */
async function pngNamed(dir: string, id: string, kind: string): Promise<ReportImage | null> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.toLowerCase().endsWith(".png")).sort();
  } catch {
    return null;
  }
  const file =
    (id ? names.find((f) => f.includes(id.slice(id.lastIndexOf("/") + 1))) : undefined) ??
    names.find((f) => f.toLowerCase().includes(kind));
  return file ? fileImage(join(dir, file)) : null;
}

/** Rank (1 = highest) of `id`'s mean rate among the stimuli of `ids` recorded in `table`, and how many were. */
function rankOf(table: Map<string, number[]> | undefined, ids: string[], id: string): PairRate | null {
  const means = meanRates(table, ids);
  const mine = means[ids.indexOf(id)];
  if (!Number.isFinite(mine)) return null;
  const recorded = Array.from(means).filter((v) => Number.isFinite(v));
  return {
    recorded: mine,
    predicted: null,
    rank: 1 + recorded.filter((v) => v > mine).length,
    of: recorded.length,
  };
}

export interface SharedFeatureInputs {
  store: SessionStore;
  sessionId: string;
  config: Config;
  protocol: Protocol | undefined;
  weightsSha256: string | null;
  stimuli: StimulusRecord[];
  readouts: GaussianReadoutJSON[];
  /** Per channel: the stored model metrics (objectR, objectN, testR). */
  metrics: Map<string, Record<string, unknown>>;
  rates1: RateTable;
  rates2: RateTable;
}

interface Loaded {
  artifact: ReturnType<SessionStore["artifacts"]>[number];
  meta: Record<string, unknown>;
  summary: Record<string, unknown>;
  maps: { out: Float32Array; in: Float32Array; h: number; w: number } | null;
  object: StimulusRecord | undefined;
  body: StimulusRecord | undefined;
}

/** The panels of every "saliency" artifact, and the shared scale (null when no maps could be read). */
export async function sharedFeaturePanels(
  o: SharedFeatureInputs,
): Promise<{ panels: ReportSharedFeature[]; scale: number | null }> {
  const byId = new Map(o.stimuli.map((s) => [s.id, s]));
  const readouts = new Map(o.readouts.map((r) => [r.channelId, r]));
  const loaded: Loaded[] = [];
  for (const artifact of o.store.artifacts(o.sessionId, "saliency")) {
    const meta = asRecord(artifact.meta);
    let summary: Record<string, unknown> = {};
    let maps: Loaded["maps"] = null;
    if (artifact.path) {
      try {
        summary = asRecord(JSON.parse(await readFile(join(artifact.path, SALIENCY_FILES.summary), "utf8")));
      } catch {
        summary = {};
      }
      try {
        const [out, inn] = await Promise.all([
          readNpy(join(artifact.path, SALIENCY_FILES.outMap)),
          readNpy(join(artifact.path, SALIENCY_FILES.inMap)),
        ]);
        const [h, w] = out.shape;
        if (out.shape.length === 3 && out.shape[2] === 3 && inn.shape.join() === out.shape.join())
          maps = { out: Float32Array.from(out.data), in: Float32Array.from(inn.data), h, w };
      } catch {
        maps = null;
      }
    }
    loaded.push({
      artifact,
      meta,
      summary,
      maps,
      object: byId.get(String(meta.objectId ?? "")),
      body: byId.get(String(meta.bodyId ?? "")),
    });
  }
  let scale = 0;
  for (const l of loaded)
    if (l.maps)
      for (const m of [l.maps.out, l.maps.in])
        for (const v of mapIntensity(m, l.maps.h, l.maps.w)) scale = Math.max(scale, v);

  const objects = o.stimuli.filter((s) => s.role === "object").map((s) => s.id);
  const bodies = o.stimuli.filter((s) => s.role === "preferred").map((s) => s.id);
  const panels: ReportSharedFeature[] = [];
  for (const l of loaded) {
    const { artifact, meta, summary, maps } = l;
    const channelId = artifact.channelId ?? "(no channel)";
    const objectId = String(meta.objectId ?? "");
    const bodyId = String(meta.bodyId ?? "");
    const size = maps?.h ?? o.protocol?.model.imageSize ?? 224;
    const load = async (s: StimulusRecord | undefined): Promise<RGBImage | null> => {
      if (!s) return null;
      try {
        return await loadImageRGB(s.path, size);
      } catch {
        return null;
      }
    };
    const [objectPic, bodyPic] = await Promise.all([load(l.object), load(l.body)]);
    const notes: string[] = [];
    let objectImage: ReportImage | null = null;
    let bodyImage: ReportImage | null = null;
    let objectMass: ReportSharedFeature["objectMass"] = null;
    let bodyMass: ReportSharedFeature["bodyMass"] = null;
    const shared = maps !== null && objectPic !== null && bodyPic !== null && scale > 0;
    if (shared) {
      objectImage = await png(overlayHeatMap(objectPic, maps.out, scale));
      bodyImage = await png(overlayHeatMap(bodyPic, maps.in, scale));
      const halo = Math.round(2 * (o.protocol?.visualization.smoothingSigmaPx ?? 0));
      const massOf = (map: Float32Array, pic: RGBImage) => {
        const mask = silhouetteMask(pic);
        const on = massOnMask(map, maps.h, maps.w, mask);
        const near = massOnMask(map, maps.h, maps.w, dilateMask(mask, maps.h, maps.w, halo));
        return {
          onSilhouette: on.onMask,
          silhouetteArea: on.maskArea,
          nearSilhouette: near.onMask,
          nearArea: near.maskArea,
          haloPx: halo,
        };
      };
      objectMass = massOf(maps.out, objectPic);
      bodyMass = massOf(maps.in, bodyPic);
    } else if (artifact.path) {
      // The stored overlays, each pair on its own scale: the named files, else a PNG named after the stimulus or kind.
      objectImage =
        (await fileImage(join(artifact.path, SALIENCY_FILES.outOverlay))) ??
        (await pngNamed(artifact.path, objectId, "object"));
      bodyImage =
        (await fileImage(join(artifact.path, SALIENCY_FILES.inOverlay))) ??
        (await pngNamed(artifact.path, bodyId, "body"));
      notes.push(
        maps
          ? "the stimulus images could not be read: the stored overlays are shown, on this pair's own scale"
          : "no maps (.npy) in the artifact folder: the stored overlays are shown, on this pair's own scale",
      );
    } else notes.push("no overlay folder stored with this artifact");
    if (objectImage) objectImage.caption = `object ${objectId} with saliency overlay`;
    if (bodyImage) bodyImage.caption = `body ${bodyId} with saliency overlay`;

    const readout = readouts.get(channelId);
    const objectRate = rankOf(o.rates2.get(channelId), objects, objectId);
    const bodyRate = rankOf(o.rates1.get(channelId), bodies, bodyId);
    let grid: { h: number; w: number } | null = null;
    if (readout && o.protocol && l.object && l.body) {
      const f = await cachedFeatures(o.config, o.protocol, o.weightsSha256, [l.object, l.body]);
      if (f) {
        grid = { h: f.h, w: f.w };
        const p = predict(readoutFromJSON(readout), f);
        if (objectRate) objectRate.predicted = p[0];
        if (bodyRate) bodyRate.predicted = p[1];
      }
    }
    const metrics = o.metrics.get(channelId) ?? {};
    const top = Array.isArray(summary.topFeatures) ? (summary.topFeatures as unknown[]).map(asRecord) : [];
    panels.push({
      channelId,
      objectId,
      bodyId,
      s: finiteOrNull(meta.s),
      k: finiteOrNull(meta.k),
      dropped: finiteOrNull(meta.dropped),
      normOut: finiteOrNull(meta.normOut),
      normIn: finiteOrNull(meta.normIn),
      objectImage,
      bodyImage,
      // The plain images where the stimuli could be read (else the panel shows the overlays alone, as noted).
      objectPlain: objectPic ? await png({ ...objectPic, data: toUint8(objectPic) }) : undefined,
      bodyPlain: bodyPic ? await png({ ...bodyPic, data: toUint8(bodyPic) }) : undefined,
      sharedScale: shared,
      readout:
        readout && grid
          ? { location: readout.location as [number, number], h: grid.h, w: grid.w, imageSize: size }
          : null,
      objectR: finiteOrNull(metrics.objectR),
      objectN: typeof metrics.objectN === "number" ? metrics.objectN : undefined,
      testR: finiteOrNull(readout?.testR ?? metrics.testR),
      objectRate,
      bodyRate,
      topFeatures: top.flatMap((t) =>
        typeof t.index === "number" && typeof t.beta === "number" ? [{ index: t.index, beta: t.beta }] : [],
      ),
      objectMass,
      bodyMass,
      note: notes.length ? notes.join("; ") : undefined,
    });
  }
  return { panels, scale: scale > 0 ? scale : null };
}
